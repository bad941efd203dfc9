"""Words and times: how ooo says a moment, a duration, a reason or what happened to an
inquiry, in English whatever the locale (reports are compared, pasted and diffed).

Pure: times are converted to the time zone passed in, nothing reads the clock. The report's
renderers and ooo's log lines say times and durations with these functions, so that the same
thing is said the same way everywhere (:func:`human_duration` is the one duration formatter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal

from ooo.core.policy import DESCRIPTIONS, Reason
from ooo.core.text import one_line
from ooo.core.tracking import InquiryFacts, ResolvedBy, SignalEvent

if TYPE_CHECKING:  # the report model builds its sentences with this module
    from ooo.core.report import InquiryView, Report

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Who resolved an inquiry, in the order the report names them: the network first, the owner last.
RESOLVERS: tuple[ResolvedBy, ...] = ("network", "delegate", "sender", "owner")
# In the owner's words, for sentences ("resolved by your network").
BY_WORDS: dict[ResolvedBy, str] = {
    "network": "your network",
    "delegate": "your delegate",
    "sender": "the sender",
    "owner": "you",
}

# --------------------------------------------------------------------------- times


# The hour and minute are formatted by hand, not with strftime: a report has a time on every
# row, and strftime costs several times more (the output is the same: 24 h, zero-padded).
def short_time(moment: datetime, tz: tzinfo | None) -> str:
    """``2 Jan 14:03`` in ``tz`` (English whatever the locale: reports are compared and pasted)."""
    local = moment.astimezone(tz)
    return f"{local.day} {MONTHS[local.month - 1]} {local.hour:02d}:{local.minute:02d}"


def long_time(moment: datetime, tz: tzinfo | None) -> str:
    """``Mon 2 Jan 14:03``."""
    local = moment.astimezone(tz)
    return (
        f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} "
        f"{local.hour:02d}:{local.minute:02d}"
    )


def full_time(moment: datetime, tz: tzinfo | None) -> str:
    """``Mon 2 Jan 2027 14:03``."""
    local = moment.astimezone(tz)
    return (
        f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year} "
        f"{local.hour:02d}:{local.minute:02d}"
    )


def day_label(day: date) -> str:
    """``Mon 2 Jan``."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"


def iso(moment: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 with the UTC offset of ``tz`` (None stays None): for files other programs read."""
    return moment.astimezone(tz).isoformat() if moment is not None else None


DurationStyle = Literal["compact", "rough"]


def human_duration(delta: timedelta, *, style: DurationStyle = "compact") -> str:
    """A duration the way people say it. The one duration formatter of ooo.

    - ``compact`` (tables, the report): ``45 min``, ``3 h 5 min``, ``2 d 3 h``; two units at
      most, rounded to the last one; ``under 1 min`` up to half a minute.
    - ``rough`` (a sentence such as "it ended 2 days ago"): ``1 day``, ``2 hours``,
      ``5 minutes``, ``30 seconds``; the largest whole unit only, rounded down.
    """
    if style == "rough":
        seconds = delta.total_seconds()
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds >= size:
                n = int(seconds // size)
                return f"{n} {unit}{'s' if n != 1 else ''}"
        n = int(seconds)
        return f"{n} second{'s' if n != 1 else ''}"
    minutes = round(delta.total_seconds() / 60)
    if minutes < 1:  # a negative one too (a clock set back): never "-3 min"
        return "under 1 min"
    if minutes >= 24 * 60:  # days and hours: round to the hour shown last
        days, hours = divmod(round(minutes / 60), 24)
        return f"{days} d {hours} h" if hours else f"{days} d"
    hours, mins = divmod(minutes, 60)
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


# --------------------------------------------------------------------------- text


def plain(text: str) -> str:
    """One line with no control characters: a subject must not move the cursor or
    recolour the terminal, nor break a table row."""
    # Most text is already one clean line: printable means no control character and no white
    # space but the ASCII space, so splitting and joining would give it back unchanged.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return one_line(text)


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 inquiry``, ``2 inquiries``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def describe_reason(code: str) -> str:
    """The words for a suppression reason code (the code itself if it is not known)."""
    try:
        return DESCRIPTIONS[Reason(code)]
    except ValueError:
        return code


# --------------------------------------------------------------------------- networks


def network_name(kind: str) -> str:
    """How a network is named in a sentence: "Mastodon" (``ooo.core.social.NETWORK_NAMES``)."""
    from ooo.core.social import NETWORK_NAMES  # only reports with network evidence need it

    return NETWORK_NAMES.get(kind) or plain(kind)[:40]


def safe_link(link: str | None) -> str | None:
    """``link`` when it is a plain http(s) URL, safe inside any format's link (no spaces,
    control characters, quotes or brackets, no credentials: ``ooo.core.network.safe_url``),
    else None. Every post link is checked here before a report shows it: what a network
    returned is never trusted, even after the watcher cleaned it."""
    if not link:
        return None
    from ooo.core.network import safe_url  # only reports with network evidence need it

    try:
        return safe_url(link[:2000])
    except ValueError:
        return None


# --------------------------------------------------------------------------- what happened


def describe_arrival(inquiry: InquiryFacts) -> str:
    """The last event of an inquiry nothing has happened to since it arrived."""
    if inquiry.answered_by_server:
        return "Nothing since the mail server's automatic reply (ooo was not running)"
    if inquiry.replied:
        return "Nothing since the auto-reply"
    return "Nothing since it arrived (no auto-reply: the sender had one recently)"


def describe_event(event: SignalEvent, tz: tzinfo | None) -> str:
    """A signal as the last event of its inquiry: who did what, the evidence quoted, when."""
    return f"{event_words(event)} ({short_time(event.at, tz)})"


def event_words(event: SignalEvent) -> str:
    """What a signal says happened, the evidence quoted, without its time. A post on the
    owner's network says where: "@ana@hachyderm.io answered on Mastodon", "Sender said it is
    still open on Bluesky"."""
    who = event.author or "someone"
    quote = f": “{_shorten(event.evidence)}”" if event.evidence.strip() else ""
    on = f" on {network_name(event.network)}" if event.network else ""
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
        text = f"Sender said it is resolved{on}"
        if event.helper:
            text += f", helped by {event.helper}"
    elif event.kind == "resolved" and (event.rule == "delegate_answered" or event.by == "delegate"):
        text = f"Delegate {who} answered in the thread{on}"
    elif event.kind == "resolved" and (event.rule == "network_answered" or event.by == "network"):
        text = f"{who} answered{on}" if on else f"{who} (your network) answered in the thread"
    elif event.kind == "resolved":
        text = "You marked it resolved"
    elif event.kind == "open":
        text = "Sender said it is urgent" if event.flagged else "Sender said it is still open"
        text += on
    else:
        text = "You reopened it"
    return f"{text}{quote}"


def _shorten(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- the report's words


def headline(r: Report) -> list[str]:
    """The headline about inquiries, one sentence per line, in plain words (no markup)."""
    s = r.summary
    if not s.total:
        return ["No inquiries while you were away."]
    when = "before you returned" if r.returned else "so far"
    lines = [f"{plural(s.total, 'inquiry', 'inquiries')} while you were away."]
    by = [f"{s.resolved_by(b)} by {BY_WORDS[b]}" for b in RESOLVERS if s.resolved_by(b)]
    resolved = f"{s.resolved} resolved {when}"
    lines.append(f"{resolved}: {', '.join(by)}." if by else f"{resolved}.")
    still = f"{s.open} still open"
    lines.append(f"{still}, {s.flagged} flagged as urgent." if s.flagged else f"{still}.")
    return lines + server_lines(r)


def server_lines(r: Report) -> list[str]:
    """While ooo could not answer, the mail server did ([handoff]): when, why, and how many
    of the inquiries it answered. Nothing when it never had to."""
    if not r.server_periods:
        return []
    tz = r.timezone
    spans = "; ".join(
        f"{short_time(p.start, tz)} – {short_time(p.end, tz) if p.end else 'the end'} ({p.why})"
        for p in r.server_periods
    )
    answered = sum(1 for v in r.inquiries if v.answered_by_server)
    return [
        f"Your mail server answered in ooo's place {spans}: "
        f"{plural(answered, 'inquiry', 'inquiries')} got its automatic reply."
    ]


def suppressed_heading(r: Report) -> str:
    """The line above the counts of messages that were not answered."""
    # Suppressed messages are counted, not listed; the flood valve's inquiries are both
    # (their reason says so), so the owner sees the valve tripped and what it held back.
    return f"{plural(r.suppressed_total, 'message')} not answered, counted by reason:"


def window_line(r: Report) -> str:
    """``Away Mon 6 Jul 08:00 – Mon 20 Jul 2026 08:00 (Europe/Berlin)``, and the moment the
    statuses describe when that is not the end of the window."""
    tz = r.timezone
    start, end = r.window_start.astimezone(tz), r.window_end.astimezone(tz)
    first = long_time(start, tz) if start.year == end.year else full_time(start, tz)
    line = f"Away {first} – {full_time(end, tz)} ({tz.key})"
    if r.at != r.window_end:
        line += f"; status as of {full_time(r.at, tz)}"
    return line


def sender_line(view: InquiryView) -> str:
    """``Alice Martin <alice@example.org>``, or the address alone, as plain text."""
    name = plain(view.from_name)
    return f"{name} <{plain(view.sender)}>" if name else plain(view.sender)


def resolution(view: InquiryView) -> str:
    """``by your delegate after 2 d 3 h``: who resolved a resolved inquiry, and how fast."""
    assert view.resolved_by is not None
    text = f"by {BY_WORDS[view.resolved_by]}"
    if view.time_to_resolve is not None:
        text += f" after {human_duration(view.time_to_resolve)}"
    return text


@dataclass(frozen=True)
class Step:
    """One thing that happened to an inquiry, for its story (email and network alike)."""

    at: datetime
    when: str
    """Its time in words (``22 Dec 13:05``, :func:`short_time`)."""
    words: str
    """What happened, one plain line (:func:`event_words`)."""
    network: str | None
    """The network it happened on ("Mastodon"), None for an email or the owner's command."""
    link: str | None
    """The post's web link, checked (:func:`safe_link`)."""


def story(view: InquiryView, tz: tzinfo | None) -> list[Step]:
    """Everything that happened to an inquiry, email and network merged, oldest first."""
    return [
        Step(
            at=e.at,
            when=short_time(e.at, tz),
            words=plain(event_words(e)),
            network=network_name(e.network) if e.network else None,
            link=safe_link(e.link),
        )
        for e in view.story
    ]


@dataclass(frozen=True)
class AnswerWords:
    """The network's answer to an inquiry it resolved, in words, around its link:
    ``{who} answered on {network} ({link}), {after}``."""

    who: str
    """The helper's handle (plain), or "someone"."""
    network: str
    """"Mastodon"."""
    link: str | None
    """The answer's web link, checked."""
    after: str
    """"3 h after the question": from the inquiry's arrival to the answer."""

    def sentence(self, *, link: bool = True) -> str:
        """``@ana@hachyderm.io answered on Mastodon (https://…), 3 h after the question``."""
        where = f" ({self.link})" if link and self.link else ""
        return f"{self.who} answered on {self.network}{where}, {self.after}"


def network_answer(view: InquiryView) -> AnswerWords | None:
    """Where and by whom the network answered an inquiry it resolved, or None when no post
    resolved it."""
    answer = view.answer
    if answer is None:
        return None
    return AnswerWords(
        who=plain(answer.helper) if answer.helper else "someone",
        network=network_name(answer.network),
        link=answer.link,
        after=f"{human_duration(answer.at - view.received_at)} after the question",
    )
