"""The handoff through ManageSieve (RFC 5804): ooo's Sieve script on the owner's mail server.

At the start of the window (:meth:`SieveHandoff.take_back`) ooo notes the owner's active script,
refuses to go on if it already sends a vacation reply (two vacations in one delivery are an
error, RFC 5230), uploads its own script (ooo.core.sieve: the owner's script included, a
vacation branch that fires only after the lease) under the name ``ooo-handoff``, has the
server check it (CHECKSCRIPT), and activates it. While ooo runs, :meth:`renew` uploads it again
only when the lease needs it (a third of the lease before it runs out) or the senders ooo
answered changed: PUTSCRIPT over the active script takes effect at once, no SETACTIVE needed.
A clean stop or a suspend uploads it with the lease set to now (:meth:`hand_off`). At the end of
the window (:meth:`finish`) the owner's script is made active again and ooo's is deleted (RFC
5804 forbids deleting the active script, hence that order).

The server is the record: the script's first lines hold whose script to switch back to, the
lease and why it was set (see ooo.core.sieve), so a crash, a new state directory or another
machine loses nothing. The owner's own script is never rewritten, only switched back to.

Round trips (measured against Dovecot 2.3 / Pigeonhole 0.5.19, tests/servers/handoff): each
operation is one connection. Taking back costs 8 round trips (greeting, AUTHENTICATE,
LISTSCRIPTS, GETSCRIPT of the owner's script, CHECKSCRIPT, PUTSCRIPT, SETACTIVE, LOGOUT; one
GETSCRIPT more per script it includes, and STARTTLS where used), a renewal 5 (greeting,
AUTHENTICATE, LISTSCRIPTS, PUTSCRIPT, LOGOUT). With a 15 min lease an hour without mail costs 6
renewals; a reply adds at most one upload, which renews the lease too (an hour with three
replies measured 6 as well). See :attr:`SieveHandoff.trips`.

If the owner (or their webmail) activates another script while ooo's is active, ooo does not
fight it: it notices at the next renewal, says so in the state, and leaves the active script
alone (the server then does not answer for ooo, and :meth:`finish` only deletes ooo's script).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ooo.core import sieve
from ooo.handoff.base import (
    Handoff,
    HandoffCheck,
    HandoffError,
    HandoffRefused,
    HandoffState,
    ServerPeriod,
)
from ooo.handoff.managesieve import RoundTrips, Session

log = logging.getLogger("ooo")

#: Renew when less than this share of the lease is left: a third of 15 minutes is 5 minutes
#: for a slow wake-up, a reconnect or a busy server.
RENEW_AT = 1 / 3
#: After a failed attempt, the next one comes at the earliest this much later.
RETRY_AFTER = timedelta(seconds=60)
#: How deep and how many of the owner's included scripts are read, looking for vacation.
INCLUDE_DEPTH, INCLUDE_SCRIPTS = 3, 20

_WHY = {
    "running": "ooo's lease ran out (ooo stopped without handing off: a crash, lost network, "
    "or sleep)",
    "stopped": "ooo stopped and handed off",
    "sleep": "the computer went to sleep",
    "shutdown": "the computer shut down",
}


def why(reason: str) -> str:
    """The reason stored in the script, in the owner's words."""
    return _WHY.get(reason, reason or "unknown")


@dataclass(frozen=True)
class _Installed:
    owner_script: str | None
    lease_until: datetime
    answered: frozenset[str]
    reason: str


class SieveHandoff(Handoff):
    """ooo's Sieve script on one ManageSieve server (see the module docstring).

    ``connect`` opens a logged-in :class:`~ooo.handoff.managesieve.Session` (ooo.handoff.create
    builds it from the config); ``reply`` is the text the server sends; ``lease`` is
    ``[handoff] lease``; ``clock`` gives the time (UTC).
    """

    method = "sieve"

    def __init__(
        self,
        connect: Callable[[], Session],
        *,
        reply: sieve.ServerReply,
        addresses: Sequence[str],
        window_start: datetime,
        window_end: datetime,
        lease: timedelta,
        days: int,
        clock: Callable[[], datetime],
        name: str = sieve.SCRIPT_NAME,
    ) -> None:
        self._connect = connect
        self.reply = reply
        self.addresses = tuple(addresses)
        self.window_start, self.window_end = window_start, window_end
        self.lease, self.days, self.clock, self.name = lease, days, clock, name
        self.trips = RoundTrips()
        self._lock = threading.RLock()
        self._installed: _Installed | None = None
        self._failed_at: datetime | None = None
        self._lost = False  # another script was activated over ours: leave it alone
        self._state = HandoffState(
            "sieve", "nobody", why="not taken back yet", window_end=window_end
        )

    def _session(self) -> Session:
        session = self._connect()
        session.trips = self.trips
        return session

    @property
    def state(self) -> HandoffState:
        with self._lock:
            return self._state

    # -- the script -------------------------------------------------------------------------

    def script(
        self, owner: str | None, lease_until: datetime, answered: Sequence[str], reason: str
    ) -> tuple[str, int]:
        """The script text for these facts, and how many answered senders were left out."""
        kept, left_out = sieve.fit_answered(answered)
        return self._render(owner, lease_until, kept, reason), left_out

    def _render(
        self, owner: str | None, lease_until: datetime, answered: tuple[str, ...], reason: str
    ) -> str:
        return sieve.render(
            sieve.Handoff(
                addresses=self.addresses,
                reply=self.reply,
                window_start=self.window_start,
                window_end=self.window_end,
                lease_until=lease_until,
                owner_script=owner,
                answered=answered,
                reason=reason,
                days=self.days,
            )
        )

    def _upload(
        self,
        s: Session,
        owner: str | None,
        lease_until: datetime,
        answered: Sequence[str],
        reason: str,
        *,
        check: bool = False,
    ) -> None:
        kept, left_out = sieve.fit_answered(answered)
        while True:
            text = self._render(owner, lease_until, kept, reason)
            if check:
                complaint = s.checkscript(text)
                if complaint is not None:
                    raise HandoffError(
                        f"{s.where} does not accept ooo's Sieve script: {complaint}; "
                        f"`ooo check` lists the extensions it needs ({', '.join(sieve.REQUIRED)})"
                    )
            stored, code = s.putscript(self.name, text)
            if stored:
                break
            if code.upper().startswith("QUOTA") and kept:
                # Too big for the server: keep the newest half of the answered senders.
                left_out += len(kept) - len(kept) // 2
                kept = kept[: len(kept) // 2]
                continue
            raise s.refusal(f"storing script {self.name!r}")
        self._installed = _Installed(owner, lease_until, frozenset(kept), reason)
        self._state = replace(self._state, lease_until=lease_until, warning=_left_out(left_out))

    # -- taking back ------------------------------------------------------------------------

    def take_back(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        with self._lock:
            try:
                return self._take_back(lease_until, answered)
            except HandoffError as exc:
                self._failed_at = self.clock()
                if self._installed is None:
                    self._state = replace(self._state, why=f"not taken back yet: {exc}"[:300])
                raise

    def _take_back(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        with self._session() as s:
            active, others = s.listscripts()
            previous = None
            if self.name in (active, *others):
                previous = sieve.read_meta(s.getscript(self.name))
            warning = ""
            if active == self.name:
                owner = previous.owner_script if previous else None
                if previous is None:
                    warning = (
                        "ooo's script on the server was edited: whose script ran before is unknown"
                    )
                elif owner is not None and owner not in others:
                    warning = f"your script {owner!r} is gone; only ooo's rules run now"
                    owner = None
            else:
                owner = active
            if owner is not None:
                self._refuse_vacation(s, owner)
            self._upload(s, owner, lease_until, answered, "running", check=True)
            if active != self.name:
                s.setactive(self.name)
        now = self.clock()
        self._failed_at, self._lost = None, False
        self._state = HandoffState(
            "sieve",
            "ooo",
            since=now,
            lease_until=lease_until,
            why="ooo is running",
            window_end=self.window_end,
            warning=warning or self._state.warning,
        )
        if warning:
            log.warning("handoff: %s", warning)
        if previous is None or active != self.name:
            return None
        return self._period(previous.lease_until, previous.reason, now, previous.window_end)

    def _period(
        self, lease_until: datetime, reason: str, until: datetime, end: datetime | None = None
    ) -> ServerPeriod | None:
        """The stretch the server was in charge: from the lease to ``until``, inside this
        window and the one the script was written for (``end``: a script left over from an
        earlier holiday answered nobody in this one)."""
        start = max(lease_until, self.window_start)
        stop = min(until, self.window_end, end or self.window_end)
        return ServerPeriod(start, stop, why(reason)) if start < stop else None

    def _refuse_vacation(self, s: Session, owner: str) -> None:
        """HandoffRefused when the owner's script, or a script it includes, uses vacation."""
        seen: set[str] = set()
        todo = [(owner, 0)]
        while todo and len(seen) < INCLUDE_SCRIPTS:
            name, depth = todo.pop(0)
            if name in seen or name == self.name:
                continue
            seen.add(name)
            try:
                text = s.getscript(name)
            except HandoffError:
                if name == owner:
                    raise
                continue  # an :optional include that is not there
            found = sieve.analyse(text)
            if found.vacation_lines:
                lines = ", ".join(str(n) for n in found.vacation_lines)
                where = f"your Sieve script {owner!r}" + (
                    f" (through the script {name!r} it includes)" if name != owner else ""
                )
                raise HandoffRefused(
                    f"{where} already sends a vacation reply (line {lines}); ooo will not add a "
                    "second one (a mail server refuses two vacation actions for one message)",
                    advice="switch off the vacation rule in your webmail's filter settings "
                    "(ooo's own reply and handoff replace it), or set handoff.method = "
                    '"none" in the config',
                )
            if depth < INCLUDE_DEPTH:
                todo += [(i.name, depth + 1) for i in found.includes if i.personal]

    # -- while running ----------------------------------------------------------------------

    def renew(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        with self._lock:
            installed = self._installed
            if self._lost or self._state.answering == "server":
                return None  # handed off: only take_back() resumes (no undoing it by accident)
            if installed is None:
                return self.take_back(lease_until, answered)
            now = self.clock()
            kept, _ = sieve.fit_answered(answered)
            due = installed.lease_until - self.lease * RENEW_AT
            if (
                frozenset(kept) == installed.answered
                and now < due
                and installed.reason == "running"
            ):
                return None
            if lease_until <= now:
                return None  # nothing to renew to: a lease must lie ahead
            try:
                with self._session() as s:
                    active, _others = s.listscripts()
                    if active != self.name:
                        self._lost_active(active)
                        return None
                    self._upload(s, installed.owner_script, lease_until, answered, "running")
            except HandoffError:
                self._failed_at = now
                raise
            self._failed_at = None
            period = None
            if installed.lease_until <= now:
                # Late (a long wait, a suspend without notice): the server was in charge.
                period = self._period(installed.lease_until, installed.reason, now)
            return period

    def _lost_active(self, active: str | None) -> None:
        self._lost = True
        what = f"{active!r} is" if active else "no script is"
        self._state = replace(
            self._state,
            answering="nobody",
            why=f"{what} active on the server instead of ooo's (changed by you or your webmail); "
            "ooo leaves it alone, so the server will not answer while ooo is down",
        )
        log.warning("handoff: %s", self._state.why)

    def due(self) -> datetime | None:
        with self._lock:
            if self._state.answering in ("owner", "server") or self._lost:
                return None
            if self._installed is None:
                return self._failed_at + RETRY_AFTER if self._failed_at else self.clock()
            due = self._installed.lease_until - self.lease * RENEW_AT
            if self._failed_at is not None:
                due = max(due, self._failed_at + RETRY_AFTER)
            return due

    def hand_off(self, reason: str) -> None:
        with self._lock:
            installed = self._installed
            if installed is None or self._state.answering != "ooo":
                return  # nothing of ours active: nothing to hand over
            now = self.clock()
            with self._session() as s:
                answered = sorted(installed.answered)
                self._upload(s, installed.owner_script, now, answered, reason)
            self._state = replace(self._state, answering="server", since=now, why=why(reason))
            log.info("handoff: the mail server answers from now on (%s)", why(reason))

    # -- the end ----------------------------------------------------------------------------

    def finish(self) -> ServerPeriod | None:
        with self._lock, self._session() as s:
            active, others = s.listscripts()
            period = None
            if self.name in (active, *others):
                meta = sieve.read_meta(s.getscript(self.name))
                if active == self.name:
                    owner = meta.owner_script if meta else None
                    s.setactive(owner if owner in others else "")
                    if meta is not None:
                        period = self._period(
                            meta.lease_until, meta.reason, self.clock(), meta.window_end
                        )
                s.deletescript(self.name)
            self._installed, self._lost = None, False
            self._state = HandoffState(
                "sieve",
                "owner",
                since=self.clock(),
                why="the away window is over: your own Sieve script is active again",
                window_end=self.window_end,
            )
            return period

    # -- ooo check / preview ----------------------------------------------------------------

    def check(self) -> HandoffCheck:
        try:
            with self._session() as s:
                offered = s.capabilities()
                active, _others = s.listscripts()
                owner = active
                if active == self.name:
                    meta = sieve.read_meta(s.getscript(self.name))
                    owner = meta.owner_script if meta else None
                refused = None
                if owner is not None:
                    try:
                        self._refuse_vacation(s, owner)
                    except HandoffRefused as exc:
                        refused = exc
                where = s.where
        except HandoffError as exc:
            return HandoffCheck(False, str(exc))
        missing = [e for e in sieve.required(self.reply) if e not in offered]
        if missing:
            return HandoffCheck(
                False,
                f"{where} logged in, but the server lacks the Sieve extension(s) "
                f'{", ".join(missing)} that ooo\'s script needs; set handoff.method = "none"',
            )
        if refused is not None:
            return HandoffCheck(False, f"{refused.message}; {refused.advice}")
        mine = f"your script {owner!r} keeps running inside ooo's" if owner else "no own script"
        return HandoffCheck(True, f"{where} logged in; Sieve extensions present; {mine}")

    def describe(self, lease_until: datetime, answered: Sequence[str]) -> str:
        with self._lock:
            owner = self._installed.owner_script if self._installed else None
            note = ""
            if self._installed is None:
                try:
                    with self._session() as s:
                        active, _ = s.listscripts()
                        owner = active
                        if active == self.name:
                            meta = sieve.read_meta(s.getscript(self.name))
                            owner = meta.owner_script if meta else None
                except HandoffError as exc:
                    owner = "<your active script>"
                    note = f"# (could not ask the server which script is active: {exc})\n"
            text, left_out = self.script(owner, lease_until, answered, "running")
            if left_out:
                note += f"# ({_left_out(left_out)})\n"
            return note + text


def _left_out(count: int) -> str:
    if not count:
        return ""
    return (
        f"{count} sender(s) ooo answered earlier are not in the server's list (it keeps the "
        f"newest {sieve.MAX_ANSWERED}): if one writes again while the server is in charge, "
        "they may get a second reply"
    )
