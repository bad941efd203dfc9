"""What one more mailbox costs: `ooo run` with 1 account and with N accounts (default 20).

Everything runs on one private Dovecot + Postfix (``tests/support/mailstack.py``) on loopback.
Two runs of the real daemon (``python -m ooo run``, started by ``tests/support/responder.py``):

1. **One account**: one owner's config, as today.
2. **N accounts**: the same main config plus N-1 files in ``accounts/`` next to it, one per
   owner, each with its own state dir: one process, one thread per account.

For each run, once every account is watching (IMAP IDLE):

- the daemon's resident memory (VmRSS) and thread count, from /proc, at rest and again after
  the burst; the figure that matters is the extra memory per extra account,
  ``(RSS_N - RSS_1) / (N - 1)`` (target < 10 MB);
- its TCP connections by the server's port (IMAP, SMTP submission), from /proc/net/tcp and the
  process's socket descriptors: connections per account;
- the Dovecot ``imap`` processes (one per IMAP connection on Dovecot) and their RSS: what each
  watched mailbox costs the *server*;
- a burst of M messages per account (distinct senders), sent over one SMTP connection, all
  accounts at once: wall time until every reply is recorded as sent in every account's state
  database, and the daemon's CPU time (user + system, all threads, from /proc/PID/stat) per
  message.

Usage: ``python benchmarks/bench_accounts.py [--accounts 20] [--messages 10] [--json FILE]``.
Needs root and Debian's Dovecot/Postfix (see ``scripts/install-mailservers``); Linux only
(/proc). Exits 0 once the measurements ran, whatever the target says: it is a benchmark, not a
test.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.mailstack import MailStack, User  # noqa: E402
from tests.support.responder import Responder, inquiry, wait_for  # noqa: E402

TARGET_MB_PER_ACCOUNT = 10.0
#: The flood valve (120 replies an hour by default) would hold the burst back.
NO_VALVE = "\n[limits]\nmax_replies_per_hour = 0\n"
#: --handoff: the server answers while ooo does not (the lease), as tests/servers/ does.
HANDOFF = '\n[handoff]\nmethod = "sieve"\nlease = "5m"\nport = {port}\nsecurity = "plain"\n'


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS (MiB) and Threads of a process."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            out["rss_mb"] = int(value.split()[0]) / 1024
        elif key == "Threads":
            out["threads"] = int(value)
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the whole process (every thread) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connections(pid: int) -> dict[int, int]:
    """The process's established TCP connections, counted by remote port."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    by_port: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            remote, state, inode = parts[2], parts[3], parts[9]
            if inode in inodes and state == "01":  # ESTABLISHED
                port = int(remote.rsplit(":", 1)[1], 16)
                by_port[port] = by_port.get(port, 0) + 1
    return by_port


def _parent(pid: int) -> int | None:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def dovecot_imap_processes(stack: MailStack) -> tuple[int, float]:
    """How many ``imap`` processes this stack's Dovecot runs, and their summed RSS (MiB)."""
    count, rss = 0, 0.0
    master = stack._paths.dovecot_pid()  # the harness keeps it private
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if not cmdline.endswith("/imap") or _parent(int(entry.name)) != master:
                continue
            count += 1
            rss += proc_status(int(entry.name)).get("rss_mb", 0.0)
        except OSError:
            continue
    return count, rss


def timed_once(main: Responder) -> tuple[float, float]:
    """Wall and CPU time (user + system) of one ``ooo run --once`` over every account."""
    started = time.monotonic()
    proc = subprocess.Popen(
        main.command("run", "--once"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"ooo run --once exited {proc.returncode}"
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def sent(responder: Responder) -> int:
    return responder.reply_states().get("sent", 0)


def run(
    stack: MailStack,
    owners: list[User],
    senders: list[User],
    messages: int,
    work: Path,
    extra_config: str = NO_VALVE,
) -> dict[str, Any]:
    """One `ooo run` over ``owners`` (the first is the main config, the others in accounts/),
    then a burst of ``messages`` per owner from distinct senders."""
    work.mkdir(parents=True)
    main = Responder(stack, owners[0], work, extra=extra_config)
    extra: list[Responder] = []
    if len(owners) > 1:
        folder = work / "accounts"
        folder.mkdir()
        for n, owner in enumerate(owners[1:], start=1):
            home = work / f"acct{n:02d}"
            home.mkdir()
            r = Responder(stack, owner, home)
            r.config.unlink()
            r.config = folder / f"acct{n:02d}.toml"
            r.write_config(extra_config)
            extra.append(r)
    everyone = [main, *extra]
    try:
        dovecot_before = dovecot_imap_processes(stack)
        started = time.monotonic()
        main.start()
        for r in extra:
            wait_for(lambda r=r: r.daemon_state() == "watching", 60, f"{r.config} to watch")
        ready = time.monotonic() - started
        assert main.proc is not None
        pid = main.proc.pid
        time.sleep(1.0)  # let start-up garbage settle before the first memory figure
        rest = proc_status(pid)
        conns = connections(pid)
        dovecot_after = dovecot_imap_processes(stack)

        cpu0 = proc_cpu_seconds(pid)
        t0 = time.monotonic()
        total = 0
        with smtplib.SMTP(stack.host, stack.smtp_port) as smtp:
            for i in range(messages):
                for n, r in enumerate(everyone):
                    sender = senders[n * messages + i]
                    raw = inquiry(sender, r.owner, f"Burst {n}/{i}")
                    smtp.sendmail(sender.address, [r.owner.address], raw)
                    total += 1
        handed = time.monotonic() - t0
        wait_for(
            lambda: all(sent(r) >= messages for r in everyone),
            600,
            "every account to answer the burst",
        )
        wall = time.monotonic() - t0
        cpu = proc_cpu_seconds(pid) - cpu0
        after = proc_status(pid)
        stop_at = time.monotonic()
        code = main.stop()
        stopped = time.monotonic() - stop_at
        # A collector's pass: `ooo run --once` over the same accounts (connect, catch up on one
        # new message per account, send, disconnect), as a job scheduler would start it.
        for n, r in enumerate(everyone):
            sender = senders[-1 - n]  # never in the burst: not yet answered
            stack.send(inquiry(sender, r.owner, f"Later {n}"), sender.address, [r.owner.address])
        wait_for(stack.queue_empty, 60, "the later messages to be delivered")
        once_wall, once_cpu = timed_once(main)
        # Each later sender gets one reply: from the pass, or (with --handoff) from the server,
        # which answers from the daemon's stop on.
        for n in range(len(everyone)):
            stack.wait_for_mail(senders[-1 - n], 1, timeout=60)
        by_pass = sum(sent(r) - messages for r in everyone)
        return {
            "accounts": len(owners),
            "ready_s": ready,
            "rss_rest_mb": rest["rss_mb"],
            "rss_after_mb": after["rss_mb"],
            "threads": rest["threads"],
            "imap_connections": conns.get(stack.imap_port, 0),
            "smtp_connections": conns.get(stack.submission_port, 0),
            "other_connections": sum(
                v for k, v in conns.items() if k not in (stack.imap_port, stack.submission_port)
            ),
            "dovecot_imap_processes": dovecot_after[0] - dovecot_before[0],
            "dovecot_imap_rss_mb": dovecot_after[1] - dovecot_before[1],
            "messages": total,
            "burst_send_s": handed,
            "burst_wall_s": wall,
            "cpu_s": cpu,
            "cpu_ms_per_message": 1000 * cpu / total,
            "stop_s": stopped,
            "exit": code,
            "once_wall_s": once_wall,
            "once_cpu_s": once_cpu,
            "once_replies": by_pass,
            "loadavg_1min": float(Path("/proc/loadavg").read_text().split()[0]),
        }
    finally:
        if main.proc is not None and main.proc.poll() is None:
            main.proc.kill()  # a failed measurement leaves no daemon behind
            main.proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="per account, in the burst")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (kept: configs, states, logs)")
    parser.add_argument(
        "--handoff",
        action="store_true",
        help="every account hands off to Dovecot's Sieve (ManageSieve) as the daemon does",
    )
    args = parser.parse_args()

    stack = MailStack()
    stack.start()
    try:
        owners = [stack.add_user(f"owner{n}") for n in range(args.accounts)]
        senders = [stack.add_user(f"sender{n}") for n in range(args.accounts * (args.messages + 1))]
        with tempfile.TemporaryDirectory(prefix="ooo-bench-accounts-") as scratch:
            tmp = args.keep or scratch
            # The same number of messages in both runs: all of them to one owner here.
            total = args.accounts * args.messages
            extra = NO_VALVE + (HANDOFF.format(port=stack.managesieve_port) if args.handoff else "")
            # An owner of its own: the 20-account run must not find this run's mail.
            solo = [stack.add_user("solo")]
            one = run(stack, solo, senders, total, Path(tmp) / "one", extra)
            wait_for(stack.queue_empty, 60, "Postfix's queue to empty")
            many = run(stack, owners, senders, args.messages, Path(tmp) / "many", extra)
    finally:
        stack.stop()
        stack.cleanup()

    per_account = (many["rss_rest_mb"] - one["rss_rest_mb"]) / max(1, args.accounts - 1)
    per_account_after = (many["rss_after_mb"] - one["rss_after_mb"]) / max(1, args.accounts - 1)
    print(f"{'':34}{'1 account':>14}{f'{args.accounts} accounts':>14}")
    rows = [
        ("ready (all watching), s", "ready_s", "{:.2f}"),
        ("daemon RSS at rest, MB", "rss_rest_mb", "{:.1f}"),
        ("daemon RSS after the burst, MB", "rss_after_mb", "{:.1f}"),
        ("threads", "threads", "{:.0f}"),
        ("IMAP connections", "imap_connections", "{:.0f}"),
        ("SMTP connections (after burst)", "smtp_connections", "{:.0f}"),
        ("Dovecot imap processes (new)", "dovecot_imap_processes", "{:.0f}"),
        ("Dovecot imap RSS (new), MB", "dovecot_imap_rss_mb", "{:.1f}"),
        ("messages in the burst", "messages", "{:.0f}"),
        ("burst handed to Postfix, s", "burst_send_s", "{:.2f}"),
        ("burst wall time, s", "burst_wall_s", "{:.2f}"),
        ("daemon CPU per message, ms", "cpu_ms_per_message", "{:.2f}"),
        ("stop (SIGTERM to exit), s", "stop_s", "{:.2f}"),
        ("machine load (1 min) after", "loadavg_1min", "{:.2f}"),
        ("`run --once`, 1 new msg each: wall s", "once_wall_s", "{:.2f}"),
        ("`run --once`, 1 new msg each: CPU s", "once_cpu_s", "{:.2f}"),
        ("  of which the pass answered", "once_replies", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:34}{fmt.format(one[key]):>14}{fmt.format(many[key]):>14}")
    verdict = "ok" if per_account < TARGET_MB_PER_ACCOUNT else "MISSED"
    print(
        f"\nper extra account: {per_account:.2f} MB at rest, {per_account_after:.2f} MB after the "
        f"burst (target < {TARGET_MB_PER_ACCOUNT:.0f} MB: {verdict}); "
        f"{many['threads'] / args.accounts:.1f} threads and "
        f"{many['imap_connections'] / args.accounts:.1f} IMAP connection(s) per account"
    )
    n = max(1, args.accounts - 1)
    # Wall time per account is the whole pass over N accounts divided by N (a difference of
    # two passes drowns in the noise of a busy machine); CPU is the extra over one account.
    print(
        f"a collector's pass (`ooo run --once`, accounts one after another): "
        f"{many['once_wall_s'] / args.accounts * 1000:.0f} ms wall per account, "
        f"{(many['once_cpu_s'] - one['once_cpu_s']) / n * 1000:.0f} ms CPU per extra account"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"one": one, "many": many, "mb_per_extra_account": per_account}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
