"""One line of printable text: the one cleaning rule for everything a sender (or a network)
controls before it goes into a header, a log line, a report cell or evidence.

Control characters (CR, LF, NUL, C1) and the Unicode line and paragraph separators become a
space, runs of whitespace one space; text longer than ``cap`` is cut at ``cap`` characters,
the last of them an ellipsis.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, cap: int | None = None) -> str:
    """``text`` on one printable line, at most ``cap`` characters (an ellipsis marks a cut)."""
    line = " ".join(CONTROL.sub(" ", text).split())
    if cap is not None and len(line) > cap:
        line = line[: cap - 1].rstrip() + "…"
    return line
