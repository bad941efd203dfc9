"""The report as CSV, for spreadsheets: one header row, one row per inquiry in report order,
times in ISO 8601 with the owner's UTC offset.

Cells a sender controls are one line, and never a formula when a spreadsheet opens the file
(see :func:`cell`). A report with evidence from the owner's network has two more columns at the
end (:data:`NETWORK_COLUMNS`): the network whose post resolved each inquiry and that answer's
link; a report without keeps the columns it always had.
"""

from __future__ import annotations

import csv
import io

from ooo.core.report import Report
from ooo.core.wording import ENGLISH, Language, human_duration, iso, last_event, plain
from ooo.report.base import Reporter

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
NETWORK_COLUMNS = (
    "network",
    "link",
)
"""Added after :data:`CSV_COLUMNS` when any inquiry has evidence from the network: the network
an answer there resolved it on ("mastodon", "bluesky", "matrix"), and the answer's link."""


def cell(text: str) -> str:
    """A sender-controlled CSV cell: one line, and never a formula when a spreadsheet opens it
    (OWASP's advice for CSV injection: a leading ``'``)."""
    text = plain(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def render_csv(r: Report, lang: Language = ENGLISH) -> str:
    """One header row, one row per inquiry in report order; times in ISO 8601 with offset.
    The header, codes and ``yes``/``no`` stay as they are in every language; the words
    (``time_to_resolve``, ``last_event``) are in ``lang``."""
    tz = r.timezone
    buf = io.StringIO()
    writer = csv.writer(buf)
    networks = any(v.from_network for v in r.inquiries)
    writer.writerow(CSV_COLUMNS + NETWORK_COLUMNS if networks else CSV_COLUMNS)
    for v in r.inquiries:
        took = v.time_to_resolve
        answer = v.answer
        extra = (cell(answer.network), cell(answer.link or "")) if answer else ("", "")
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
                iso(v.received_at, tz),
                "yes" if v.replied else "no",
                v.resolved_by or "",
                cell(v.helper or ""),
                iso(v.resolved_at, tz) or "",
                human_duration(took, lang=lang) if took is not None else "",
                round(took.total_seconds()) if took is not None else "",
                cell(v.evidence or ""),
                cell(last_event(v, tz, lang)),
                *(extra if networks else ()),
            )
        )
    return buf.getvalue()


REPORTER = Reporter("csv", ".csv", lambda report, _template_dir, lang: render_csv(report, lang))
