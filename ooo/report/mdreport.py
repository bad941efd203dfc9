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
from ooo.core.wording import (
    ENGLISH,
    Language,
    long_time,
    network_answer,
    plain,
    quoted,
    resolution,
    sender_line,
)
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


def _how(v: InquiryView, lang: Language) -> str:
    """The Resolved cell: who resolved it, how fast, and who helped, where (with the link)."""
    _ = lang.gettext
    answer = network_answer(v, lang)
    if answer is not None:
        words = {"who": answer.who, "network": answer.network}
        return (
            md(_("by your network: %(who)s answered on %(network)s") % words)
            + link(answer.link, md(_("post")))
            + md(f", {answer.after}")
        )
    how = resolution(v, lang)
    if v.helper:
        how = _("%(how)s, helped by %(helper)s") % {"how": how, "helper": v.helper}
    return md(how)


def _stories(r: Report, lang: Language) -> list[str]:
    """The stories of the inquiries with network evidence, oldest step first."""
    told = [v for v in r.inquiries if v.from_network]
    if not told:
        return []
    post = md(lang.gettext("post"))
    out = ["", "## " + md(lang.gettext("What happened, email and networks together"))]
    for v in told:
        out += ["", f"**{v.ref}** {md(v.subject)}", ""]
        out += [
            f"- {step.when}: {md(step.words)}{link(step.link, post)}"
            for step in wording.story(v, r.timezone, lang)
        ]
    return out


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(r: Report, lang: Language = ENGLISH) -> str:
    """For a ticket or a chat: a headline, two tables, no HTML."""
    _ = lang.gettext
    tz = r.timezone
    s = r.summary
    out = [
        "# " + md(_("Out-of-office report for %(owner)s") % {"owner": plain(r.owner_name)}),
        "",
        f"_{md(wording.window_line(r, lang))}_",
        "",
    ]
    first, *rest = wording.headline(r, lang)
    out.append("  \n".join([f"**{md(first)}**", *map(md, rest)]))
    if r.suppressed:
        out += ["", md(wording.suppressed_heading(r, lang)), ""]
        out += [
            f"- {lang.number(n)} × {md(wording.describe_reason(c, lang))}"
            for c, n in r.suppressed.items()
        ]

    ref, sender, subject = md(_("Ref")), md(_("From")), md(_("Subject"))
    out += ["", "## " + md(_("Still open (%(n)s)") % {"n": lang.number(s.open)}), ""]
    if r.open:
        out += [
            _row(ref, sender, subject, md(_("Received")), md(_("Last event"))),
            "|---|---|---|---|---|",
        ]
        vip, urgent = f" **{md(_('VIP'))}**", f" **{md(_('urgent'))}**"
        for v in r.open:
            marks = "".join(m for m in (vip if v.vip else "", urgent * v.flagged))
            out.append(
                f"| {v.ref}{marks} | {md(sender_line(v))} | {md(v.subject)} "
                f"| {long_time(v.received_at, tz, lang)} "
                f"| {md(wording.last_event(v, tz, lang))} |"
            )
    else:
        out.append(md(_("Nothing still needs you.")))
    out += ["", "## " + md(_("Resolved (%(n)s)") % {"n": lang.number(s.resolved)}), ""]
    if r.resolved:
        out += [
            _row(ref, sender, subject, md(_("Resolved")), md(_("Evidence"))),
            "|---|---|---|---|---|",
        ]
        for v in r.resolved:
            evidence = quoted(md(v.evidence), lang) if v.evidence else ""
            out.append(
                f"| {v.ref} | {md(sender_line(v))} | {md(v.subject)} | {_how(v, lang)} "
                f"| {evidence} |"
            )
    else:
        out.append(md(_("None yet.")))
    out += _stories(r, lang)
    return "\n".join(out) + "\n"


REPORTER = Reporter(
    "markdown", ".md", lambda report, _template_dir, lang: render_markdown(report, lang)
)
