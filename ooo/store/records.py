"""What the store hands out: typed records, never database rows.

Times are timezone-aware datetimes (stored as ISO 8601 in UTC), lists are tuples, and every
field is named: a typo is a type error, not a KeyError at run time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from ooo.core.tracking import SignalEvent


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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


class _ByName:
    """``record["field"]`` as well as ``record.field``: a bridge for callers written against
    the rows the store used to return; new code uses attributes."""

    def __getitem__(self, name: str) -> object:
        return getattr(self, name)


def _tuple(text: str | None, sep: str) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(sep) if part)


@dataclass(frozen=True)
class MessageRecord(_ByName):
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

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> MessageRecord:
        decided = from_iso(r["decided_at"])
        assert decided is not None
        return cls(
            id=r["id"],
            mailbox=r["mailbox"],
            epoch=r["epoch"],
            key=r["key"],
            message_id=r["message_id"],
            sender=r["sender"],
            from_name=r["from_name"] or "",
            subject=r["subject"] or "",
            received_at=from_iso(r["received_at"]),
            decided_at=decided,
            reason=r["reason"],
            detail=r["detail"],
            ref=r["ref"],
            audience=r["audience"],
            route=r["route"],
            delegate=r["delegate"],
            follows=r["follows"],
            tagged=r["tagged"],
            participants=_tuple(r["participants"], " "),
        )


@dataclass(frozen=True)
class ReplyRecord(_ByName):
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

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> ReplyRecord:
        created = from_iso(r["created_at"])
        assert created is not None
        return cls(
            id=r["id"],
            message=r["message"],
            recipient=r["recipient"],
            message_id=r["message_id"],
            envelope_from=r["envelope_from"],
            raw=bytes(r["raw"]),
            state=r["state"],
            attempts=r["attempts"],
            next_attempt_at=from_iso(r["next_attempt_at"]),
            last_error=r["last_error"],
            created_at=created,
            sent_at=from_iso(r["sent_at"]),
            kind=r["kind"],
            cc=_tuple(r["cc"], ","),
            subject=r["subject"] or "",
            message_key=r["message_key"],
        )


@dataclass(frozen=True)
class TagTask(_ByName):
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
class InterruptedSend(_ByName):
    """A reply found in ``sending`` at start-up: cut off mid-send by a crash."""

    id: int
    recipient: str
    message_id: str


@dataclass(frozen=True)
class SignalRecord(SignalEvent, _ByName):
    """A stored signal (ooo.core.tracking.SignalEvent)."""
