"""An in-memory network: a real watcher (and poster) for ``ooo demo``, and the fake the unit
tests drive.

:class:`MemoryNetwork` is the service: people publish posts on it (:meth:`MemoryNetwork.publish`),
from any thread. :class:`MemoryWatcher` watches it through the :class:`~ooo.networks.base.Watcher`
interface the way the real watchers watch theirs: the owner's mentions (or, for a room, every
message) after a cursor, in pages; threads re-read by their root; the tag searched. It can
also post, like the Matrix watcher (a notice, idempotent by transaction id).

The service can misbehave the ways real ones do, so the runner's backoff can be tested without
a socket: :meth:`MemoryNetwork.fail_next` (the next calls fail: down, 5xx), ``available =
False`` (down until set back), :meth:`MemoryNetwork.rate_limit` (429 with a retry-after),
:meth:`MemoryNetwork.revoke` (the token refused), and :meth:`MemoryNetwork.hold` (calls block
until :meth:`MemoryNetwork.release`, or until the watcher's timeout: a slow network).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from ooo.core.social import Post, make_post
from ooo.networks.base import (
    Batch,
    NetworkAuthError,
    NetworkError,
    NetworkUnavailable,
    Poster,
    Watcher,
)

_MENTION = re.compile(r"(?<![\w@])@[\w.-]+(?:[@:][\w.-]+)?")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


@dataclass(frozen=True)
class _Stored:
    seq: int
    post: Post


class MemoryNetwork:
    """A small social service held in memory (thread-safe).

    ``kind`` is the network it plays ("mastodon", "bluesky", "matrix"); ``host`` makes its web
    links (``https://<host>/<author>/<id>``).
    """

    def __init__(self, kind: str = "mastodon", *, host: str = "social.example") -> None:
        self.kind = kind
        self.host = host
        self._cond = threading.Condition()
        self._posts: list[_Stored] = []
        self._seq = itertools.count(1)
        self._txns: dict[str, str] = {}
        self._failures: list[NetworkError] = []
        self._available = True
        self._revoked = False
        self._held = False
        self.calls: Counter[str] = Counter()
        """Calls the watchers made, by operation (fetch, thread, search, post, open)."""

    # -- the people on it --------------------------------------------------------------------

    def publish(
        self,
        author: str,
        text: str,
        *,
        author_name: str = "",
        reply_to: str | None = None,
        tags: tuple[str, ...] | None = None,
        at: datetime | None = None,
    ) -> Post:
        """Post ``text`` as ``author`` (a handle), optionally as a reply; hashtags and
        mentions are read from the text as the services do. Returns the post."""
        with self._cond:
            seq = next(self._seq)
            post_id = f"{self.kind}-{seq}"
            root = None
            if reply_to is not None:
                parent = self._find(reply_to)
                root = (parent.root or parent.id) if parent else reply_to
            found_tags = tags if tags is not None else tuple(_HASHTAG.findall(text))
            post = make_post(
                network=self.kind,
                id=post_id,
                link=f"https://{self.host}/{author.lstrip('@')}/{seq}",
                author=author,
                author_name=author_name,
                created_at=at or datetime.now(UTC),
                text=text,
                tags=found_tags,
                reply_to=reply_to,
                root=root,
                mentions=_MENTION.findall(text),
            )
            self._posts.append(_Stored(seq, post))
            self._cond.notify_all()
            return post

    def posts(self) -> list[Post]:
        """Everything published, oldest first."""
        with self._cond:
            return [s.post for s in self._posts]

    # -- misbehaviour ------------------------------------------------------------------------

    def fail_next(self, n: int, exc: NetworkError | None = None) -> None:
        """The next ``n`` calls raise ``exc`` (default: NetworkUnavailable, as a 503 would)."""
        with self._cond:
            failure = exc if exc is not None else NetworkUnavailable("memory: 503 unavailable")
            self._failures.extend([failure] * n)

    @property
    def available(self) -> bool:
        return self._available

    @available.setter
    def available(self, up: bool) -> None:
        with self._cond:
            self._available = up
            self._cond.notify_all()

    def rate_limit(self, retry_after: float, calls: int = 1) -> None:
        """The next ``calls`` calls answer 429, asking to wait ``retry_after`` seconds."""
        self.fail_next(calls, NetworkUnavailable("memory: 429 rate limited", retry_after))

    def revoke(self, revoked: bool = True) -> None:
        """Refuse (or accept again) the watcher's token, as after the owner revoked it."""
        with self._cond:
            self._revoked = revoked

    def hold(self) -> None:
        """Calls block from now on (a network that stopped answering) until :meth:`release`
        or the calling watcher's timeout."""
        with self._cond:
            self._held = True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    # -- what the watchers call ----------------------------------------------------------

    def _call(self, operation: str, timeout: float) -> None:
        """Count a call and apply the misbehaviour; the caller holds ``_cond``."""
        self.calls[operation] += 1
        if self._held and not self._cond.wait_for(lambda: not self._held, timeout=timeout):
            raise NetworkUnavailable(f"memory: no answer within {timeout:g} s")
        if self._failures:
            raise self._failures.pop(0)
        if not self._available:
            raise NetworkUnavailable("memory: service unavailable")
        if self._revoked:
            raise NetworkAuthError("memory: 401 the access token was revoked")

    def _find(self, post_id: str) -> Post | None:
        return next((s.post for s in self._posts if s.post.id == post_id), None)


class MemoryWatcher(Watcher, Poster):
    """Watches a :class:`MemoryNetwork` for ``owner``'s mentions (``room=None``), or every
    message of the network as one room (``room`` set, like Matrix), and posts as ``owner``.

    ``page_size`` and ``max_pages`` bound one :meth:`fetch_new` as the real services' paging
    does; a long backlog is caught up over several polls.
    """

    def __init__(
        self,
        network: MemoryNetwork,
        *,
        owner: str,
        name: str | None = None,
        room: str | None = None,
        timeout: float = 10.0,
        page_size: int = 20,
        max_pages: int = 5,
        search_interval: float | None = 0.0,
    ) -> None:
        self.network = network
        self.kind = network.kind
        self.owner = owner
        self.name = name or f"{network.kind}:{room or owner}"
        self._room = room
        self.timeout = timeout
        self.page_size = page_size
        self.max_pages = max_pages
        self.rereads_threads = room is None
        self.search_interval = None if room is not None else search_interval
        self.opened = 0
        self._open = False

    @property
    def own(self) -> tuple[str, ...]:
        return (self.owner,)

    def open(self) -> None:
        if self._open:
            return
        with self.network._cond:
            self.network._call("open", self.timeout)
        self._open = True
        self.opened += 1

    def close(self) -> None:
        self._open = False

    def _require_open(self) -> None:
        if not self._open:
            raise NetworkUnavailable("memory: not signed in (call open() first)")

    def fetch_new(self, cursor: str | None, since: datetime) -> Batch:
        self._require_open()
        net = self.network
        after = int(cursor) if cursor and cursor.isdigit() else 0
        posts: list[Post] = []
        last = after
        for _ in range(self.max_pages):
            with net._cond:
                net._call("fetch", self.timeout)
                page = [
                    s
                    for s in net._posts
                    if s.seq > last
                    and (self._room is not None or self._mentions_owner(s.post))
                    and (cursor is not None or s.post.created_at >= since)
                ][: self.page_size]
            if not page:
                break
            posts += [s.post for s in page]
            last = page[-1].seq
            if len(page) < self.page_size:
                break
        return Batch(posts, str(last) if last else (cursor or "0"))

    def _mentions_owner(self, post: Post) -> bool:
        owner = self.owner.lower()
        if any(m.lower() == owner for m in post.mentions):
            return True
        parent = self.network._find(post.reply_to) if post.reply_to else None
        return parent is not None and parent.author.lower() == owner

    def thread(self, root: str) -> list[Post]:
        self._require_open()
        with self.network._cond:
            self.network._call("thread", self.timeout)
            return [s.post for s in self.network._posts if s.post.root == root]

    def search(self, tag: str, since: datetime) -> list[Post]:
        self._require_open()
        wanted = tag.lstrip("#").lower()
        with self.network._cond:
            self.network._call("search", self.timeout)
            return [
                s.post
                for s in self.network._posts
                if wanted in s.post.tags and s.post.created_at >= since
            ]

    def check(self) -> str:
        self.open()
        where = f"room {self._room}" if self._room else f"mentions of {self.owner}"
        return f"signed in to the in-memory {self.kind} network as {self.owner}; reads {where}"

    # -- Poster ----------------------------------------------------------------------------

    @property
    def room(self) -> str:
        return self._room or self.name

    def post(self, text: str, html: str, *, txn_id: str) -> str:
        self._require_open()
        net = self.network
        with net._cond:
            net._call("post", self.timeout)
            if txn_id in net._txns:
                return net._txns[txn_id]
        post = net.publish(self.owner, text)
        with net._cond:
            net._txns[txn_id] = post.id
        return post.id

    def link_for(self, post_id: str) -> str:
        with self.network._cond:
            found = self.network._find(post_id)
        return found.link if found else ""
