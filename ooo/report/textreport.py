"""The report for a terminal: plain lines, open inquiries first.

Everything a sender controls goes through :func:`ooo.core.wording.plain`, so that no subject
can move the cursor or recolour the terminal. An inquiry with evidence from the owner's network
also shows its story (email and network merged, oldest first) with each post's link; one the
network resolved says who answered where ("resolved by your network: @ana@hachyderm.io answered
on Mastodon (link), 3 h after the question").
"""

from __future__ import annotations

from datetime import tzinfo

from ooo.core import wording
from ooo.core.report import InquiryView, Report
from ooo.core.wording import long_time, network_answer, plain, resolution, sender_line
from ooo.report.base import Reporter


def _story(v: InquiryView, tz: tzinfo) -> list[str]:
    """The story block of an inquiry with network evidence."""
    lines = ["  Story:"]
    for step in wording.story(v, tz):
        lines.append(f"    {step.when:<12}  {step.words}")
        if step.link:
            lines.append(f"    {'':<12}  {step.link}")
    return lines


def render_text(r: Report) -> str:
    """For a terminal: plain lines, at most about 80 columns apart from long subjects."""
    tz = r.timezone
    out = [f"Out-of-office report for {plain(r.owner_name)}", wording.window_line(r), ""]
    out += wording.headline(r)
    if r.suppressed:
        out.append(wording.suppressed_heading(r))
        width = len(str(max(r.suppressed.values())))
        out += [f"  {n:>{width}}  {wording.describe_reason(c)}" for c, n in r.suppressed.items()]

    opened, resolved = r.open, r.resolved
    out += ["", f"STILL OPEN ({len(opened)})"]
    for v in opened:
        marks = "  ".join(m for m in ("VIP" if v.vip else "", "URGENT" if v.flagged else "") if m)
        out += [
            "",
            f"{v.ref}  {marks}".rstrip(),
            f"  From:      {sender_line(v)}",
            f"  Subject:   {plain(v.subject)}",
            f"  Received:  {long_time(v.received_at, tz)}",
            f"  Last:      {plain(v.last_event)}",
        ]
        if v.from_network:
            out += _story(v, tz)
    if not opened:
        out += ["", "  Nothing still needs you."]
    out += ["", f"RESOLVED ({len(resolved)})"]
    for v in resolved:
        answer = network_answer(v)
        how = f"by your network: {answer.sentence()}" if answer else resolution(v)
        out += [
            "",
            f"{v.ref}  resolved {how}",
            f"  From:      {sender_line(v)}",
            f"  Subject:   {plain(v.subject)}",
            f"  Received:  {long_time(v.received_at, tz)}",
        ]
        if v.helper and not answer:
            out.append(f"  Helped by: {plain(v.helper)}")
        if v.evidence:
            out.append(f"  Evidence:  “{plain(v.evidence)}”")
        if v.from_network:
            out += _story(v, tz)
    if not resolved:
        out += ["", "  None yet."]
    return "\n".join(out) + "\n"


REPORTER = Reporter("text", ".txt", lambda report, _template_dir: render_text(report))
