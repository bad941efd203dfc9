"""The report as one self-contained HTML page with an inline SVG chart, readable on a phone.

The page is drawn by ``report.html.j2`` with ``report.css`` inlined into it (the file fetches
nothing, see the Content-Security-Policy in the template). Both are looked up like the reply
templates: in the owner's ``[templates] dir`` first, then in the shipped ones, in Jinja2's
sandbox with autoescaping. This module hands the template plain data: the sender-controlled
text already on one line (:func:`ooo.core.wording.plain`), the times and durations in words,
and the chart's geometry (:mod:`ooo.report.chart`).

The inquiries with evidence from the owner's network also come in ``from_network``, by
reference (the row tuples keep their shape, so an owner's copy of an older template still
works): who answered where, and the story, email and network merged, oldest first, each post
with its link. A link is only ever a checked http(s) URL (:func:`ooo.core.wording.safe_link`),
escaped in the ``href`` by autoescaping; the template adds ``rel="noopener noreferrer"``.

The page is in the report's language: the template's own words go through ``_()`` (gettext,
``ngettext`` too), everything this module hands it is already in the language, and ``lang``
is the ``<html lang>``. An owner's template without ``_()`` is simply in its own words.
"""

from __future__ import annotations

import gc
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ooo.core.report import RESOLVERS, InquiryView, Report
from ooo.core.wording import (
    BY_PHRASES,
    BY_WORDS,
    ENGLISH,
    AnswerWords,
    Language,
    describe_reason,
    full_time,
    human_duration,
    last_event,
    long_time,
    network_answer,
    plain,
    resolved_by_count,
    server_lines,
    story,
    suppressed_heading,
    window_line,
)
from ooo.report.base import Reporter
from ooo.report.chart import COLOURS, chart
from ooo.templating import Renderer

TEMPLATE = "report.html.j2"  # it includes report.css, looked up the same way


# The rows of the two tables, as tuples the template unpacks in a ``for`` (plain tuples, not
# named ones: a large report has thousands of rows, and the template names the fields).
# None: not shown.
OpenRow = tuple[
    str,  # ref
    bool,  # vip
    bool,  # flagged
    str | None,  # name: the sender's display name (None when they gave none)
    str,  # address
    str,  # subject
    str,  # received
    str,  # last_event
]
ResolvedRow = tuple[
    str,  # ref
    str | None,  # name
    str,  # address
    str,  # subject
    str,  # colour: who resolved it, in the chart's colours
    str,  # by: who resolved it, in words (``your delegate``; by_phrase[by]: ``by your delegate``)
    str | None,  # took: with no-break spaces (``1 d 2 h`` never splits over two lines)
    str | None,  # helper
    str | None,  # evidence
]
_DOT_COLOURS = {by: COLOURS[f"resolved_by_{by}"] for by in RESOLVERS}


def _open_row(v: InquiryView, tz: tzinfo, lang: Language) -> OpenRow:
    return (
        v.ref,
        v.vip,
        v.flagged,
        plain(v.from_name) if v.from_name.strip() else None,
        plain(v.sender),
        plain(v.subject),
        long_time(v.received_at, tz, lang),
        plain(last_event(v, tz, lang)),
    )


def _resolved_row(v: InquiryView, lang: Language) -> ResolvedRow:
    by = v.resolved_by
    assert by is not None
    took = v.time_to_resolve
    return (
        v.ref,
        plain(v.from_name) if v.from_name.strip() else None,
        plain(v.sender),
        plain(v.subject),
        _DOT_COLOURS[by],
        lang.gettext(BY_WORDS[by]),
        human_duration(took, lang=lang).replace(" ", "\u00a0") if took is not None else None,
        plain(v.helper) if v.helper else None,
        plain(v.evidence) if v.evidence else None,
    )


def _answered_on(answer: AnswerWords, lang: Language) -> tuple[str, str]:
    """The words before and after the network's name (its link) in ``@ana answered on
    Mastodon, 3 h after the question``: a language puts the name where it goes."""
    mark = "\x00"  # never in the words: who is plain text, after is ours
    words = lang.gettext("%(who)s answered on %(network)s, %(after)s") % {
        "who": answer.who,
        "network": mark,
        "after": answer.after,
    }
    before, _, after = words.partition(mark)
    return before, after


def _around(lang: Language, message: str) -> tuple[str, str]:
    """The words before and after the one placeholder of ``message`` in ``lang`` (``in
    %(took)s``: ``("in ", "")``), so that each row of the page only puts its value between."""
    words = lang.gettext(message)
    before, _, after = re.sub(r"%\(\w+\)s", "\x00", words, count=1).partition("\x00")
    return before.replace("%%", "%"), after.replace("%%", "%")


def _from_network(v: InquiryView, tz: tzinfo, lang: Language) -> dict[str, Any]:
    """What the page shows of an inquiry with network evidence: ``answer`` (``who``,
    ``network``, ``link`` or none, ``after``, and ``around``: the words before and after the
    network's name) or none, and ``story``: ``(when, words, link)`` rows, oldest first."""
    answer = network_answer(v, lang)
    return {
        "answer": answer,
        "around": _answered_on(answer, lang) if answer else None,
        "story": [(step.when, step.words, step.link) for step in story(v, tz, lang)],
    }


def context(r: Report, lang: Language = ENGLISH) -> dict[str, Any]:
    """What ``report.html.j2`` can use (listed in templates/README.md)."""
    _, ngettext = lang.gettext, lang.ngettext
    tz = r.timezone
    s = r.summary
    if r.returned:
        resolved = ngettext(
            "resolved before you returned", "resolved before you returned", s.resolved
        )
    else:
        resolved = ngettext("resolved so far", "resolved so far", s.resolved)
    drawn = chart(r.per_day, lang)
    return {
        "lang": lang.code,
        "_": _,
        "gettext": _,
        "ngettext": ngettext,
        "number": lang.number,
        "title": plain(_("Out-of-office report for %(owner)s") % {"owner": r.owner_name}),
        "owner": plain(r.owner_name),
        "window": window_line(r, lang),
        "summary": s,
        "when": _("before you returned") if r.returned else _("so far"),
        "tiles": {
            "total": ngettext("inquiry", "inquiries", s.total),
            "resolved": resolved,
            "open": ngettext("still open", "still open", s.open),
            "urgent": lang.count(s.flagged, "%(n)s urgent", "%(n)s urgent"),
        },
        "resolved_by": [
            {
                "colour": _DOT_COLOURS[b],
                "count": s.resolved_by(b),
                "words": _(BY_WORDS[b]),
                "sentence": resolved_by_count(b, s.resolved_by(b), lang),
            }
            for b in RESOLVERS
            if s.resolved_by(b)
        ],
        "by_phrase": {_(BY_WORDS[b]): _(BY_PHRASES[b]) for b in RESOLVERS},
        # Around a row's value: "in 2 d", "helped by Dana", "“Booked.”".
        "around": {
            "took": _around(lang, "in %(took)s"),
            "helper": _around(lang, "helped by %(helper)s"),
            "quote": _around(lang, "“%(quote)s”"),
        },
        "server": server_lines(r, lang),
        "suppressed_heading": suppressed_heading(r, lang),
        "reasons": [
            (lang.number(n), describe_reason(code, lang)) for code, n in r.suppressed.items()
        ],
        "chart": drawn,
        # The chart's summary as a sentence (a date may end with its own full stop: "4 janv.").
        "chart_sentence": drawn.summary if drawn.summary.endswith(".") else drawn.summary + ".",
        "open": [_open_row(v, tz, lang) for v in r.open],
        "resolved": [_resolved_row(v, lang) for v in r.resolved],
        "from_network": {v.ref: _from_network(v, tz, lang) for v in r.inquiries if v.from_network},
        "generated": full_time(r.generated_at, tz, lang),
        "timezone": tz.key,
    }


def wbr_at(address: str) -> Markup:
    """An address that may wrap after its ``@`` rather than anywhere (escaped, then ``<wbr>``)."""
    return Markup(html.escape(address).replace("@", "@<wbr>"))  # noqa: S704 (escaped first)


_BARE = re.compile(r"[A-Za-z0-9._-]+")


def html_attr(value: str) -> Markup:
    """An attribute's value: bare when it is one plain word (``data-label=Received``, as the
    page has always had it), else quoted and escaped (``data-label="Letztes Ereignis"``)."""
    if _BARE.fullmatch(value):
        return Markup(value)  # noqa: S704 (letters, digits, . _ - only)
    return Markup(f'"{html.escape(value)}"')  # noqa: S704 (escaped)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a page is rendered (as it was, after).

    Autoescaping makes one ``Markup`` per value printed, and unlike ``str`` a Markup is tracked
    by the cycle collector: a report of 10,000 inquiries holds some 200,000 of them until they
    are joined, which sets off several collections of the whole heap, for nothing (they refer
    to nothing). Paused, the page renders as fast as the f-strings it replaced did.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=8)
def _renderer(template_dir: Path | None) -> Renderer:
    """The reply templates' renderer (same lookup, sandbox and escaping) set up for reports."""
    renderer = Renderer(template_dir)
    env = renderer.env
    env.filters["wbr_at"] = wbr_at
    env.filters["html_attr"] = html_attr
    # The renderer is kept for the next report (compiling the template costs more than a small
    # report): an edited template on disk is read again at the next report.
    env.auto_reload = True
    return renderer


def render_html(r: Report, template_dir: Path | None = None, lang: Language = ENGLISH) -> str:
    """One self-contained page (no network fetch of any kind), readable on a phone.

    ``template_dir`` is the owner's ``[templates] dir``: a ``report.html.j2`` or ``report.css``
    there wins over the shipped one. A template that is missing or broken is a
    :class:`ooo.errors.UserError` naming the file and line. ``lang``: the page's language.
    """
    with _collector_paused():
        page = _renderer(template_dir).render(TEMPLATE, context(r, lang))
    # Autoescaping (markupsafe) writes ' and " as &#39; and &#34;; ooo's report has always had
    # &#x27; and &quot; (html.escape). The same characters to a browser, and a report must not
    # change by a byte when nothing in it changed (reports are compared with diff). Done once
    # on the page: a hook on every value (Jinja's finalize) costs a tenth of the rendering.
    return page.replace("&#39;", "&#x27;").replace("&#34;", "&quot;")


REPORTER = Reporter("html", ".html", render_html)
