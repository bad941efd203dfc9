"""The report in Markdown, for a ticket or a chat: a headline and two tables, no HTML.

Sender-controlled text is made inert with :func:`md`: one line, CommonMark punctuation and
table pipes backslash-escaped, ``<`` too so that no HTML gets through. Links to posts on the
owner's network are checked http(s) URLs (:func:`ooo.core.wording.safe_link`: no spaces,
brackets, pipes or quotes) written as ``[post](<url>)``; the inquiries with such evidence get
their story (email and network merged, oldest first) in a last section.
"""

from __future__ import annotations

import re

from ooo.core import wording
from ooo.core.report import InquiryView, Report
from ooo.core.wording import long_time, network_answer, plain, resolution, sender_line
from ooo.report.base import Reporter

# CommonMark's ASCII punctuation that could start markup in a table cell or a line. An
# underscore inside a word (john_doe) never does, and escaping it would litter addresses.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~#!{}])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md(text: str) -> str:
    """Sender-controlled text made inert in Markdown: one line, punctuation backslash-escaped
    (pipes too, so a table row stays one row; ``<`` so no HTML gets through)."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), plain(text))


def link(url: str | None, words: str = "post") -> str:
    """`` ([post](<url>))`` for a checked link, "" for none. (The angle brackets keep any
    parenthesis in the URL inside the link; a checked URL has no ``<``, ``>`` or space.)"""
    return f" ([{words}](<{url}>))" if url else ""


def _how(v: InquiryView) -> str:
    """The Resolved cell: who resolved it, how fast, and who helped, where (with the link)."""
    answer = network_answer(v)
    if answer is not None:
        return (
            md(f"by your network: {answer.who} answered on {answer.network}")
            + link(answer.link)
            + md(f", {answer.after}")
        )
    return md(resolution(v) + (f", helped by {v.helper}" if v.helper else ""))


def _stories(r: Report) -> list[str]:
    """The stories of the inquiries with network evidence, oldest step first."""
    told = [v for v in r.inquiries if v.from_network]
    if not told:
        return []
    out = ["", "## What happened, email and networks together"]
    for v in told:
        out += ["", f"**{v.ref}** {md(v.subject)}", ""]
        out += [
            f"- {step.when}: {md(step.words)}{link(step.link)}"
            for step in wording.story(v, r.timezone)
        ]
    return out


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
            evidence = f"“{md(v.evidence)}”" if v.evidence else ""
            out.append(
                f"| {v.ref} | {md(sender_line(v))} | {md(v.subject)} | {_how(v)} | {evidence} |"
            )
    else:
        out.append("None yet.")
    out += _stories(r)
    return "\n".join(out) + "\n"


REPORTER = Reporter("markdown", ".md", lambda report, _template_dir: render_markdown(report))
