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
from collections.abc import Sequence
from dataclasses import dataclass
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

    def interrupt(self) -> None:
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

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append_to_inbox(self, raw: bytes) -> None:
        """Put a message of ooo's own (the end-of-window report) into the owner's inbox,
        unread: IMAP APPEND to INBOX without \\Seen, an Exchange item in the Inbox."""
        self.append("INBOX", raw, seen=False)  # the name every backend knows
