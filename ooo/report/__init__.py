"""The post-vacation report: which inquiries were resolved while the owner was away, by whom,
and which still need them.

Pure (no clock, no I/O: ``at`` is passed in) except :func:`write_atomic`, the one file writer.

- :func:`derive` folds the stored signals of each inquiry into its status at a moment ``at``.
  The status is never stored; this function is the only place that decides it.
- :func:`build_report` turns inquiries, signals and the counts of suppressed messages into a
  :class:`Report`: the inquiries in reading order (open ones first, VIPs and flagged ones at the
  top, oldest first; then resolved ones, oldest first), a summary and counts per day.
- ``render_*`` print a report as text (a terminal), Markdown (a ticket or a chat: no HTML, pipes
  escaped), HTML (one self-contained file with an inline SVG chart, readable on a phone), JSON
  and CSV. Times are shown in the owner's time zone, durations the way people say them.

Everything a sender controls (names, addresses, subjects, evidence sentences) is escaped for the
format it lands in: HTML-escaped in HTML, control characters removed in text and Markdown (a
subject must not drive the terminal), Markdown punctuation and table pipes backslash-escaped,
and CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) prefixed
with ``'``. JSON keeps the stored values as they are.

The JSON document (``schema_version`` 1) is described field by field in
``docs/report-schema.md``. In short::

    {"schema_version": 1, "generated_at": ISO, "owner": {"name", "timezone"},
     "window": {"start", "end", "at"},
     "summary": {"total", "resolved", "resolved_by": {"network", "delegate", "sender",
                 "owner"}, "open", "flagged", "suppressed"},
     "suppressed": {reason code: count},
     "per_day": [{"date", "open", "resolved_by_network", "resolved_by_delegate",
                  "resolved_by_sender", "resolved_by_owner"}],
     "inquiries": [{"ref", "from", "from_name", "subject", "received_at", "status",
                    "resolved_by", "resolved_at", "evidence", "flagged", "vip", "audience",
                    "replied", "helper", "last_event", "time_to_resolve_seconds"}]}

Every time is ISO 8601 with the owner's UTC offset.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from operator import attrgetter
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from ooo.core.policy import DESCRIPTIONS, Reason
from ooo.core.tracking import InquiryFacts, ResolvedBy, SignalEvent
from ooo.host.files import write_atomic as write_atomic  # the one writer; kept importable here

SCHEMA_VERSION = 1

Format = Literal["text", "markdown", "html", "json", "csv"]
FORMATS: tuple[Format, ...] = get_args(Format)
SUFFIXES: dict[Format, str] = {
    "text": ".txt",
    "markdown": ".md",
    "html": ".html",
    "json": ".json",
    "csv": ".csv",
}
Status = Literal["open", "resolved"]
# Who resolved it, in the order the report names them: the network first, the owner last.
RESOLVERS: tuple[ResolvedBy, ...] = ("network", "delegate", "sender", "owner")

# A ``resolved`` signal names who resolved it; should one ever come without, the rule says.
_BY_RULE: dict[str, ResolvedBy] = {
    "delegate_answered": "delegate",
    "network_answered": "network",
    "owner_resolved": "owner",
}
# In the owner's words, for sentences ("resolved by your network").
_BY_WORDS: dict[ResolvedBy, str] = {
    "network": "your network",
    "delegate": "your delegate",
    "sender": "the sender",
    "owner": "you",
}


@dataclass(frozen=True)
class InquiryView:
    """One inquiry with its status derived at a moment (see :func:`derive`)."""

    ref: str
    sender: str
    from_name: str
    subject: str
    received_at: datetime
    audience: str | None
    vip: bool
    replied: bool
    status: Status
    flagged: bool
    """The sender said it is urgent (and nobody resolved it since)."""
    resolved_by: ResolvedBy | None
    resolved_at: datetime | None
    evidence: str | None
    """The sentence that resolved it (or the owner's note)."""
    helper: str | None
    """Who helped, as the sender named them."""
    last_event: str
    """The last thing that happened, in words, with its time in the owner's time zone."""
    time_to_resolve: timedelta | None
    unverified: int = 0
    """Signals not counted because the owner's server said their message failed its sender
    checks (a forged From, a third party posing as the asker's correspondent)."""


@dataclass(frozen=True)
class Summary:
    total: int
    resolved: int
    resolved_by_sender: int
    resolved_by_delegate: int
    resolved_by_network: int
    resolved_by_owner: int
    open: int
    flagged: int

    def resolved_by(self, by: ResolvedBy) -> int:
        count: int = getattr(self, f"resolved_by_{by}")
        return count


@dataclass(frozen=True)
class DayCounts:
    """The inquiries received on one day, by what became of them."""

    open: int = 0
    resolved_by_network: int = 0
    resolved_by_delegate: int = 0
    resolved_by_sender: int = 0
    resolved_by_owner: int = 0

    @property
    def total(self) -> int:
        return (
            self.open
            + self.resolved_by_network
            + self.resolved_by_delegate
            + self.resolved_by_sender
            + self.resolved_by_owner
        )


# Bottom to top in the chart's stacks: what still needs the owner sits on the axis.
OUTCOMES: tuple[str, ...] = (
    "open",
    "resolved_by_network",
    "resolved_by_delegate",
    "resolved_by_sender",
    "resolved_by_owner",
)


@dataclass(frozen=True)
class Report:
    owner_name: str
    timezone: ZoneInfo
    window_start: datetime
    window_end: datetime
    at: datetime
    """The moment the statuses describe: the end of the away window unless asked otherwise."""
    generated_at: datetime
    inquiries: list[InquiryView]
    """Open first (VIPs and flagged at the top, then oldest first), then resolved, oldest
    first."""
    summary: Summary
    suppressed: dict[str, int]
    """Reason code (:class:`ooo.core.policy.Reason`) -> number of messages, most frequent first."""
    per_day: list[tuple[date, DayCounts]]
    """Every day of the window (and any day with an inquiry) in the owner's time zone."""

    @property
    def open(self) -> list[InquiryView]:
        return [v for v in self.inquiries if v.status == "open"]

    @property
    def resolved(self) -> list[InquiryView]:
        return [v for v in self.inquiries if v.status == "resolved"]

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def returned(self) -> bool:
        """The report describes the end of the away window (not a moment during it)."""
        return self.at >= self.window_end


# --------------------------------------------------------------------------- deriving


def derive(
    inquiries: Sequence[InquiryFacts],
    signals: Sequence[SignalEvent],
    at: datetime,
    *,
    timezone: tzinfo | None = None,
) -> list[InquiryView]:
    """The status of each inquiry at ``at``, from its signals alone, in input order.

    Signals are applied in time order (signals at the same moment in the order given); those
    after ``at`` and those of unknown inquiries are ignored, and so are inquiries received after
    ``at``. ``resolved`` makes an inquiry resolved (by whom, when, the evidence, the helper);
    ``open`` makes it open again, flagged when the signal is (and still flagged if it already
    was and nothing resolved it in between: "still need this" after "urgent" is no less urgent);
    ``reopened`` (the owner) makes it open and not flagged. No signal: open. ``timezone`` is
    the one the times in ``last_event`` are written in (default: that of ``at``).
    """
    _require_aware(at, "at")
    tz = timezone or at.tzinfo
    by_ref: dict[str, list[SignalEvent]] = defaultdict(list)
    for signal in signals:
        if signal.at <= at:
            by_ref[signal.ref].append(signal)
    for events in by_ref.values():
        events.sort(key=attrgetter("at"))  # stable: ties keep the stored order

    views: list[InquiryView] = []
    for inquiry in inquiries:
        if inquiry.received_at > at:
            continue
        views.append(_fold(inquiry, by_ref.get(inquiry.ref, ()), tz))
    return views


def _fold(inquiry: InquiryFacts, events: Sequence[SignalEvent], tz: tzinfo | None) -> InquiryView:
    status: Status = "open"
    flagged = False
    resolved_by: ResolvedBy | None = None
    resolved_at: datetime | None = None
    evidence: str | None = None
    helper: str | None = None
    for event in events:
        if event.unverified:
            continue  # shown (last_event), never applied: the server says it was forged
        if event.kind == "resolved":
            status, flagged = "resolved", False
            resolved_by = event.by or _BY_RULE.get(event.rule, "sender")
            resolved_at = event.at
            evidence = event.evidence.strip() or None
            helper = event.helper or None
        else:
            if event.kind == "open":
                flagged = event.flagged or (status == "open" and flagged)
            else:  # reopened by the owner: back to the pile, no longer urgent
                flagged = False
            status = "open"
            resolved_by = resolved_at = evidence = helper = None
    last = events[-1] if events else None
    return InquiryView(
        ref=inquiry.ref,
        sender=inquiry.sender,
        from_name=inquiry.from_name,
        subject=inquiry.subject,
        received_at=inquiry.received_at,
        audience=inquiry.audience,
        vip=inquiry.audience == "vip",
        replied=inquiry.replied,
        status=status,
        flagged=flagged,
        resolved_by=resolved_by,
        resolved_at=resolved_at,
        evidence=evidence,
        helper=helper,
        last_event=_describe(last, tz) if last else _describe_arrival(inquiry),
        time_to_resolve=resolved_at - inquiry.received_at if resolved_at else None,
        unverified=sum(1 for e in events if e.unverified),
    )


def _describe_arrival(inquiry: InquiryFacts) -> str:
    if inquiry.replied:
        return "Nothing since the auto-reply"
    return "Nothing since it arrived (no auto-reply: the sender had one recently)"


def _describe(event: SignalEvent, tz: tzinfo | None) -> str:
    who = event.author or "someone"
    quote = f": “{_shorten(event.evidence)}”" if event.evidence.strip() else ""
    if event.unverified:
        text = (
            f"Not counted: a message from {who} ({event.rule.replace('_', ' ')}) failed your "
            f"server's sender checks ({event.unverified})"
        )
    elif event.rule == "delegate_engaged":
        text = f"Delegate {who} took it up and asked the sender"
    elif event.rule == "sender_says_resolved" or (
        event.kind == "resolved" and event.by == "sender"
    ):
        text = "Sender said it is resolved"
        if event.helper:
            text += f", helped by {event.helper}"
    elif event.kind == "resolved" and (event.rule == "delegate_answered" or event.by == "delegate"):
        text = f"Delegate {who} answered in the thread"
    elif event.kind == "resolved" and (event.rule == "network_answered" or event.by == "network"):
        text = f"{who} (your network) answered in the thread"
    elif event.kind == "resolved":
        text = "You marked it resolved"
    elif event.kind == "open":
        text = "Sender said it is urgent" if event.flagged else "Sender said it is still open"
    else:
        text = "You reopened it"
    return f"{text}{quote} ({short_time(event.at, tz)})"


def _shorten(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def _order_key(view: InquiryView) -> tuple[int, int, datetime, str]:
    if view.status == "open":
        return (0, 0 if view.vip or view.flagged else 1, view.received_at, view.ref)
    return (1, 0, view.received_at, view.ref)


def build_report(
    inquiries: Sequence[InquiryFacts],
    signals: Sequence[SignalEvent],
    suppressed: Mapping[str, int],
    *,
    owner_name: str,
    timezone: ZoneInfo,
    window_start: datetime,
    window_end: datetime,
    at: datetime,
    generated_at: datetime | None = None,
) -> Report:
    """The report at ``at`` (normally the end of the away window).

    ``suppressed`` counts the messages that were not inquiries, by reason code; a ``reply``
    entry (answered inquiries) and zero counts are left out. ``generated_at`` defaults to
    ``at`` so that the same inputs always give the same report.
    """
    for moment, name in ((window_start, "window_start"), (window_end, "window_end")):
        _require_aware(moment, name)
    views = sorted(derive(inquiries, signals, at, timezone=timezone), key=_order_key)

    resolved_counts = dict.fromkeys(RESOLVERS, 0)
    open_count = flagged_count = 0
    for view in views:
        if view.resolved_by is not None:
            resolved_counts[view.resolved_by] += 1
        else:
            open_count += 1
            flagged_count += view.flagged
    summary = Summary(
        total=len(views),
        resolved=len(views) - open_count,
        resolved_by_sender=resolved_counts["sender"],
        resolved_by_delegate=resolved_counts["delegate"],
        resolved_by_network=resolved_counts["network"],
        resolved_by_owner=resolved_counts["owner"],
        open=open_count,
        flagged=flagged_count,
    )
    kept = [(code, n) for code, n in suppressed.items() if n > 0 and code != Reason.REPLY]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return Report(
        owner_name=owner_name,
        timezone=timezone,
        window_start=window_start,
        window_end=window_end,
        at=at,
        generated_at=generated_at or at,
        inquiries=views,
        summary=summary,
        suppressed=dict(kept),
        per_day=_per_day(views, timezone, window_start, min(window_end, at)),
    )


def _per_day(
    views: Sequence[InquiryView], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[date, DayCounts]]:
    buckets: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for view in views:
        outcome = f"resolved_by_{view.resolved_by}" if view.resolved_by else "open"
        buckets[view.received_at.astimezone(tz).date()][outcome] += 1
    first = start.astimezone(tz).date()
    # The window's end is exclusive: an away window ending at midnight does not show that day.
    last = max(first, (end - timedelta(microseconds=1)).astimezone(tz).date())
    if buckets:
        first, last = min(first, *buckets), max(last, *buckets)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [(d, DayCounts(**buckets[d]) if d in buckets else DayCounts()) for d in days]


# --------------------------------------------------------------------------- words and times

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def short_time(moment: datetime, tz: tzinfo | None) -> str:
    """``2 Jan 14:03`` in ``tz`` (English whatever the locale: reports are compared and pasted)."""
    local = moment.astimezone(tz)
    return f"{local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"


def long_time(moment: datetime, tz: tzinfo | None) -> str:
    """``Mon 2 Jan 14:03``."""
    local = moment.astimezone(tz)
    return f"{_WEEKDAYS[local.weekday()]} {short_time(local, tz)}"


def full_time(moment: datetime, tz: tzinfo | None) -> str:
    """``Mon 2 Jan 2027 14:03``."""
    local = moment.astimezone(tz)
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} " + (
        f"{local:%H:%M}"
    )


def day_label(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


def human_duration(delta: timedelta) -> str:
    """``45 min``, ``3 h 5 min``, ``2 d 3 h``: two units at most, rounded to the last one."""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 1:
        return "under 1 min"
    if minutes >= 24 * 60:  # days and hours: round to the hour shown last
        days, hours = divmod(round(minutes / 60), 24)
        return f"{days} d {hours} h" if hours else f"{days} d"
    hours, mins = divmod(minutes, 60)
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def describe_reason(code: str) -> str:
    """The words for a suppression reason code (the code itself if it is not known)."""
    try:
        return DESCRIPTIONS[Reason(code)]
    except ValueError:
        return code


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def headline(r: Report) -> list[str]:
    """The headline about inquiries, one sentence per line, in plain words (no markup)."""
    s = r.summary
    if not s.total:
        return ["No inquiries while you were away."]
    when = "before you returned" if r.returned else "so far"
    lines = [f"{_plural(s.total, 'inquiry', 'inquiries')} while you were away."]
    by = [f"{s.resolved_by(b)} by {_BY_WORDS[b]}" for b in RESOLVERS if s.resolved_by(b)]
    resolved = f"{s.resolved} resolved {when}"
    lines.append(f"{resolved}: {', '.join(by)}." if by else f"{resolved}.")
    still = f"{s.open} still open"
    lines.append(f"{still}, {s.flagged} flagged as urgent." if s.flagged else f"{still}.")
    return lines


def suppressed_heading(r: Report) -> str:
    # Suppressed messages are counted, not listed; the flood valve's inquiries are both
    # (their reason says so), so the owner sees the valve tripped and what it held back.
    return f"{_plural(r.suppressed_total, 'message')} not answered, counted by reason:"


def _window_line(r: Report) -> str:
    """``Away Mon 6 Jul 08:00 – Mon 20 Jul 2026 08:00 (Europe/Berlin)``, and the moment the
    statuses describe when that is not the end of the window."""
    tz = r.timezone
    start, end = r.window_start.astimezone(tz), r.window_end.astimezone(tz)
    first = long_time(start, tz) if start.year == end.year else full_time(start, tz)
    line = f"Away {first} – {full_time(end, tz)} ({tz.key})"
    if r.at != r.window_end:
        line += f"; status as of {full_time(r.at, tz)}"
    return line


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def plain(text: str) -> str:
    """One line with no control characters: a subject must not move the cursor or
    recolour the terminal, nor break a table row."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _from(view: InquiryView) -> str:
    name = plain(view.from_name)
    return f"{name} <{plain(view.sender)}>" if name else plain(view.sender)


def _resolution(view: InquiryView) -> str:
    assert view.resolved_by is not None
    text = f"by {_BY_WORDS[view.resolved_by]}"
    if view.time_to_resolve is not None:
        text += f" after {human_duration(view.time_to_resolve)}"
    return text


# --------------------------------------------------------------------------- text


def render_text(r: Report) -> str:
    """For a terminal: plain lines, at most about 80 columns apart from long subjects."""
    tz = r.timezone
    out = [f"Out-of-office report for {plain(r.owner_name)}", _window_line(r), ""]
    out += headline(r)
    if r.suppressed:
        out.append(suppressed_heading(r))
        width = len(str(max(r.suppressed.values())))
        out += [f"  {n:>{width}}  {describe_reason(c)}" for c, n in r.suppressed.items()]

    opened, resolved = r.open, r.resolved
    out += ["", f"STILL OPEN ({len(opened)})"]
    for v in opened:
        marks = "  ".join(m for m in ("VIP" if v.vip else "", "URGENT" if v.flagged else "") if m)
        out += [
            "",
            f"{v.ref}  {marks}".rstrip(),
            f"  From:      {_from(v)}",
            f"  Subject:   {plain(v.subject)}",
            f"  Received:  {long_time(v.received_at, tz)}",
            f"  Last:      {plain(v.last_event)}",
        ]
    if not opened:
        out += ["", "  Nothing still needs you."]
    out += ["", f"RESOLVED ({len(resolved)})"]
    for v in resolved:
        out += [
            "",
            f"{v.ref}  resolved {_resolution(v)}",
            f"  From:      {_from(v)}",
            f"  Subject:   {plain(v.subject)}",
            f"  Received:  {long_time(v.received_at, tz)}",
        ]
        if v.helper:
            out.append(f"  Helped by: {plain(v.helper)}")
        if v.evidence:
            out.append(f"  Evidence:  “{plain(v.evidence)}”")
    if not resolved:
        out += ["", "  None yet."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Markdown

# CommonMark's ASCII punctuation that could start markup in a table cell or a line. An
# underscore inside a word (john_doe) never does, and escaping it would litter addresses.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~#!{}])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md(text: str) -> str:
    """Sender-controlled text made inert in Markdown: one line, punctuation backslash-escaped
    (pipes too, so a table row stays one row; ``<`` so no HTML gets through)."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), plain(text))


def render_markdown(r: Report) -> str:
    """For a ticket or a chat: a headline, two tables, no HTML."""
    tz = r.timezone
    s = r.summary
    out = [f"# Out-of-office report for {md(r.owner_name)}", "", f"_{md(_window_line(r))}_", ""]
    first, *rest = headline(r)
    out.append("  \n".join([f"**{md(first)}**", *map(md, rest)]))
    if r.suppressed:
        out += ["", md(suppressed_heading(r)), ""]
        out += [f"- {n} × {md(describe_reason(c))}" for c, n in r.suppressed.items()]

    out += ["", f"## Still open ({s.open})", ""]
    if r.open:
        out += ["| Ref | From | Subject | Received | Last event |", "|---|---|---|---|---|"]
        for v in r.open:
            marks = "".join(m for m in (" **VIP**" if v.vip else "", " **urgent**" * v.flagged))
            out.append(
                f"| {v.ref}{marks} | {md(_from(v))} | {md(v.subject)} "
                f"| {long_time(v.received_at, tz)} | {md(v.last_event)} |"
            )
    else:
        out.append("Nothing still needs you.")
    out += ["", f"## Resolved ({s.resolved})", ""]
    if r.resolved:
        out += ["| Ref | From | Subject | Resolved | Evidence |", "|---|---|---|---|---|"]
        for v in r.resolved:
            how = _resolution(v) + (f", helped by {v.helper}" if v.helper else "")
            evidence = f"“{md(v.evidence)}”" if v.evidence else ""
            out.append(f"| {v.ref} | {md(_from(v))} | {md(v.subject)} | {md(how)} | {evidence} |")
    else:
        out.append("None yet.")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- JSON


def _iso(moment: datetime | None, tz: tzinfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment is not None else None


def to_json(r: Report) -> dict[str, Any]:
    """The report as the JSON document of ``docs/report-schema.md`` (before dumping)."""
    tz = r.timezone
    s = r.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _iso(r.generated_at, tz),
        "owner": {"name": r.owner_name, "timezone": tz.key},
        "window": {
            "start": _iso(r.window_start, tz),
            "end": _iso(r.window_end, tz),
            "at": _iso(r.at, tz),
        },
        "summary": {
            "total": s.total,
            "resolved": s.resolved,
            "resolved_by": {b: s.resolved_by(b) for b in RESOLVERS},
            "open": s.open,
            "flagged": s.flagged,
            "suppressed": r.suppressed_total,
        },
        "suppressed": dict(r.suppressed),
        "per_day": [
            {"date": d.isoformat(), **{k: getattr(c, k) for k in OUTCOMES}} for d, c in r.per_day
        ],
        "inquiries": [
            {
                "ref": v.ref,
                "from": v.sender,
                "from_name": v.from_name,
                "subject": v.subject,
                "received_at": _iso(v.received_at, tz),
                "status": v.status,
                "resolved_by": v.resolved_by,
                "resolved_at": _iso(v.resolved_at, tz),
                "evidence": v.evidence,
                "flagged": v.flagged,
                "vip": v.vip,
                "audience": v.audience,
                "replied": v.replied,
                "helper": v.helper,
                "last_event": v.last_event,
                "time_to_resolve_seconds": (
                    round(v.time_to_resolve.total_seconds()) if v.time_to_resolve else None
                ),
                "unverified_signals": v.unverified,
            }
            for v in r.inquiries
        ],
    }


def render_json(r: Report) -> str:
    return json.dumps(to_json(r), ensure_ascii=False, indent=2) + "\n"


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "ref",
    "status",
    "flagged",
    "vip",
    "audience",
    "from",
    "from_name",
    "subject",
    "received_at",
    "replied",
    "resolved_by",
    "helper",
    "resolved_at",
    "time_to_resolve",
    "time_to_resolve_seconds",
    "evidence",
    "last_event",
)


def cell(text: str) -> str:
    """A sender-controlled CSV cell: one line, and never a formula when a spreadsheet opens it
    (OWASP's advice for CSV injection: a leading ``'``)."""
    text = plain(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def render_csv(r: Report) -> str:
    """One header row, one row per inquiry in report order; times in ISO 8601 with offset."""
    tz = r.timezone
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for v in r.inquiries:
        took = v.time_to_resolve
        writer.writerow(
            (
                v.ref,
                v.status,
                "yes" if v.flagged else "no",
                "yes" if v.vip else "no",
                v.audience or "",
                cell(v.sender),
                cell(v.from_name),
                cell(v.subject),
                _iso(v.received_at, tz),
                "yes" if v.replied else "no",
                v.resolved_by or "",
                cell(v.helper or ""),
                _iso(v.resolved_at, tz) or "",
                human_duration(took) if took is not None else "",
                round(took.total_seconds()) if took is not None else "",
                cell(v.evidence or ""),
                cell(v.last_event),
            )
        )
    return buf.getvalue()


# --------------------------------------------------------------------------- HTML

# Okabe & Ito's palette: told apart with every common colour-vision deficiency.
COLOURS: dict[str, str] = {
    "open": "#D55E00",
    "resolved_by_network": "#009E73",
    "resolved_by_delegate": "#0072B2",
    "resolved_by_sender": "#56B4E9",
    "resolved_by_owner": "#CC79A7",
}
_OUTCOME_WORDS: dict[str, str] = {
    "open": "still open",
    "resolved_by_network": "resolved by your network",
    "resolved_by_delegate": "resolved by your delegate",
    "resolved_by_sender": "resolved by the sender",
    "resolved_by_owner": "resolved by you",
}
LABELS: dict[str, str] = {
    "open": "Open",
    "resolved_by_network": "Network",
    "resolved_by_delegate": "Delegate",
    "resolved_by_sender": "Sender",
    "resolved_by_owner": "You",
}


CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice_step(top: int) -> int:
    """A tick step of 1, 2 or 5 times a power of ten giving at most five ticks."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if math.ceil(top / (step * factor)) <= 5:
                return step * factor
        step *= 10


def chart_svg(per_day: Sequence[tuple[date, DayCounts]]) -> str:
    """Inquiries per day, stacked by outcome, as an accessible inline SVG that scales to its
    container. The viewBox is sized for a phone (text stays legible at 360 px); a desktop shows
    it larger. Weekends are shaded."""
    width, height = 480, 260
    left, right, top, bottom = 30, 6, 40, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(per_day))
    peak = max((c.total for _, c in per_day), default=0)
    step = _nice_step(max(peak, 1))
    y_max = max(step, math.ceil(max(peak, 1) / step) * step)
    slot = plot_w / n
    bar = max(1.0, min(slot * 0.72, 40.0))
    total = sum(c.total for _, c in per_day)
    span = f" from {day_label(per_day[0][0])} to {day_label(per_day[-1][0])}" if per_day else ""

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / y_max

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Inquiries per day, stacked by outcome</title>',
        f'<desc id="chart-desc">{_plural(total, "inquiry", "inquiries")}{h(span)}. Each bar is '
        "one day: still open at the bottom, then resolved by your network, your delegate, the "
        "sender and you. Weekends are shaded.</desc>",
    ]
    # Weekends first, behind everything else.
    for i, (day, _) in enumerate(per_day):
        if day.weekday() >= 5:
            parts.append(
                f'<rect x="{left + slot * i:.1f}" y="{top}" width="{slot:.1f}" '
                f'height="{plot_h}" class="weekend"/>'
            )
    # Legend: one row of swatches above the plot.
    x = float(left)
    for key in OUTCOMES:
        parts.append(
            f'<rect x="{x:.1f}" y="5" width="15" height="15" rx="2" fill="{COLOURS[key]}"/>'
            f'<text x="{x + 19:.1f}" y="18" class="legend">{LABELS[key]}</text>'
        )
        x += 19 + 8.8 * len(LABELS[key]) + 14
    # Y axis: grid lines and counts.
    for tick in range(0, y_max + 1, step):
        yy = y(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'class="{"axis" if tick == 0 else "grid"}"/>'
            f'<text x="{left - 6}" y="{yy + 5:.1f}" text-anchor="end" class="tick">{tick}</text>'
        )
    # Bars; a day number under every k-th day so that labels never collide on a phone, and
    # the month under the first labelled day of each month.
    every = max(1, math.ceil(n / 16))
    month_shown = None
    for i, (day, counts) in enumerate(per_day):
        cx = left + slot * (i + 0.5)
        base = 0
        for key in OUTCOMES:
            value: int = getattr(counts, key)
            if not value:
                continue
            y1, y0 = y(base + value), y(base)
            parts.append(
                f'<rect x="{cx - bar / 2:.1f}" y="{y1:.1f}" width="{bar:.1f}" '
                f'height="{y0 - y1:.1f}" fill="{COLOURS[key]}">'
                f"<title>{h(day_label(day))}: {value} {h(_OUTCOME_WORDS[key])}</title></rect>"
            )
            base += value
        if i % every:
            continue
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 17}" text-anchor="middle" '
            f'class="tick">{day.day}</text>'
        )
        if (day.year, day.month) != month_shown:
            month_shown = (day.year, day.month)
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 35}" text-anchor="middle" '
                f'class="tick month">{_MONTHS[day.month - 1]}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
:root{color-scheme:light dark;--fg:#1c1c1e;--muted:#5f6368;--bg:#fff;--card:#f6f7f9;
--line:#dfe1e5;--open:#D55E00;--ok:#009E73}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#a0a4a8;--bg:#161718;
--card:#222426;--line:#3a3d40}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);line-height:1.45;
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.2rem 0 .2rem}
h2{font-size:1.15rem;margin:2rem 0 .6rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
.sub{color:var(--muted);margin:0 0 1rem;font-size:.9rem}
.tiles{display:grid;grid-template-columns:repeat(3,1fr);gap:.6rem;margin:1rem 0}
.tile{background:var(--card);border-radius:.6rem;padding:.7rem .8rem;
border-top:4px solid var(--muted)}
.tile b{display:block;font-size:1.8rem;line-height:1.1}
.tile span{color:var(--muted);font-size:.85rem}
.tile.open{border-top-color:var(--open)}.tile.resolved{border-top-color:var(--ok)}
.by{margin:.2rem 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
.by li{font-size:.95rem}
.dot{display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-right:.35em}
.suppressed{color:var(--muted);font-size:.9rem;margin:.8rem 0 .2rem}
figure{margin:0}
.chart{display:block;width:100%;max-width:36rem;height:auto}
.chart text{fill:currentColor;font-family:inherit}
.chart .legend{font-size:15px}.chart .tick{font-size:14px;fill:var(--muted)}
.chart .month{font-weight:600}
.chart .weekend{fill:var(--line);opacity:.45}
.chart .grid{stroke:var(--line);stroke-width:1}.chart .axis{stroke:var(--muted);stroke-width:1}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;vertical-align:top;padding:.5rem .5rem;border-bottom:1px solid var(--line)}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}
td{overflow-wrap:anywhere}
td.from{min-width:11rem}
.reasons{margin:.6rem 0 0;font-size:.85rem;color:var(--muted);width:auto}
.reasons td{border:0;padding:.05rem .6rem .05rem 0}
.reasons td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.cards th:nth-child(1){width:7.5rem}table.cards th:nth-child(2){width:12rem}
table.open-list th:nth-child(4){width:8rem}table.resolved-list th:nth-child(4){width:11.5rem}
.ref{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem;
white-space:nowrap}
.addr{color:var(--muted);font-size:.85rem;display:block}
.badges{display:block}
.badge{display:inline-block;font-size:.7rem;font-weight:700;padding:.05rem .4rem;
border-radius:.8rem;margin:.15rem .2rem 0 0;color:#fff;vertical-align:middle}
.badge.vip{background:#6a3d9a}.badge.urgent{background:var(--open)}
.when,.nw{white-space:nowrap}
.ev{font-style:italic}
.none{color:var(--muted)}
.num{text-align:right}
footer{color:var(--muted);font-size:.8rem;margin:2.5rem 0 1rem}
@media (max-width:40rem){
main{padding:.75rem}
.tiles{gap:.4rem}.tile{padding:.55rem .6rem}.tile b{font-size:1.5rem}
table.cards thead{display:none}
.badges{display:inline;margin-left:.3rem}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards tr{background:var(--card);border-radius:.6rem;padding:.55rem .75rem;margin:0 0 .6rem;
display:flex;flex-direction:column}
table.cards td.subject{order:-1}
table.cards td{border:0;padding:.12rem 0;min-width:0}
table.cards td[data-label]::before{content:attr(data-label);font-size:.7rem;margin-right:.45em;
text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}
table.cards td.subject{font-weight:600;font-size:1rem}
}
"""


def _html_from(v: InquiryView) -> str:
    # A long address may wrap after its "@" rather than anywhere.
    address = h(plain(v.sender)).replace("@", "@<wbr>")
    if v.from_name.strip():
        return f"{h(plain(v.from_name))}<span class=addr>{address}</span>"
    return address


def _html_badges(v: InquiryView) -> str:
    out = ""
    if v.vip:
        out += '<span class="badge vip">VIP</span>'
    if v.flagged:
        out += '<span class="badge urgent">urgent</span>'
    return f"<span class=badges>{out}</span>" if out else ""


def render_html(r: Report) -> str:
    """One self-contained page (no network fetch of any kind), readable on a phone."""
    tz = r.timezone
    s = r.summary
    title = f"Out-of-office report for {r.owner_name}"
    when = "before you returned" if r.returned else "so far"
    out = [
        "<!doctype html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Belt and braces over the escaping: nothing in this page may run or fetch anything.
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{h(plain(title))}</title>",
        f"<style>{_CSS}</style></head>",
        "<body><main>",
        f"<header><h1>While you were away</h1><p class=sub>{h(plain(r.owner_name))} · "
        f"{h(_window_line(r))}</p></header>",
        '<section aria-label="Summary"><div class=tiles>',
        f"<div class=tile><b>{s.total}</b><span>inquiries</span></div>",
        f"<div class='tile resolved'><b>{s.resolved}</b><span>resolved {when}</span></div>",
        f"<div class='tile open'><b>{s.open}</b><span>still open"
        + (f", {s.flagged} urgent" if s.flagged else "")
        + "</span></div>",
        "</div>",
    ]
    if s.resolved:
        out.append("<ul class=by>")
        for b in RESOLVERS:
            if s.resolved_by(b):
                colour = COLOURS[f"resolved_by_{b}"]
                out.append(
                    f'<li><span class=dot style="background:{colour}"></span>'
                    f"{s.resolved_by(b)} resolved by {h(_BY_WORDS[b])}</li>"
                )
        out.append("</ul>")
    if r.suppressed:
        out.append(
            f"<p class=suppressed>{h(suppressed_heading(r))}</p><table class=reasons><tbody>"
        )
        for code, n in r.suppressed.items():
            out.append(f"<tr><td class=num>{n}</td><td>{h(describe_reason(code))}</td></tr>")
        out.append("</tbody></table>")
    out.append("</section>")

    out += [
        '<section aria-labelledby="per-day"><h2 id="per-day">Inquiries per day</h2>',
        f"<figure>{chart_svg(r.per_day)}</figure></section>",
        f'<section aria-labelledby="open"><h2 id="open">Still open ({s.open})</h2>',
    ]
    if r.open:
        out.append(
            "<table class='cards open-list'><thead><tr><th>Ref</th><th>From</th>"
            "<th>Subject</th><th>Received</th><th>Last event</th></tr></thead><tbody>"
        )
        for v in r.open:
            out.append(
                f"<tr><td class=ref>{h(v.ref)} {_html_badges(v)}</td>"
                f"<td class=from>{_html_from(v)}</td>"
                f"<td class=subject>{h(plain(v.subject))}</td>"
                f"<td data-label=Received class=when>{h(long_time(v.received_at, tz))}</td>"
                f'<td data-label="Last event">{h(plain(v.last_event))}</td></tr>'
            )
        out.append("</tbody></table>")
    else:
        out.append("<p class=none>Nothing still needs you.</p>")
    out.append("</section>")

    out.append(
        f'<section aria-labelledby="resolved"><h2 id="resolved">Resolved ({s.resolved})</h2>'
    )
    if r.resolved:
        out.append(
            "<table class='cards resolved-list'><thead><tr><th>Ref</th><th>From</th>"
            "<th>Subject</th><th>Resolved</th><th>Evidence</th></tr></thead><tbody>"
        )
        for v in r.resolved:
            assert v.resolved_by is not None
            took = human_duration(v.time_to_resolve) if v.time_to_resolve is not None else ""
            took = took.replace(" ", "\u00a0")  # "1 d 2 h" never splits over two lines
            colour = COLOURS[f"resolved_by_{v.resolved_by}"]
            how = (
                f'<span class=dot style="background:{colour}"></span>'
                f"by {h(_BY_WORDS[v.resolved_by])}"
                + (f" <span class=nw>in {h(took)}</span>" if took else "")
                + (f"<span class=addr>helped by {h(plain(v.helper))}</span>" if v.helper else "")
            )
            evidence = f"<span class=ev>“{h(plain(v.evidence))}”</span>" if v.evidence else ""
            out.append(
                f"<tr><td class=ref>{h(v.ref)}</td>"
                f"<td class=from>{_html_from(v)}</td>"
                f"<td class=subject>{h(plain(v.subject))}</td>"
                f"<td data-label=Resolved>{how}</td>"
                f"<td data-label=Evidence>{evidence}</td></tr>"
            )
        out.append("</tbody></table>")
    else:
        out.append("<p class=none>None yet.</p>")
    out.append("</section>")
    out.append(
        f"<footer>Made by ooo on {h(full_time(r.generated_at, tz))} ({h(tz.key)}). "
        "Times are in your time zone.</footer>"
    )
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- dispatch, files

_RENDERERS = {
    "text": render_text,
    "markdown": render_markdown,
    "html": render_html,
    "json": render_json,
    "csv": render_csv,
}


def render(r: Report, fmt: Format) -> str:
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; one of: {', '.join(FORMATS)}") from None
    return renderer(r)
