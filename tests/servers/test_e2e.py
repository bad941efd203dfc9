"""End to end on real servers: Postfix accepts mail for the owner and delivers it to Dovecot,
the `ooo` daemon (a subprocess, as a user runs it) answers over SMTP submission, and the test
reads the reply from the sender's own mailbox over IMAP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.helpers import read
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, settle, wait_for

pytestmark = pytest.mark.servers


@pytest.fixture
def responder(mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path) -> Responder:
    r = Responder(mail_stack, mail_user("bob"), tmp_path)
    yield r  # type: ignore[misc]
    if r.proc is not None and r.proc.poll() is None:
        r.stop()


def test_daemon_answers_an_inquiry_over_real_servers(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """A message delivered by Postfix to Dovecot is answered once; the reply arrives in the
    sender's mailbox with the RFC 3834 headers, and the original is tagged, not marked read."""
    alice = mail_user("alice")
    responder.start()
    original = inquiry(alice, responder.owner, "Question about the export API")
    mail_stack.send(original, alice.address, [responder.owner.address])
    (raw,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    reply = read(raw)
    sent = read(original)
    assert reply["Subject"] == "Auto: Question about the export API"
    assert reply["In-Reply-To"] == sent["Message-ID"]
    assert reply["References"] == sent["Message-ID"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert reply["To"] == alice.address
    assert reply["From"] == f"Bob Owner <{responder.owner.address}>"
    assert reply["Return-Path"] == "<>"  # the envelope sender was null (RFC 3834 §3.3)
    assert reply.get_content_type() == "multipart/alternative"
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "away until" in text
    settle(mail_stack, responder)

    with mail_stack.imap(responder.owner) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        flags = client.get_flags(uids)[uids[0]]
        assert b"$OooReplied" in flags
        assert b"\\Seen" not in flags
        assert len(client.search(["UID", "1:*"])) == 1
        client.select_folder("Sent", readonly=True)
        assert len(client.search("ALL")) == 1  # the copy kept in sent_folder


def test_repeat_sender_restart_and_catch_up(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """A sender who writes twice gets one reply; mail that arrives while the daemon is down is
    answered after the restart, without answering anything twice; list mail gets nothing."""
    alice, carol, lister = mail_user("alice"), mail_user("carol"), mail_user("lists")
    bob = responder.owner
    responder.start()
    mail_stack.send(inquiry(alice, bob, "First"), alice.address, [bob.address])
    mail_stack.wait_for_mail(alice, 1, timeout=30)
    mail_stack.send(inquiry(alice, bob, "Second"), alice.address, [bob.address])
    responder.wait_decided(2)
    assert responder.stop() == 0  # SIGTERM: a clean exit

    # While it is down: a new sender, a list message, and alice a third time.
    mail_stack.send(inquiry(carol, bob, "While you were down"), carol.address, [bob.address])
    mail_stack.send(
        inquiry(lister, bob, "[dev] weekly digest", List_Id="<dev.example.test>"),
        lister.address,
        [bob.address],
    )
    mail_stack.send(inquiry(alice, bob, "Third"), alice.address, [bob.address])
    wait_for(lambda: len(mail_stack.fetch_all(bob)) == 5, 30, "five messages in bob's INBOX")

    responder.start()
    mail_stack.wait_for_mail(carol, 1, timeout=30)
    responder.wait_decided(5)
    settle(mail_stack, responder)
    assert len(mail_stack.fetch_all(alice)) == 1
    assert len(mail_stack.fetch_all(carol)) == 1
    assert len(mail_stack.fetch_all(lister)) == 0
    assert responder.reasons() == {"reply": 2, "already_replied": 2, "mailing_list": 1}
    responder.stop()

    status = responder.cli("status")
    assert status.returncode == 0, status.stderr
    assert "5 seen, 2 answered" in status.stdout
    assert "mailing_list" in status.stdout


def test_run_once_and_dry_run(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """`--dry-run` sends nothing and changes nothing; `--once` then answers and exits."""
    dave = mail_user("dave")
    bob = responder.owner
    mail_stack.send(inquiry(dave, bob), dave.address, [bob.address])
    wait_for(lambda: mail_stack.fetch_all(bob), 30, "delivery to bob")

    dry = responder.cli("run", "--once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: would send" in dry.stderr
    assert responder.decided() == 0

    once = responder.cli("run", "--once")
    assert once.returncode == 0, once.stderr
    assert responder.reply_states() == {"sent": 1}
    mail_stack.wait_for_mail(dave, 1, timeout=30)


def test_check_reports_every_connection(responder: Responder) -> None:
    """`ooo check` prints one ok line per check against the real servers."""
    done = responder.cli("check")
    assert done.returncode == 0, done.stdout + done.stderr
    for what in ("config", "templates", "mailbox", "smtp"):
        assert any(line.startswith("ok") and what in line for line in done.stdout.splitlines())


def test_check_names_a_refused_login(responder: Responder) -> None:
    """A wrong password fails `ooo check` with the account named and the password not shown."""
    responder.owner = User(responder.owner.login, responder.owner.address, "wrong-password")
    responder.write_config()
    done = responder.cli("check")
    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert any("mailbox" in line and responder.owner.login in line for line in failures), (
        done.stdout
    )
    assert "wrong-password" not in done.stdout + done.stderr
