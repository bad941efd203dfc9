"""Words and times: how ooo says a moment, a duration, a reason or what happened to an
inquiry, in the report's language (English unless asked otherwise: reports are compared,
pasted and diffed, and English is what ooo has always written).

Pure: times are converted to the time zone passed in, nothing reads the clock, and nothing here
reads a catalog. A :class:`Language` is passed in: this module's own is English, the source
language (every message is written here in English, and English is those messages as they
are); the others (:mod:`ooo.locale`) are built in the shell from gettext catalogs and Babel's
CLDR data, and override its few methods. The report's renderers and ooo's log lines say times
and durations with these functions, so that the same thing is said the same way everywhere
(:func:`human_duration` is the one duration formatter).

Messages are marked for the catalogs (``ooo/locale/report.pot``) by the call that translates
them: ``lang.gettext("...")``, ``lang.ngettext("...", "...", n)``, ``lang.count(n, "...",
"...")``, or :func:`N_` (:func:`Nn_` with a plural) where the English text is kept as data
and translated where it is shown. Placeholders are named (``%(n)s``), so a translation may put
them in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal

from ooo.core.text import one_line
from ooo.core.tracking import InquiryFacts, ResolvedBy, SignalEvent

if TYPE_CHECKING:  # the report model builds its sentences with this module
    from ooo.core.report import InquiryView, Report

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def N_(message: str) -> str:  # gettext's name for "mark, translate later"
    """Marks an English message kept as data for the catalogs; it is translated where it is
    shown (``lang.gettext(message)``)."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # and for a message with plurals
    """Marks an English message with a plural kept as data: ``lang.ngettext(*pair, n)``."""
    return singular, plural


# Who resolved an inquiry, in the order the report names them: the network first, the owner last.
RESOLVERS: tuple[ResolvedBy, ...] = ("network", "delegate", "sender", "owner")
# In the owner's words, for sentences ("resolved by your network").
BY_WORDS: dict[ResolvedBy, str] = {
    "network": N_("your network"),
    "delegate": N_("your delegate"),
    "sender": N_("the sender"),
    "owner": N_("you"),
}
# "by" and those words, as one phrase: a language may need another case after its "by".
BY_PHRASES: dict[ResolvedBy, str] = {
    "network": N_("by your network"),
    "delegate": N_("by your delegate"),
    "sender": N_("by the sender"),
    "owner": N_("by you"),
}
# The rule of a signal, in words, for the one sentence that names it (a signal not counted).
RULE_WORDS: dict[str, str] = {
    "sender_says_resolved": N_("sender says resolved"),
    "sender_still_open": N_("sender still open"),
    "delegate_answered": N_("delegate answered"),
    "delegate_engaged": N_("delegate engaged"),
    "network_answered": N_("network answered"),
    "owner_resolved": N_("owner resolved"),
    "owner_reopened": N_("owner reopened"),
}
# Why the mail server answered in ooo's place (ooo.handoff writes these), for the catalogs.
SERVER_REASONS = (
    N_("ooo's lease ran out (ooo stopped without handing off: a crash, lost network, or sleep)"),
    N_("ooo stopped and handed off"),
    N_("the computer went to sleep"),
    N_("the computer shut down"),
    N_("ooo's lease ran out or ooo handed off"),
    N_("ooo's lease ran out"),
    N_("Exchange's automatic replies"),
    N_("unknown"),
)


class Language:
    """How the report speaks: English, as ooo has always written it.

    The base of every language: :mod:`ooo.locale` builds the others from a gettext catalog
    (``gettext``/``ngettext``, with the language's plural rule) and Babel's CLDR data (dates,
    weekdays, months, numbers). Times are handed over already in the owner's time zone.
    """

    code = "en"
    """The language's code (``en``, ``de``...), as the HTML page's ``lang`` says it."""
    name = "English"
    """Its name in its own words."""

    def gettext(self, message: str) -> str:
        """``message`` (English) in this language."""
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form of a message for ``n`` things (English has two: one, and any other)."""
        return singular if n == 1 else plural

    def number(self, n: int) -> str:
        """A count as this language writes it (English: ``10000``, as ooo always did)."""
        return str(n)

    def count(self, n: int, singular: str, plural: str) -> str:
        """``1 inquiry``, ``2 inquiries``: the message for ``n`` with ``%(n)s`` filled in."""
        return self.ngettext(singular, plural, n) % {"n": self.number(n)}

    # The hour and minute are formatted by hand, not with strftime: a report has a time on every
    # row, and strftime costs several times more (the output is the same: 24 h, zero-padded).
    def short_time(self, local: datetime) -> str:
        """``2 Jan 14:03``."""
        return f"{local.day} {MONTHS[local.month - 1]} {local.hour:02d}:{local.minute:02d}"

    def long_time(self, local: datetime) -> str:
        """``Mon 2 Jan 14:03``."""
        return (
            f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} "
            f"{local.hour:02d}:{local.minute:02d}"
        )

    def full_time(self, local: datetime) -> str:
        """``Mon 2 Jan 2027 14:03``."""
        return (
            f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year} "
            f"{local.hour:02d}:{local.minute:02d}"
        )

    def day_label(self, day: date) -> str:
        """``Mon 2 Jan``."""
        return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"

    def full_day(self, day: date) -> str:
        """``Mon 2 Jan 2027``: :meth:`full_time` without the time (a whole day)."""
        return f"{self.day_label(day)} {day.year}"

    def spelled_day(self, day: date) -> str:
        """``Tuesday 5 January 2027``: a day in a sentence ("is away until ..."), as replies
        have always written it."""
        return f"{day:%A} {day.day} {day:%B %Y}"

    def month(self, day: date) -> str:
        """The month of ``day`` on its own, as a label under a chart: ``Jan``."""
        return MONTHS[day.month - 1]


ENGLISH = Language()
"""English: the source language, and the default everywhere."""


# --------------------------------------------------------------------------- times


def short_time(moment: datetime, tz: tzinfo | None, lang: Language = ENGLISH) -> str:
    """``2 Jan 14:03`` in ``tz`` (English unless asked otherwise: reports are compared)."""
    return lang.short_time(moment.astimezone(tz))


def long_time(moment: datetime, tz: tzinfo | None, lang: Language = ENGLISH) -> str:
    """``Mon 2 Jan 14:03``."""
    return lang.long_time(moment.astimezone(tz))


def full_time(moment: datetime, tz: tzinfo | None, lang: Language = ENGLISH) -> str:
    """``Mon 2 Jan 2027 14:03``."""
    return lang.full_time(moment.astimezone(tz))


def day_label(day: date, lang: Language = ENGLISH) -> str:
    """``Mon 2 Jan``."""
    return lang.day_label(day)


def iso(moment: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 with the UTC offset of ``tz`` (None stays None): for files other programs read."""
    return moment.astimezone(tz).isoformat() if moment is not None else None


DurationStyle = Literal["compact", "rough"]


def human_duration(
    delta: timedelta, *, style: DurationStyle = "compact", lang: Language = ENGLISH
) -> str:
    """A duration the way people say it. The one duration formatter of ooo.

    - ``compact`` (tables, the report): ``45 min``, ``3 h 5 min``, ``2 d 3 h``; two units at
      most, rounded to the last one; ``under 1 min`` up to half a minute.
    - ``rough`` (a sentence such as "it ended 2 days ago"): ``1 day``, ``2 hours``,
      ``5 minutes``, ``30 seconds``; the largest whole unit only, rounded down.
    """
    if style == "rough":
        seconds = delta.total_seconds()
        if seconds >= 86400:
            return lang.count(int(seconds // 86400), "%(n)s day", "%(n)s days")
        if seconds >= 3600:
            return lang.count(int(seconds // 3600), "%(n)s hour", "%(n)s hours")
        if seconds >= 60:
            return lang.count(int(seconds // 60), "%(n)s minute", "%(n)s minutes")
        return lang.count(int(seconds), "%(n)s second", "%(n)s seconds")
    minutes = round(delta.total_seconds() / 60)
    if lang is ENGLISH:  # the fast path: a duration on every row of a large report
        return _compact_english(minutes)
    if minutes < 1:
        return lang.gettext("under 1 min")
    if minutes >= 24 * 60:
        days, hours = divmod(round(minutes / 60), 24)
        if hours:
            return lang.gettext("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
        return lang.gettext("%(days)s d") % {"days": days}
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return lang.gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": mins}
    if hours:
        return lang.gettext("%(hours)s h") % {"hours": hours}
    return lang.gettext("%(minutes)s min") % {"minutes": mins}


def _compact_english(minutes: int) -> str:
    """:func:`human_duration`'s compact style in English, from the rounded minutes."""
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
    """``1 inquiry``, ``2 inquiries`` (English; a report's words use ``Language.count``)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def describe_reason(code: str, lang: Language = ENGLISH) -> str:
    """The words for a suppression reason code (the code itself if it is not known)."""
    # Imported here: the policy imports the composers (ooo.core.compose, itip, social), which
    # take their default language from this module.
    from ooo.core.policy import DESCRIPTIONS, Reason

    try:
        return lang.gettext(DESCRIPTIONS[Reason(code)])
    except ValueError:
        return code


def quoted(text: str, lang: Language = ENGLISH) -> str:
    """``“text”``, with the quotation marks of the language (German „…“, French « … »)."""
    return lang.gettext("“%(quote)s”") % {"quote": text}


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


def describe_arrival(inquiry: InquiryFacts, lang: Language = ENGLISH) -> str:
    """The last event of an inquiry nothing has happened to since it arrived."""
    if inquiry.answered_by_server:
        return lang.gettext("Nothing since the mail server's automatic reply (ooo was not running)")
    # A meeting invitation ([calendar], ooo.core.itip), by the decision's reason code.
    if inquiry.reason == "meeting_declined":
        return lang.gettext("Meeting declined (iTIP reply to the organiser); nothing since")
    if inquiry.reason == "meeting_tentative":
        return lang.gettext("Meeting: tentative (iTIP reply to the organiser); nothing since")
    if inquiry.reason == "meeting_ignored":
        return lang.gettext("Meeting invitation, not answered ([calendar] ignore); nothing since")
    if inquiry.replied:
        return lang.gettext("Nothing since the auto-reply")
    return lang.gettext("Nothing since it arrived (no auto-reply: the sender had one recently)")


def describe_event(event: SignalEvent, tz: tzinfo | None, lang: Language = ENGLISH) -> str:
    """A signal as the last event of its inquiry: who did what, the evidence quoted, when."""
    return f"{event_words(event, lang)} ({short_time(event.at, tz, lang)})"


def last_event(view: InquiryView, tz: tzinfo | None, lang: Language = ENGLISH) -> str:
    """The last thing that happened to an inquiry, in ``lang`` (``view.last_event`` is it in
    English)."""
    if lang is ENGLISH:
        return view.last_event
    return describe_event(view.story[-1], tz, lang) if view.story else describe_arrival(view, lang)


def event_words(event: SignalEvent, lang: Language = ENGLISH) -> str:
    """What a signal says happened, the evidence quoted, without its time. A post on the
    owner's network says where: "@ana@hachyderm.io answered on Mastodon", "Sender said it is
    still open on Bluesky"."""
    _ = lang.gettext
    who = event.author or _("someone")
    on = network_name(event.network) if event.network else ""
    words = {"who": who, "network": on, "helper": event.helper or ""}
    if event.unverified:
        rule = RULE_WORDS.get(event.rule)
        text = _(
            "Not counted: a message from %(who)s (%(rule)s) failed your server's sender checks "
            "(%(checks)s)"
        ) % {
            "who": who,
            "rule": _(rule) if rule else event.rule.replace("_", " "),
            "checks": event.unverified,
        }
    elif event.rule == "delegate_engaged":
        text = _("Delegate %(who)s took it up and asked the sender") % words
    elif event.rule == "sender_says_resolved" or (
        event.kind == "resolved" and event.by == "sender"
    ):
        if on and event.helper:
            text = _("Sender said it is resolved on %(network)s, helped by %(helper)s") % words
        elif on:
            text = _("Sender said it is resolved on %(network)s") % words
        elif event.helper:
            text = _("Sender said it is resolved, helped by %(helper)s") % words
        else:
            text = _("Sender said it is resolved")
    elif event.kind == "resolved" and (event.rule == "delegate_answered" or event.by == "delegate"):
        if on:
            text = _("Delegate %(who)s answered in the thread on %(network)s") % words
        else:
            text = _("Delegate %(who)s answered in the thread") % words
    elif event.kind == "resolved" and (event.rule == "network_answered" or event.by == "network"):
        if on:
            text = _("%(who)s answered on %(network)s") % words
        else:
            text = _("%(who)s (your network) answered in the thread") % words
    elif event.kind == "resolved":
        text = _("You marked it resolved")
    elif event.kind == "open" and event.flagged:
        text = _("Sender said it is urgent on %(network)s") if on else _("Sender said it is urgent")
        text %= words
    elif event.kind == "open":
        if on:
            text = _("Sender said it is still open on %(network)s") % words
        else:
            text = _("Sender said it is still open")
    else:
        text = _("You reopened it")
    if not event.evidence.strip():
        return text
    return _("%(what)s: %(quote)s") % {
        "what": text,
        "quote": quoted(_shorten(event.evidence), lang),
    }


def _shorten(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- the report's words


def headline(r: Report, lang: Language = ENGLISH) -> list[str]:
    """The headline about inquiries, one sentence per line, in plain words (no markup)."""
    _ = lang.gettext
    s = r.summary
    if not s.total:
        return [_("No inquiries while you were away.")]
    lines = [
        lang.count(
            s.total, "%(n)s inquiry while you were away.", "%(n)s inquiries while you were away."
        )
    ]
    by = [
        _(BY_COUNTS[b]) % {"n": lang.number(s.resolved_by(b))}
        for b in RESOLVERS
        if s.resolved_by(b)
    ]
    if r.returned:
        resolved = lang.count(
            s.resolved, "%(n)s resolved before you returned", "%(n)s resolved before you returned"
        )
    else:
        resolved = lang.count(s.resolved, "%(n)s resolved so far", "%(n)s resolved so far")
    if by:
        lines.append(_("%(resolved)s: %(by)s.") % {"resolved": resolved, "by": ", ".join(by)})
    else:
        lines.append(f"{resolved}.")
    still = lang.count(s.open, "%(n)s still open", "%(n)s still open")
    if s.flagged:
        flagged = lang.count(s.flagged, "%(n)s flagged as urgent", "%(n)s flagged as urgent")
        lines.append(_("%(open)s, %(flagged)s.") % {"open": still, "flagged": flagged})
    else:
        lines.append(f"{still}.")
    return lines + server_lines(r, lang)


# ``2 by your network``: one part of the headline's list of who resolved how many.
BY_COUNTS: dict[ResolvedBy, str] = {
    "network": N_("%(n)s by your network"),
    "delegate": N_("%(n)s by your delegate"),
    "sender": N_("%(n)s by the sender"),
    "owner": N_("%(n)s by you"),
}


def resolved_by_count(by: ResolvedBy, n: int, lang: Language = ENGLISH) -> str:
    """``2 resolved by your network`` (the page's list under the counts)."""
    if by == "network":
        text = lang.ngettext("%(n)s resolved by your network", "%(n)s resolved by your network", n)
    elif by == "delegate":
        text = lang.ngettext(
            "%(n)s resolved by your delegate", "%(n)s resolved by your delegate", n
        )
    elif by == "sender":
        text = lang.ngettext("%(n)s resolved by the sender", "%(n)s resolved by the sender", n)
    else:
        text = lang.ngettext("%(n)s resolved by you", "%(n)s resolved by you", n)
    return text % {"n": lang.number(n)}


def server_lines(r: Report, lang: Language = ENGLISH) -> list[str]:
    """While ooo could not answer, the mail server did ([handoff]): when, why, and how many
    of the inquiries it answered. Nothing when it never had to."""
    if not r.server_periods:
        return []
    _ = lang.gettext
    tz = r.timezone
    spans = "; ".join(
        _("%(start)s – %(end)s (%(why)s)")
        % {
            "start": short_time(p.start, tz, lang),
            "end": short_time(p.end, tz, lang) if p.end else _("the end"),
            "why": _(p.why) if p.why else p.why,
        }
        for p in r.server_periods
    )
    answered = sum(1 for v in r.inquiries if v.answered_by_server)
    return [
        lang.ngettext(
            "Your mail server answered in ooo's place %(spans)s: %(n)s inquiry got its "
            "automatic reply.",
            "Your mail server answered in ooo's place %(spans)s: %(n)s inquiries got its "
            "automatic reply.",
            answered,
        )
        % {"spans": spans, "n": lang.number(answered)}
    ]


def suppressed_heading(r: Report, lang: Language = ENGLISH) -> str:
    """The line above the counts of messages that were not answered."""
    # Suppressed messages are counted, not listed; the flood valve's inquiries are both
    # (their reason says so), so the owner sees the valve tripped and what it held back.
    return lang.count(
        r.suppressed_total,
        "%(n)s message not answered, counted by reason:",
        "%(n)s messages not answered, counted by reason:",
    )


def window_line(r: Report, lang: Language = ENGLISH) -> str:
    """``Away Mon 6 Jul 08:00 – Mon 20 Jul 2026 08:00 (Europe/Berlin)``, and the moment the
    statuses describe when that is not the end of the window."""
    tz = r.timezone
    start, end = r.window_start.astimezone(tz), r.window_end.astimezone(tz)
    first = lang.long_time(start) if start.year == end.year else lang.full_time(start)
    line = lang.gettext("Away %(start)s – %(end)s (%(zone)s)") % {
        "start": first,
        "end": lang.full_time(end),
        "zone": tz.key,
    }
    if r.at != r.window_end:
        line = lang.gettext("%(window)s; status as of %(at)s") % {
            "window": line,
            "at": full_time(r.at, tz, lang),
        }
    return line


def sender_line(view: InquiryView) -> str:
    """``Alice Martin <alice@example.org>``, or the address alone, as plain text."""
    name = plain(view.from_name)
    return f"{name} <{plain(view.sender)}>" if name else plain(view.sender)


def resolution(view: InquiryView, lang: Language = ENGLISH) -> str:
    """``by your delegate after 2 d 3 h``: who resolved a resolved inquiry, and how fast."""
    assert view.resolved_by is not None
    text = lang.gettext(BY_PHRASES[view.resolved_by])
    if view.time_to_resolve is not None:
        text = lang.gettext("%(by)s after %(took)s") % {
            "by": text,
            "took": human_duration(view.time_to_resolve, lang=lang),
        }
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


def story(view: InquiryView, tz: tzinfo | None, lang: Language = ENGLISH) -> list[Step]:
    """Everything that happened to an inquiry, email and network merged, oldest first."""
    return [
        Step(
            at=e.at,
            when=short_time(e.at, tz, lang),
            words=plain(event_words(e, lang)),
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
    lang: Language = ENGLISH

    def sentence(self, *, link: bool = True) -> str:
        """``@ana@hachyderm.io answered on Mastodon (https://…), 3 h after the question``."""
        words = {"who": self.who, "network": self.network, "after": self.after}
        if link and self.link:
            return self.lang.gettext("%(who)s answered on %(network)s (%(link)s), %(after)s") % (
                words | {"link": self.link}
            )
        return self.lang.gettext("%(who)s answered on %(network)s, %(after)s") % words


def network_answer(view: InquiryView, lang: Language = ENGLISH) -> AnswerWords | None:
    """Where and by whom the network answered an inquiry it resolved, or None when no post
    resolved it."""
    answer = view.answer
    if answer is None:
        return None
    return AnswerWords(
        who=plain(answer.helper) if answer.helper else lang.gettext("someone"),
        network=network_name(answer.network),
        link=answer.link,
        after=lang.gettext("%(took)s after the question")
        % {"took": human_duration(answer.at - view.received_at, lang=lang)},
        lang=lang,
    )
