"""The small interface every network watcher implements, and the errors it may raise.

Like the mailboxes (``ooo.mailbox.base``): one module per network behind :class:`Watcher`
(``mastodon.py``, ``bluesky.py``, ``matrix.py``, and ``memory.py``, the in-memory one the demo
and the unit tests use). The runner (``ooo.networks.runner``) and the engine never import a
network library; matching a post to an inquiry is pure (``ooo.core.social``).

A watcher:

- :meth:`Watcher.fetch_new` returns the posts that arrived after a cursor (mentions of the
  owner, or a room's messages) and the cursor after them. Cursors are opaque strings the
  watcher owns; the runner stores them (``Store.network_cursor``) and hands them back. A
  first call (``cursor`` None) reads back to ``since``, the away window's start;
- :meth:`Watcher.thread` re-reads one followed thread (answers that did not mention the
  owner); :meth:`Watcher.search` looks for an inquiry's tag (a fallback, used sparingly);
- :meth:`Watcher.check` signs in read-only and says what it can see (for ``ooo check``).

A :class:`Poster` (Matrix only: ooo never posts publicly) also posts a notice and returns its
id.

Errors are mapped at the boundary, ``raise ... from exc``:

    OooError
    └── NetworkError              anything a watcher raises on purpose
        ├── NetworkUnavailable    down, slow, 5xx, 429: retry with backoff (retry_after: the
        │                         wait the service asked for, in seconds, if it said)
        └── NetworkAuthError      the token or password was refused (401, revoked), or the
                                  account may not read there: retrying will not help until
                                  the owner acts

Nothing a network returns may crash the caller: a post that cannot be read is skipped, a
response that makes no sense is a :class:`NetworkUnavailable`. Every string in a
:class:`Post` is one clean line except its text (see :func:`ooo.core.social.make_post`).
"""

from __future__ import annotations

import abc
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from ooo.core.social import Post, make_post
from ooo.errors import OooError

__all__ = [
    "Batch",
    "MemoryVault",
    "NetworkAuthError",
    "NetworkError",
    "NetworkUnavailable",
    "Post",
    "Poster",
    "Secret",
    "SessionVault",
    "Watcher",
    "make_post",
    "retry_after_from_headers",
]

Secret = Callable[[], str]
"""Returns the current token or password; called at each sign-in, never stored by a watcher
longer than the sign-in needs (a rotated secret is picked up without a restart)."""

MAX_RETRY_AFTER = 6 * 3600.0
"""A service asking for a longer pause than this is not believed (a hostile header)."""


class NetworkError(OooError):
    """A network watcher failed."""


class NetworkUnavailable(NetworkError):
    """The service is down, slow, failing (5xx) or rate-limiting (429): retry with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = _sane(retry_after)
        """Seconds the service asked us to wait, if it said (capped at six hours)."""


class NetworkAuthError(NetworkError):
    """The credentials were refused (401, a revoked token), or the account may not read the
    room: the owner must act; retrying soon will not help."""


@dataclass(frozen=True)
class Batch:
    """What :meth:`Watcher.fetch_new` returns: new posts (any order) and the next cursor."""

    posts: list[Post]
    cursor: str
    """Positioned after the posts returned (or unchanged when there were none)."""


class SessionVault(Protocol):
    """Where a watcher keeps a login session between runs (Bluesky's session string, a Matrix
    access token it obtained with a password), so it logs in only when it has no valid
    session: logins are rate-limited. The value is a secret: keep it in the keyring or a 0600
    file, never in a log or the state database."""

    def load(self) -> str | None:
        """The saved session, or None."""

    def save(self, value: str) -> None:
        """Keep ``value`` (replacing the previous one)."""

    def clear(self) -> None:
        """Forget the session (it was refused)."""


class MemoryVault:
    """A :class:`SessionVault` in memory: the default (nothing survives a restart), and the
    tests' one."""

    def __init__(self, value: str | None = None) -> None:
        self._value = value
        self._lock = threading.Lock()
        self.saves = 0
        """How many times a session was saved (tests check that logins are not repeated)."""

    def load(self) -> str | None:
        with self._lock:
            return self._value

    def save(self, value: str) -> None:
        with self._lock:
            self._value = value
            self.saves += 1

    def clear(self) -> None:
        with self._lock:
            self._value = None


class Watcher(abc.ABC):
    """One watched place: the owner's mentions on a service, or a room. Not thread-safe: one
    runner thread drives one watcher."""

    kind: str = "network"
    """mastodon, bluesky, matrix (a memory watcher impersonates one of them)."""
    name: str
    """The stable name the store keeps its cursor and state under
    (``NetworkEntry.watch_name``)."""
    rereads_threads: bool = True
    """Whether answers can be missed by :meth:`fetch_new` (they need not mention the owner),
    so the runner re-reads followed threads. False for a room: its timeline has them all."""
    search_interval: float | None = 0.0
    """Seconds between two tag searches (:meth:`search`); None: this watcher does not search
    (a room's timeline already has every message)."""

    @property
    def own(self) -> tuple[str, ...]:
        """The owner's handles here (known after :meth:`open`): their posts are recorded,
        never answers."""
        return ()

    @abc.abstractmethod
    def open(self) -> None:
        """Sign in (reusing a saved session where the service has them). Idempotent.

        Raises NetworkUnavailable (retry later) or NetworkAuthError (tell the owner).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Drop the connection (a saved session stays saved). Never raises."""

    @abc.abstractmethod
    def fetch_new(self, cursor: str | None, since: datetime) -> Batch:
        """Posts that arrived after ``cursor`` (all since ``since`` when it is None)."""

    def thread(self, root: str) -> list[Post]:
        """The posts of the thread under ``root`` (not the root itself), each with
        ``root`` set. A thread that is gone is empty."""
        return []

    def search(self, tag: str, since: datetime) -> list[Post]:
        """Recent posts carrying the hashtag ``tag`` (without "#"); [] when the service does
        not know the tag yet."""
        return []

    def cooldown(self) -> float | None:
        """Seconds the service asks us to wait before the next call (its rate-limit headers
        say the budget is nearly spent), or None."""
        return None

    @abc.abstractmethod
    def check(self) -> str:
        """Sign in read-only and say, in one line, who we are there and what we can see."""

    def __enter__(self) -> Watcher:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Poster(abc.ABC):
    """A place ooo may post to (an internal room, when the owner opted in with ``ask``)."""

    @abc.abstractmethod
    def post(self, text: str, html: str, *, txn_id: str) -> str:
        """Post a notice; return its id. ``txn_id`` makes a retry after a crash idempotent
        (the same notice is not posted twice)."""

    @abc.abstractmethod
    def link_for(self, post_id: str) -> str:
        """The web link of a post made here."""

    @property
    @abc.abstractmethod
    def room(self) -> str:
        """Where the notices go (a room id), for the record."""


def _sane(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def retry_after_from_headers(headers: Mapping[str, str], now: datetime) -> float | None:
    """The wait a response asks for, in seconds: ``Retry-After`` (seconds or an HTTP date),
    else the time until the rate-limit window resets (``X-RateLimit-Reset`` as Mastodon sends
    it, an ISO time, or ``RateLimit-Reset`` as Bluesky sends it, Unix seconds). None when the
    headers say nothing usable. Never raises."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        try:
            return _sane(float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return _sane((when - now).total_seconds())
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        value = lowered.get(name)
        if not value:
            continue
        reset = _reset_time(value, now)
        if reset is not None:
            return _sane((reset - now).total_seconds())
    return None


def _reset_time(value: str, now: datetime) -> datetime | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or number < 0 or number > 1e11:
            return None
        if number < 1e9:  # a number of seconds from now (RFC 9331 style), not a Unix time
            return now + timedelta(seconds=number)
        return datetime.fromtimestamp(number, UTC)
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
