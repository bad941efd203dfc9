"""One daemon per state directory: an exclusive lock on ``<state dir>/ooo.lock``.

Two daemons on one state database would both answer the same inquiry. The lock is an
advisory ``flock`` held for the process's lifetime (the kernel releases it when the process
dies, even on ``kill -9``, so a stale lock file never blocks a restart). The holder's pid is
written into the file, so that a refused second instance can say which process runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from types import TracebackType

from ooo.errors import UserError

LOCK_NAME = "ooo.lock"


class AlreadyRunning(UserError):
    """Another process holds the state directory's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"ooo is already running on {path.parent} ({who} holds {path})",
            advice=(
                f"stop it first (`kill {pid}`, or `ooo service uninstall` if it runs as a service)"
                if pid
                else "stop the other ooo first"
            ),
        )
        self.pid = pid


def holder(state_dir: Path) -> int | None:
    """The pid written by the daemon holding the lock, or None when nobody holds it."""
    path = state_dir / LOCK_NAME
    if not path.exists():
        return None
    probe = StateLock(state_dir)
    try:
        probe.acquire()
    except AlreadyRunning as exc:
        return exc.pid or -1
    probe.release()
    return None


class StateLock:
    """``with StateLock(dir):`` holds the lock or raises :class:`AlreadyRunning`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(self.path, pid) from None
        # Ours now: replace the previous holder's pid with ours.
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Empty the file before unlocking, so nobody reads our pid as a live holder.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the lock

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
