"""The daemon's side of the handoff: when to call the :class:`~ooo.handoff.base.Handoff`, and
what to keep of it.

The daemon calls :meth:`Supervisor.start` inside the window before it catches up,
:meth:`Supervisor.alive` at every wake-up of its loop and after a flush that sent replies,
:meth:`Supervisor.stopping` on a clean stop (and the logind hook calls it before a suspend or a
shutdown), :meth:`Supervisor.resumed` after a resume, and :meth:`Supervisor.window_over` when
the window ends. The supervisor keeps the state in the store (status key ``handoff``, for
``ooo status`` even after the daemon died), records each period the server answered (event
``server_period``, for the report), and tells the engine when the server answers without
marking messages (Exchange), so that the engine leaves those to it.

A handoff that cannot reach its server never stops the mail path: the problem is logged and
shown by ``ooo status`` (status key ``handoff_error``), and the lease bounds the harm. Only a
conflict with the owner's own setup (:class:`~ooo.handoff.base.HandoffRefused`) at start stops
``ooo run``, with advice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from ooo.handoff.base import (
    Handoff,
    HandoffError,
    HandoffRefused,
    HandoffState,
    ServerPeriod,
)
from ooo.store import Store

log = logging.getLogger("ooo")

STATUS_KEY = "handoff"
ERROR_KEY = "handoff_error"


class Supervisor:
    """Drives one Handoff for the daemon (thread-safe: the logind hook calls from its own)."""

    def __init__(
        self,
        handoff: Handoff,
        store: Store,
        clock: Callable[[], datetime],
        *,
        lease: timedelta,
        window_start: datetime,
    ) -> None:
        self.handoff = handoff
        self.store = store
        self.clock = clock
        self.lease = lease
        self.window_start = window_start
        self._lock = threading.Lock()
        self._owner = threading.current_thread()
        """The daemon's thread: the only one that may use the store."""
        self._pending: list[tuple[str, ServerPeriod | None, HandoffState, str | None]] = []
        self._take_back = False

    @property
    def active(self) -> bool:
        return self.handoff.method != "none"

    # -- the daemon's calls -------------------------------------------------------------------

    def start(self) -> None:
        """ooo answers again: take the lease back before catching up. HandoffRefused goes up
        (ooo run must not stack a second responder); other failures are logged."""
        if not self.active:
            return
        self._call("take_back", lambda: self.handoff.take_back(*self._lease()), refuse=True)

    def alive(self) -> None:
        """Renew the lease and the answered senders (cheap when nothing needs doing); after a
        resume, take back first. Records what another thread did meanwhile."""
        if not self.active:
            return
        self.flush_records()
        if self._take_back:
            self._take_back = False
            self._call("take_back", lambda: self.handoff.take_back(*self._lease()))
        else:
            self._call("renew", lambda: self.handoff.renew(*self._lease()))

    def resumed(self) -> None:
        """After a suspend (from the logind hook's thread): the daemon's thread takes back at
        its next wake-up, with the answered senders from the store."""
        self._take_back = True

    def stopping(self, reason: str = "stopped") -> None:
        """The server answers from now on (a clean stop, a suspend, a shutdown)."""
        if self.active:
            self._call("hand_off", lambda: self.handoff.hand_off(reason))

    def window_over(self) -> None:
        """The owner's own setup is back exactly as it was; ooo's part is gone."""
        if self.active:
            self._call("finish", self.handoff.finish)

    def due(self) -> datetime | None:
        """When :meth:`alive` must run next at the latest."""
        return self.handoff.due() if self.active else None

    def server_since(self) -> datetime | None:
        """Since when the server answers in ooo's place without marking what it answers
        (Exchange keeps the job once it has it): the engine leaves that mail to it."""
        state = self.handoff.state
        if self.handoff.method == "exchange" and state.answering == "server":
            return state.since
        return None

    def flush_records(self) -> None:
        """Write what the logind hook's thread recorded (the store belongs to the daemon's
        thread: SQLite connections are not shared)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for what, period, state, error in pending:
            self._record(what, period, state, error)

    def close(self) -> None:
        self.handoff.close()

    # -- helpers -------------------------------------------------------------------------------

    def _lease(self) -> tuple[datetime, list[str]]:
        return self.clock() + self.lease, self.store.answered_senders(self.window_start)

    def _call(
        self, what: str, call: Callable[[], ServerPeriod | None], *, refuse: bool = False
    ) -> None:
        with self._lock:
            error: str | None = None
            period: ServerPeriod | None = None
            try:
                period = call()
            except HandoffRefused:
                if refuse:
                    raise
                error = None
                log.error("the handoff refused to %s: see `ooo check`", what.replace("_", " "))
            except HandoffError as exc:
                error = f"{what}: {exc}"
                log.warning("handoff %s failed (%s); the lease bounds the harm", what, exc)
            state = self.handoff.state
            if threading.current_thread() is not self._owner:
                self._pending.append((what, period, state, error))
                return
        self._record(what, period, state, error)

    def _record(
        self, what: str, period: ServerPeriod | None, state: HandoffState, error: str | None
    ) -> None:
        now = self.clock()
        with self.store.transaction():
            self.store.set_status(STATUS_KEY, state.to_json(), now)
            if error:
                self.store.set_status(ERROR_KEY, error, now)
            else:
                self.store.clear_status(ERROR_KEY)
            if period is not None and not self._known(period):
                self.store.event("server_period", now, **period.to_dict())
        if period is not None:
            log.info(
                "the mail server answered in ooo's place from %s to %s (%s)",
                period.start.isoformat(timespec="seconds"),
                period.end.isoformat(timespec="seconds") if period.end else "now",
                period.why,
            )

    def _known(self, period: ServerPeriod) -> bool:
        data = period.to_dict()
        return any(p == data for p in self.store.server_periods())
