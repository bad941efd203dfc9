"""The daemon's life on the workstation, on the real Dovecot + Postfix: one daemon per state,
config reloads (SIGHUP, a changed file, an invalid edit), stopping mid-burst, its log file."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for

pytestmark = pytest.mark.servers


@pytest.fixture
def responder(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> Iterator[Responder]:
    r = Responder(mail_stack, mail_user("bob"), tmp_path)
    yield r
    if r.proc is not None and r.proc.poll() is None:
        r.stop()


def subject_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])


def from_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)["From"])


def ask(stack: MailStack, sender: User, owner: User, subject: str) -> bytes:
    """Send one inquiry and return the reply the sender receives."""
    stack.send(inquiry(sender, owner, subject), sender.address, [owner.address])
    (raw,) = stack.wait_for_mail(sender, 1, timeout=30)
    return raw


def test_ooo_run_opens_the_mailbox_while_the_rest_loads(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    """`ooo run` logs in and SELECTs in a thread while it imports the rest, so a server slow
    to open a big folder adds nothing to start-up: inside the away window the mailbox comes
    back open; before the window, or when the login is refused, nothing comes back (the
    daemon then opens its own and says what is wrong)."""
    from ooo.cli.run import open_early
    from ooo.config import load

    owner = mail_user("bob")
    cfg = load(Responder(mail_stack, owner, tmp_path).config)
    box = open_early(cfg)()
    assert box is not None and box.connected
    box.close()

    (tmp_path / "later").mkdir()
    (tmp_path / "refused").mkdir()
    later = Responder(
        mail_stack, owner, tmp_path / "later", start=datetime.now(UTC) + timedelta(days=1)
    )
    assert open_early(load(later.config))() is None

    refused = Responder(mail_stack, owner, tmp_path / "refused")
    refused.config.write_text(refused.config.read_text().replace(owner.password, "wrong-password"))
    assert open_early(load(refused.config))() is None


def wait_log(responder: Responder, text: str, timeout: float = 20) -> None:
    wait_for(
        lambda: text in responder.log_text(),
        timeout,
        f"{text!r} in the daemon log:\n{responder.log_text()[-3000:]}",
    )


def test_a_second_daemon_on_the_same_state_is_refused(responder: Responder) -> None:
    """A second `ooo run` on the same state dir exits 2 at once, naming the running pid; the
    first keeps answering."""
    responder.start()
    assert responder.proc is not None
    second = responder.cli("run", timeout=30)
    assert second.returncode == 2, second.stderr
    assert f"process {responder.proc.pid}" in second.stderr
    assert "already running" in second.stderr
    assert responder.proc.poll() is None
    lock = responder.state / "ooo.lock"
    assert lock.read_text().strip() == str(responder.proc.pid)
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert responder.stop() == 0
    # The lock died with the process: a new daemon starts on the same state.
    responder.start()


def test_sighup_reloads_the_config(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """SIGHUP alone (the file's size and mtime unchanged, so only the signal can tell) reloads
    the config within a second, and the next reply uses the new owner name."""
    alice, carol = mail_user("alice"), mail_user("carol")
    bob = responder.owner
    responder.start()
    assert from_of(ask(mail_stack, alice, bob, "Before")).startswith("Bob Owner")

    before = responder.config.stat()
    text = responder.config.read_text()
    responder.config.write_text(text.replace('name = "Bob Owner"', 'name = "Rob Owner"'))
    os.utime(responder.config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert responder.proc is not None
    sent_at = time.monotonic()
    responder.proc.send_signal(signal.SIGHUP)
    wait_log(responder, "reloaded the config")
    latency = time.monotonic() - sent_at
    assert latency < 2.0, f"reload took {latency:.2f} s"
    assert "(changed: owner)" in responder.log_text()
    print(f"\nreload after SIGHUP: {latency * 1000:.0f} ms")

    assert from_of(ask(mail_stack, carol, bob, "After")).startswith("Rob Owner")
    assert responder.proc.poll() is None


def test_a_changed_file_is_reloaded_without_a_signal(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """Saving the config file is enough: within a few seconds the daemon runs on it."""
    alice, carol = mail_user("alice"), mail_user("carol")
    bob = responder.owner
    responder.start()
    assert subject_of(ask(mail_stack, alice, bob, "One")) == "Auto: One"

    text = responder.config.read_text()
    saved_at = time.monotonic()
    responder.config.write_text(
        text.replace('reply_interval = "7d"', 'reply_interval = "7d"\nsubject_prefix = "Away: "')
    )
    wait_log(responder, "reloaded the config")
    print(f"\nreload after a file change: {(time.monotonic() - saved_at) * 1000:.0f} ms")
    assert "(changed: away)" in responder.log_text()
    assert subject_of(ask(mail_stack, carol, bob, "Two")) == "Away: Two"


def test_an_invalid_edit_keeps_the_old_config_running(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """An invalid edit is logged once (file, line, key), `ooo status` shows it, the daemon
    keeps answering with the last good config; fixing the file clears the error."""
    alice, carol = mail_user("alice"), mail_user("carol")
    bob = responder.owner
    responder.start()
    good = responder.config.read_text()
    responder.config.write_text(good.replace("Europe/Berlin", "Europe/Berln"))
    wait_log(responder, "config not reloaded")
    where = f"{responder.config}:5: owner.timezone: unknown time zone 'Europe/Berln'"
    assert where in responder.log_text()

    # Still answering, on the old config; the wake-up does not repeat the error.
    assert subject_of(ask(mail_stack, alice, bob, "Still there?")) == "Auto: Still there?"
    assert responder.log_text().count("config not reloaded") == 1

    status = responder.cli("status")
    assert status.returncode == 2
    assert where in status.stderr
    assert "config error:" in status.stdout
    assert f"running as pid {responder.proc.pid}" in status.stdout  # type: ignore[union-attr]

    responder.config.write_text(
        good.replace('reply_interval = "7d"', 'reply_interval = "7d"\nsubject_prefix = "Away: "')
    )
    wait_log(responder, "reloaded the config")
    status = responder.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "config error" not in status.stdout
    assert f"process:  running, pid {responder.proc.pid}" in status.stdout  # type: ignore[union-attr]
    assert subject_of(ask(mail_stack, carol, bob, "Fixed")) == "Away: Fixed"
    assert responder.proc.poll() is None  # type: ignore[union-attr]


def test_sigterm_mid_burst_exits_cleanly_and_restart_answers_each_once(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """SIGTERM while a burst is being answered: exit 0 within a few seconds; after a restart
    every inquiry has exactly one reply."""
    bob = responder.owner
    senders = [mail_user(f"burst{n}") for n in range(15)]
    responder.start()
    for s in senders:
        mail_stack.send(inquiry(s, bob, f"Burst from {s.login}"), s.address, [bob.address])
    responder.wait_decided(3)
    assert responder.proc is not None
    stopped_at = time.monotonic()
    assert responder.stop() == 0
    took = time.monotonic() - stopped_at
    print(f"\nshutdown after SIGTERM mid-burst: {took * 1000:.0f} ms")
    assert took < 5.0
    responder.start()
    responder.wait_decided(len(senders), timeout=60)
    responder.wait_all_sent()
    for s in senders:
        mail_stack.wait_for_mail(s, 1, timeout=30)
    wait_for(mail_stack.queue_empty, 30, "Postfix's queue to empty")
    assert all(len(mail_stack.fetch_all(s)) == 1 for s in senders)
    assert responder.reply_states() == {"sent": len(senders)}  # SIGTERM finished the send


def test_the_log_file_is_private_and_has_one_line_per_decision(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """`ooo run` also logs to <state dir>/ooo.log (mode 0600): the decision, never the
    password or the message body."""
    alice = mail_user("alice")
    bob = responder.owner
    responder.start()
    ask(mail_stack, alice, bob, "Logged")
    responder.wait_all_sent()
    assert responder.stop() == 0
    logfile = responder.state / "ooo.log"
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600
    text = logfile.read_text()
    assert alice.address in text
    assert bob.password not in text
    assert "could you help me" not in text  # the body of `inquiry`


def test_a_crash_in_native_code_leaves_every_thread_s_stack_in_the_log(
    responder: Responder,
) -> None:
    """A fatal signal (as SQLite or a TLS library would raise one) does not end the daemon
    without a word: the log shows which thread was where."""
    responder.start()
    assert responder.proc is not None
    responder.proc.send_signal(signal.SIGSEGV)
    assert responder.stop() == -signal.SIGSEGV
    log = responder.log_text()
    assert "Fatal Python error: Segmentation fault" in log
    assert "ooo/daemon.py" in log  # the main thread's stack, in the daemon's loop
