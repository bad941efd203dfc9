"""Crash safety on real servers: the daemon is killed with SIGKILL at many points of a burst of
300 inquiries and restarted each time; in the end every inquiry has exactly one reply in its
sender's mailbox, or `ooo status` lists the reply as uncertain, with the reason.

The kill points are found by watching the daemon's state database read-only (no hook in the
production code): a reply row in ``sending`` (the SMTP transaction is about to start or under
way); the same plus 2-30 ms (the server may already hold the reply); a new ``sent`` commit; a
new decision committed mid-batch (the fetch is under way); a reply in ``sending`` while the
rest of its batch is still being decided (sending is streamed, on several SMTP sessions); or a
random moment from a seeded generator (start-up, IDLE, anything). The sequence of kinds is
fixed, so a failing run names the kill point that broke it.
"""

from __future__ import annotations

import email
import email.policy
import random
import re
import signal
import smtplib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, wait_for

pytestmark = pytest.mark.servers

BURST = 300
KINDS = ("sending", "late_in_sending", "after_sent", "mid_fetch", "mid_stream", "random")
ROUNDS = 30  # five of each kind
CHUNK = BURST // (ROUNDS + 1)  # the burst arrives in chunks, one per life of the daemon


class StateWatcher:
    """A read-only view of the daemon's state database, polled fast."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.conn: sqlite3.Connection | None = None

    def _query(self, sql: str) -> int:
        if self.conn is None:
            if not self.db.exists():
                return 0
            self.conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return int(self.conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0  # the schema is not there yet

    def sending(self) -> int:
        return self._query("SELECT count(*) FROM reply WHERE state = 'sending'")

    def sent(self) -> int:
        return self._query("SELECT count(*) FROM reply WHERE state = 'sent'")

    def decided(self) -> int:
        return self._query("SELECT count(*) FROM message")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def inquiry_from(sender: str, to: User, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to.address
    msg["Subject"] = f"Question number {n}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(f"Hello,\n\nquestion {n}: could you help?\n")
    return msg.as_bytes()


def send_burst(stack: MailStack, owner: User, senders: list[str]) -> None:
    """One SMTP session, one message per sender, as fast as Postfix takes them."""
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=30) as smtp:
        for n, sender in enumerate(senders):
            smtp.sendmail(sender, [owner.address], inquiry_from(sender, owner, n))


def kill_when(responder: Responder, condition: Callable[[], bool], deadline: float) -> bool:
    """SIGKILL the daemon as soon as ``condition`` holds; False if it never did in time (or
    the daemon died by itself, which fails the test)."""
    proc = responder.proc
    assert proc is not None
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, f"daemon died by itself:\n{responder.log_text()[-3000:]}"
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return True
        time.sleep(0.001)
    return False


def kill_point(
    kind: str, watcher: StateWatcher, rng: random.Random, arriving: int
) -> Callable[[], bool]:
    """The condition for one kill point, measured from now (``arriving``: messages of this
    round's chunk)."""
    sent0, decided0 = watcher.sent(), watcher.decided()
    if kind == "sending":
        return lambda: watcher.sending() > 0  # the SMTP transaction is under way
    if kind == "late_in_sending":
        # A few ms into the SMTP transaction: the server may already have the reply.
        delay = rng.uniform(0.002, 0.030)
        seen: list[float] = []

        def late() -> bool:
            if not seen and watcher.sending():
                seen.append(time.monotonic() + delay)
            return bool(seen) and time.monotonic() >= seen[0]

        return late
    if kind == "after_sent":
        step = rng.randint(1, CHUNK - 1)
        return lambda: watcher.sent() >= sent0 + step  # a `sent` commit just happened
    if kind == "mid_fetch":
        step = rng.randint(1, CHUNK - 1)
        return lambda: watcher.decided() >= decided0 + step  # inside a batch
    if kind == "mid_stream":
        # A reply on its way while messages of the same chunk still wait for their decision:
        # only a daemon that streams replies (rather than sending after the batch) gets here.
        return lambda: watcher.sending() > 0 and watcher.decided() < decided0 + arriving - 1
    at = time.monotonic() + rng.uniform(0.0, 1.0)
    return lambda: time.monotonic() >= at


@pytest.fixture
def responder(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> Iterator[Responder]:
    r = Responder(
        mail_stack,
        mail_user("bob"),
        tmp_path,
        extra="\n[limits]\nmax_replies_per_hour = 0\n",
    )
    yield r
    if r.proc is not None and r.proc.poll() is None:
        r.stop(signal.SIGKILL)


def test_sigkill_at_twenty_five_points_of_a_burst_never_duplicates_or_loses(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """300 inquiries from distinct senders; the daemon is SIGKILLed 30 times (around the SMTP
    send, right after a `sent` commit, mid-fetch, mid-stream, at random) and restarted.
    Afterwards every sender has exactly one reply, or none/one and `ooo status` lists it as
    uncertain with the reason; every inquiry was decided exactly once; nothing is left
    queued."""
    asker = mail_user("s")
    local, domain = asker.address.split("@")
    senders = [f"{local}+{n}@{domain}" for n in range(BURST)]
    watcher = StateWatcher(responder.state / "state.db")
    rng = random.Random(20261122)
    kills: Counter[str] = Counter()
    started = time.monotonic()

    parts = ROUNDS + 1
    chunks = [senders[i * BURST // parts : (i + 1) * BURST // parts] for i in range(parts)]
    for round_no in range(ROUNDS):
        kind = KINDS[round_no % len(KINDS)]
        # Half the chunks arrive while the daemon is down (catch-up from the cursor), half
        # while it runs (IDLE, fetch in progress).
        if round_no % 2:
            send_burst(mail_stack, responder.owner, chunks[round_no])
        responder.start()
        if not round_no % 2:
            send_burst(mail_stack, responder.owner, chunks[round_no])
        condition = kill_point(kind, watcher, rng, len(chunks[round_no]))
        hit = kill_when(responder, condition, deadline=30)
        assert hit, (
            f"round {round_no}: kill point {kind!r} never came (sent {watcher.sent()}, "
            f"decided {watcher.decided()}); log:\n{responder.log_text()[-3000:]}"
        )
        kills[kind] += 1
    send_burst(mail_stack, responder.owner, chunks[-1])
    killed_at = time.monotonic() - started

    # The last life: catch up and drain.
    responder.start()
    responder.wait_decided(BURST, timeout=90)
    responder.wait_all_sent(timeout=90)
    wait_for(mail_stack.queue_empty, 60, "Postfix's queue to empty")
    responder.stop()
    watcher.close()

    assert sum(kills.values()) == ROUNDS
    assert set(kills) == set(KINDS)

    # Every inquiry decided exactly once, each answered (queued) exactly once.
    per_sender = dict(responder.query("SELECT sender, count(*) FROM message GROUP BY sender"))
    assert per_sender == dict.fromkeys(senders, 1)
    assert responder.reasons() == {"reply": BURST}
    states = responder.reply_states()
    assert set(states) <= {"sent", "uncertain"}, states
    assert sum(states.values()) == BURST

    # What arrived, by To:, against what `ooo status` owns up to.
    arrived: Counter[str] = Counter()
    for raw in mail_stack.fetch_all(asker):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        arrived[str(msg["To"]).lower()] += 1
    status = responder.cli("status")
    assert status.returncode == 0, status.stderr
    listed = set(re.findall(r"^\s+uncertain: to (\S+) ", status.stdout, re.MULTILINE))
    assert len(listed) == states.get("uncertain", 0), status.stdout
    for line in status.stdout.splitlines():
        if line.strip().startswith("uncertain:"):
            assert "SMTP transaction" in line, line  # the reason is given
    for sender in senders:
        if sender in listed:
            assert arrived[sender] <= 1, f"{sender}: {arrived[sender]} replies (uncertain)"
        else:
            assert arrived[sender] == 1, f"{sender}: {arrived[sender]} replies"
    assert set(arrived) <= set(senders)
    print(
        f"\n{sum(kills.values())} SIGKILLs {dict(kills)} in {killed_at:.1f} s; "
        f"{states.get('uncertain', 0)} uncertain, "
        f"{sum(1 for s in listed if arrived[s])} of them delivered anyway"
    )
