"""The report in Markdown, for a ticket or a chat: a headline and two tables, no HTML.

Sender-controlled text is made inert with :func:`md`: one line, CommonMark punctuation and
table pipes backslash-escaped, ``<`` too so that no HTML gets through.
"""

from __future__ import annotations

import re

from ooo.core import wording
from ooo.core.report import Report
from ooo.core.wording import long_time, plain, resolution, sender_line
from ooo.report.base import Reporter

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
    out = [
        f"# Out-of-office report for {md(r.owner_name)}",
        "",
        f"_{md(wording.window_line(r))}_",
        "",
    ]
    first, *rest = wording.headline(r)
    out.append("  \n".join([f"**{md(first)}**", *map(md, rest)]))
    if r.suppressed:
        out += ["", md(wording.suppressed_heading(r)), ""]
        out += [f"- {n} × {md(wording.describe_reason(c))}" for c, n in r.suppressed.items()]

    out += ["", f"## Still open ({s.open})", ""]
    if r.open:
        out += ["| Ref | From | Subject | Received | Last event |", "|---|---|---|---|---|"]
        for v in r.open:
            marks = "".join(m for m in (" **VIP**" if v.vip else "", " **urgent**" * v.flagged))
            out.append(
                f"| {v.ref}{marks} | {md(sender_line(v))} | {md(v.subject)} "
                f"| {long_time(v.received_at, tz)} | {md(v.last_event)} |"
            )
    else:
        out.append("Nothing still needs you.")
    out += ["", f"## Resolved ({s.resolved})", ""]
    if r.resolved:
        out += ["| Ref | From | Subject | Resolved | Evidence |", "|---|---|---|---|---|"]
        for v in r.resolved:
            how = resolution(v) + (f", helped by {v.helper}" if v.helper else "")
            evidence = f"“{md(v.evidence)}”" if v.evidence else ""
            out.append(
                f"| {v.ref} | {md(sender_line(v))} | {md(v.subject)} | {md(how)} | {evidence} |"
            )
    else:
        out.append("None yet.")
    return "\n".join(out) + "\n"


REPORTER = Reporter("markdown", ".md", lambda report, _template_dir: render_markdown(report))
