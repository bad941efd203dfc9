"""The state database's files: private, and never opened behind a live connection's back.

Closing any descriptor of a file drops every POSIX lock the process holds on it. The daemon
opens the state database once per thread (the engine, each network watcher); when each open
also opened and closed the database, -wal and -shm files to make them private, the engine's
connection silently lost its locks. The next `ooo status` (or any other process) then found
the shared-memory index unlocked, reset it, and the daemon died of SIGBUS on its next commit
(seen in CI as a network watcher that never recorded anything again).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ooo.host.files import make_private, tighten_private
from ooo.store import Store

SHARED_RANGE = (0x40000000, 512)
"""SQLite's lock bytes in the database file (pending, reserved and the shared range)."""


def locked_by_another_process(path: Path, start: int = 0, length: int = 0) -> bool:
    """True when some other process holds a POSIX lock on ``path`` (in that byte range; 0:
    the whole file), as a second process such as `ooo status` would find it. The probe runs
    in a child, since a process never conflicts with its own locks."""
    probe = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR)\n"
        "try:\n"
        f"    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, {length}, {start}, 0)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=False, timeout=30)
    assert done.returncode in (0, 1), done
    return done.returncode == 1


def test_a_second_store_in_the_process_leaves_the_first_ones_locks_in_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "state.db"
    shm = Path(f"{path}-shm")
    first = Store(path)
    try:
        with first.transaction():
            first.set_status("state", "watching", _now())
        assert locked_by_another_process(shm), "SQLite holds its -shm lock while connected"
        assert locked_by_another_process(path, *SHARED_RANGE)
        second = Store(path)  # as a network watcher's thread opens it
        try:
            assert locked_by_another_process(shm), "opening a second Store dropped the locks"
            assert locked_by_another_process(path, *SHARED_RANGE)
        finally:
            second.close()
        assert locked_by_another_process(shm)
    finally:
        first.close()


def test_another_process_writing_beside_two_connections_loses_nothing(tmp_path: Path) -> None:
    """The case that crashed: two connections in one process, a third process writing (as
    `ooo status` migrates and records), then the first connection commits and reads back."""
    path = tmp_path / "state.db"
    first = Store(path)
    second = Store(path)
    try:
        writer = (
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
            "db.execute(\"INSERT INTO status (key, value, at) VALUES ('other', 'x', 'now')\")\n"
            "db.execute('PRAGMA wal_checkpoint(PASSIVE)')\n"
        )
        done = subprocess.run([sys.executable, "-c", writer, str(path)], check=False, timeout=30)
        assert done.returncode == 0
        for n in range(50):
            with first.transaction():
                first.set_status(f"k{n}", str(n), _now())
        with second.transaction():
            second.set_status("last", "yes", _now())
        keys = {r[0] for r in first.db.execute("SELECT key FROM status")}
        assert {"other", "last", "k0", "k49"} <= keys
    finally:
        second.close()
        first.close()


def test_the_database_and_its_companions_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "state.db"
        store = Store(path)
        try:
            with store.transaction():
                store.set_status("state", "watching", _now())
            for name in ("state.db", "state.db-wal", "state.db-shm"):
                assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
        finally:
            store.close()
    finally:
        os.umask(old)


def test_files_left_readable_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        target = tmp_path / name
        target.touch()
        target.chmod(0o644)
    store = Store(path)
    try:
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        store.close()


def test_each_event_line_says_when_it_was_recorded_and_data_cannot_hide_it(
    tmp_path: Path,
) -> None:
    """The JSONL mirror's "at" is the time of recording: a data field named "at" once
    replaced it (a network post's own time, in another format)."""
    log = tmp_path / "events.jsonl"
    store = Store(tmp_path / "state.db", event_log=log)
    try:
        recorded = datetime(2026, 12, 2, 21, 6, 1, tzinfo=UTC)
        with store.transaction():
            store.event("network_post", recorded, posted_at=datetime(2026, 12, 2, 21, 5, 56))
        with pytest.raises(ValueError, match="'at'"), store.transaction():
            store.event("network_post", recorded, at=recorded)
    finally:
        store.close()
    (line,) = log.read_text().splitlines()
    assert json.loads(line)["at"] == "2026-12-02T21:06:01.000000+00:00"


def test_make_private_creates_a_missing_file_and_never_opens_an_existing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = tmp_path / "new"
    make_private(new)
    assert new.exists() and new.stat().st_mode & 0o777 == 0o600
    existing = tmp_path / "existing"
    existing.write_bytes(b"kept")
    existing.chmod(0o644)
    real_open = os.open
    opened: list[str] = []

    def spy(file: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        opened.append(str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    make_private(existing)
    tighten_private(tmp_path / "absent")  # no error, nothing made
    monkeypatch.undo()
    assert existing.read_bytes() == b"kept"
    assert existing.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "absent").exists()
    # The one os.open was the O_EXCL attempt, which failed without opening anything.
    assert opened == [str(existing)]


def _now() -> datetime:
    return datetime.now(UTC)
