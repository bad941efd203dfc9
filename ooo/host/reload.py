"""Noticing that the config file changed, cheaply and without touching the mail server.

The daemon reloads its config on SIGHUP and when the file's *contents* change. Two things
notice a change:

- the daemon itself, at every wake-up of its loop (new mail, an IDLE refresh, a retry), by
  comparing a hash of the file with the one it runs on;
- a :class:`ConfigWatcher` thread that ``stat``\\s the file every couple of seconds and, only
  when size, mtime or inode moved and the content hash differs, calls ``on_change`` (the
  daemon then interrupts its IDLE wait the same way SIGHUP does).

Why a stat thread rather than a short IDLE timeout: re-issuing IDLE every few seconds costs two
round trips to the server each time, for an event (an edit) that happens a few times a month;
a ``stat`` costs one local syscall. inotify/FSEvents would need a dependency per platform.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ooo.host.threads import child_name

log = logging.getLogger("ooo")

#: How often the watcher thread looks at the file.
POLL_SECONDS = 2.0


def fingerprint(path: Path) -> str | None:
    """SHA-256 of the file's contents, or None when it cannot be read (mid-save, deleted)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class ConfigWatcher:
    """A daemon thread calling ``on_change()`` when the file's contents differ from
    ``current()`` (the hash the daemon last acted on, good or bad)."""

    def __init__(
        self,
        path: Path,
        current: Callable[[], str | None],
        on_change: Callable[[], None],
        interval: float = POLL_SECONDS,
    ) -> None:
        self.path = path
        self.current = current
        self.on_change = on_change
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=child_name("config-watch"), daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.interval + 1)

    def _run(self) -> None:
        last = _stat_key(self.path)
        while not self._stop.wait(self.interval):
            key = _stat_key(self.path)
            if key is None or key == last:
                continue
            last = key
            digest = fingerprint(self.path)
            if digest is not None and digest != self.current():
                log.debug("%s changed on disk", self.path)
                try:
                    self.on_change()
                except Exception:  # the watcher must outlive a failed notification
                    log.exception("could not signal the config change")


def interrupt_main_thread(signum: int) -> None:
    """Deliver ``signum`` to the main thread, so that a blocking call there (select() in IDLE)
    returns and the Python handler runs now, not when the wait ends by itself."""
    import signal

    main = threading.main_thread().ident
    # Only to a Python handler: a signal whose handler is not installed yet (start-up) or
    # no longer (shut-down) takes its default action, and SIGHUP's is to end the process
    # without a word. The loop then notices the request at its next wake-up instead.
    handler = signal.getsignal(signum)
    if handler in (signal.SIG_DFL, signal.SIG_IGN, None):
        return
    if main is not None and hasattr(signal, "pthread_kill"):
        signal.pthread_kill(main, signum)
    # Windows has neither SIGHUP nor pthread_kill: the loop notices at its next wake-up.
