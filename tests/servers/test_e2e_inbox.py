"""End to end on the real Dovecot + Postfix: the report put into the owner's INBOX when the
away window ends (once, unread, never answered by ooo), and the delegate's daily digest (once
a day, nothing when nothing is open), with the `ooo` daemon run as a user runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.helpers import read
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, settle, wait_for

pytestmark = pytest.mark.servers


def delegate(user: User, hour: int = 0) -> str:
    """A [delegate] table with the daily digest on (hour 0: due at any time of day)."""
    return (
        f'\n[delegate]\nname = "Carol Delegate"\nemail = "{user.address}"\n'
        f'digest = "daily"\ndigest_hour = {hour}\n'
    )


@pytest.fixture
def stopped() -> Iterator[list[Responder]]:
    """Responders to stop after the test, whatever happened."""
    made: list[Responder] = []
    yield made
    for r in made:
        if r.proc is not None and r.proc.poll() is None:
            r.stop()


def flags(stack: MailStack, user: User) -> list[set[bytes]]:
    """The flags of every message in the user's INBOX, in UID order."""
    with stack.imap(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        found = client.get_flags(uids) if uids else {}
        return [set(found[uid]) for uid in uids]


def test_the_report_arrives_in_the_owners_inbox_once_and_is_never_answered(
    mail_stack: MailStack,
    mail_user: Callable[[str], User],
    tmp_path: Path,
    stopped: list[Responder],
) -> None:
    """The daemon answers an inquiry, reaches the end of its window and exits; the report is
    then in the owner's INBOX, unread, from "ooo", marked automatic, with the inquiry in it.
    A later `ooo run --once` adds no second one; and a responder whose window covers the
    report's arrival does not answer it or take it for an inquiry."""
    alice, bob = mail_user("alice"), mail_user("bob")
    now = datetime.now(UTC)
    responder = Responder(mail_stack, bob, tmp_path, end=now + timedelta(seconds=20))
    stopped.append(responder)
    mail_stack.send(inquiry(alice, bob, "Where is the export?"), alice.address, [bob.address])
    wait_for(lambda: mail_stack.fetch_all(bob), 30, "delivery to bob")
    responder.start()
    mail_stack.wait_for_mail(alice, 1, timeout=30)
    assert responder.proc is not None
    wait_for(lambda: responder.proc.poll() is not None, 60, "the daemon to end with its window")  # type: ignore[union-attr]
    assert responder.proc.returncode == 0, responder.log_text()

    inbox = mail_stack.wait_for_mail(bob, 2, timeout=30)
    assert len(inbox) == 2
    report = read(inbox[1])
    assert report["X-Ooo-Report"] == "1"
    assert report["Auto-Submitted"] == "auto-generated"
    assert report["From"] == f"ooo <{bob.address}>"
    assert report["To"] == f"Bob Owner <{bob.address}>"
    assert report["Subject"] == (
        "Out-of-office report for Bob Owner: 1 inquiry while you were away, 1 still open"
    )
    text = report.get_body(("plain",))
    html = report.get_body(("html",))
    assert text is not None and "Where is the export?" in text.get_content()
    assert html is not None and "Where is the export?" in html.get_content()
    assert b"\\Seen" not in flags(mail_stack, bob)[1]
    assert (responder.state / "report.html").exists()  # the files as always

    again = responder.cli("run", "--once")
    assert again.returncode == 0, again.stderr
    assert len(mail_stack.fetch_all(bob)) == 2

    # The next away window starts before the report arrived: it reads the report, and
    # neither answers it nor counts it as an inquiry.
    responder.start_at = now - timedelta(minutes=1)
    responder.end_at = datetime.now(UTC) + timedelta(days=1)
    responder.write_config()
    later = responder.cli("run", "--once")
    assert later.returncode == 0, later.stderr
    rows = responder.query(
        "SELECT reason, ref, follows FROM message WHERE message_id = ?", report["Message-ID"]
    )
    assert rows == [("from_owner", None, None)]
    settle(mail_stack, responder)
    assert len(mail_stack.fetch_all(bob)) == 2
    assert len(mail_stack.fetch_all(alice)) == 1
    assert len(mail_stack.fetch_all(bob, "Sent")) == 1  # the one reply to alice


def test_the_delegate_gets_one_digest_a_day_and_nothing_when_nothing_is_open(
    mail_stack: MailStack,
    mail_user: Callable[[str], User],
    tmp_path: Path,
) -> None:
    """`ooo run --once` answers an inquiry and sends the delegate their digest listing it;
    a second run the same day sends no second digest. Another owner's delegate, with nothing
    open, gets nothing."""
    alice, bob, carol = mail_user("alice"), mail_user("bob"), mail_user("carol")
    for name in ("bob", "erin"):
        (tmp_path / name).mkdir()
    responder = Responder(mail_stack, bob, tmp_path / "bob", extra=delegate(carol))
    mail_stack.send(inquiry(alice, bob, "Contract renewal"), alice.address, [bob.address])
    wait_for(lambda: mail_stack.fetch_all(bob), 30, "delivery to bob")
    for _ in range(2):
        done = responder.cli("run", "--once")
        assert done.returncode == 0, done.stderr
    settle(mail_stack, responder)
    mail_stack.wait_for_mail(alice, 1, timeout=30)
    (raw,) = mail_stack.wait_for_mail(carol, 1, timeout=30)
    digest = read(raw)
    assert digest["X-Ooo-Digest"] == "1"
    assert digest["Auto-Submitted"] == "auto-generated"
    assert digest["X-Auto-Response-Suppress"] == "All"
    assert digest["Subject"].startswith("[ooo] 1 open inquiry for you")
    (ref,) = responder.query("SELECT ref FROM message WHERE ref IS NOT NULL")[0]
    body = digest.get_content()
    assert ref in body and alice.address in body and "Contract renewal" in body
    assert len(mail_stack.fetch_all(carol)) == 1

    dan, erin = mail_user("dan"), mail_user("erin")
    quiet = Responder(mail_stack, erin, tmp_path / "erin", extra=delegate(dan))
    done = quiet.cli("run", "--once")
    assert done.returncode == 0, done.stderr
    assert quiet.query("SELECT value FROM meta WHERE key = ?", f"digest:{dan.address}")
    assert mail_stack.queue_empty()
    assert mail_stack.fetch_all(dan) == []
