"""Meeting invitations end to end on real servers: an invitation shaped as Google Calendar sends
it, delivered by Postfix to Dovecot, is declined by the `ooo` daemon with one iTIP REPLY that
arrives in the organiser's own mailbox; the same invitation again gets nothing; the report
lists the meeting as declined."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import icalendar
import pytest

from ooo.core.parse import parse
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, settle

pytestmark = pytest.mark.servers

SAMPLE = Path(__file__).parents[1] / "support" / "corpus" / "calendar" / "google-request.eml"


@pytest.fixture
def responder(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> Iterator[Responder]:
    r = Responder(
        mail_stack, mail_user("bob"), tmp_path, extra='[calendar]\ninvitations = "decline"\n'
    )
    yield r
    if r.proc is not None and r.proc.poll() is None:
        r.stop()


def google_invitation(organiser: User, owner: User, starts: datetime) -> tuple[bytes, str]:
    """The corpus's Google Calendar invitation, between these two users and two hours from
    now, as Google sends it (text/calendar part plus invite.ics); returns it and its UID."""
    head, _, body = SAMPLE.read_bytes().partition(b"\r\n\r\n")
    text = parse("sample", head + b"\r\n\r\n", body).calendar or ""
    stamp = "%Y%m%dT%H%M%SZ"
    text = (
        text.replace("alice@example.org", organiser.address)
        .replace("CN=bob@example.com", f"CN={owner.address}")
        .replace("mailto:bob@example.com", f"mailto:{owner.address}")
        .replace("20261223T140000Z", starts.strftime(stamp))
        .replace("20261223T150000Z", (starts + timedelta(hours=1)).strftime(stamp))
    )
    uid = str(icalendar.Calendar.from_ical(text).walk("VEVENT")[0]["UID"])
    mail = EmailMessage()
    mail["From"] = f"Alice Organiser <{organiser.address}>"
    mail["To"] = owner.address
    mail["Subject"] = f"Invitation: Budget review ({owner.address})"
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain="calendar.example.test")
    mail.set_content("You have been invited to the following event.\n")
    mail.add_alternative("<p>You have been invited to the following event.</p>", subtype="html")
    mail.add_alternative(text, subtype="calendar", params={"method": "REQUEST"})
    mail.add_attachment(text.encode(), maintype="application", subtype="ics", filename="invite.ics")
    return mail.as_bytes(), uid


def test_an_invitation_is_declined_once_over_real_servers(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """One invitation → one iTIP REPLY in the organiser's Maildir (METHOD:REPLY, the UID and
    SEQUENCE, the owner DECLINED, a comment with the return date); a second identical REQUEST
    (resent with a new Message-ID) gets nothing; `ooo report` lists "Meeting declined"."""
    alice = mail_user("alice")
    responder.start()
    starts = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    invite, uid = google_invitation(alice, responder.owner, starts)
    mail_stack.send(invite, alice.address, [responder.owner.address])
    (raw,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    answer = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(answer, EmailMessage)
    assert answer["Subject"] == "Declined: Budget review"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["To"].addresses[0].addr_spec == alice.address
    assert answer["Return-Path"] == "<>"  # null envelope, like every automatic reply
    assert answer.get_content_type() == "multipart/alternative"
    (part,) = [p for p in answer.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REPLY"
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert str(cal["METHOD"]) == "REPLY"
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 0
    assert str(event["ORGANIZER"]) == f"mailto:{alice.address}"
    assert str(event["ATTENDEE"]) == f"mailto:{responder.owner.address}"
    assert event["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert event["DTSTART"].dt == starts
    assert "Bob Owner is away until" in str(event["COMMENT"])
    settle(mail_stack, responder)

    again, _ = google_invitation(alice, responder.owner, starts)
    mail_stack.send(again, alice.address, [responder.owner.address])
    responder.wait_decided(2)
    settle(mail_stack, responder)
    assert len(mail_stack.wait_for_mail(alice, 1)) == 1
    assert responder.reasons() == {"meeting_declined": 1, "meeting_request_repeated": 1}

    text = responder.cli("report")
    assert text.returncode == 0, text.stderr
    assert "Meeting declined" in text.stdout
    done = responder.cli("report", "--format", "json")
    (item,) = json.loads(done.stdout)["inquiries"]
    assert item["last_event"].startswith("Meeting declined")
    assert item["replied"] is True
