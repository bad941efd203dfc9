"""An in-memory mailbox: a real backend for the demo, and the fake the unit tests drive.

It behaves like a small IMAP server seen through :class:`~ooo.mailbox.base.Mailbox`:
keys are increasing integers as strings (like UIDs), cursors are ``"VALIDITY:LASTKEY"``,
a bumped :attr:`MemoryMailbox.validity` invalidates old cursors, and an outage
(:attr:`MemoryMailbox.available` set to False, or :meth:`MemoryMailbox.fail_next`) drops
the "connection" so the engine has to ``open()`` again, exactly as after a real server kick.

With ``folders`` (several names, or LIST patterns such as ``"Clients/*"``) it watches several
folders as the IMAP backend does: keys are ``"FOLDER:KEY"``, the cursor is a
:class:`~ooo.mailbox.base.FolderCursors`, each folder has its own validity
(:meth:`MemoryMailbox.reset_validity` takes one), patterns are matched again at every fetch,
and Sent, Drafts, Trash and Junk are never watched.

Tests and the demo may call :meth:`MemoryMailbox.deliver` from another thread while the
engine blocks in :meth:`MemoryMailbox.wait`; every piece of state is guarded by one
condition variable for that reason, even though the engine side is single-threaded.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ooo.core.parse import parse
from ooo.mailbox.base import (
    BODY_CAP,
    HEADER_CAP,
    NEVER_WATCHED_NAMES,
    Batch,
    CursorInvalid,
    FetchedMessage,
    FolderCursors,
    Mailbox,
    MailboxAuthError,
    MailboxError,
    MailboxUnavailable,
    Watching,
    is_pattern,
    qualified_key,
    several,
    split_key,
)

log = logging.getLogger("ooo")

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

    def __init__(
        self,
        folder: str = "INBOX",
        *,
        folders: Sequence[str] | None = None,
        credentials_valid: bool = True,
    ) -> None:
        self.patterns: tuple[str, ...] = tuple(folders) if folders else (folder,)
        #: Several folders (keys "FOLDER:KEY", a FolderCursors cursor), or one as before.
        self.several = several(self.patterns)
        # deliver() puts mail here unless told otherwise: the first folder named outright.
        self.folder = next((f for f in self.patterns if not is_pattern(f)), "INBOX")
        self.credentials_valid = credentials_valid
        self.validity = 1
        self._bumps: dict[str, int] = {}
        self._cond = threading.Condition()
        named = [f for f in (self.folder, *self.patterns) if not is_pattern(f)]
        self._folders: dict[str, list[StoredMessage]] = {name: [] for name in named}
        self._watched: list[str] = []
        self._problems: tuple[str, ...] = ()
        self._skipped: tuple[str, ...] = ()
        # The positions of the folders still valid when a cursor went stale: baseline() keeps
        # them, so one renumbered folder does not send the others back to the window's start.
        self._keep: FolderCursors | None = None
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
        self,
        raw: bytes,
        received_at: datetime | None = None,
        keywords: Iterable[str] = (),
        folder: str | None = None,
    ) -> str:
        """Put a message into the watched folder (or ``folder``, created if need be, as a
        Sieve ``fileinto`` does), wake a waiting engine, return its key (as fetch_new will
        name it). ``keywords``: flags set at delivery, as a server-side Sieve script sets them."""
        with self._cond:
            where = folder or self.folder
            key = self._store(where, raw, received_at, set(keywords))
            self._arrived = True
            self._cond.notify_all()
            return qualified_key(where, key) if self.several else key

    def create_folder(self, name: str) -> None:
        """Make an empty folder (as the owner's mail client would)."""
        with self._cond:
            self._folders.setdefault(name, [])
            self._arrived = True
            self._cond.notify_all()

    def delete_folder(self, name: str) -> None:
        """Remove a folder and its messages (as the owner's mail client would)."""
        with self._cond:
            self._folders.pop(name, None)
            self._cond.notify_all()

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
            found = self._find(key)
        if found is None:
            raise KeyError(key)
        return found

    def reset_validity(self, folder: str | None = None) -> None:
        """Bump the validity, as a server rebuilding its UID index does: old cursors die.
        ``folder``: only that folder's (several folders watched)."""
        with self._cond:
            if folder is None:
                self.validity += 1
            else:
                self._bumps[folder] = self._bumps.get(folder, 0) + 1

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
            if self.several:
                self._resolve()

    def close(self) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def baseline(self, since: datetime) -> str:
        with self._cond:
            self._check_connection()
            if self.several:
                keep, self._keep = self._keep, None
                cursors = FolderCursors(since, dict(keep.positions) if keep else {})
                for name in self._resolve():
                    if name not in cursors.positions:
                        cursors.positions[name] = (self._validity(name), self._since(name, since))
                return cursors.encode()
            return f"{self._validity(self.folder)}:{self._since(self.folder, since)}"

    def _since(self, folder: str, since: datetime) -> int:
        """The last key of ``folder`` before mail received at or after ``since``."""
        msgs = self._folders[folder]
        last = int(msgs[-1].key) if msgs else 0
        for msg in msgs:
            if msg.received_at >= since:
                return int(msg.key) - 1
        return last

    def fetch_new(self, cursor: str, limit: int = 100) -> Batch:
        with self._cond:
            self._check_connection()
            if self.several:
                return self._fetch_several(cursor, limit)
            last = self._parse_cursor(cursor)
            pending = [m for m in self._folders[self.folder] if int(m.key) > last]
            newer = pending[: max(limit, 0)]
            # Mail this batch leaves behind stays "announced", as an IMAP server's EXISTS
            # does: the next wait() returns at once instead of sleeping on it.
            self._arrived = len(pending) > len(newer)
            fetched = [_to_fetched(m) for m in newer]
            new_cursor = f"{self._validity(self.folder)}:{newer[-1].key}" if newer else cursor
            return Batch(messages=fetched, cursor=new_cursor)

    def _fetch_several(self, cursor: str, limit: int) -> Batch:
        cursors = FolderCursors.decode(cursor)
        positions = dict(cursors.positions)
        for name in self._resolve():
            position = positions.get(name)
            if position is not None and position[0] != self._validity(name):
                self._keep = FolderCursors(
                    cursors.since, {f: p for f, p in positions.items() if f != name}
                )
                raise CursorInvalid(
                    f"memory: folder {name!r} has validity {self._validity(name)}, the cursor "
                    f"was made for {position[0]}"
                )
        fetched: list[FetchedMessage] = []
        self._arrived = False
        for name in self._watched:
            validity, last = positions.get(name) or (
                self._validity(name),
                self._since(name, cursors.since),
            )
            pending = [m for m in self._folders[name] if int(m.key) > last]
            newer = pending[: max(limit - len(fetched), 0)]
            self._arrived = self._arrived or len(pending) > len(newer)
            fetched += [_to_fetched(m, name) for m in newer]
            positions[name] = (validity, int(newer[-1].key) if newer else last)
        return Batch(messages=fetched, cursor=FolderCursors(cursors.since, positions).encode())

    def watching(self) -> Watching:
        with self._cond:
            if not self.several:
                return Watching((self.folder,), "push (in memory)")
            return Watching(tuple(self._watched), "push (in memory)", self._problems, self._skipped)

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
            msg = self._find(key)
            # None: like IMAP STORE on an expunged UID, silently nothing.
            if msg is not None and present:
                msg.flags.add(keyword)
            elif msg is not None:
                msg.flags.discard(keyword)

    def keywords(self, key: str) -> set[str]:
        with self._cond:
            self._check_connection()
            msg = self._find(key)
            return msg.keywords if msg is not None else set()

    def append(self, folder: str, raw: bytes, seen: bool = True) -> None:
        with self._cond:
            self._check_connection()
            self._store(folder, raw, None, {SEEN} if seen else set())
            if folder == self.folder or folder in self._watched:
                self._arrived = True
                self._cond.notify_all()

    def inbox_holds(self, message_id: str) -> bool:
        with self._cond:
            self._check_connection()
            messages = list(self._folders.get("INBOX", []))
        wanted = message_id.strip()
        return any(parse("INBOX", split_message(m.raw)[0]).message_id == wanted for m in messages)

    def correspondents(self, folder: str, limit: int = 20_000) -> set[str]:
        with self._cond:
            self._check_connection()
            messages = list(self._folders.get(folder, []))[-limit:]
        found: set[str] = set()
        for msg in messages:
            found.update(parse(folder, split_message(msg.raw)[0]).recipients)
        return found

    # -- internals -----------------------------------------------------------------------

    def _validity(self, folder: str) -> int:
        return self.validity + self._bumps.get(folder, 0)

    def _find(self, key: str) -> StoredMessage | None:
        try:
            folder, local = split_key(key) if self.several else (self.folder, key)
        except ValueError:
            return None  # a key of an earlier single-folder setup: no folder to look in
        return next((m for m in self._folders.get(folder, []) if m.key == local), None)

    def _resolve(self) -> list[str]:
        """Match the configured names and patterns against the folders there are now, as the
        IMAP backend does with LIST; a problem is logged when it first appears."""
        watched: list[str] = []
        problems: list[str] = []
        skipped: list[str] = []
        for pattern in self.patterns:
            regex = _pattern_regex(pattern)
            names = [n for n in self._folders if regex.fullmatch(n)]
            kept = [n for n in names if n.rsplit("/", 1)[-1].lower() not in NEVER_WATCHED_NAMES]
            skipped += [f"{n} (never watched)" for n in names if n not in kept]
            if not kept:
                problems.append(
                    f"mailbox.folders: {pattern!r} matches no folder in memory"
                    if is_pattern(pattern)
                    else f"mailbox.folders: folder {pattern!r} does not exist in memory"
                )
            watched += [n for n in sorted(kept) if n not in watched]
        for problem in problems:
            if problem not in self._problems:
                log.error("%s; the other folders are watched", problem)
        self._watched, self._problems = watched, tuple(problems)
        self._skipped = tuple(dict.fromkeys(skipped))
        return watched

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
        if int(validity) != self._validity(self.folder):
            raise CursorInvalid(
                f"memory: cursor validity {validity} is stale (now {self._validity(self.folder)})"
            )
        return int(last)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """An IMAP LIST pattern as a regex ("/" is the hierarchy delimiter; INBOX has any case)."""
    parts = [".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern]
    regex = "".join(parts)
    if pattern.upper() == "INBOX":
        return re.compile(regex, re.IGNORECASE)
    return re.compile(regex)


def _to_fetched(msg: StoredMessage, folder: str | None = None) -> FetchedMessage:
    headers, body = split_message(msg.raw)
    return FetchedMessage(
        key=qualified_key(folder, msg.key) if folder else msg.key,
        headers=headers[:HEADER_CAP],
        body=body[:BODY_CAP],
        received_at=msg.received_at,
        size=len(msg.raw),
        keywords=frozenset(msg.keywords),
    )
