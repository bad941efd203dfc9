"""The engine with [calendar] invitations = "decline": an invitation becomes an iTIP answer in
the outbox, sent to the organiser, tracked as an inquiry, answered once (in-memory backends)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import icalendar

from ooo.config import Person
from ooo.core.parse import Inbound
from ooo.core.policy import InvitationMode
from ooo.core.routing import Routing
from ooo.core.wording import describe_arrival
from ooo.engine import Engine
from ooo.mailbox.memory import MemoryMailbox
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.helpers import INSIDE, make_engine, raw_message

CORPUS = Path(__file__).parents[2] / "support" / "corpus" / "calendar"


def invitation(name: str = "outlook-request.eml", message_id: str | None = None) -> bytes:
    data = (CORPUS / name).read_bytes()
    if message_id:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = [
            f"Message-ID: {message_id}".encode() if line.startswith(b"Message-ID:") else line
            for line in head.split(b"\r\n")
        ]
        data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    return data


def routed(msg: Inbound, sender: str) -> Routing:
    return Routing(
        audience="external",
        audience_reason="test",
        route=None,
        delegate=Person(name="Carol Jones", email="carol@example.com"),
        template="reply",
        cc_delegate=True,
        forward_to_delegate=True,
        reply=True,
    )


def calendar_engine(
    mode: InvitationMode = "decline",
) -> tuple[Engine, MemoryMailbox, MemoryTransport, Store]:
    engine, mailbox, transport, store, _ = make_engine(router=routed)
    engine.settings = replace(engine.settings, invitations=mode)
    return engine, mailbox, transport, store


def test_an_invitation_is_declined_once_with_an_itip_reply() -> None:
    """An Outlook invitation inside the window: one iTIP REPLY to the organiser (no prose, no
    copy or forward to the delegate, whose name is in the COMMENT); the same invitation again
    (a new Message-ID, as Outlook resends) is recorded and not answered."""
    engine, mailbox, transport, store = calendar_engine()
    mailbox.deliver(invitation(), INSIDE)
    engine.sync()
    (sent,) = transport.sent
    assert sent.recipients == ["alice@example.org"]
    mail = email.message_from_bytes(sent.raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "Declined: Quarterly planning"
    (part,) = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    (event,) = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert event["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert "Carol Jones" in str(event["COMMENT"])

    mailbox.deliver(invitation(message_id="<resent-1@example.org>"), INSIDE)
    engine.sync()
    assert len(transport.sent) == 1
    reasons = [m.reason for m in store.messages()]
    assert reasons == ["meeting_declined", "meeting_request_repeated"]
    (facts,) = store.inquiry_facts()
    assert facts.reason == "meeting_declined" and facts.replied
    assert describe_arrival(facts).startswith("Meeting declined")


def test_an_update_with_a_new_sequence_is_answered_again() -> None:
    """An updated invitation (SEQUENCE 1, a new subject as Google writes it) is a new one:
    the organiser's calendar asks again, so it is answered again."""
    engine, mailbox, transport, _ = calendar_engine()
    first = invitation("google-request.eml")
    mailbox.deliver(first, INSIDE)
    updated = (
        first.replace(b"SEQUENCE:0", b"SEQUENCE:1")
        .replace(b"Subject: Invitation:", b"Subject: Updated invitation:")
        .replace(b"calendar-AbCdEf0123456789", b"calendar-AbCdEf0123456790")
    )
    head, _, body = updated.partition(b"\r\n\r\n")
    # the base64 invite.ics still says SEQUENCE:0; the text/calendar part is the one read
    mailbox.deliver(head + b"\r\n\r\n" + body, INSIDE)
    engine.sync()
    assert len(transport.sent) == 2


def test_tentative_and_ignore_modes() -> None:
    """invitations = "tentative" sends a TENTATIVE answer; "ignore" sends nothing and keeps
    the invitation as an inquiry the report calls a meeting invitation."""
    engine, mailbox, transport, _ = calendar_engine("tentative")
    mailbox.deliver(invitation("thunderbird-request.eml"), INSIDE)
    engine.sync()
    (sent,) = transport.sent
    assert b"PARTSTAT=TENTATIVE" in sent.raw and sent.recipients == ["erin@example.net"]

    engine, mailbox, transport, store = calendar_engine("ignore")
    mailbox.deliver(invitation("thunderbird-request.eml"), INSIDE)
    engine.sync()
    assert transport.sent == []
    (facts,) = store.inquiry_facts()
    assert describe_arrival(facts).startswith("Meeting invitation, not answered")


def test_calendar_mail_left_alone_and_ordinary_mail_unchanged() -> None:
    """A cancellation and an invitation after the window are not answered; a malformed
    invitation and ordinary mail get the prose reply (copied to the delegate, as the route
    says)."""
    engine, mailbox, transport, store = calendar_engine()
    for name in ("outlook-cancel.eml", "outlook-after-window.eml", "malformed.eml"):
        mailbox.deliver(invitation(name), INSIDE)
    mailbox.deliver(raw_message("dave@example.org", message_id="<q1@example.org>"), INSIDE)
    engine.sync()
    reasons = {m.key: m.reason for m in store.messages()}
    assert sorted(reasons.values()) == [
        "calendar_not_an_invitation",
        "meeting_outside_window",
        "reply",
        "reply",
    ]
    replies = [s for s in transport.sent if b"Subject: Auto:" in s.raw]
    assert sorted(s.recipients[0] for s in replies) == [
        "dave@example.org",
        "erin@example.net",
    ]
    assert not any(b'method="REPLY"' in s.raw for s in transport.sent)


def test_received_before_the_window_is_not_looked_at() -> None:
    """The window rules come first: an invitation received before the window is not read."""
    engine, mailbox, transport, _ = calendar_engine()
    mailbox.deliver(invitation(), datetime(2026, 12, 1, tzinfo=UTC))
    engine.sync()
    assert transport.sent == []


def answered_in(languages: tuple[str, ...], tag: str) -> tuple[Engine, bytes, EmailMessage]:
    """The engine (with these reply languages), and the one answer it sent to the Outlook
    invitation marked ``Content-Language: <tag>``, raw and parsed."""
    engine, mailbox, transport, _ = calendar_engine()
    engine.settings = replace(
        engine.settings, reply=replace(engine.settings.reply, languages=languages)
    )
    data = invitation().replace(b"Content-Language: en-US", f"Content-Language: {tag}".encode())
    mailbox.deliver(data, INSIDE)
    engine.sync()
    (sent,) = transport.sent
    mail = email.message_from_bytes(sent.raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    return engine, sent.raw, mail


def test_the_answer_speaks_the_language_a_reply_to_its_sender_would() -> None:
    """With German among the reply languages, a German organiser's invitation is declined in
    German: the subject's prefix, the COMMENT their calendar shows, the day in German words,
    and the delegate; the calendar data itself (PARTSTAT) is the same in every language."""
    engine, _, mail = answered_in(("en", "de"), "de-DE")
    assert mail["Subject"] == "Abgelehnt: Quarterly planning"
    (part,) = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    (event,) = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert event["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    comment = str(event["COMMENT"])
    assert comment.startswith("Automatisch abgelehnt: ")
    assert "Bitte wenden Sie sich stattdessen an Carol Jones <carol@example.com>." in comment
    back = engine.settings.reply.away_end.astimezone(engine.settings.reply.timezone)
    assert f"{back.day}. " in comment and str(back.year) in comment  # "Dienstag, 5. Januar 2027"
    text = mail.get_body(("plain",))
    assert text is not None and "Termin: Quarterly planning" in text.get_content()


def test_a_language_ooo_has_no_words_for_answers_in_english() -> None:
    """Italian is a reply language (the owner wrote its templates), but ooo's own words for
    an invitation's answer exist in English, German, French, Spanish and Dutch: English."""
    _, raw, mail = answered_in(("en", "it"), "it")
    assert mail["Subject"] == "Declined: Quarterly planning"
    assert b"Declined automatically: " in raw.replace(b"=\r\n", b"")
