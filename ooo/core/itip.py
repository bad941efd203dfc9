"""Meeting invitations: read the iCalendar part of a message, see whether the owner is invited
to something inside the away window, and answer it the way calendar clients do.

iTIP (RFC 5546) carried by mail (iMIP, RFC 6047): an organiser's ``METHOD:REQUEST`` is answered
with a ``METHOD:REPLY`` that has the same UID and SEQUENCE (and RECURRENCE-ID for one occurrence),
the organiser, and one ATTENDEE, the owner as the invitation names them, with their PARTSTAT
(DECLINED or TENTATIVE). The mail is multipart/alternative: a short text and HTML, then
``text/calendar; method=REPLY``, as Outlook and Google Calendar send their answers.

A recurring series with occurrences outside the window is not declined whole: the reply names
each occurrence inside the window by its RECURRENCE-ID (one VEVENT each, RFC 5546 §3.2.3), as
Google Calendar does for an out-of-office period. A series wholly inside the window, or a single
event, is answered whole.

Pure: the icalendar and recurring-ical-events libraries are plain Python; ``now`` is passed in.
Anything wrong with the calendar data raises :class:`Unreadable` with the reason (the policy
then treats the message as ordinary mail); nothing here raises anything else for bad input.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from ooo.core.compose import ReplySettings, format_day, inert, reply_subject, thread_headers
from ooo.core.parse import Inbound, clean, is_replyable, message_id, normalize_address
from ooo.core.wording import ENGLISH, Language

if TYPE_CHECKING:
    import icalendar

    from ooo.config import Person
    from ooo.core.policy import Decision

PRODID = "-//ooo//out-of-office responder//EN"
#: Components read from one invitation (a series and its changed occurrences).
MAX_EVENTS = 50
#: Occurrences named in one reply (a daily meeting through a long absence: the first ones).
MAX_OCCURRENCES = 60
#: A series that began longer ago than this before the window is not expanded: walking it
#: occurrence by occurrence would take seconds (a hostile one, minutes).
OLDEST = timedelta(days=366 * 25)
#: Recurrences no meeting has; expanding them over a window costs too much.
TOO_FREQUENT = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
#: PARTSTAT by the answer.
PARTSTAT = {"decline": "DECLINED", "tentative": "TENTATIVE"}


class Unreadable(ValueError):
    """The calendar data cannot be read as an invitation; the message says why."""


@dataclass(frozen=True)
class Attendee:
    """The owner as an invitation lists them."""

    value: str
    """As written ("mailto:Bob@Example.com"): echoed in the reply so the organiser matches it."""
    address: str
    """Lowercase, without ``mailto:``."""
    name: str
    partstat: str
    """NEEDS-ACTION for a new invitation; ACCEPTED, DECLINED... once they answered."""


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime
    recurrence_id: date | datetime | None = None
    """None: the whole event (a single one, or a series answered whole)."""
    all_day: bool = False


@dataclass(frozen=True)
class Invitation:
    """The part of an iCalendar object the decisions need."""

    method: str
    uid: str
    sequence: int
    summary: str
    organiser: str | None
    """Lowercase address (without ``mailto:``); None when there is none usable."""
    organiser_name: str
    instance: str = ""
    """The RECURRENCE-ID of an invitation for one occurrence only (else empty)."""
    calendar: icalendar.Calendar | None = field(default=None, compare=False, repr=False)
    """The parsed object (icalendar), for :func:`span` and :func:`attendee`."""

    @property
    def key(self) -> str:
        """What makes one invitation: organiser, event, occurrence and revision. The same key
        again is the same invitation sent twice; a new SEQUENCE is an update."""
        at = f" at {self.instance}" if self.instance else ""
        return f"{self.uid}{at} sequence {self.sequence} from {self.organiser or '?'}"


def read(text: str | None, content_method: str = "") -> Invitation:
    """The invitation in ``text`` (an iCalendar object); raises :class:`Unreadable`."""
    if not text or not text.strip():
        raise Unreadable("the calendar part is empty")
    # Imported here: most mail carries no calendar, and loading the library costs start-up.
    import icalendar

    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:
        raise Unreadable(f"not iCalendar data ({_why(exc)})") from None
    if not isinstance(cal, icalendar.Calendar):
        raise Unreadable("no VCALENDAR object")
    method = clean(str(cal.get("METHOD") or content_method or ""), 40).upper()
    if not method:
        raise Unreadable("no METHOD (an iCalendar file, not an invitation)")
    events = [c for c in cal.walk("VEVENT")][: MAX_EVENTS + 1]
    if not events:
        todos = cal.walk("VTODO")
        raise Unreadable("a task, not a meeting" if todos else "no VEVENT in the calendar part")
    if len(events) > MAX_EVENTS:
        raise Unreadable(f"more than {MAX_EVENTS} events in one invitation")
    first = events[0]
    uid = clean(str(first.get("UID") or ""), 300)
    if not uid:
        raise Unreadable("the event has no UID")
    try:
        sequence = int(str(first.get("SEQUENCE") or "0").strip())
    except ValueError:
        raise Unreadable(
            f"SEQUENCE is not a number: {clean(str(first.get('SEQUENCE')), 40)}"
        ) from None
    if not 0 <= sequence < 2**31:
        raise Unreadable(f"SEQUENCE out of range: {sequence}")
    organiser, organiser_name = _address(first.get("ORGANIZER"))
    instance = ""
    if all(e.get("RECURRENCE-ID") is not None for e in events):
        instance = clean(_ical_text(first.get("RECURRENCE-ID")), 60)
    return Invitation(
        method=method,
        uid=uid,
        sequence=sequence,
        summary=clean(str(first.get("SUMMARY") or ""), 300),
        organiser=organiser,
        organiser_name=organiser_name,
        instance=instance,
        calendar=cal,
    )


def attendee(invitation: Invitation, addresses: tuple[str, ...]) -> Attendee | None:
    """The owner among the invitation's attendees (by any of their addresses), or None."""
    owned = {normalize_address(a) for a in addresses}
    for event in _events(invitation):
        found = event.get("ATTENDEE")
        for value in found if isinstance(found, list) else [found]:
            if value is None:
                continue
            address, name = _address(value)
            if address and address in owned:
                params = getattr(value, "params", {})
                return Attendee(
                    value=clean(str(value), 400),
                    address=address,
                    name=name,
                    partstat=clean(str(params.get("PARTSTAT") or "NEEDS-ACTION"), 40).upper(),
                )
    return None


@dataclass(frozen=True)
class Span:
    """Where an invitation's event falls against the away window."""

    inside: tuple[Occurrence, ...]
    """The occurrences that overlap the window (at most MAX_OCCURRENCES)."""
    whole: bool
    """Answer the event whole: a single event, or a series with nothing outside the window."""
    first: datetime | None
    """When the first occurrence after the window's start begins (for the reason given)."""


def span(invitation: Invitation, start: datetime, end: datetime, tz: tzinfo) -> Span:
    """The invitation's occurrences against the window ``[start, end)``. Floating times and
    all-day dates are the owner's (``tz``). Raises :class:`Unreadable` for dates it cannot read
    or a recurrence too costly to expand."""
    events = _events(invitation)
    if not events:
        raise Unreadable("no VEVENT in the calendar part")
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), None)
    recurring = master is not None and (
        master.get("RRULE") is not None or master.get("RDATE") is not None
    )
    uid = str(events[0].get("UID") or "")
    try:
        if master is not None:
            _check_recurrence(master, start, tz)
        import recurring_ical_events

        found = recurring_ical_events.of(invitation.calendar, components=["VEVENT"])
        window: list[Occurrence] = []
        # A day more on each side: floating times and dates are the owner's, not UTC.
        for event in found.between(start - timedelta(days=1), end + timedelta(days=1)):
            if str(event.get("UID") or "") != uid:
                continue
            begin, finish, all_day = _bounds(event, tz)
            if finish <= start or begin >= end:
                continue
            # The library gives every occurrence a RECURRENCE-ID, a single event's too: only
            # an occurrence of a series (or of an invitation for occurrences) keeps it.
            rid = event.get("RECURRENCE-ID") if recurring or master is None else None
            window.append(Occurrence(begin, finish, _moment(rid.dt) if rid else None, all_day))
        window.sort(key=lambda o: o.start)
        upcoming = None
        if recurring or not window:
            # The first occurrence starting at or after the end (the walk from the end is
            # short: what spans the end comes first).
            for event in itertools.islice(found.after(end), 8):
                begin, _, _ = _bounds(event, tz)
                if str(event.get("UID") or "") == uid and begin >= end:
                    upcoming = begin
                    break
        earlier = False
        if master is not None and recurring:
            _, finish, _ = _bounds(master, tz)
            earlier = finish <= start
    except Unreadable:
        raise
    except Exception as exc:
        raise Unreadable(f"its dates cannot be read ({_why(exc)})") from None
    capped = len(window) > MAX_OCCURRENCES
    inside = window[:MAX_OCCURRENCES]
    first = inside[0].start if inside else upcoming
    whole = master is not None and not (recurring and (earlier or upcoming or capped))
    if whole and inside:  # the first occurrence stands for the event (no RECURRENCE-ID)
        inside = [Occurrence(inside[0].start, inside[0].end, None, inside[0].all_day)]
    return Span(tuple(inside), whole, first)


def comment(
    answer: str,
    settings: ReplySettings,
    delegate: Person | None,
    lang: Language = ENGLISH,
) -> str:
    """The COMMENT of the reply, also the first line of its text: who, until when, whom to ask,
    in ``lang`` (English by default)."""
    words = {
        "owner": clean(settings.owner_name, 200),
        "day": format_day(settings.away_end, settings.timezone, lang),
    }
    if answer == "decline":
        text = lang.gettext("Declined automatically: %(owner)s is away until %(day)s.") % words
    else:
        text = (
            lang.gettext("Tentatively accepted, automatically: %(owner)s is away until %(day)s.")
            % words
        )
    if delegate is not None:
        contact = {"name": clean(delegate.name, 200), "email": delegate.email}
        text += " " + lang.gettext("Please contact %(name)s <%(email)s> instead.") % contact
    return text


def reply_calendar(
    invitation: Invitation,
    owner: Attendee,
    found: Span,
    *,
    answer: str,
    note: str,
    now: datetime,
) -> bytes:
    """The ``METHOD:REPLY`` iCalendar object (RFC 5546 §3.2.3) for ``found.inside``."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "REPLY")
    source = _events(invitation)[0]
    for occurrence in found.inside:
        event = icalendar.Event()
        event.add("uid", invitation.uid)
        event.add("sequence", invitation.sequence)
        if occurrence.recurrence_id is not None:
            event.add("recurrence-id", occurrence.recurrence_id)
        event.add("dtstamp", now.astimezone(UTC))
        organiser = icalendar.vCalAddress(f"mailto:{invitation.organiser}")
        if invitation.organiser_name:
            organiser.params["CN"] = invitation.organiser_name
        event.add("organizer", organiser)
        person = icalendar.vCalAddress(owner.value)
        if owner.name:
            person.params["CN"] = owner.name
        person.params["PARTSTAT"] = PARTSTAT[answer]
        event.add("attendee", person)
        if invitation.summary:
            event.add("summary", invitation.summary)
        if occurrence.all_day:
            event.add("dtstart", occurrence.start.date())
            event.add("dtend", occurrence.end.date())
        else:
            event.add("dtstart", occurrence.start.astimezone(UTC))
            event.add("dtend", occurrence.end.astimezone(UTC))
        event.add("comment", note)
        if source.get("X-MICROSOFT-CDO-OWNERAPPTID") is not None:
            # Outlook pairs the answer with its appointment by this id as well as by UID.
            event.add(
                "x-microsoft-cdo-ownerapptid", clean(str(source["X-MICROSOFT-CDO-OWNERAPPTID"]), 40)
            )
        cal.add_component(event)
    return bytes(cal.to_ical())


def compose_answer(
    msg: Inbound,
    decision: Decision,
    settings: ReplySettings,
    *,
    answer: str,
    delegate: Person | None,
    message_id: str,
    now: datetime,
    lang: Language = ENGLISH,
) -> EmailMessage:
    """The answer to the invitation in ``msg``: text, HTML and the iTIP reply, to the organiser
    (``decision.recipient``) from the owner's invited address (``decision.owner_address``).
    Its words are in ``lang`` (the language a reply to this sender is written in, when ooo
    has words in it; English by default); the calendar data is the same in every language."""
    if answer not in PARTSTAT or not decision.recipient or not decision.owner_address:
        raise ValueError("compose_answer needs a decision to decline or accept tentatively")
    invitation = read(msg.calendar, msg.calendar_method)
    owner = attendee(invitation, (decision.owner_address,))
    if owner is None:
        raise ValueError("the owner is not an attendee of this invitation")
    found = span(invitation, settings.away_start, settings.away_end, settings.timezone)
    if not found.inside:
        raise ValueError("the invitation has no occurrence inside the away window")
    note = comment(answer, settings, delegate, lang)
    ics = reply_calendar(invitation, owner, found, answer=answer, note=note, now=now)
    summary = invitation.summary or clean(msg.subject) or lang.gettext("(no subject)")
    # The subject's prefix, as the organiser's calendar program writes its own in that language.
    prefix = lang.gettext("Declined:") if answer == "decline" else lang.gettext("Tentative:")

    reply = EmailMessage(policy=SMTP)
    reply["From"] = _mailbox(settings.owner_name, decision.owner_address)
    reply["To"] = _mailbox(invitation.organiser_name, decision.recipient)
    reply["Subject"] = reply_subject(summary, prefix)
    reply["Date"] = format_datetime(now)
    own_id = _own_id(message_id)
    reply["Message-ID"] = own_id
    for name, value in thread_headers(msg).items():
        reply[name] = value
    # RFC 3834 §5: an automatic answer; Exchange's variant too. Calendar clients still read it.
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    reply["X-Loop"] = decision.owner_address
    lines = [note]
    if not found.whole:
        words = {
            "owner": clean(settings.owner_name, 200),
            "when": ", ".join(_when(o, settings.timezone, lang) for o in found.inside),
        }
        line = lang.ngettext(
            "This answer is for the occurrence while %(owner)s is away: %(when)s.",
            "This answer is for the occurrences while %(owner)s is away: %(when)s.",
            len(found.inside),
        )
        lines.append(line % words)
    lines.append(lang.gettext("Event: %(summary)s") % {"summary": summary})
    text = "\n\n".join(lines) + "\n"
    reply.set_content(text)
    body = "".join(f"<p>{html.escape(line)}</p>\n" for line in lines)
    reply.add_alternative(f"<!DOCTYPE html>\n<html><body>\n{body}</body></html>\n", subtype="html")
    reply.add_alternative(
        ics.decode("utf-8"), subtype="calendar", charset="utf-8", params={"method": "REPLY"}
    )
    return reply


# --------------------------------------------------------------------------- helpers


def _events(invitation: Invitation) -> list[Any]:
    if invitation.calendar is None:
        return []
    return list(invitation.calendar.walk("VEVENT"))[:MAX_EVENTS]


def _address(value: object) -> tuple[str | None, str]:
    """(lowercase address, display name) of an ORGANIZER or ATTENDEE value."""
    if value is None or isinstance(value, list):
        return None, ""
    text = clean(str(value), 400)
    if text.lower().startswith("mailto:"):
        text = text[7:]
    address = normalize_address(text)
    params = getattr(value, "params", {})
    # A double quote cannot stand inside a quoted parameter (RFC 5545 §3.1): the name goes
    # back out as CN of the reply.
    name = clean(str(params.get("CN") or ""), 200).strip('"').replace('"', "'")
    return (address if is_replyable(address) else None), name


def _check_recurrence(master: Any, start: datetime, tz: tzinfo) -> None:
    rules = master.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules]:
        if rule is None:
            continue
        freq = [str(f).upper() for f in rule.get("FREQ", [])]
        if set(freq) & TOO_FREQUENT:
            raise Unreadable(f"a recurrence every {freq[0].lower()[:-2]} is not a meeting")
        # No calendar program writes these: hours or minutes listed in a rule multiply its
        # occurrences (1,440 a day), the way to make expanding it cost seconds.
        if any(rule.get(part) for part in ("BYHOUR", "BYMINUTE", "BYSECOND")):
            raise Unreadable("a recurrence by the hour, minute or second is not a meeting")
    if rules is not None:
        begin, _, _ = _bounds(master, tz)
        if begin < start - OLDEST:
            raise Unreadable(f"a series that began in {begin.year} is not expanded")


def _bounds(event: Any, tz: tzinfo) -> tuple[datetime, datetime, bool]:
    """(start, end, all day) of an event or occurrence, as aware datetimes."""
    begin = event.get("DTSTART")
    if begin is None:
        raise Unreadable("the event has no DTSTART")
    value = begin.dt
    all_day = not isinstance(value, datetime)
    first = _aware(value, tz)
    end = event.get("DTEND")
    if end is not None:
        last = _aware(end.dt, tz)
    elif event.get("DURATION") is not None:
        last = first + event["DURATION"].dt
    else:
        last = first + (timedelta(days=1) if all_day else timedelta(0))
    if last < first:
        raise Unreadable("the event ends before it starts")
    return first, max(last, first + timedelta(seconds=1)), all_day


def _aware(value: date | datetime, tz: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tz)
    raise Unreadable(f"not a date: {clean(str(value), 60)}")


def _moment(value: date | datetime) -> date | datetime:
    """A RECURRENCE-ID value for the reply: UTC for a time (no VTIMEZONE needed), floating
    and dates as they were."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _when(occurrence: Occurrence, tz: tzinfo, lang: Language) -> str:
    """``Mon 7 Dec 2026 14:00`` (``Mon 7 Dec 2026`` for a whole day), in ``lang``."""
    local = occurrence.start.astimezone(tz)
    return lang.full_day(local.date()) if occurrence.all_day else lang.full_time(local)


def _ical_text(value: object) -> str:
    try:
        return bytes(value.to_ical()).decode("utf-8", "replace")  # type: ignore[attr-defined]
    except Exception:
        return str(value)


def _why(exc: Exception) -> str:
    return clean(f"{type(exc).__name__}: {exc}", 200)


def _mailbox(name: str, address: str) -> Address:
    if not is_replyable(address):
        raise ValueError(f"not a plain address for an outgoing header: {address!r}")
    local, _, domain = address.partition("@")
    return Address(display_name=inert(clean(name, 200)), username=local, domain=domain)


def _own_id(value: str) -> str:
    valid = message_id(value)
    if valid is None:
        raise ValueError(f"not a valid Message-ID for an outgoing message: {value!r}")
    return valid
