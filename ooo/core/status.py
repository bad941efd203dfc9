"""What ``ooo status`` says: the lines, from plain facts the command gathered.

Pure: the window, the daemon's last recorded state, the process holding the state lock, the
mailbox cursor, the counts by reason, the replies, the flood valve and the last errors arrive
as data (:class:`StatusFacts`), with ``now``; nothing here reads the store, the config or the
clock. Times are shown in the owner's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ooo.core.policy import DESCRIPTIONS, Reason

#: The store's status table: key -> (value, when it was set).
StatusTable = Mapping[str, tuple[str, datetime]]


@dataclass(frozen=True)
class ReplyProblem:
    """A reply that did not go out as it should (uncertain or failed)."""

    recipient: str
    subject: str
    error: str | None


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
    return lines


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
