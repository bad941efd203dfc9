"""The post-vacation report in five formats: ``render(report, fmt)``.

One module per output, each with one :class:`ooo.report.base.Reporter`: ``textreport`` (a
terminal), ``mdreport`` (Markdown for a ticket or a chat: no HTML, pipes escaped),
``htmlreport`` (one self-contained page with a chart, from ``templates/report.html.j2``),
``jsonreport`` (for programs, ``docs/report-schema.md``) and ``csvreport`` (for spreadsheets).
The report itself, statuses derived from signals, is built by :mod:`ooo.core.report`; the
words and times by :mod:`ooo.core.wording`. Times are shown in the owner's time zone,
durations the way people say them.

Everything a sender controls (names, addresses, subjects, evidence sentences) is escaped for the
format it lands in: HTML-escaped in HTML, control characters removed in text and Markdown (a
subject must not drive the terminal), Markdown punctuation and table pipes backslash-escaped,
and CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) prefixed
with ``'``. JSON keeps the stored values as they are.

Evidence from the owner's networks (signals from posts) is shown in every format: who answered
where, with the post's link (only ever a checked http(s) URL, :func:`ooo.core.wording.safe_link`),
and the inquiry's story, email and network merged, oldest first. A report without such evidence
is byte for byte what it was before the networks were watched.

Every format can be written in any of the report's languages (:mod:`ooo.locale`: English,
German, French, Spanish, Dutch): ``render(report, fmt, language="de")``. The words, times,
durations, counts and numbers follow the language; JSON's and CSV's keys, codes, ``yes``/``no``
and ISO times do not (programs read them), their sentences (``last_event``, a story's ``text``,
CSV's ``time_to_resolve``) do. English is byte for byte what it was before.

The names below stay importable from ``ooo.report`` for the CLI, the daemon and the demo.
"""

from __future__ import annotations

from pathlib import Path

from ooo.core.report import (
    OUTCOMES,
    RESOLVERS,
    DayCounts,
    InquiryView,
    NetworkAnswer,
    Report,
    Status,
    Summary,
    build_report,
    derive,
)
from ooo.core.wording import (
    ENGLISH,
    Language,
    day_label,
    describe_reason,
    full_time,
    headline,
    human_duration,
    long_time,
    plain,
    short_time,
    suppressed_heading,
)
from ooo.host.files import write_atomic
from ooo.locale import LANGUAGES
from ooo.locale import language as load_language
from ooo.report import csvreport, htmlreport, jsonreport, mdreport, textreport
from ooo.report.base import FORMATS, Format, Reporter
from ooo.report.chart import COLOURS, LABELS
from ooo.report.csvreport import CSV_COLUMNS, NETWORK_COLUMNS, cell, render_csv
from ooo.report.htmlreport import render_html
from ooo.report.jsonreport import SCHEMA_VERSION, render_json, to_json
from ooo.report.mdreport import md, render_markdown
from ooo.report.textreport import render_text

__all__ = [
    "COLOURS",
    "CSV_COLUMNS",
    "ENGLISH",
    "FORMATS",
    "LABELS",
    "LANGUAGES",
    "NETWORK_COLUMNS",
    "OUTCOMES",
    "REPORTERS",
    "RESOLVERS",
    "SCHEMA_VERSION",
    "SUFFIXES",
    "DayCounts",
    "Format",
    "InquiryView",
    "Language",
    "NetworkAnswer",
    "Report",
    "Reporter",
    "Status",
    "Summary",
    "build_report",
    "cell",
    "day_label",
    "derive",
    "describe_reason",
    "full_time",
    "headline",
    "human_duration",
    "load_language",
    "long_time",
    "md",
    "plain",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "short_time",
    "suppressed_heading",
    "to_json",
    "write_atomic",
]

REPORTERS: dict[Format, Reporter] = {
    module.REPORTER.format: module.REPORTER
    for module in (textreport, mdreport, htmlreport, jsonreport, csvreport)
}
SUFFIXES: dict[Format, str] = {fmt: reporter.suffix for fmt, reporter in REPORTERS.items()}


def render(
    r: Report,
    fmt: Format,
    *,
    template_dir: Path | None = None,
    language: str | Language = "en",
) -> str:
    """The report as the text of one file in format ``fmt`` (one of :data:`FORMATS`).

    ``template_dir`` is the owner's ``[templates] dir``: the formats drawn from templates (HTML)
    look there first, then at the shipped templates. ``language`` is one of
    :data:`ooo.locale.LANGUAGES` (``de``; ``de-AT`` means ``de``) or a language already loaded:
    an unknown one is a :class:`ooo.errors.UserError` naming the shipped ones.
    """
    try:
        reporter = REPORTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; one of: {', '.join(FORMATS)}") from None
    return reporter.render(r, template_dir, load_language(language))
