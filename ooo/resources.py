"""Files that ship with ooo: the default templates and the example config.

An installed wheel carries them inside the package (pyproject's ``force-include``); a source
checkout has them at the top of the repository, where people look for them.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path | None:
    """``name`` (a file or folder) inside the installed package, else at the top of the source
    checkout; None when neither has it."""
    for base in (PACKAGE, PACKAGE.parent):
        if (base / name).exists():
            return base / name
    return None
