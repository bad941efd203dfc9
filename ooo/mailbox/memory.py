"""An in-memory mailbox: a real backend for the demo, and the fake the unit tests drive.

It behaves like a small IMAP server seen through :class:`~ooo.mailbox.base.Mailbox`:
keys are increasing integers as strings (like UIDs), cursors are ``"VALIDITY:LASTKEY"``,
a bumped :attr:`MemoryMailbox.validity` invalidates old cursors, and an outage
(:attr:`MemoryMailbox.available` set to False, or :meth:`MemoryMailbox.fail_next`) drops
the "connection" so the engine has to ``open()`` again, exactly as after a real server kick.

Tests and the demo may call :meth:`MemoryMailbox.deliver` from another thread while the
engine blocks in :meth:`MemoryMailbox.wait`; every piece of state is guarded by one
condition variable for that reason, even though the engine side is single-threaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ooo.core.parse import parse
from ooo.mailbox.base import (
    BODY_CAP,
    HEADER_CAP,
    Batch,
    CursorInvalid,
    FetchedMessage,
    Mailbox,
    MailboxAuthError,
    MailboxError,
    MailboxUnavailable,
)

SEEN = "\\Seen"


@dataclass
class StoredMessage:
    """One message as the in-memory server keeps it."""

    key: str
    raw: bytes
    received_at: datetime
    flags: set[str] = field(default_factory=set)

    @property
    def seen(self) -> bool:
        return SEEN in self.flags

    @property
    def keywords(self) -> set[str]:
        """Flags that are keywords (``$Foo``), not system flags (``\\Seen``)."""
        return {f for f in self.flags if not f.startswith("\\")}


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """Split raw RFC 5322 bytes into (header block with its blank line, body).

    Matches what IMAP ``BODY[HEADER]`` / ``BODY[TEXT]`` return, so both backends hand the
    engine the same shape. Whichever blank line (CRLF or bare LF) comes first ends the header.
    """
    ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    if not ends:
        return raw, b""
    index, length = min(ends)
    return raw[: index + length], raw[index + length :]


class MemoryMailbox(Mailbox):
    """A watched folder (plus any folders ``append`` creates) held in memory.

    ``folder`` names the watched folder. Set :attr:`credentials_valid` to False to make
    ``open()`` raise MailboxAuthError, as a server refusing the password would.
    """

    name = "memory"

    def __init__(self, folder: str = "INBOX", *, credentials_valid: bool = True) -> None:
        self.folder = folder
        self.credentials_valid = credentials_valid
        self.validity = 1
        self._cond = threading.Condition()
        self._folders: dict[str, list[StoredMessage]] = {folder: []}
        self._next_key = 1
        self._connected = False
        self._available = True
        # Mail delivered since the last fetch_new: what an IMAP client learns from an
        # untagged EXISTS. wait() returns at once while it is set.
        self._arrived = False
        self._failures: list[MailboxError] = []
        #: How many times open() connected successfully (tests check reconnects).
        self.open_count = 0

    # -- test and demo API -------------------------------------------------------------

    def deliver(
        self, raw: bytes, received_at: datetime | None = None, keywords: Iterable[str] = ()
    ) -> str:
        """Put a message into the watched folder, wake a waiting engine, return its key.
        ``keywords``: flags set at delivery, as a server-side Sieve script sets them."""
        with self._cond:
            key = self._store(self.folder, raw, received_at, set(keywords))
            self._arrived = True
            self._cond.notify_all()
            return key

    @property
    def messages(self) -> list[StoredMessage]:
        """The watched folder's messages, oldest first (live objects: flags are visible)."""
        return self.folder_messages(self.folder)

    def folder_messages(self, folder: str) -> list[StoredMessage]:
        """Messages of any folder (``[]`` if it does not exist), oldest first."""
        with self._cond:
            return list(self._folders.get(folder, []))

    def message(self, key: str) -> StoredMessage:
        """The watched folder's message with this key; KeyError if there is none."""
        with self._cond:
            for msg in self._folders[self.folder]:
                if msg.key == key:
                    return msg
        raise KeyError(key)

    def reset_validity(self) -> None:
        """Bump the validity, as a server rebuilding its UID index does: old cursors die."""
        with self._cond:
            self.validity += 1

    @property
    def available(self) -> bool:
        """Whether the "server" is up. Setting False drops the connection, like a crash."""
        return self._available

    @available.setter
    def available(self, up: bool) -> None:
        with self._cond:
            self._available = up
            if not up:
                self._connected = False
            # A waiting engine must notice the outage now, not at its timeout.
            self._cond.notify_all()

    def fail_next(self, n: int, exc: MailboxError | None = None) -> None:
        """Make the next ``n`` server operations raise ``exc`` (default MailboxUnavailable).

        A MailboxUnavailable also drops the connection, so the engine must reopen.
        """
        with self._cond:
            failure = exc if exc is not None else MailboxUnavailable("memory: injected failure")
            self._failures.extend([failure] * n)
            self._cond.notify_all()

    @property
    def connected(self) -> bool:
        return self._connected

    # -- Mailbox -------------------------------------------------------------------------

    def open(self) -> None:
        with self._cond:
            if self._connected:
                return
            self._maybe_fail()
            if not self._available:
                raise MailboxUnavailable("memory: server unavailable")
            if not self.credentials_valid:
                raise MailboxAuthError("memory: credentials refused")
            self._connected = True
            self.open_count += 1

    def close(self) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def baseline(self, since: datetime) -> str:
        with self._cond:
            self._check_connection()
            msgs = self._folders[self.folder]
            last = int(msgs[-1].key) if msgs else 0
            for msg in msgs:
                if msg.received_at >= since:
                    last = int(msg.key) - 1
                    break
            return f"{self.validity}:{last}"

    def fetch_new(self, cursor: str, limit: int = 100) -> Batch:
        with self._cond:
            self._check_connection()
            last = self._parse_cursor(cursor)
            pending = [m for m in self._folders[self.folder] if int(m.key) > last]
            newer = pending[: max(limit, 0)]
            # Mail this batch leaves behind stays "announced", as an IMAP server's EXISTS
            # does: the next wait() returns at once instead of sleeping on it.
            self._arrived = len(pending) > len(newer)
            fetched = [_to_fetched(m) for m in newer]
            new_cursor = f"{self.validity}:{newer[-1].key}" if newer else cursor
            return Batch(messages=fetched, cursor=new_cursor)

    def wait(self, timeout: float) -> bool:
        with self._cond:
            self._check_connection()
            # wait_for checks the predicate first, so mail that came during the previous
            # fetch returns True at once: the EXISTS race an IMAP client must also handle.
            self._cond.wait_for(
                lambda: self._arrived or not self._connected or bool(self._failures),
                timeout=max(timeout, 0.0),
            )
            self._check_connection()
            return self._arrived

    def tag(self, key: str, keyword: str) -> None:
        self._set_flag(key, keyword, present=True)

    def untag(self, key: str, keyword: str) -> None:
        self._set_flag(key, keyword, present=False)

    def _set_flag(self, key: str, keyword: str, *, present: bool) -> None:
        with self._cond:
            self._check_connection()
            for msg in self._folders[self.folder]:
                if msg.key == key:
                    if present:
                        msg.flags.add(keyword)
                    else:
                        msg.flags.discard(keyword)
            # Like IMAP STORE on an expunged UID: silently nothing.

    def keywords(self, key: str) -> set[str]:
        with self._cond:
            self._check_connection()
            for msg in self._folders[self.folder]:
                if msg.key == key:
                    return msg.keywords
            return set()

    def append(self, folder: str, raw: bytes, seen: bool = True) -> None:
        with self._cond:
            self._check_connection()
            self._store(folder, raw, None, {SEEN} if seen else set())
            if folder == self.folder:
                self._arrived = True
                self._cond.notify_all()

    def correspondents(self, folder: str, limit: int = 20_000) -> set[str]:
        with self._cond:
            self._check_connection()
            messages = list(self._folders.get(folder, []))[-limit:]
        found: set[str] = set()
        for msg in messages:
            found.update(parse(folder, split_message(msg.raw)[0]).recipients)
        return found

    # -- internals -----------------------------------------------------------------------

    def _store(self, folder: str, raw: bytes, received_at: datetime | None, flags: set[str]) -> str:
        # One key sequence across folders keeps keys unique, which is all IMAP promises.
        key = str(self._next_key)
        self._next_key += 1
        when = received_at if received_at is not None else datetime.now(UTC)
        self._folders.setdefault(folder, []).append(StoredMessage(key, bytes(raw), when, flags))
        return key

    def _maybe_fail(self) -> None:
        if self._failures:
            exc = self._failures.pop(0)
            if isinstance(exc, MailboxUnavailable):
                self._connected = False
            raise exc

    def _check_connection(self) -> None:
        self._maybe_fail()
        if not self._available:
            self._connected = False
            raise MailboxUnavailable("memory: server unavailable")
        if not self._connected:
            raise MailboxUnavailable("memory: not connected (call open() first)")

    def _parse_cursor(self, cursor: str) -> int:
        validity, sep, last = cursor.partition(":")
        if not sep or not validity.isdigit() or not last.isdigit():
            raise CursorInvalid(f"memory: malformed cursor {cursor!r}")
        if int(validity) != self.validity:
            raise CursorInvalid(
                f"memory: cursor validity {validity} is stale (now {self.validity})"
            )
        return int(last)


def _to_fetched(msg: StoredMessage) -> FetchedMessage:
    headers, body = split_message(msg.raw)
    return FetchedMessage(
        key=msg.key,
        headers=headers[:HEADER_CAP],
        body=body[:BODY_CAP],
        received_at=msg.received_at,
        size=len(msg.raw),
        keywords=frozenset(msg.keywords),
    )
