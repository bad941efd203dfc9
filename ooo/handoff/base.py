"""The handoff interface the daemon drives: who answers while ooo is not running.

While ooo runs, it answers; whenever it stops (clean stop, sleep, shutdown, crash, lost
network), the mail server answers in its place within a bounded time, and ooo takes over again
when it comes back. The bound is the *lease*: ooo keeps telling the server "not before T"
(T = now + ``[handoff] lease``); once T passes without a renewal, the server answers.

How the daemon drives a :class:`Handoff` (phase 2 wires this; every call is cheap when
nothing needs doing, and none raises anything but :class:`HandoffError`):

================================  ===========================================================
when                              call
================================  ===========================================================
start, inside the window, before  ``take_back(now + lease, answered)``: returns the period the
catching up                       server covered while ooo was away (for the report), or None
each loop wake-up, and soon       ``renew(now + lease, answered)``: a round trip only when the
after each flush that sent        lease needs it or ``answered`` changed; wake up by
replies                           ``due()`` at the latest
SIGTERM/SIGINT (clean stop),      ``hand_off(reason)``: the server answers from now on;
before sleep/shutdown (logind)    ``renew`` does nothing afterwards, so that a wake-up in the
                                  seconds before the suspend cannot undo it
after a resume (logind's          ``take_back(now + lease, answered)`` again
``PrepareForSleep(false)``)
window over (daemon, ``--once``,  ``finish()``: the owner's own setup is back exactly as it was;
or a reload moving away.end into  idempotent; returns the last server period, if any
the past)
``ooo check``                     ``check()``
``ooo preview --handoff``         ``describe(now + lease, answered)``
``ooo status``                    ``state`` (store its ``to_json()``; ``describe(now)`` later)
================================  ===========================================================

``answered`` is the envelope senders ooo answered in this window, newest first: the server
must not answer them again. The methods are thread-safe (the logind hook calls ``hand_off``
from its own thread).

Errors::

    OooError
    └── HandoffError              a handoff operation failed
        ├── HandoffUnavailable    server unreachable or the connection dropped: try again later
        │                         (the lease bounds the harm)
        ├── HandoffAuthError      the server refused the login
        └── HandoffRefused        also a UserError: the owner's setup conflicts (a vacation in
                                  their own Sieve script, their own automatic replies on);
                                  ``ooo run`` must not start, and says what to do
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Literal

from ooo.errors import OooError, UserError


class HandoffError(OooError):
    """A handoff operation failed."""


class HandoffUnavailable(HandoffError):
    """The server cannot be reached, or dropped the connection: retry later."""


class HandoffAuthError(HandoffError):
    """The server refused the credentials."""


class HandoffRefused(UserError, HandoffError):
    """The owner's own setup conflicts with a handoff; the message says what to change."""


Answering = Literal["ooo", "server", "owner", "nobody"]
"""Who answers new mail: ooo; the server in ooo's place; the owner's own setup again (after
the window, or no handoff configured: nobody answers while ooo is down); nobody yet."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


@dataclass(frozen=True)
class ServerPeriod:
    """A stretch of the away window during which the server answered in ooo's place."""

    start: datetime
    end: datetime | None
    """None: still in charge."""
    why: str

    def to_dict(self) -> dict[str, str | None]:
        return {"start": _iso(self.start), "end": _iso(self.end), "why": self.why}


@dataclass(frozen=True)
class HandoffState:
    """Who answers now, since when and why: for ``ooo status`` and the log. Serialisable,
    so that a stopped daemon's last state can still be read (and aged: :meth:`at`)."""

    method: str
    answering: Answering
    since: datetime | None = None
    lease_until: datetime | None = None
    """ooo answers until then; after it, the server does, unless ooo renewed."""
    why: str = ""
    window_end: datetime | None = None
    warning: str = ""
    """Something the owner should know (senders left out of the server's list, ...)."""

    def at(self, now: datetime) -> HandoffState:
        """This state as it stands at ``now``: a lease that ran out means the server answers;
        after the window, neither does (the server's part ends with the window too)."""
        over = self.window_end is not None and now >= self.window_end
        if over and self.answering in ("ooo", "server"):
            return replace(self, answering="owner", since=self.window_end, why="window over")
        if self.answering == "ooo" and self.lease_until is not None and now >= self.lease_until:
            return replace(
                self,
                answering="server",
                since=self.lease_until,
                why="ooo's lease ran out (ooo stopped without handing off: a crash, lost "
                "network, or sleep)",
            )
        return self

    def describe(self, now: datetime) -> str:
        """One line for ``ooo status``."""
        s = self.at(now)
        when = f" since {s.since.isoformat(timespec='seconds')}" if s.since else ""
        why = f" ({s.why})" if s.why else ""
        if s.answering == "ooo":
            lease = s.lease_until.isoformat(timespec="seconds") if s.lease_until else "?"
            text = f"ooo answers{when}; the server ({s.method}) takes over after {lease}"
        elif s.answering == "server":
            text = f"the mail server answers ({s.method}){when}{why}"
        elif s.answering == "owner":
            text = f"the server is back to your own setup{when}{why}"
        else:
            text = f"the mail server does not answer for ooo{why}"
        return text + (f"; warning: {s.warning}" if s.warning else "")

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("since", "lease_until", "window_end"):
            data[key] = _iso(data[key])
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> HandoffState | None:
        """The state :meth:`to_json` wrote; None for nothing or garbage."""
        try:
            data = json.loads(text or "")
            answering = data["answering"]
            if answering not in ("ooo", "server", "owner", "nobody"):
                return None
            return cls(
                method=str(data["method"]),
                answering=answering,
                since=_parse(data.get("since")),
                lease_until=_parse(data.get("lease_until")),
                why=str(data.get("why", "")),
                window_end=_parse(data.get("window_end")),
                warning=str(data.get("warning", "")),
            )
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class HandoffCheck:
    """What ``ooo check`` prints for the handoff."""

    ok: bool
    detail: str
    warnings: tuple[str, ...] = ()


class Handoff(abc.ABC):
    """The server side of ooo's answering (see the module docstring for the call order)."""

    method: str = "none"

    @property
    @abc.abstractmethod
    def state(self) -> HandoffState:
        """Who answers now, as far as this process knows."""

    @abc.abstractmethod
    def take_back(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        """ooo answers from now on (until ``lease_until`` unless renewed). Returns the period
        the server was in charge before, if it was. Raises HandoffRefused when the owner's
        setup conflicts. With Exchange, a server that has taken over keeps the job until the
        window ends: then ``state.answering`` stays "server" and ooo must not answer."""

    @abc.abstractmethod
    def renew(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        """Keep the lease and the answered senders current; no round trip unless needed. Takes
        back first if that has not succeeded yet (returning what take_back returns)."""

    @abc.abstractmethod
    def due(self) -> datetime | None:
        """When :meth:`renew` must run next at the latest (None: nothing to keep up)."""

    @abc.abstractmethod
    def hand_off(self, reason: str) -> None:
        """The server answers from now on ("stopped", "sleep", "shutdown")."""

    @abc.abstractmethod
    def finish(self) -> ServerPeriod | None:
        """The window is over: remove ooo's part, restore the owner's own. Idempotent."""

    @abc.abstractmethod
    def check(self) -> HandoffCheck:
        """Log in and verify what the handoff needs; never raises for a server problem."""

    @abc.abstractmethod
    def describe(self, lease_until: datetime, answered: Sequence[str]) -> str:
        """What would be installed now: the exact Sieve script, or the OOF settings."""

    def close(self) -> None:  # noqa: B027 - optional: most handoffs hold no connection
        """Drop any connection; never raises."""


class NoHandoff(Handoff):
    """``[handoff] method = "none"``: nobody answers while ooo is not running."""

    method = "none"

    def __init__(self) -> None:
        self._state = HandoffState(
            "none", "nobody", why='handoff.method = "none": nobody answers while ooo is down'
        )

    @property
    def state(self) -> HandoffState:
        return self._state

    def take_back(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        return None

    def renew(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        return None

    def due(self) -> datetime | None:
        return None

    def hand_off(self, reason: str) -> None:
        return None

    def finish(self) -> ServerPeriod | None:
        return None

    def check(self) -> HandoffCheck:
        return HandoffCheck(True, 'off (handoff.method = "none")')

    def describe(self, lease_until: datetime, answered: Sequence[str]) -> str:
        return 'No handoff: handoff.method = "none", so nobody answers while ooo is not running.'
