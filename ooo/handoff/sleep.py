"""Knowing the machine is about to sleep or shut down, so ooo can hand off first (Linux).

systemd-logind announces a suspend or shutdown on the system bus (``PrepareForSleep(true)``,
``PrepareForShutdown(true)``) and waits for the programs holding a *delay inhibitor* (up to
``InhibitDelayMaxSec``, 5 s by default) until they release it. :class:`SleepHook` takes one
(``Inhibit("sleep:shutdown", "ooo", ..., "delay")``), calls ``on_sleep`` when the announcement
comes (the daemon hands off: the server answers from then on), then releases it; after a
resume (``PrepareForSleep(false)``) it calls ``on_resume`` and takes a new one. It talks D-Bus
through ``jeepney`` (pure Python; its blocking connection can receive the inhibitor's file
descriptor), in a thread of its own.

Where there is no system bus or no logind (containers, other init systems, macOS, Windows),
the hook does nothing and says so once in the log. Nothing is lost there but immediacy: the
lease runs out and the server answers at most ``[handoff] lease`` after the machine went
down. macOS (IOKit's ``kIOMessageSystemWillSleep``) and Windows (power broadcast messages)
would need native code; ooo does not use them. Only suspends that logind starts are announced.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from jeepney import (  # type: ignore[import-untyped]
    DBusAddress,
    MatchRule,
    MessageType,
    new_method_call,
)
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import Proxy, open_dbus_connection  # type: ignore[import-untyped]
from jeepney.low_level import HeaderFields  # type: ignore[import-untyped]
from jeepney.wrappers import unwrap_msg  # type: ignore[import-untyped]

from ooo.host.threads import child_name

log = logging.getLogger("ooo")

LOGIND = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
#: How often the listening thread looks at its stop flag (a blocking read cannot be woken).
POLL = 0.2
#: Seconds to wait for logind's answer to Inhibit.
CALL_TIMEOUT = 5.0


class SleepHook:
    """Calls ``on_sleep(what)`` ("sleep" or "shutdown") before logind suspends or powers off,
    and ``on_resume()`` after a resume. ``bus`` is a D-Bus address (tests: a private bus);
    None means the system bus. ``on_sleep`` runs in the hook's thread and should finish
    within logind's delay (5 s by default): the inhibitor is released when it returns."""

    def __init__(
        self,
        on_sleep: Callable[[str], None],
        on_resume: Callable[[], None] | None = None,
        *,
        bus: str | None = None,
        why: str = "hand the out-of-office replies over to the mail server",
    ) -> None:
        self.on_sleep, self.on_resume = on_sleep, on_resume
        self.bus, self.why = bus, why
        self.status = "not started"
        """What the hook is doing, in words (for ``ooo status``)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._fd: Any = None  # the inhibitor: logind waits while it is open
        # logind's signals, also those that arrive while a call waits for its reply.
        self._signals: deque[Any] = deque()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> bool:
        """Connect, take the inhibitor and listen. False (logged once) where there is no
        system bus or no logind: the lease covers those machines."""
        if self.bus is None and not sys.platform.startswith("linux"):
            self._unavailable(f"{sys.platform} has no logind: no handoff before sleep")
            return False
        try:
            self._connect()
            self._inhibit()
        except Exception as exc:  # no bus, no logind, refused: all mean "not here"
            self._close()
            self._unavailable(f"cannot take logind's sleep inhibitor ({_describe(exc)})")
            return False
        self._thread = threading.Thread(
            target=self._run, name=child_name("sleep-hook"), daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        """Release the inhibitor and stop listening. Never raises."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5 * POLL + CALL_TIMEOUT)
        self._close()
        self.status = "stopped"

    def _unavailable(self, why: str) -> None:
        self.status = f"{why}; the lease covers sleep and shutdown"
        log.info("sleep hook: %s", self.status)

    # -- D-Bus -----------------------------------------------------------------------------

    def _connect(self) -> None:
        conn = open_dbus_connection(bus=self.bus or "SYSTEM", enable_fds=True)
        self._conn = conn
        bus = Proxy(message_bus, conn, timeout=CALL_TIMEOUT)
        for member in ("PrepareForSleep", "PrepareForShutdown"):
            rule = MatchRule(
                type="signal", sender=LOGIND, interface=MANAGER, member=member, path=LOGIND_PATH
            )
            bus.AddMatch(rule)
        # Kept for the connection's life: every signal from logind's manager lands in the queue.
        conn.filter(MatchRule(type="signal", interface=MANAGER), queue=self._signals)

    def _inhibit(self) -> None:
        manager = DBusAddress(LOGIND_PATH, bus_name=LOGIND, interface=MANAGER)
        call = new_method_call(
            manager, "Inhibit", "ssss", ("sleep:shutdown", "ooo", self.why, "delay")
        )
        reply = self._conn.send_and_get_reply(call, timeout=CALL_TIMEOUT)
        (fd,) = unwrap_msg(reply)
        self._fd = fd
        self.status = "holding logind's delay inhibitor: ooo hands off before sleep and shutdown"
        log.debug("sleep hook: %s", self.status)

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(Exception):
                fd.close()

    def _close(self) -> None:
        self._release()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- the listening thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                while self._signals:
                    self._handle(self._signals.popleft())
                with contextlib.suppress(TimeoutError):
                    self._conn.recv_messages(timeout=POLL)
        except Exception as exc:  # the bus went away: say so, leave the lease to cover it
            if not self._stop.is_set():
                self.status = f"lost the system bus ({_describe(exc)}); the lease covers sleep"
                log.warning("sleep hook: %s", self.status)
        finally:
            self._release()

    def _handle(self, msg: Any) -> None:

        header = msg.header
        if header.message_type is not MessageType.signal:
            return
        if header.fields.get(HeaderFields.interface) != MANAGER:
            return
        member = header.fields.get(HeaderFields.member)
        if member not in ("PrepareForSleep", "PrepareForShutdown") or not msg.body:
            return
        what = "sleep" if member == "PrepareForSleep" else "shutdown"
        if msg.body[0]:
            try:
                self.on_sleep(what)
            except Exception:  # the inhibitor must be released whatever the handoff did
                log.exception("sleep hook: handing off before %s failed", what)
            finally:
                self._release()
                self.status = f"released the inhibitor for {what}"
            return
        # Resumed (or a shutdown was cancelled): take a new inhibitor, then let ooo take back.
        try:
            self._inhibit()
        except Exception as exc:
            self.status = f"cannot take logind's inhibitor again ({_describe(exc)})"
            log.warning("sleep hook: %s", self.status)
        if self.on_resume is not None and what == "sleep":
            try:
                self.on_resume()
            except Exception:
                log.exception("sleep hook: the resume callback failed")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
