"""What ``ooo status`` says: the lines, from plain facts the command gathered.

Pure: the window, the daemon's last recorded state, the process holding the state lock, the
mailbox cursor, the counts by reason, the replies, the flood valve and the last errors arrive
as data (:class:`StatusFacts`), with ``now``; nothing here reads the store, the config or the
clock. Times are shown in the owner's time zone.

The network watchers run apart from the mailbox (a network that is down never delays a reply),
and their state is said apart, after the mailbox's: each watcher's state, last and next poll,
backoff and last error (:class:`WatcherState`), and the notices posted to an internal room
(:class:`RoomNotice`). A responder that watches nothing shows nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from ooo.core.policy import DESCRIPTIONS, Reason
from ooo.core.wording import human_duration, plain

#: The store's status table: key -> (value, when it was set).
StatusTable = Mapping[str, tuple[str, datetime]]


@dataclass(frozen=True)
class ReplyProblem:
    """A reply that did not go out as it should (uncertain or failed)."""

    recipient: str
    subject: str
    error: str | None


class WatcherState(Protocol):
    """One watcher's state as its thread last recorded it (``Store.watcher_states``)."""

    @property
    def watcher(self) -> str:
        """``mastodon:@bob@hachyderm.io``, ``matrix:!abc:example.org``."""

    @property
    def state(self) -> str:
        """starting, ok, backoff, auth, stopped."""

    @property
    def last_poll(self) -> datetime | None: ...

    @property
    def last_ok(self) -> datetime | None: ...

    @property
    def next_poll(self) -> datetime | None: ...

    @property
    def attempts(self) -> int:
        """Failed polls in a row."""

    @property
    def retry_after(self) -> float | None:
        """The wait the service asked for, in seconds."""

    @property
    def last_error(self) -> str | None: ...


class RoomNotice(Protocol):
    """A notice ooo posts (or posted) to an internal room for one inquiry (``Store.notices``)."""

    @property
    def ref(self) -> str: ...

    @property
    def room(self) -> str: ...

    @property
    def state(self) -> str:
        """posting (not posted yet: retried), posted, failed (given up)."""

    @property
    def attempts(self) -> int: ...

    @property
    def last_error(self) -> str | None: ...


@dataclass(frozen=True)
class StatusFacts:
    now: datetime
    window_start: datetime
    window_end: datetime
    timezone: ZoneInfo
    status: StatusTable
    """The daemon's state, the valve, the last error and the config error, as recorded."""
    pid: int | None
    """The process holding the state lock, if any."""
    cursor: str | None
    epoch: int
    """The cursor's baseline number (0: none yet)."""
    counts: Mapping[str, int]
    """Messages by reason, most frequent first."""
    reply_states: Mapping[str, int]
    uncertain: Sequence[ReplyProblem] = ()
    failed: Sequence[ReplyProblem] = ()
    watched: Sequence[str] = ()
    """The names of the config's watched ``[[network]]`` entries, in its order."""
    watchers: Sequence[WatcherState] = ()
    """Every watcher's recorded state (entries no longer watched too)."""
    notices: Sequence[RoomNotice] = ()
    answering: str | None = None
    """Who answers new mail now, in words ([handoff]; from the state the daemon recorded, aged
    to ``now``: a lease that ran out means the server answers)."""


def _at(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M:%S}"


def _phase(f: StatusFacts) -> str:
    if f.now < f.window_start:
        return "before the away window (armed)"
    if f.now < f.window_end:
        return "inside the away window"
    return "the away window is over"


def status_lines(f: StatusFacts) -> list[str]:
    """Every line of ``ooo status`` for a responder that has state."""
    tz = f.timezone
    lines = [
        f"window:   {f.window_start.astimezone(tz):%Y-%m-%d %H:%M} → "
        f"{f.window_end.astimezone(tz):%Y-%m-%d %H:%M} {tz.key} ({_phase(f)})"
    ]
    state = f.status.get("state")
    if state:
        lines.append(f"daemon:   {state[0]} (as of {_at(state[1], tz)})")
    lines.append(f"process:  {f'running, pid {f.pid}' if f.pid else 'not running'}")
    baseline = f" (baseline #{f.epoch})" if f.epoch else ""
    lines.append(f"cursor:   {f.cursor or '(none yet)'}{baseline}")
    total = sum(f.counts.values())
    lines.append(f"messages: {total} seen, {f.counts.get('reply', 0)} answered")
    for reason, n in f.counts.items():
        if reason != "reply":
            lines.append(f"  {n:>5}  {reason:<26} {DESCRIPTIONS.get(Reason(reason), '')}")
    states = ", ".join(f"{n} {s}" for s, n in sorted(f.reply_states.items()))
    lines.append("replies:  " + (states or "none"))
    for p in f.uncertain:
        lines.append(f"  uncertain: to {p.recipient} ({p.subject[:50]!r}): {p.error}")
    for p in f.failed:
        lines.append(f"  failed: to {p.recipient}: {p.error}")
    valve = f.status.get("valve")
    if valve:
        lines.append(f"valve:    {valve[0]} (as of {_at(valve[1], tz)})")
    err = f.status.get("last_error")
    if err:
        lines.append(f"last error: {err[0]} (at {_at(err[1], tz)})")
    cerr = f.status.get("config_error")
    if cerr:
        lines.append(
            f"config error: {cerr[0]} (since {_at(cerr[1], tz)}; "
            "the daemon runs on the last good config)"
        )
    inbox = f.status.get("inbox_report")  # ooo.inbox: an APPEND that failed, retried
    if inbox:
        lines.append(
            f"report:   {inbox[0]} (since {_at(inbox[1], tz)}; tried again at the next run, "
            "`ooo run --once`)"
        )
    return lines + handoff_lines(f) + network_lines(f)


def handoff_lines(f: StatusFacts) -> list[str]:
    """Who answers now (ooo, or the mail server since when and why), and the handoff's last
    problem; nothing when no handoff ever ran."""
    if not f.answering:
        return []
    lines = [f"answering: {f.answering}"]
    err = f.status.get("handoff_error")
    if err:
        lines.append(f"handoff error: {err[0]} (at {_at(err[1], f.timezone)})")
    return lines


#: What each watcher state means, in the owner's words.
_STATES = {
    "starting": "starting",
    "ok": "ok",
    "backoff": "backing off",
    "auth": "sign-in refused: fix its token or password (tried again hourly)",
    "stopped": "stopped",
}
#: Notices listed one by one at most, per state (the rest are counted).
NOTICES_LISTED = 5


def network_lines(f: StatusFacts) -> list[str]:
    """The network watchers and the room notices, apart from the mailbox (nothing when
    nothing is watched)."""
    lines = []
    states = {w.watcher: w for w in f.watchers}
    names = [*f.watched, *(n for n in states if n not in f.watched)]
    if names:
        lines.append(f"networks: {len(f.watched)} watched (apart from the mailbox)")
        for name in names:
            lines += _watcher_lines(name, states.get(name), name in f.watched, f)
    if f.notices:
        counts = {s: sum(n.state == s for n in f.notices) for s in ("posted", "posting", "failed")}
        lines.append(
            f"room notices: {counts['posted']} posted, {counts['posting']} pending, "
            f"{counts['failed']} failed"
        )
        for state, label in (("posting", "pending"), ("failed", "failed")):
            listed = [n for n in f.notices if n.state == state]
            for n in listed[:NOTICES_LISTED]:
                tries = f", attempt {n.attempts}" if state == "posting" else ""
                why = f": {plain(n.last_error)}" if n.last_error else ""
                lines.append(f"  {label + ':':<8} {n.ref} in {plain(n.room)}{tries}{why}")
            if len(listed) > NOTICES_LISTED:
                lines.append(f"  {'':<8} and {len(listed) - NOTICES_LISTED} more")
    return lines


def _watcher_lines(name: str, w: WatcherState | None, watched: bool, f: StatusFacts) -> list[str]:
    if w is None:
        return [f"  {plain(name)}: not polled yet (the daemon polls it when it runs)"]
    tz = f.timezone
    state = _STATES.get(w.state, plain(w.state))
    if w.state == "backoff" and w.attempts:
        state += f", attempt {w.attempts}"
    if w.retry_after:
        state += f" (the service asked to wait {human_duration(timedelta(seconds=w.retry_after))})"
    if not watched:
        state += " (no longer watched in the config)"
    lines = [f"  {plain(name)}: {state}"]
    if w.last_poll is not None:
        poll = _at(w.last_poll, tz)
        if w.last_ok is None:
            poll += " (never ok yet)"
        elif w.last_ok != w.last_poll:
            poll += f" (last ok {_at(w.last_ok, tz)})"
        if w.next_poll is not None and w.state != "stopped":
            poll += f", next {_at(w.next_poll, tz)} ({_until(w.next_poll, f.now)})"
        lines.append(f"    last poll:  {poll}")
    if w.last_error and w.state != "ok":
        lines.append(f"    last error: {plain(w.last_error)}")
    return lines


def _until(moment: datetime, now: datetime) -> str:
    if moment <= now:
        return "due"
    return f"in {human_duration(moment - now)}"


def fallback_lines(state_dir: Path, pid: int | None, status: StatusTable) -> list[str]:
    """What ``ooo status`` can still say while the config file is invalid: whether a daemon
    holds the state dir (it runs on its last good config), its state and the config error.
    Without the config there is no owner's time zone: times are shown as stored."""
    running = f"running as pid {pid}" if pid else "not running"
    lines = [f"daemon:   {running} (state {state_dir})"]
    for key in ("state", "config_error"):
        if key in status:
            value, at = status[key]
            lines.append(f"{key.replace('_', ' ')}: {value} (as of {at:%Y-%m-%d %H:%M:%S %Z})")
    return lines
