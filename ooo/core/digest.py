"""ooo's own mail: the report in the owner's inbox, and each delegate's daily digest.

Pure: ``now``, the Message-ID, the rendered report and the inquiries' derived statuses come in;
the messages (``email.message.EmailMessage``) and the decisions (is a digest due today, when is
the next one, which inquiries does it list) come out. The shell step that stores and sends them
is :mod:`ooo.inbox`.

Both messages are automatic and say so the way every responder understands
(``Auto-Submitted: auto-generated``, RFC 3834 §5; ``X-Auto-Response-Suppress: All`` for
Exchange), plus a header of ooo's own (:data:`REPORT_HEADER`, :data:`DIGEST_HEADER`), so that no
responder, ooo included, ever answers them, and ooo never takes one for an inquiry.
"""

from __future__ import annotations

import email.utils
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from email.policy import SMTP
from zoneinfo import ZoneInfo

from ooo.core.compose import _address, _own_id, format_day, inert
from ooo.core.report import InquiryView, Report
from ooo.core.wording import (
    ENGLISH,
    Language,
    human_duration,
    last_event,
    long_time,
    plain,
)

#: Marks the report ooo puts into the owner's inbox.
REPORT_HEADER = "X-Ooo-Report"
#: Marks a delegate's digest.
DIGEST_HEADER = "X-Ooo-Digest"
#: The display name of the report's sender: the owner reads it as a note from ooo.
REPORT_FROM_NAME = "ooo"
#: A subject (or a sender's name) longer than this is cut in a digest line.
SUBJECT_SHOWN = 120
#: The digest's paragraphs are wrapped at this width.
WIDTH = 78


# -- when ---------------------------------------------------------------------------------


def digest_due(now: datetime, tz: tzinfo, hour: int, last_day: date | None) -> date | None:
    """The day (in the owner's time zone) whose digest is due at ``now``, or None.

    Due from ``hour`` o'clock on, once a day: a digest not sent at the hour (the machine was
    asleep, the daemon not running) goes out when ooo next runs that same day, never the day
    after (a day missed entirely is skipped: yesterday's list is stale)."""
    local = now.astimezone(tz)
    if local.hour < hour or last_day == local.date():
        return None
    return local.date()


def next_digest_at(now: datetime, tz: tzinfo, hour: int, last_day: date | None) -> datetime:
    """When the next digest falls due: ``now`` if one is due already, else the hour today or
    tomorrow (a wall-clock hour a DST change skips comes an hour later)."""
    if digest_due(now, tz, hour, last_day) is not None:
        return now
    local = now.astimezone(tz)
    day = local.date() if local.hour < hour else local.date() + timedelta(days=1)
    at = datetime.combine(day, time(hour), tzinfo=tz)
    # Round trip through UTC: a time in a DST gap becomes the real instant after it.
    return max(at.astimezone(UTC), now)


# -- which inquiries ------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestItem:
    """One open inquiry, as a delegate's digest lists it."""

    ref: str
    sender: str
    """``Name <address>`` (or the address alone), one clean line."""
    subject: str
    received_at: datetime
    age: str
    """How long it has waited, in words (``2 d 3 h``)."""
    last_event: str
    flagged: bool
    vip: bool


@dataclass(frozen=True)
class Digest:
    """What one delegate gets on one day."""

    delegate_name: str
    delegate_email: str
    day: date
    items: tuple[DigestItem, ...]


def open_inquiries(views: Sequence[InquiryView], delegate_email: str) -> list[InquiryView]:
    """The inquiries routed to ``delegate_email`` that are still open, the urgent and VIP ones
    first, then oldest first (the report's order)."""
    who = delegate_email.lower()
    found = [v for v in views if v.status == "open" and (v.delegate or "").lower() == who]
    return sorted(found, key=lambda v: (not v.flagged, v.audience != "vip", v.received_at, v.ref))


def build_digest(
    views: Sequence[InquiryView],
    *,
    delegate_name: str,
    delegate_email: str,
    now: datetime,
    tz: tzinfo,
    lang: Language = ENGLISH,
) -> Digest:
    """The digest of one delegate at ``now``: their open inquiries (maybe none), the ages and
    last events in ``lang``."""
    items = tuple(
        DigestItem(
            ref=v.ref,
            sender=_cut(f"{plain(v.from_name)} <{v.sender}>" if v.from_name else v.sender),
            subject=_cut(plain(v.subject)) or lang.gettext("(no subject)"),
            received_at=v.received_at,
            age=human_duration(now - v.received_at, lang=lang),
            last_event=plain(last_event(v, tz, lang)),
            flagged=v.flagged,
            vip=v.audience == "vip",
        )
        for v in open_inquiries(views, delegate_email)
    )
    return Digest(plain(delegate_name), delegate_email, now.astimezone(tz).date(), items)


def _cut(text: str, limit: int = SUBJECT_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- the digest message ---------------------------------------------------------------------


def digest_subject(digest: Digest, lang: Language = ENGLISH) -> str:
    """``[ooo] 2 open inquiries for you (2026-12-22)``."""
    n = len(digest.items)
    said = lang.ngettext(
        "%(n)s open inquiry for you (%(day)s)", "%(n)s open inquiries for you (%(day)s)", n
    )
    return "[ooo] " + said % {"n": lang.number(n), "day": digest.day.isoformat()}


def digest_text(
    digest: Digest,
    *,
    owner_name: str,
    back: datetime,
    tz: ZoneInfo,
    lang: Language = ENGLISH,
) -> str:
    """The digest's words, in ``lang``: one block per inquiry, with its reference, sender,
    subject, age and the last thing that happened."""
    _ = lang.gettext
    owner = plain(owner_name)
    n = len(digest.items)
    still_open = lang.ngettext(
        "%(n)s inquiry routed to you is still open on %(day)s:",
        "%(n)s inquiries routed to you are still open on %(day)s:",
        n,
    ) % {"n": lang.number(n), "day": lang.spelled_day(digest.day)}
    away = _("%(owner)s is away until %(day)s.") % {
        "owner": owner,
        "day": format_day(back, tz, lang),
    }
    lines = [
        _("Hello %(name)s,") % {"name": digest.delegate_name},
        "",
        *textwrap.wrap(f"{away} {still_open}", WIDTH),
        "",
    ]
    labels = (_("Subject:"), _("Waiting:"), _("Last event:"))
    pad = max(len(label) for label in labels) + 1
    subject, waiting, last = (label.ljust(pad) for label in labels)
    for item in digest.items:
        marks = [m for m, on in ((_("urgent"), item.flagged), ("VIP", item.vip)) if on]
        lines.append(f"{item.ref}  {item.sender}" + (f"  ({', '.join(marks)})" if marks else ""))
        lines.append(f"  {subject}{item.subject}")
        since = _("%(age)s (since %(time)s)") % {
            "age": item.age,
            "time": long_time(item.received_at, tz, lang),
        }
        lines.append(f"  {waiting}{since}")
        lines.append(f"  {last}{item.last_event}")
        lines.append("")
    answer = _(
        "Answer the sender in their thread (reply to their message, with the reference in "
        "the subject): ooo sees it and counts the inquiry as resolved by you."
    )
    about = _(
        "This list is sent by ooo once a day while %(owner)s is away, only when something "
        "is open. It is automatic: replies to it are not read."
    ) % {"owner": owner}
    lines += [*textwrap.wrap(answer, WIDTH), "", *textwrap.wrap(about, WIDTH)]
    return "\n".join(lines) + "\n"


def compose_digest(
    digest: Digest,
    *,
    owner_name: str,
    owner_address: str,
    back: datetime,
    tz: ZoneInfo,
    message_id: str,
    now: datetime,
    lang: Language = ENGLISH,
) -> EmailMessage:
    """The digest as a message from the owner's address to the delegate, marked automatic,
    in ``lang`` (the report's language: the delegate reads it beside the owner's report)."""
    if not digest.items:
        raise ValueError("a digest with nothing open is never sent")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(lang.gettext("ooo for %(owner)s") % {"owner": owner_name}, owner_address)
    msg["To"] = _address(digest.delegate_name, digest.delegate_email)
    msg["Subject"] = inert(digest_subject(digest, lang))
    msg["Date"] = email.utils.format_datetime(now)
    msg["Message-ID"] = _own_id(message_id)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "bulk"
    msg["X-Loop"] = owner_address
    msg[DIGEST_HEADER] = "1"
    msg.set_content(digest_text(digest, owner_name=owner_name, back=back, tz=tz, lang=lang))
    return msg


# -- the report in the owner's inbox ----------------------------------------------------------


def report_subject(report: Report, lang: Language = ENGLISH) -> str:
    """``Out-of-office report for Bob: 12 inquiries while you were away, 3 still open``, in
    the report's language (the report's own sentences, so every shipped language has it)."""
    _ = lang.gettext
    title = _("Out-of-office report for %(owner)s") % {"owner": plain(report.owner_name)}
    s = report.summary
    if not s.total:
        return f"{title}: {_('No inquiries while you were away.').rstrip('.')}"
    came = lang.count(
        s.total, "%(n)s inquiry while you were away.", "%(n)s inquiries while you were away."
    ).rstrip(".")
    return f"{title}: {came}, {lang.count(s.open, '%(n)s still open', '%(n)s still open')}"


def compose_report_message(
    *,
    subject: str,
    text: str,
    html: str,
    owner_name: str,
    owner_address: str,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """The report as a message from ooo to the owner, to be put straight into their inbox:
    the plain-text report with the HTML one as its alternative."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(REPORT_FROM_NAME, owner_address)
    msg["To"] = _address(owner_name, owner_address)
    msg["Subject"] = inert(plain(subject))
    msg["Date"] = email.utils.format_datetime(now)
    msg["Message-ID"] = _own_id(message_id)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = owner_address
    msg[REPORT_HEADER] = "1"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg
