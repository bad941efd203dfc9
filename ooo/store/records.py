"""What the store hands out: typed records, never database rows.

Times are timezone-aware datetimes (stored as ISO 8601 in UTC), lists are tuples, and every
field is named: a typo is a type error, not a KeyError at run time. :func:`from_row` reads any
of these records from a row, field by field, by each field's type.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from ooo.core.tracking import SignalEvent

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

#: How the store joins a list column into one text column (an address holds neither).
SEPARATORS = {"participants": " ", "cc": ","}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def required_time(text: str) -> datetime:
    """A time from a NOT NULL column."""
    moment = from_iso(text)
    assert moment is not None
    return moment


def from_row(record: type[R], row: sqlite3.Row) -> R:
    """A record (a dataclass) from a row that has a column for each of its fields."""
    return record(**{name: read(row[name]) for name, read in _readers(record)})


@functools.cache
def _readers(record: type[DataclassInstance]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = get_type_hints(record)
    return tuple((f.name, _reader(f.name, hints[f.name])) for f in fields(record))


def _reader(name: str, kind: object) -> Callable[[Any], Any]:
    """How a column is read into a field of this type: times from ISO 8601, lists from their
    joined text, a NULL text as "", flags from integers; anything else as stored."""
    if kind is datetime:
        return required_time
    if kind == datetime | None:
        return from_iso
    if kind is str:
        return lambda value: value or ""
    if kind == tuple[str, ...]:
        sep = SEPARATORS[name]
        return lambda value: tuple(part for part in (value or "").split(sep) if part)
    if kind is bool or kind is bytes:
        return kind  # a type is its own converter
    return lambda value: value


@dataclass(frozen=True)
class OutboxItem:
    id: int
    recipient: str
    message_id: str
    envelope_from: str
    raw: bytes
    attempts: int
    message_key: str
    kind: str = "reply"
    """"reply" to the sender, or "forward" to a delegate."""
    cc: tuple[str, ...] = ()

    @property
    def recipients(self) -> list[str]:
        return [self.recipient, *self.cc]


@dataclass(frozen=True)
class MessageRecord:
    """One message as decided: the ``message`` table."""

    id: int
    mailbox: str
    epoch: int
    key: str
    message_id: str | None
    sender: str | None
    from_name: str
    subject: str
    received_at: datetime | None
    decided_at: datetime
    reason: str
    detail: str
    ref: str | None
    """Set for an inquiry (its reference)."""
    audience: str | None
    route: str | None
    delegate: str | None
    follows: str | None
    """Set for a follow-up: the reference of the inquiry it belongs to."""
    tagged: str | None
    """The status last mirrored on the message as a keyword (None: never tagged)."""
    participants: tuple[str, ...]
    """An inquiry's sender and recipients (not the owner): who may cite its reference."""


@dataclass(frozen=True)
class ReplyRecord:
    """One outgoing message (a reply, or a forward to a delegate): the ``reply`` table, with
    the subject and key of the message it answers."""

    id: int
    message: int
    """The id of the MessageRecord it answers."""
    recipient: str
    message_id: str
    envelope_from: str
    raw: bytes
    state: str
    """queued, sending, sent, uncertain or failed."""
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    kind: str
    cc: tuple[str, ...]
    subject: str
    message_key: str


@dataclass(frozen=True)
class TagTask:
    """An inquiry whose mailbox keyword may lag behind its derived status."""

    id: int
    mailbox: str
    epoch: int
    key: str
    ref: str
    tagged: str | None
    status: str
    """open or resolved: what the keyword should say."""


@dataclass(frozen=True)
class InterruptedSend:
    """A reply found in ``sending`` at start-up: cut off mid-send by a crash."""

    id: int
    recipient: str
    message_id: str


@dataclass(frozen=True)
class SignalRecord(SignalEvent):
    """A stored signal (ooo.core.tracking.SignalEvent)."""
