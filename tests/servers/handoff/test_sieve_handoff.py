"""The Sieve handoff against the real Dovecot/Pigeonhole: ooo's script uploaded over ManageSieve,
run by Sieve at LMTP delivery, its vacation replies sent through the test Postfix.

The Handoff objects are driven directly (the daemon comes in phase 2). "No reply" is read
from what Pigeonhole logs at delivery (it decides on vacation before the message is stored,
so the log line is there once the message is visible) and confirmed by an empty mailbox once
Postfix's queue is empty."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ooo.core import sieve
from ooo.handoff.base import HandoffAuthError, HandoffRefused, HandoffUnavailable
from ooo.handoff.managesieve import Session
from ooo.handoff.sieve import SieveHandoff
from tests.support.helpers import Clock
from tests.support.mailstack import MailStack, User
from tests.support.responder import wait_for
from tests.support.sieve import (
    flags,
    install_own_script,
    no_reply_for,
    script_file,
    scripts,
    send,
    session,
    the_reply,
)
from tests.support.tls import Certificates, TlsProxy

HOUR = timedelta(hours=1)

Handoffs = Callable[..., SieveHandoff]


def test_the_story_with_the_owners_filing_rule(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """ooo takes over the owner's active script (their filing rule keeps working throughout);
    while its lease runs, the server answers nobody and marks nothing; after a hand-off the
    server answers a new sender through Postfix and marks the message $OooServer, but not a
    sender ooo already answered; at the end the owner's script is active again, byte for
    byte, and ooo's is gone."""
    stack = mail_stack
    bob = mail_user("bob")
    alice, carol, dave, erin, frank, gina = (
        mail_user(n) for n in ("alice", "carol", "dave", "erin", "frank", "gina")
    )
    own = install_own_script(stack, bob)
    h = sieve_handoff(bob)
    assert h.take_back(datetime.now(UTC) + HOUR, [erin.address]) is None
    assert scripts(stack, bob) == ("ooo-handoff", ["roundcube"])
    assert h.state.answering == "ooo"

    # Lease in the future: ooo's turn. No server reply, no keyword; the filing rule works.
    send(stack, alice, bob, "Question while ooo runs")
    assert sieve.SERVER_KEYWORD not in flags(stack, bob, "Question while ooo runs")
    send(stack, carol, bob, "Your receipt 1")
    assert sieve.SERVER_KEYWORD not in flags(stack, bob, "Your receipt 1", "Receipts")
    no_reply_for(stack, alice)
    no_reply_for(stack, carol)

    # Handed off (lease = now): the server answers a new sender, in the owner's words.
    h.hand_off("stopped")
    assert h.state.answering == "server"
    send(stack, dave, bob, "Question while ooo is stopped")
    assert sieve.SERVER_KEYWORD in flags(stack, bob, "Question while ooo is stopped")
    reply = the_reply(stack, dave)
    assert reply["Subject"] == "Auto: Question while ooo is stopped"
    assert reply["Auto-Submitted"].startswith("auto-replied")
    assert reply["From"].addresses[0].addr_spec == bob.address
    body = reply.get_content()
    assert "Bob Example" in body and "I'm away until" in body and "OOO-" not in body

    # A sender ooo answered gets nothing from the server, and the message is not marked.
    send(stack, erin, bob, "Erin writes again")
    assert sieve.SERVER_KEYWORD not in flags(stack, bob, "Erin writes again")
    no_reply_for(stack, erin)

    # The filing rule still works while the server is in charge (and the keyword goes along).
    send(stack, frank, bob, "Your receipt 2")
    assert sieve.SERVER_KEYWORD in flags(stack, bob, "Your receipt 2", "Receipts")
    assert the_reply(stack, frank)["Subject"] == "Auto: Your receipt 2"

    # The window is over: the owner's own script is back exactly as it was; ooo's is gone.
    period = h.finish()
    assert period is not None and period.end is not None and period.start <= period.end
    assert scripts(stack, bob) == ("roundcube", [])
    assert script_file(stack, bob, "roundcube").read_bytes() == own
    assert not script_file(stack, bob, "ooo-handoff").exists()
    assert h.finish() is None  # idempotent
    send(stack, gina, bob, "After the window")
    flags(stack, bob, "After the window")
    no_reply_for(stack, gina)
    send(stack, gina, bob, "Your receipt 3")
    flags(stack, bob, "Your receipt 3", "Receipts")


def test_a_restart_takes_back_and_reports_the_servers_period(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """A new process (nothing kept locally) finds ooo's script on the server, keeps the owner's
    script it names, takes back, and reports when the server was in charge."""
    bob, alice = mail_user("bob"), mail_user("alice")
    install_own_script(mail_stack, bob)
    first = sieve_handoff(bob)
    first.take_back(datetime.now(UTC) + HOUR, [])
    first.hand_off("sleep")
    handed = first.state.since
    assert handed is not None
    send(mail_stack, alice, bob, "While asleep")
    assert sieve.SERVER_KEYWORD in flags(mail_stack, bob, "While asleep")

    second = sieve_handoff(bob)
    period = second.take_back(datetime.now(UTC) + HOUR, [alice.address])
    assert period is not None
    assert period.start == handed.replace(microsecond=0)
    assert period.why == "the computer went to sleep"
    assert scripts(mail_stack, bob) == ("ooo-handoff", ["roundcube"])
    meta = sieve.read_meta(script_file(mail_stack, bob, "ooo-handoff").read_text())
    assert meta is not None and meta.owner_script == "roundcube" and meta.answered == 1
    second.finish()
    assert scripts(mail_stack, bob) == ("roundcube", [])


def test_an_owner_without_a_script_gets_none_back(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """No active script before: none after (and ooo's script includes nothing meanwhile)."""
    bob, alice = mail_user("bob"), mail_user("alice")
    h = sieve_handoff(bob)
    h.take_back(datetime.now(UTC) - timedelta(minutes=1), [])
    assert scripts(mail_stack, bob) == ("ooo-handoff", [])
    send(mail_stack, alice, bob, "Nobody home")
    assert the_reply(mail_stack, alice)["Subject"] == "Auto: Nobody home"
    h.finish()
    assert scripts(mail_stack, bob) == (None, [])


def test_a_vacation_in_the_owners_script_is_refused(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """If the owner's script (or one it includes) already answers with vacation, ooo refuses
    to stack a second one, says where and what to do, and changes nothing; check() says so."""
    bob = mail_user("bob")
    with session(mail_stack, bob) as s:
        assert s.putscript("away", 'require "vacation";\nvacation :days 3 "Gone.";\n')[0]
    install_own_script(
        mail_stack,
        bob,
        'require ["include"]; # vacation "not this";\ninclude :personal "away";\n',
    )
    before = scripts(mail_stack, bob)
    h = sieve_handoff(bob)
    with pytest.raises(HandoffRefused) as refused:
        h.take_back(datetime.now(UTC) + HOUR, [])
    assert "'roundcube'" in refused.value.message and "'away'" in refused.value.message
    assert "line 2" in refused.value.message
    assert refused.value.advice and "vacation" in refused.value.advice
    assert scripts(mail_stack, bob) == before
    check = h.check()
    assert not check.ok and "already sends a vacation reply" in check.detail


def test_check_logs_in_and_finds_the_extensions(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """``ooo check``: login, the extensions ooo's script needs, the owner's script named;
    ``ooo preview --handoff``: the exact script, naming the owner's script, changing nothing."""
    bob = mail_user("bob")
    install_own_script(mail_stack, bob)
    h = sieve_handoff(bob)
    result = h.check()
    assert result.ok, result.detail
    assert "'roundcube' keeps running" in result.detail
    lease_until = datetime.now(UTC) + HOUR
    text = h.describe(lease_until, ["alice@example.org"])
    assert text == h.script("roundcube", lease_until, ["alice@example.org"], "running")[0]
    assert 'include :personal :optional "roundcube";' in text
    assert scripts(mail_stack, bob) == ("roundcube", [])


def test_hostile_texts_reach_the_sender_verbatim(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """Template text, a custom subject prefix and answered senders full of quotes,
    backslashes, ${...} and Sieve syntax: the server accepts the script (CHECKSCRIPT), runs
    it, and the reply carries the text exactly, with ${1} left literal."""
    bob, alice = mail_user("bob"), mail_user("alice")
    hostile = (
        'He said "stop";\\ discard; ${1} ${ooo_subject} ${ooo_dollar}\n'
        'vacation "pwned";\n.\ntext:\n# not a comment */\n'
    )
    for prefix, expected_subject in (("Auto: ", "Auto: Hostile"), ('Ab"we${1}send: ', None)):
        h = SieveHandoff(
            lambda: session(mail_stack, bob),
            reply=sieve.ServerReply(internal=None, external=hostile, subject_prefix=prefix),
            addresses=[bob.address],
            window_start=datetime.now(UTC) - HOUR,
            window_end=datetime.now(UTC) + HOUR,
            lease=timedelta(minutes=1),
            days=1,
            clock=lambda: datetime.now(UTC),
        )
        h.take_back(datetime.now(UTC) - timedelta(seconds=1), ['x"y\\z${1}@example.org'])
        send(mail_stack, alice, bob, "Hostile")
        (raw,) = mail_stack.wait_for_mail(alice, 1)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg.get_content().replace("\r\n", "\n").rstrip("\n") == hostile.rstrip("\n")
        assert msg["Subject"] == (expected_subject or 'Ab"we${1}send: Hostile')
        h.finish()
        client = mail_stack.imap(alice)
        client.select_folder("INBOX")
        client.delete_messages(client.search(["ALL"]))
        client.expunge()
        client.logout()
        # A new handle memory for the next round: the same sender is new again.
        alice = mail_user(f"alice{len(prefix)}")


def test_round_trips_stay_a_handful_per_hour(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """A running daemon (waking every 30 s) costs one session to take back, then one per
    lease renewal (every 10 min with a 15 min lease) and at most one per change of the
    answered senders (an upload for a reply also renews the lease): measured in sessions
    and round trips (the greeting and each command), over an hour without mail and an hour
    with three replies."""
    bob = mail_user("bob")
    install_own_script(mail_stack, bob)
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    h = sieve_handoff(bob, clock=clock)
    h.lease = timedelta(minutes=15)
    answered: list[str] = []
    h.take_back(clock.now + h.lease, answered)
    taken = (h.trips.sessions, h.trips.commands)
    hours: list[tuple[int, int]] = []
    for hour in range(2):
        before = (h.trips.sessions, h.trips.commands)
        for tick in range(120):
            clock.advance(seconds=30)
            if hour == 1 and tick in (10, 50, 90):
                answered.insert(0, f"sender{tick}@example.org")
            due = h.due()
            assert due is not None and due >= clock.now  # never overdue at a 30 s wake-up
            h.renew(clock.now + h.lease, answered)
        hours.append((h.trips.sessions - before[0], h.trips.commands - before[1]))
    print(
        f"\nManageSieve: take back {taken[0]} session, {taken[1]} round trips; an hour without "
        f"mail {hours[0][0]} sessions, {hours[0][1]} round trips; an hour with 3 replies "
        f"{hours[1][0]} sessions, {hours[1][1]} round trips"
    )
    assert taken[0] == 1
    assert hours[0][0] == 6  # one renewal every 10 minutes
    assert hours[1][0] <= 6 + 3
    assert all(commands <= 5 * sessions for sessions, commands in hours)
    meta = sieve.read_meta(script_file(mail_stack, bob, "ooo-handoff").read_text())
    assert meta is not None and meta.answered == 3


def test_another_script_activated_meanwhile_is_left_alone(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """If the owner activates another script while ooo's is active, ooo notices at the next
    renewal, does not fight it, says so, and at the end only deletes its own."""
    bob = mail_user("bob")
    install_own_script(mail_stack, bob)
    h = sieve_handoff(bob)
    h.take_back(datetime.now(UTC) + HOUR, [])
    with session(mail_stack, bob) as s:
        assert s.putscript("newer", "keep;\n")[0]
        s.setactive("newer")
    assert h.renew(datetime.now(UTC) + HOUR, ["new@example.org"]) is None
    assert h.state.answering == "nobody" and "'newer'" in h.state.why
    assert h.due() is None
    h.finish()
    active, others = scripts(mail_stack, bob)
    assert active == "newer" and sorted(others) == ["roundcube"]


def test_login_and_connection_errors_are_the_handoffs_own(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """A wrong password is HandoffAuthError; nothing listening is HandoffUnavailable; the
    password never appears in either message."""
    bob = mail_user("bob")
    wrong = Session(
        mail_stack.host, mail_stack.managesieve_port, "plain", bob.login, lambda: "n0pe"
    )
    with pytest.raises(HandoffAuthError) as refused:
        wrong.__enter__()
    assert "refused the login" in str(refused.value) and "n0pe" not in str(refused.value)
    closed = Session(mail_stack.host, mail_stack.lmtp_port + 0, "plain", bob.login, lambda: "x")
    closed.port = _closed_port()
    with pytest.raises(HandoffUnavailable):
        closed.__enter__()
    starttls = Session(
        mail_stack.host, mail_stack.managesieve_port, "starttls", bob.login, lambda: bob.password
    )
    with pytest.raises(HandoffUnavailable, match="STARTTLS"):
        starttls.__enter__()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tls_needs_the_right_ca_file(
    mail_stack: MailStack, mail_user: Callable[[str], User], certificates: Certificates
) -> None:
    """Over TLS the certificate is verified: an unknown CA is refused naming handoff.ca_file;
    with ca_file naming the CA, the same server works (sievelib itself takes no CA)."""
    bob = mail_user("bob")
    proxy = TlsProxy(mail_stack.managesieve_port, certificates)
    try:
        unknown = Session("127.0.0.1", proxy.port, "ssl", bob.login, lambda: bob.password)
        with pytest.raises(HandoffUnavailable, match=r"certificate verify failed.*ca_file"):
            unknown.__enter__()
        trusted = Session(
            "127.0.0.1",
            proxy.port,
            "ssl",
            bob.login,
            lambda: bob.password,
            ca_file=certificates.ca_file,
        )
        with trusted as s:
            assert "vacation" in s.capabilities()
    finally:
        proxy.close()


def test_a_crash_is_covered_once_the_lease_runs_out(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """Nobody hands off after a crash: mail inside the lease is left to ooo (no keyword, no
    reply: it answers on restart), mail after it is answered by the server."""
    bob, alice, carol = mail_user("bob"), mail_user("alice"), mail_user("carol")
    h = sieve_handoff(bob)
    lease_until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    h.take_back(lease_until, [])
    # ... and ooo "crashes" here: nothing more is called on h.
    send(mail_stack, alice, bob, "Inside the lease")
    assert sieve.SERVER_KEYWORD not in flags(mail_stack, bob, "Inside the lease")
    wait_for(lambda: datetime.now(UTC) >= lease_until, 10, "the lease to run out")
    send(mail_stack, carol, bob, "After the lease")
    assert sieve.SERVER_KEYWORD in flags(mail_stack, bob, "After the lease")
    assert the_reply(mail_stack, carol)["Subject"] == "Auto: After the lease"
    no_reply_for(mail_stack, alice)
    assert h.state.at(datetime.now(UTC)).answering == "server"


def test_after_a_hand_off_only_take_back_resumes(
    mail_stack: MailStack, mail_user: Callable[[str], User], sieve_handoff: Handoffs
) -> None:
    """Before a suspend ooo hands off; a daemon wake-up in the seconds before the machine
    sleeps must not undo it (renew does nothing, costs nothing); after the resume, take_back
    gives ooo the job again and reports the server's period."""
    bob, alice = mail_user("bob"), mail_user("alice")
    h = sieve_handoff(bob)
    h.take_back(datetime.now(UTC) + HOUR, [])
    h.hand_off("sleep")
    trips = h.trips.commands
    assert h.renew(datetime.now(UTC) + HOUR, ["new@example.org"]) is None
    assert h.trips.commands == trips and h.due() is None
    send(mail_stack, alice, bob, "During the suspend")
    assert sieve.SERVER_KEYWORD in flags(mail_stack, bob, "During the suspend")
    period = h.take_back(datetime.now(UTC) + HOUR, [alice.address])
    assert period is not None and period.why == "the computer went to sleep"
    assert h.state.answering == "ooo"
    h.finish()
