"""Telling the owner something on their desktop (the end of the away window).

A desktop notification where the platform has a tool for it (``notify-send`` on Linux
desktops, ``osascript`` on macOS); the caller always logs the same text too, so a headless
machine loses nothing. A notification that fails is a debug line, never an error.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

log = logging.getLogger("ooo")


def desktop(title: str, body: str) -> bool:
    """Show a notification if this machine can; True when one was shown."""
    if sys.platform == "darwin" and shutil.which("osascript"):
        script = f"display notification {_applescript(body)} with title {_applescript(title)}"
        argv = ["osascript", "-e", script]
    elif shutil.which("notify-send"):
        argv = ["notify-send", "--app-name=ooo", title, body]
    else:
        log.debug("no notify-send/osascript here: the log line is the notification")
        return False
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("desktop notification failed: %s", exc)
        return False
    if done.returncode != 0:
        log.debug("desktop notification failed: %s", done.stderr.decode(errors="replace")[:200])
    return done.returncode == 0


def _applescript(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
