"""Where the daemon's log goes: stderr (the journal, launchd's log, a terminal) and a rotating
file the owner can read later.

The file is ``<[state] dir>/ooo.log`` when the config sets ``[state] dir`` (everything of one
responder in one place, and tests never write to the real home), else ``ooo.log`` in the
platform's user log dir (``~/.local/state/ooo/log`` on Linux, ``~/Library/Logs/ooo`` on macOS).
It is created with mode 0600 and rotated at 1 MiB, keeping 5 old files.

What is logged is one line per decision and per connection event; the engine never logs a
message body, and passwords never reach a log record (see ooo.host.secrets).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(message)s"
LOG_NAME = "ooo.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 5


def default_log_dir(state_dir: Path | None) -> Path:
    if state_dir is not None:
        return state_dir.expanduser()
    import platformdirs

    return Path(platformdirs.user_log_dir("ooo"))


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the first and every rotated one) are mode 0600."""

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed types this as a TextIOWrapper
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(self.baseFilename, 0o600)  # an older file may have been created wider
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup(verbose: bool) -> None:
    """stderr only: every command starts with this (``-v`` adds debug)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=FORMAT, stream=sys.stderr
    )


def add_file(directory: Path) -> Path:
    """Also log to the rotating file in ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / LOG_NAME
    handler = _PrivateRotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PrivateRotatingFileHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    return path
