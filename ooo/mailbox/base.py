"""The small interface every mailbox backend implements.

The engine talks to a mailbox only through :class:`Mailbox`; it never imports
``imapclient`` or ``exchangelib``. A backend adds a module here, not a branch in
the engine. Backends map their library's errors to :class:`MailboxError`
subclasses at this boundary (``raise MailboxUnavailable(...) from exc``).

Cursors are opaque strings owned by the backend (IMAP: ``"UIDVALIDITY:LASTUID"``).
The engine stores them and hands them back; it never parses them.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

# Re-exported: the cap lives with the parser, which judges a cut header block.
from ooo.core.parse import HEADER_CAP as HEADER_CAP
from ooo.errors import OooError


class MailboxError(OooError):
    """A mailbox operation failed."""


class MailboxUnavailable(MailboxError):
    """The server cannot be reached or dropped the connection: retry with backoff."""


class MailboxAuthError(MailboxError):
    """The server refused the credentials: retrying will not help until the user acts."""


class CursorInvalid(MailboxError):
    """The stored cursor no longer means anything (UIDVALIDITY changed): re-baseline."""


#: Bytes of body kept per message (headers are always fetched whole, up to HEADER_CAP).
BODY_CAP = 64 * 1024


@dataclass(frozen=True)
class FetchedMessage:
    """One message as a backend hands it to the engine: raw bytes, nothing parsed."""

    key: str
    """Stable id of the message in this folder (IMAP: the UID as a decimal string)."""
    headers: bytes
    """The raw header block (RFC 5322), at most HEADER_CAP bytes."""
    body: bytes
    """The first BODY_CAP bytes of the body (may be empty)."""
    received_at: datetime | None
    """When the server received it (IMAP INTERNALDATE), timezone-aware, if known."""
    size: int = 0
    """Full size in octets as the server reports it."""
    keywords: frozenset[str] = frozenset()
    """Its keywords when fetched, in the same round trip (IMAP FLAGS minus system flags such as
    ``\\Seen``; Exchange categories as keywords, see ews.category_to_keyword). ``$OooServer``
    means the mail server answered it in ooo's place (ooo.handoff)."""


@dataclass(frozen=True)
class Batch:
    """What :meth:`Mailbox.fetch_new` returns: messages after the cursor, oldest first."""

    messages: list[FetchedMessage]
    cursor: str
    """Cursor positioned after the last message in ``messages`` (or unchanged)."""


@dataclass(frozen=True)
class Watching:
    """What an open mailbox watches and how it learns of new mail (``ooo check`` shows it)."""

    folders: tuple[str, ...]
    """The folders watched, patterns resolved (``Clients/*`` -> ``Clients/acme``, ...)."""
    how: str
    """``"NOTIFY"``, ``"IDLE"``, ``"IDLE, one connection per folder"``, ``"polling every 60 s"``."""
    problems: tuple[str, ...] = ()
    """A pattern that matches nothing, a folder that does not exist (also logged as errors)."""
    skipped: tuple[str, ...] = ()
    """Folders a pattern matched that are never watched (Sent, Drafts, Trash, Junk), and why."""


#: Folder names that hold the owner's own or unwanted mail, when a server does not mark them
#: with SPECIAL-USE (RFC 6154): compared with a folder's last name, case-insensitively.
NEVER_WATCHED_NAMES = frozenset(
    {
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "drafts",
        "trash",
        "deleted items",
        "deleted messages",
        "junk",
        "junk e-mail",
        "junk email",
        "spam",
        "bulk mail",
    }
)


def is_pattern(folder: str) -> bool:
    """Whether a configured folder is an IMAP LIST pattern (``*``: anything, ``%``: anything
    but the hierarchy delimiter)."""
    return "*" in folder or "%" in folder


def several(folders: Sequence[str]) -> bool:
    """Whether a folder list needs the several-folder cursor and keys (more than one name, or
    a pattern); one plain name keeps the single-folder ones of earlier versions."""
    return len(folders) != 1 or is_pattern(folders[0])


def qualified_key(folder: str, key: str) -> str:
    """A message's key when several folders are watched: ``"Clients/acme:42"``. The engine
    stores it as it is; the backend finds the folder again with :func:`split_key`."""
    return f"{folder}:{key}"


def split_key(key: str) -> tuple[str, str]:
    """``"Clients/acme:42"`` -> ``("Clients/acme", "42")``. The key part has no colon (a UID,
    a counter), so the last one separates them whatever the folder is called."""
    folder, sep, local = key.rpartition(":")
    if not sep or not folder or not local:
        raise ValueError(f"not a key of a watched folder: {key!r}")
    return folder, local


_FOLDERS_PREFIX = "folders:"


@dataclass
class FolderCursors:
    """The cursor of several watched folders: each folder's validity and last key seen, and
    the ``since`` of the baseline (a folder that appears later is read from it).

    Encoded as ``"folders:"`` plus JSON; the engine stores and returns it like any cursor."""

    since: datetime
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)

    def encode(self) -> str:
        data = {
            "since": self.since.isoformat(),
            "at": {name: f"{v}:{last}" for name, (v, last) in sorted(self.positions.items())},
        }
        return _FOLDERS_PREFIX + json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str) -> FolderCursors:
        """Raises CursorInvalid for anything that is not such a cursor (a single-folder one
        from an earlier config included)."""
        try:
            if not cursor.startswith(_FOLDERS_PREFIX):
                raise ValueError("not a cursor of several folders")
            data = json.loads(cursor[len(_FOLDERS_PREFIX) :])
            since = datetime.fromisoformat(data["since"])
            if since.tzinfo is None:
                raise ValueError("since has no timezone")
            positions: dict[str, tuple[int, int]] = {}
            for name, value in data["at"].items():
                validity, sep, last = str(value).partition(":")
                if not sep or not validity.isdigit() or not last.isdigit():
                    raise ValueError(f"bad position {value!r}")
                positions[str(name)] = (int(validity), int(last))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            what = f"malformed cursor of several folders {cursor[:80]!r}: {exc}"
            raise CursorInvalid(what) from exc
        return cls(since, positions)


def describe_cursor(cursor: str | None) -> str | None:
    """A cursor as ``ooo status`` shows it: several folders' one as ``INBOX 7:42, Clients/acme
    9:3`` (validity:last per folder); any other as it is."""
    if cursor is None or not cursor.startswith(_FOLDERS_PREFIX):
        return cursor
    try:
        positions = FolderCursors.decode(cursor).positions
    except CursorInvalid:
        return cursor
    return ", ".join(f"{name} {v}:{last}" for name, (v, last) in positions.items()) or cursor


class Mailbox(abc.ABC):
    """A watched mail folder. Not thread-safe; one engine drives one mailbox."""

    name: str = "mailbox"
    stable_keys: bool = False
    """A message keeps its key when the cursor is lost (Exchange item ids do; IMAP UIDs do not
    survive a UIDVALIDITY change): the engine then recognises a re-read message by its key."""

    @abc.abstractmethod
    def open(self) -> None:
        """Connect, log in and select the folder. Idempotent.

        Raises MailboxUnavailable (retry later) or MailboxAuthError (tell the user).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Log out and drop the connection. Never raises."""

    @abc.abstractmethod
    def baseline(self, since: datetime) -> str:
        """Return a cursor from which fetch_new yields messages received at or after ``since``.

        Used on first start (``since`` = the start of the away window) and after
        CursorInvalid. It may include a few messages from slightly before ``since``
        (IMAP SEARCH SINCE has day granularity); the engine filters by received_at.
        """

    @abc.abstractmethod
    def fetch_new(self, cursor: str, limit: int = 100) -> Batch:
        """Up to ``limit`` messages after ``cursor``, oldest first, headers fetched
        without setting \\Seen. Raises CursorInvalid when the cursor is stale."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> bool:
        """Block until the folder may have changed or ``timeout`` seconds pass.

        Returns True when woken by the server (new mail), False on timeout. A backend
        without push simply sleeps. Raises MailboxUnavailable on a dead connection.
        """

    def interrupt(self) -> None:  # noqa: B027 - an optional hook: nothing is the right default
        """Cut a wait() running in another thread short (a daemon of several accounts stops or
        reloads one): that wait() then raises MailboxUnavailable, or returns, soon; the
        caller closes and reopens. Never raises. By default nothing: wait() ends at its
        timeout."""

    @abc.abstractmethod
    def tag(self, key: str, keyword: str) -> None:
        """Add a keyword (IMAP ``$Keyword``; Exchange category) to a message."""

    @abc.abstractmethod
    def untag(self, key: str, keyword: str) -> None:
        """Remove a keyword from a message (nothing if it does not carry it)."""

    def append_many(self, folder: str, raws: Sequence[bytes], seen: bool = True) -> None:
        """append() for many messages; IMAP does it in one MULTIAPPEND where offered."""
        for raw in raws:
            self.append(folder, raw, seen)

    def tag_many(self, keys: Sequence[str], keyword: str) -> None:
        """tag() for many messages; a backend that can do it in one round trip overrides it
        (after a burst, one command instead of a thousand)."""
        for key in keys:
            self.tag(key, keyword)

    def untag_many(self, keys: Sequence[str], keyword: str) -> None:
        """untag() for many messages (see tag_many)."""
        for key in keys:
            self.untag(key, keyword)

    @abc.abstractmethod
    def keywords(self, key: str) -> set[str]:
        """The keywords a message carries now (for tests and status)."""

    @abc.abstractmethod
    def append(self, folder: str, raw: bytes, seen: bool = True) -> None:
        """Store a copy of a message (a sent reply) in another folder."""

    @abc.abstractmethod
    def correspondents(self, folder: str, limit: int = 20_000) -> set[str]:
        """Lowercase addresses in To/Cc/Bcc of the newest ``limit`` messages of ``folder``
        (with the Sent folder: everyone the owner has written to). A missing folder gives an
        empty set. The watched folder stays selected afterwards."""

    def watching(self) -> Watching:
        """What the open mailbox watches and how (``ooo check``); backends say more."""
        return Watching((str(getattr(self, "folder", "")),), self.name)

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append_to_inbox(self, raw: bytes) -> None:
        """Put a message of ooo's own (the end-of-window report) into the owner's inbox,
        unread: IMAP APPEND to INBOX without \\Seen, an Exchange item in the Inbox."""
        self.append("INBOX", raw, seen=False)  # the name every backend knows

    def inbox_holds(self, message_id: str) -> bool:
        """Whether the owner's inbox holds a message with this Message-ID already: a report an
        earlier run put there before it could record so (it stopped in between). False where
        a backend cannot tell; the report is then put there again."""
        return False
