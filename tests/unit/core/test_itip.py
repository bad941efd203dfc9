"""Meeting invitations (ooo.core.itip and the policy's calendar rules) on real-shaped samples:
Outlook, Google Calendar and Thunderbird invitations in tests/support/corpus/calendar/, read,
decided and answered with an iTIP REPLY that icalendar parses back."""

from __future__ import annotations

import contextlib
import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ooo import locale
from ooo.config import Person
from ooo.core import itip
from ooo.core.compose import ReplySettings
from ooo.core.parse import Inbound, parse
from ooo.core.policy import (
    AUTOMATED,
    INQUIRY,
    Decision,
    InvitationMode,
    Invitations,
    Owner,
    Reason,
    decide,
)
from ooo.core.wording import ENGLISH, Language
from tests.support.hostile import check_reply

CORPUS = Path(__file__).parents[2] / "support" / "corpus" / "calendar"
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)
END = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
OWNER = Owner(("bob@example.com", "b.example@example.com"))
SETTINGS = ReplySettings("Bob Example", BERLIN, START, END)
CAROL = Person(name="Carol Jones", email="carol@example.com")

#: The invitations inside the window, by client.
INVITATIONS = [
    "outlook-request.eml",
    "outlook-recurring.eml",
    "google-request.eml",
    "google-all-day.eml",
    "google-recurring-inside.eml",
    "google-instance.eml",
    "thunderbird-request.eml",
]


def raw(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def inbound(data: bytes, key: str = "1") -> Inbound:
    head, _, body = data.partition(b"\r\n\r\n")
    return parse(key, head + b"\r\n\r\n", body, NOW)


def load(name: str) -> Inbound:
    return inbound(raw(name), name)


def decision(
    msg: Inbound,
    mode: InvitationMode = "decline",
    *,
    handled: frozenset[str] = frozenset(),
    last_reply_at: datetime | None = None,
) -> Decision:
    return decide(
        msg,
        OWNER,
        window_start=START,
        window_end=END,
        last_reply_at=last_reply_at,
        interval=timedelta(days=7),
        now=NOW,
        invitations=Invitations(mode, BERLIN, handled.__contains__),
    )


def answer(
    msg: Inbound, mode: InvitationMode = "decline", lang: Language = ENGLISH
) -> EmailMessage:
    made = decision(msg, mode)
    out = itip.compose_answer(
        msg,
        made,
        SETTINGS,
        answer=mode,
        delegate=CAROL,
        message_id="<answer-1@example.com>",
        now=NOW,
        lang=lang,
    )
    parsed = email.message_from_bytes(out.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def calendar_of(mail: EmailMessage) -> icalendar.Calendar:
    (part,) = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REPLY"
    assert str(part.get_content_charset()).lower() == "utf-8"
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert isinstance(cal, icalendar.Calendar)
    return cal


def invitation_event(name: str) -> icalendar.Event:
    msg = load(name)
    cal = icalendar.Calendar.from_ical(msg.calendar or "")
    return cal.walk("VEVENT")[0]


# --------------------------------------------------------------------------- reading


def test_the_calendar_part_is_kept_on_the_inbound() -> None:
    """The parser keeps the text/calendar part (decoded from base64, Outlook) and its
    Content-Type method; a message without one has none."""
    msg = load("outlook-request.eml")
    assert msg.calendar is not None and msg.calendar.startswith("BEGIN:VCALENDAR")
    assert msg.calendar_method == "REQUEST"
    assert "X-MICROSOFT-CDO-OWNERAPPTID" in msg.calendar
    assert msg.body_text.startswith("When:")  # the prose part is still the body
    plain = inbound(b"From: a@example.org\r\nTo: bob@example.com\r\n\r\nhello\r\n")
    assert plain.calendar is None and plain.calendar_method == ""


def test_an_ics_attachment_alone_is_found() -> None:
    """An invitation sent only as an invite.ics attachment (no text/calendar part) is read."""
    text = load("google-request.eml").calendar or ""
    mail = EmailMessage()
    mail["From"] = "Alice Organiser <alice@example.org>"
    mail["To"] = "bob@example.com"
    mail["Subject"] = "Budget review"
    mail["Message-ID"] = "<att-1@example.org>"
    mail.set_content("Please see the attached invitation.\n")
    mail.add_attachment(
        text.encode(), maintype="application", subtype="octet-stream", filename="invite.ics"
    )
    msg = inbound(mail.as_bytes())
    assert msg.calendar is not None and "METHOD:REQUEST" in msg.calendar
    assert decision(msg).reason is Reason.MEETING_DECLINED


@pytest.mark.parametrize("name", INVITATIONS)
def test_each_client_s_invitation_is_declined(name: str) -> None:
    """An invitation from Outlook, Google Calendar or Thunderbird for a time inside the away
    window is declined: an inquiry, answered to the organiser from the invited address."""
    msg = load(name)
    made = decision(msg)
    assert made.reason is Reason.MEETING_DECLINED, made.describe()
    assert made.reply and made.reason in INQUIRY
    organiser = "erin@example.net" if name.startswith("thunderbird") else "alice@example.org"
    assert made.recipient == organiser
    invited = "b.example@example.com" if name.startswith("thunderbird") else "bob@example.com"
    assert made.owner_address == invited


@pytest.mark.parametrize("name", INVITATIONS)
def test_the_answer_is_an_itip_reply_that_round_trips(name: str) -> None:
    """The answer parses back with icalendar as METHOD:REPLY with the invitation's UID and
    SEQUENCE, its ORGANIZER, and one ATTENDEE (the owner as the invitation wrote them) with
    PARTSTAT=DECLINED and a COMMENT naming the delegate and the return date."""
    msg = load(name)
    mail = answer(msg)
    cal = calendar_of(mail)
    source = invitation_event(name)
    assert str(cal["METHOD"]) == "REPLY"
    assert str(cal["VERSION"]) == "2.0" and cal.get("PRODID")
    events = cal.walk("VEVENT")
    assert events
    owner_value = next(
        str(a)
        for a in source.get("ATTENDEE")
        if str(a).lower().removeprefix("mailto:") in OWNER.addresses
    )
    for event in events:
        assert str(event["UID"]) == str(source["UID"])
        assert int(event["SEQUENCE"]) == int(source.get("SEQUENCE", 0))
        assert str(event["ORGANIZER"]).lower() == str(source["ORGANIZER"]).lower()
        attendee = event["ATTENDEE"]
        assert not isinstance(attendee, list), "one ATTENDEE only"
        assert str(attendee) == owner_value  # as written, case kept
        assert attendee.params["PARTSTAT"] == "DECLINED"
        assert isinstance(event["DTSTAMP"].dt, datetime)
        note = str(event["COMMENT"])
        assert "Carol Jones <carol@example.com>" in note
        assert "Tuesday 5 January 2027" in note
    assert mail["Subject"] == f"Declined: {source['SUMMARY']}"
    assert mail["To"].addresses[0].addr_spec == decision(msg).recipient
    assert mail["From"].addresses[0].addr_spec == decision(msg).owner_address
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["In-Reply-To"] == msg.message_id
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html", "text/calendar"]
    text = mail.get_body(("plain",))
    assert text is not None and "away until Tuesday 5 January 2027" in text.get_content()


def test_tentative_answers_tentative() -> None:
    """With invitations = "tentative" the attendee's PARTSTAT is TENTATIVE and the subject
    says so."""
    msg = load("outlook-request.eml")
    assert decision(msg, "tentative").reason is Reason.MEETING_TENTATIVE
    mail = answer(msg, "tentative")
    (event,) = calendar_of(mail).walk("VEVENT")
    assert event["ATTENDEE"].params["PARTSTAT"] == "TENTATIVE"
    assert mail["Subject"] == "Tentative: Quarterly planning"
    assert str(event["COMMENT"]).startswith("Tentatively accepted, automatically")


def test_an_outlook_time_zone_is_read_from_its_vtimezone() -> None:
    """Outlook's Windows zone ("W. Europe Standard Time", defined by the VTIMEZONE) is used:
    10:00 in Berlin in December is 09:00 UTC in the reply."""
    (event,) = calendar_of(answer(load("outlook-request.eml"))).walk("VEVENT")
    assert event["DTSTART"].dt == datetime(2026, 12, 22, 9, 0, tzinfo=UTC)
    assert event["DTEND"].dt == datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
    assert "RECURRENCE-ID" not in event
    assert str(event["X-MICROSOFT-CDO-OWNERAPPTID"]) == "2121764539"


def test_a_series_reaching_past_the_window_is_declined_only_inside_it() -> None:
    """A weekly series that began before the window and goes on after it is not declined
    whole: the reply names the one occurrence inside (30 December is an exception) by its
    RECURRENCE-ID."""
    mail = answer(load("outlook-recurring.eml"))
    (event,) = calendar_of(mail).walk("VEVENT")
    assert event["RECURRENCE-ID"].dt == datetime(2026, 12, 23, 9, 0, tzinfo=UTC)
    assert event["DTSTART"].dt == datetime(2026, 12, 23, 9, 0, tzinfo=UTC)
    assert int(event["SEQUENCE"]) == 1
    body = mail.get_body(("plain",))
    assert body is not None
    assert (
        "for the occurrence while Bob Example is away: Wed 23 Dec 2026 10:00." in body.get_content()
    )


def test_the_occurrences_are_named_in_the_answer_s_language() -> None:
    """In French (a language with a third plural form): the prefix, the line naming the one
    occurrence inside the window with French day and month names, and the event's name."""
    mail = answer(load("outlook-recurring.eml"), lang=locale.language("fr"))
    assert mail["Subject"] == "Refusé : Weekly sync"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Cette réponse vaut pour l’occurrence pendant l’absence de Bob Example : " in text
    assert "23 déc. 2026 10:00." in text, text
    assert "Événement : Weekly sync" in text


def test_a_series_wholly_inside_the_window_is_declined_whole() -> None:
    """A daily series whose four occurrences all fall inside the window is answered once for
    the whole series (no RECURRENCE-ID)."""
    msg = load("google-recurring-inside.eml")
    invitation = itip.read(msg.calendar)
    found = itip.span(invitation, START, END, BERLIN)
    assert found.whole
    (event,) = calendar_of(answer(msg)).walk("VEVENT")
    assert "RECURRENCE-ID" not in event
    assert event["DTSTART"].dt == datetime(2026, 12, 21, 8, 30, tzinfo=UTC)


def test_several_occurrences_inside_are_named_in_one_reply() -> None:
    """A daily series that goes on after the window: one reply, one VEVENT per occurrence
    inside the window, each with its RECURRENCE-ID."""
    text = (load("google-recurring-inside.eml").calendar or "").replace(
        "RRULE:FREQ=DAILY;COUNT=4", "RRULE:FREQ=DAILY"
    )
    invitation = itip.read(text)
    found = itip.span(invitation, START, END, BERLIN)
    assert not found.whole
    days = [o.recurrence_id for o in found.inside]
    assert len(days) == 16  # 21 Dec .. 5 Jan (09:30 in Berlin; the window ends at 10:00)
    assert days[0] == datetime(2026, 12, 21, 8, 30, tzinfo=UTC)
    owner = itip.attendee(invitation, OWNER.addresses)
    assert owner is not None
    ics = itip.reply_calendar(invitation, owner, found, answer="decline", note="x", now=NOW)
    events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert [e["RECURRENCE-ID"].dt for e in events] == days


def test_one_changed_occurrence_keeps_its_recurrence_id() -> None:
    """An invitation for one occurrence of a series (Google's "Updated invitation" with a
    RECURRENCE-ID) is answered for that occurrence, with that RECURRENCE-ID and SEQUENCE."""
    (event,) = calendar_of(answer(load("google-instance.eml"))).walk("VEVENT")
    assert event["RECURRENCE-ID"].dt == datetime(2026, 12, 29, 9, 0, tzinfo=UTC)
    assert int(event["SEQUENCE"]) == 2


def test_an_all_day_event_stays_all_day() -> None:
    """An all-day event (DATE values) inside the window is declined with DATE values."""
    (event,) = calendar_of(answer(load("google-all-day.eml"))).walk("VEVENT")
    assert event["DTSTART"].dt == date(2026, 12, 24)
    assert event["DTEND"].dt == date(2026, 12, 25)


def test_an_all_day_event_uses_the_owner_s_days() -> None:
    """All-day dates are the owner's days: 5 January (the window ends at 10:00 in Berlin on
    that day) overlaps the window; 6 January does not."""
    text = load("google-all-day.eml").calendar or ""
    inside = itip.read(text.replace("20261224", "20270105").replace("20261225", "20270106"))
    assert itip.span(inside, START, END, BERLIN).inside
    after = itip.read(text.replace("20261224", "20270106").replace("20261225", "20270107"))
    assert not itip.span(after, START, END, BERLIN).inside


# --------------------------------------------------------------------------- left alone


def test_an_invitation_after_the_window_is_left_alone() -> None:
    """An invitation for a meeting after the owner is back is not answered (they can answer
    it themselves), and the reason says when it is."""
    made = decision(load("outlook-after-window.eml"))
    assert made.reason is Reason.MEETING_OUTSIDE and not made.reply
    assert "2027-01-12" in made.detail and made.reason in AUTOMATED


def test_an_invitation_before_the_window_is_left_alone() -> None:
    """A meeting that is over before the window starts is not answered."""
    text = (load("outlook-request.eml").calendar or "").replace("20261222T", "20261201T")
    msg = inbound(_with_calendar(text))
    made = decision(msg)
    assert made.reason is Reason.MEETING_OUTSIDE
    assert "over before" in made.detail


def test_a_series_with_no_occurrence_inside_is_left_alone() -> None:
    """A weekly series on a weekday the window does not contain is not answered; the reason
    names its next occurrence."""
    text = (load("outlook-recurring.eml").calendar or "").replace("BYDAY=WE", "BYDAY=WE;BYMONTH=2")
    made = decision(inbound(_with_calendar(text)))
    assert made.reason is Reason.MEETING_OUTSIDE
    assert made.detail == "it starts 2027-02-03T10:00:00+01:00, after the window"


def test_a_cancellation_is_left_alone() -> None:
    """Outlook's METHOD:CANCEL is calendar traffic, never answered."""
    made = decision(load("outlook-cancel.eml"))
    assert made.reason is Reason.CALENDAR_OTHER and made.detail == "METHOD:CANCEL"


@pytest.mark.parametrize("method", ["REPLY", "COUNTER", "PUBLISH", "REFRESH", "DECLINECOUNTER"])
def test_other_methods_are_left_alone(method: str) -> None:
    """A reply, a counter-proposal, a published calendar: none is an invitation to answer."""
    text = (load("google-request.eml").calendar or "").replace("METHOD:REQUEST", f"METHOD:{method}")
    made = decision(inbound(_with_calendar(text, method)))
    assert made.reason is Reason.CALENDAR_OTHER and made.detail == f"METHOD:{method}"


def test_an_invitation_not_listing_the_owner_is_left_alone() -> None:
    """An invitation (or update) the owner got a copy of but is not an attendee of."""
    assert decision(load("thunderbird-not-attendee.eml")).reason is Reason.MEETING_NOT_ATTENDEE


def test_an_update_of_a_meeting_the_owner_answered_is_left_alone() -> None:
    """When the invitation already carries the owner's answer (PARTSTAT=ACCEPTED: they
    accepted before leaving), an update is not declined for them."""
    text = (load("google-request.eml").calendar or "").replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=\r\n TRUE;CN=bob", "PARTSTAT=ACCEPTED;RSVP=\r\n TRUE;CN=bob"
    )
    made = decision(inbound(_with_calendar(text)))
    assert made.reason is Reason.MEETING_ANSWERED and "ACCEPTED" in made.detail


def test_the_same_invitation_twice_is_answered_once() -> None:
    """A second REQUEST with the same organiser, UID and SEQUENCE is not answered again; an
    update (a higher SEQUENCE) is a new invitation."""
    msg = load("outlook-request.eml")
    first = decision(msg)
    again = decision(msg, handled=frozenset({first.detail}))
    assert again.reason is Reason.MEETING_REPEATED and again.reason in AUTOMATED
    updated = inbound(_with_calendar((msg.calendar or "").replace("SEQUENCE:0", "SEQUENCE:1")))
    assert decision(updated, handled=frozenset({first.detail})).reason is Reason.MEETING_DECLINED


def test_an_invitation_is_declined_even_after_a_recent_reply() -> None:
    """The reply interval is for prose replies: an organiser who got one yesterday still gets
    the decline of a new invitation."""
    made = decision(load("google-request.eml"), last_reply_at=NOW - timedelta(days=1))
    assert made.reason is Reason.MEETING_DECLINED


def test_reply_mode_answers_with_prose_and_ignore_mode_tracks() -> None:
    """invitations = "reply" is the ordinary reply; "ignore" sends nothing but tracks the
    invitation as an inquiry."""
    msg = load("outlook-request.eml")
    assert decision(msg, "reply").reason is Reason.REPLY
    ignored = decision(msg, "ignore")
    assert ignored.reason is Reason.MEETING_IGNORED and not ignored.reply
    assert ignored.reason in INQUIRY
    assert decision(load("outlook-cancel.eml"), "reply").reason is Reason.REPLY


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("List-Id: <team.lists.example.org>", Reason.MAILING_LIST),
        ("Precedence: bulk", Reason.PRECEDENCE),
        ("Auto-Submitted: auto-generated", Reason.AUTO_SUBMITTED),
    ],
)
def test_calendar_mail_from_a_list_or_a_robot_is_never_answered(
    header: str, reason: Reason
) -> None:
    """The usual rules come first: an invitation sent through a list or by a program is
    not answered, with the usual reason."""
    data = raw("outlook-request.eml").replace(
        b"MIME-Version", header.encode() + b"\r\nMIME-Version", 1
    )
    assert decision(inbound(data)).reason is reason


def test_an_invitation_from_a_robot_address_is_not_answered() -> None:
    """A noreply organiser is a robot before it is an organiser."""
    data = raw("outlook-request.eml").replace(b"alice@example.org", b"noreply@example.org")
    assert decision(inbound(data)).reason is Reason.ROBOT_SENDER


def test_an_invitation_forwarded_by_someone_else_gets_the_prose_reply() -> None:
    """An iTIP answer goes only to the organiser who sent the invitation: one forwarded by a
    colleague is treated as ordinary mail from them, and the reason says why."""
    data = raw("thunderbird-request.eml").replace(
        b"From: Erin Lightning <erin@example.net>", b"From: Frank Colleague <frank@example.net>"
    )
    data = data.replace(b"Return-Path: <erin@example.net>", b"Return-Path: <frank@example.net>")
    made = decision(inbound(data))
    assert made.reason is Reason.REPLY and made.recipient == "frank@example.net"
    assert "organiser (erin@example.net) did not send it" in made.detail


def test_a_malformed_calendar_part_falls_back_to_the_prose_reply() -> None:
    """A calendar part that cannot be read is not a crash: the message is ordinary mail (the
    prose reply), and the detail names the calendar part and what is wrong with it."""
    made = decision(load("malformed.eml"))
    assert made.reason is Reason.REPLY
    assert made.detail.startswith("the calendar part could not be read (")
    assert "treated as ordinary mail" in made.detail


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("RRULE:FREQ=DAILY;COUNT=4", "RRULE:FREQ=SECONDLY"), "every second"),
        (("RRULE:FREQ=DAILY;COUNT=4", "RRULE:FREQ=HOURLY"), "every hour"),
        (("COUNT=4", "BYHOUR=9,10,11;BYMINUTE=0,1,2,3,4,5"), "by the hour, minute or second"),
        (("20261221T093000", "18001221T093000"), "began in 1800"),
        (("SEQUENCE:0", "SEQUENCE:many"), "SEQUENCE is not a number"),
        (("UID:7t6s5r4q3p2o1n0m9l8k7j6i5h@google.com\r\n", ""), "no UID"),
    ],
)
def test_hostile_or_broken_invitations_are_read_quickly_or_refused(
    change: tuple[str, str], why: str
) -> None:
    """A recurrence no meeting has (every second, every hour, or a series from 1800) would
    take minutes to expand: it is refused with a reason, and the message is ordinary mail."""
    text = (load("google-recurring-inside.eml").calendar or "").replace(*change)
    with pytest.raises(itip.Unreadable, match=why):
        itip.span(itip.read(text), START, END, BERLIN)
    made = decision(inbound(_with_calendar(text)))
    assert made.reason is Reason.REPLY and why in made.detail


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400), st.sampled_from(INVITATIONS), st.integers(0, 3000))
def test_reading_never_raises_anything_but_unreadable(noise: str, name: str, at: int) -> None:
    """Whatever the calendar text (a sample with noise spliced in anywhere, or noise alone),
    reading it and placing it against the window gives an answer or Unreadable, never another
    exception; the policy never raises on it."""
    base = load(name).calendar or ""
    cut = at % (len(base) + 1)
    for text in (base[:cut] + noise + base[cut:], noise):
        with contextlib.suppress(itip.Unreadable):
            itip.span(itip.read(text), START, END, BERLIN)
        decision(inbound(_with_calendar(text)))


def _with_calendar(text: str, method: str = "REQUEST") -> bytes:
    """A message from alice@example.org to the owner carrying ``text`` as its calendar part."""
    mail = EmailMessage()
    mail["Return-Path"] = "<alice@example.org>"
    mail["From"] = "Alice Organiser <alice@example.org>"
    mail["To"] = "bob@example.com, b.example@example.com"
    mail["Subject"] = "Invitation"
    mail["Message-ID"] = "<inv-1@example.org>"
    mail.set_content("An invitation.\n")
    mail.add_alternative(text, subtype="calendar", params={"method": method})
    return mail.as_bytes()


def test_hostile_names_and_summaries_stay_text() -> None:
    """A SUMMARY or organiser name crafted to become header lines (an encoded CR/LF, a raw
    quote in CN) comes out as text: the answer's header block has only the reply's fields,
    and its calendar part parses back with the same organiser and one attendee."""
    text = (
        (load("google-request.eml").calendar or "")
        .replace("SUMMARY:Budget review", "SUMMARY:=?utf-8?q?x=0D=0ABcc:_evil@example.org?=")
        .replace(
            "ORGANIZER;CN=Alice Organiser:",
            'ORGANIZER;CN="Alice ;X-EVIL=1 =?utf-8?q?=0D=0ABcc:?= evil@example.org":',
        )
    )
    msg = inbound(_with_calendar(text))
    made = decision(msg)
    assert made.reason is Reason.MEETING_DECLINED
    out = itip.compose_answer(
        msg, made, SETTINGS, answer="decline", delegate=None, message_id="<a@x.example>", now=NOW
    )
    check_reply(out.as_bytes())
    mail = email.message_from_bytes(out.as_bytes(), policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    assert "evil" not in str(mail["Bcc"] or "")
    (event,) = calendar_of(mail).walk("VEVENT")
    assert str(event["ORGANIZER"]) == "mailto:alice@example.org"
    assert not isinstance(event["ATTENDEE"], list)
