"""Files the owner reads or the daemon relies on, written so that nothing is ever half there.

One writer for all of them (reports, the config, service units): a temporary file in the same
directory, fsync, the mode set before anyone can see it, a rename over the target, and an
fsync of the directory, so that a reader (or a crash) sees the old file or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8). ``mode`` defaults to private
    (0600): reports and configs name who wrote and about what."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename itself is done
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def touch_private(path: Path) -> None:
    """Create ``path`` with mode 0600 if it does not exist, and tighten it if it does.

    It opens the file, so never use it on a file a database connection of this process may
    hold (see :func:`make_private`)."""
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def make_private(path: Path) -> None:
    """Like :func:`touch_private`, but an existing file is never opened, only tightened.

    This is the one for SQLite's files. Closing *any* descriptor of a file drops every POSIX
    lock the process holds on it, the locks of its open database connections included. A
    connection that has silently lost its lock on the ``-shm`` file lets another process
    (``ooo status``) think it is alone and reset the shared index under it: the daemon
    then dies of SIGBUS, or worse, reads a wrong index. So a file that exists is only
    chmod-ed, and a missing one is created (and closed) before any connection can have it."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        tighten_private(path)
    else:
        os.close(fd)


def tighten_private(path: Path) -> None:
    """Mode 0600 for ``path`` if it exists (it is never opened)."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, 0o600)
