"""The documents that describe the code keep up with it: README's "How it is built" names
every module of the package, and CONTRIBUTING.md exists and names the test command."""

from __future__ import annotations

import re

from tests.support import ROOT


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def test_how_it_is_built_names_every_module() -> None:
    """Each module of ooo/ (its path under ooo/, like `core/parse.py`) appears in README's
    "How it is built" section; a module added without a line there fails this test."""
    built = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## How it is built")
    modules = sorted(
        str(p.relative_to(ROOT / "ooo"))
        for p in (ROOT / "ooo").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    assert len(modules) > 30
    missing = [m for m in modules if not re.search(rf"(?<![\w/]){re.escape(m)}\b", built)]
    assert missing == [], f"README's 'How it is built' does not name: {missing}"


def test_how_it_is_built_names_no_module_that_is_gone() -> None:
    """And it names no module that no longer exists."""
    built = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## How it is built")
    named = set(re.findall(r"(?<![\w/])((?:[a-z_]+/)*[a-z_]+\.py)\b", built))
    gone = sorted(
        n for n in named if not n.startswith("tests/") and not (ROOT / "ooo" / n).is_file()
    )
    assert gone == [], f"README's 'How it is built' names modules that do not exist: {gone}"


def test_contributing_says_how_to_run_one_test() -> None:
    """CONTRIBUTING.md names the test command and how to run a single test."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "scripts/test" in text and "-k" in text
