"""One daemon per state dir: the lock file, its pid, and its release."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ooo.host.lock import AlreadyRunning, StateLock, holder


def test_a_second_lock_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    """While one lock is held, another on the same dir raises AlreadyRunning naming the pid;
    the lock file is 0600; after release the dir is free again and the pid is gone."""
    state = tmp_path / "state"
    with StateLock(state):
        assert holder(state) == os.getpid()
        assert stat.S_IMODE((state / "ooo.lock").stat().st_mode) == 0o600
        with pytest.raises(AlreadyRunning) as refused:
            StateLock(state).acquire()
        assert refused.value.pid == os.getpid()
        assert f"process {os.getpid()}" in refused.value.render()
        assert f"kill {os.getpid()}" in refused.value.render()
    assert holder(state) is None
    assert (state / "ooo.lock").read_text() == ""
    with StateLock(state):
        pass


def test_a_stale_lock_file_does_not_block(tmp_path: Path) -> None:
    """A lock file left by a killed daemon (its pid still written, no lock held) is taken
    over: the kernel released the lock when that process died."""
    (tmp_path / "ooo.lock").write_text("999999\n")
    assert holder(tmp_path) is None
    with StateLock(tmp_path):
        assert (tmp_path / "ooo.lock").read_text() == f"{os.getpid()}\n"
