"""The `ooo` command as a user runs it: a subprocess of this Python, output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def ooo(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ooo ARGS`` in ``cwd`` with ``env`` added to the environment. Its stdin
    is empty, so a command that asks a question reads end-of-file instead of waiting."""
    return subprocess.run(
        [sys.executable, "-m", "ooo", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
