"""Outages on real servers, seen by the running daemon: Postfix stopped during a burst (replies
stay queued, are retried with backoff and all delivered once it is back, none twice), and
Dovecot restarted while the daemon sits in IDLE (it reconnects and catches up)."""

from __future__ import annotations

import email
import email.policy
import smtplib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for

pytestmark = pytest.mark.servers


@pytest.fixture
def responder(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> Iterator[Responder]:
    # retry_first = 1s: the production default (15 s) works the same, only slower to watch.
    r = Responder(mail_stack, mail_user("bob"), tmp_path, extra='\n[limits]\nretry_first = "1s"\n')
    yield r
    if r.proc is not None and r.proc.poll() is None:
        r.stop()
    mail_stack.start()  # whatever happened, leave both servers running for the next test


def replies_by_recipient(stack: MailStack, user: User) -> Counter[str]:
    found: Counter[str] = Counter()
    for raw in stack.fetch_all(user):
        found[str(email.message_from_bytes(raw, policy=email.policy.default)["To"]).lower()] += 1
    return found


def deliver_by_lmtp(stack: MailStack, raw: bytes, sender: str, owner: User) -> None:
    """Deliver straight into Dovecot, as Postfix would: used while Postfix is down."""
    with smtplib.LMTP(stack.host, stack.lmtp_port, timeout=30) as lmtp:
        refused = lmtp.sendmail(sender, [owner.address], raw)
    assert not refused


def test_postfix_outage_during_a_burst_queues_retries_and_delivers_each_once(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """Postfix goes down in the middle of a burst of 30 inquiries: the replies stay queued and
    are retried with growing delays (not hammered), `ooo status` names the error, and once
    Postfix is back every sender gets exactly one reply."""
    asker = mail_user("a")
    local, domain = asker.address.split("@")
    senders = [f"{local}+{n}@{domain}" for n in range(30)]
    responder.start()
    for sender in senders[:10]:
        mail_stack.send(inquiry(sender, responder.owner), sender, [responder.owner.address])
    # Delivered and answered before Postfix stops: a reply cut off by the stop itself could
    # be in Postfix's queue without ooo knowing (SMTP's own ambiguity, RFC 1047), which is the
    # crash test's subject, not this one's.
    responder.wait_decided(10)
    responder.wait_all_sent()
    # ...and delivered: a stop that cuts Postfix's own LMTP delivery of a reply short makes it
    # deliver that reply again when it starts (at least once), a second copy ooo never sent.
    wait_for(mail_stack.queue_empty, 30, "the first replies to leave Postfix's queue")
    mail_stack.stop_postfix()
    outage_start = time.monotonic()
    for sender in senders[10:]:
        deliver_by_lmtp(mail_stack, inquiry(sender, responder.owner), sender, responder.owner)
    responder.wait_decided(30)

    # Retried with backoff: the first reply that failed is on its third try or later, and
    # the tries are spaced (1 s, 2 s, 4 s ... with jitter), not a loop.
    def retried() -> bool:
        rows = responder.query("SELECT max(attempts) FROM reply WHERE state = 'queued'")
        return bool(rows and rows[0][0] and rows[0][0] >= 3)

    wait_for(retried, 30, f"a third try of a queued reply ({responder.reply_states()})")
    held = time.monotonic() - outage_start
    (tries,) = responder.query("SELECT max(attempts) FROM reply")[0]
    assert tries <= 2 + held, f"{tries} tries in {held:.1f} s: not backing off"
    queued = responder.reply_states().get("queued", 0)
    assert queued >= 20
    status = responder.cli("status").stdout
    assert "last error:" in status and "unreachable" in status, status

    mail_stack.start_postfix()
    back = time.monotonic()
    responder.wait_all_sent(timeout=60)
    recovered = time.monotonic() - back
    wait_for(mail_stack.queue_empty, 30, "Postfix's queue to empty")
    responder.stop()

    assert responder.reply_states() == {"sent": 30}
    assert replies_by_recipient(mail_stack, asker) == Counter(dict.fromkeys(senders, 1))
    print(
        f"\nPostfix down {held:.1f} s with {queued} replies queued; all sent "
        f"{recovered:.1f} s after it came back (retry_first = 1 s)"
    )


def test_dovecot_restart_mid_idle_reconnects_and_catches_up(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """Dovecot stops while the daemon idles; mail arriving meanwhile waits in Postfix's queue.
    The daemon says it is reconnecting, reconnects with backoff once Dovecot is back, and
    answers every message that arrived during the outage exactly once."""
    alice = mail_user("alice")
    local, domain = alice.address.split("@")
    senders = [f"{local}+{n}@{domain}" for n in range(6)]
    responder.start()
    mail_stack.send(inquiry(senders[0], responder.owner), senders[0], [responder.owner.address])
    mail_stack.wait_for_mail(alice, 1, timeout=30)  # answered: the daemon is back in IDLE

    mail_stack.stop_dovecot()
    for sender in senders[1:]:
        mail_stack.send(inquiry(sender, responder.owner), sender, [responder.owner.address])
    wait_for(
        lambda: (responder.daemon_state() or "").startswith("reconnecting"),
        30,
        f"the daemon to notice the outage (state {responder.daemon_state()!r})",
    )
    assert responder.proc is not None and responder.proc.poll() is None

    mail_stack.start_dovecot()  # also flushes Postfix's deferred queue
    back = time.monotonic()
    mail_stack.wait_for_mail(alice, len(senders), timeout=60)
    recovered = time.monotonic() - back
    responder.wait_all_sent()
    wait_for(mail_stack.queue_empty, 30, "Postfix's queue to empty")
    responder.stop()

    assert responder.reply_states() == {"sent": len(senders)}
    assert replies_by_recipient(mail_stack, alice) == Counter(dict.fromkeys(senders, 1))
    assert "reconnected to the mailbox" in responder.log_text()
    print(f"\nDovecot restarted mid-IDLE: all caught up {recovered:.1f} s after it came back")
