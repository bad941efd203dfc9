"""The report for a terminal: plain lines, open inquiries first.

Everything a sender controls goes through :func:`ooo.core.wording.plain`, so that no subject
can move the cursor or recolour the terminal. An inquiry with evidence from the owner's network
also shows its story (email and network merged, oldest first) with each post's link; one the
network resolved says who answered where ("resolved by your network: @ana@hachyderm.io answered
on Mastodon (link), 3 h after the question").

The labels in front of each inquiry's details line up in every language: they are padded to
the longest of them (``Helped by: `` in English).
"""

from __future__ import annotations

from datetime import tzinfo

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


def _story(v: InquiryView, tz: tzinfo, lang: Language) -> list[str]:
    """The story block of an inquiry with network evidence."""
    steps = wording.story(v, tz, lang)
    width = max(12, *(len(step.when) for step in steps)) if steps else 12
    lines = ["  " + lang.gettext("Story:")]
    for step in steps:
        lines.append(f"    {step.when:<{width}}  {step.words}")
        if step.link:
            lines.append(f"    {'':<{width}}  {step.link}")
    return lines


def render_text(r: Report, lang: Language = ENGLISH) -> str:
    """For a terminal: plain lines, at most about 80 columns apart from long subjects."""
    _ = lang.gettext
    tz = r.timezone
    labels = {
        "from": _("From:"),
        "subject": _("Subject:"),
        "received": _("Received:"),
        "last": _("Last:"),
        "helper": _("Helped by:"),
        "evidence": _("Evidence:"),
    }
    pad = max(map(len, labels.values())) + 1
    label = {key: f"  {words:<{pad}}" for key, words in labels.items()}
    out = [
        _("Out-of-office report for %(owner)s") % {"owner": plain(r.owner_name)},
        wording.window_line(r, lang),
        "",
    ]
    out += wording.headline(r, lang)
    if r.suppressed:
        out.append(wording.suppressed_heading(r, lang))
        width = len(lang.number(max(r.suppressed.values())))
        out += [
            f"  {lang.number(n):>{width}}  {wording.describe_reason(c, lang)}"
            for c, n in r.suppressed.items()
        ]

    opened, resolved = r.open, r.resolved
    vip, urgent = _("VIP"), _("URGENT")
    out += ["", _("STILL OPEN (%(n)s)") % {"n": lang.number(len(opened))}]
    for v in opened:
        marks = "  ".join(m for m in (vip if v.vip else "", urgent if v.flagged else "") if m)
        out += [
            "",
            f"{v.ref}  {marks}".rstrip(),
            f"{label['from']}{sender_line(v)}",
            f"{label['subject']}{plain(v.subject)}",
            f"{label['received']}{long_time(v.received_at, tz, lang)}",
            f"{label['last']}{plain(wording.last_event(v, tz, lang))}",
        ]
        if v.from_network:
            out += _story(v, tz, lang)
    if not opened:
        out += ["", "  " + _("Nothing still needs you.")]
    out += ["", _("RESOLVED (%(n)s)") % {"n": lang.number(len(resolved))}]
    for v in resolved:
        answer = network_answer(v, lang)
        if answer:
            how = _("resolved by your network: %(answer)s") % {"answer": answer.sentence()}
        else:
            how = _("resolved %(how)s") % {"how": resolution(v, lang)}
        out += [
            "",
            f"{v.ref}  {how}",
            f"{label['from']}{sender_line(v)}",
            f"{label['subject']}{plain(v.subject)}",
            f"{label['received']}{long_time(v.received_at, tz, lang)}",
        ]
        if v.helper and not answer:
            out.append(f"{label['helper']}{plain(v.helper)}")
        if v.evidence:
            out.append(f"{label['evidence']}{quoted(plain(v.evidence), lang)}")
        if v.from_network:
            out += _story(v, tz, lang)
    if not resolved:
        out += ["", "  " + _("None yet.")]
    return "\n".join(out) + "\n"


REPORTER = Reporter("text", ".txt", lambda report, _template_dir, lang: render_text(report, lang))
