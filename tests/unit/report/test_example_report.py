"""The example report in the docs is what the code makes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_the_committed_example_report_is_what_the_generator_writes(tmp_path: Path) -> None:
    """docs/make_example_report.py (HTML only) writes exactly docs/example-report.html: a
    change to the page fails here until the example (and its screenshot, --screenshot) is
    made again."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_example_report.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    made = (tmp_path / "example-report.html").read_bytes()
    committed = (ROOT / "docs" / "example-report.html").read_bytes()
    assert made == committed, "run: python docs/make_example_report.py --screenshot"
