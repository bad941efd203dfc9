"""The end of the away window, on the in-memory backends: a window already over at start-up
is a clear warning, and the owner is told once, on the desktop where that is possible."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from ooo.daemon import Daemon
from ooo.mailbox.memory import MemoryMailbox
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.configs import GOOD_END, daemon_config
from tests.support.helpers import Clock, tracked


def fake_notify_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notify-send on PATH that records its arguments, one call per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "notifications.txt"
    script = bin_dir / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> "{calls}"\necho >> "{calls}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def run_after_the_end(tmp_path: Path, store: Store, hours: int) -> int:
    return Daemon(
        daemon_config(tmp_path),
        clock=Clock(GOOD_END + timedelta(hours=hours)),
        mailbox=MemoryMailbox(),
        transport=MemoryTransport(),
        store=store,
    ).run()


def test_a_window_in_the_past_at_start_up_is_a_clear_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started after away.end: a warning names the config, the window and how long ago it
    ended, and what to do; the owner is notified once, not at every later start."""
    calls = fake_notify_send(tmp_path, monkeypatch)
    store = tracked(Store(tmp_path / "state.db"))
    caplog.set_level("INFO", logger="ooo")
    assert run_after_the_end(tmp_path, store, hours=26) == 0
    warning = next(r for r in caplog.records if r.levelname == "WARNING")
    assert "is already over: it ended 1 day ago" in warning.getMessage()
    assert "2026-12-20 00:00 to 2027-01-05 09:00, Europe/Berlin" in warning.getMessage()
    assert "Set new dates in [away] (`ooo config edit`)" in warning.getMessage()
    (line,) = calls.read_text().splitlines()
    assert line.startswith("--app-name=ooo|ooo: welcome back|")
    assert "ooo stopped answering at 2027-01-05 09:00" in line

    caplog.clear()
    assert run_after_the_end(tmp_path, store, hours=30) == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(calls.read_text().splitlines()) == 1
