"""The Bluesky watcher, with the ``atproto`` SDK: the owner's notifications (mentions, replies,
quotes), the threads they start, and ``searchPosts`` as a rare fallback. Read-only.

- **Sign-in** with the handle and an app password. Logins are rate-limited per account (30
  per 5 minutes, 300 a day), so the session is kept and reused: the SDK's session string goes
  to a :class:`~ooo.networks.base.SessionVault` whenever it is created or refreshed
  (``on_session_change``), and a later start resumes from it (``login(session_string=...)``,
  no request). The SDK refreshes the access token itself; only when the saved session is
  refused (expired, revoked) does the watcher log in with the password again, once. The
  session string is a secret: it goes to the vault only, never to a log or the state file.
- **Notifications**: ``app.bsky.notification.listNotifications`` with ``reasons`` mention,
  reply and quote, newest first, paged with ``cursor`` down to the stored cursor (the newest
  ``indexedAt`` seen) or, on a first poll, to the away window's start.
- **Threads**: ``app.bsky.feed.getPostThread`` (replies only, ``parentHeight`` 0); a post that
  is gone is an empty thread.
- **Search**: ``app.bsky.feed.searchPosts`` for the tag; its maintainers ask that it serve
  people's searches, so the watcher searches at most every :data:`SEARCH_INTERVAL` seconds.

Errors: a 429 (``RateLimitExceededError``, with ``retry-after`` or ``ratelimit-reset``) and 5xx
or network errors are :class:`~ooo.networks.base.NetworkUnavailable`; a refused password
:class:`~ooo.networks.base.NetworkAuthError`. Responses are read leniently, item by item
(the raw XRPC answer, through the SDK's ``invoke_query``): one unreadable post is skipped, it
never costs the others.

A post's web link is ``https://bsky.app/profile/<handle>/post/<rkey>`` (the rkey is the last
segment of its ``at://`` URI); a quote counts as a reply to the post it quotes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

# The atproto SDK ships no type information (no py.typed): its names are Any here.
from atproto import Client, Session, SessionEvent, models  # type: ignore[import-untyped]
from atproto_client.exceptions import (  # type: ignore[import-untyped]
    BadRequestError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request  # type: ignore[import-untyped]
from atproto_core.exceptions import AtProtocolError  # type: ignore[import-untyped]

from ooo.core.social import Post, make_post
from ooo.errors import OooError
from ooo.networks.base import (
    Batch,
    MemoryVault,
    NetworkAuthError,
    NetworkUnavailable,
    Secret,
    SessionVault,
    Watcher,
    retry_after_from_headers,
)

log = logging.getLogger("ooo")

T = TypeVar("T")

PAGE_LIMIT = 50
MAX_PAGES = 5
THREAD_DEPTH = 20
MAX_THREAD_POSTS = 500
SEARCH_INTERVAL = 1800.0
REASONS = ["mention", "reply", "quote"]
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired"})
_HANDLE = re.compile(r"[A-Za-z0-9.-]{1,253}")


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def web_link(uri: str, handle: str) -> str | None:
    """``https://bsky.app/profile/<handle>/post/<rkey>`` for a post's at:// URI."""
    if not uri.startswith("at://") or "/app.bsky.feed.post/" not in uri:
        return None
    rkey = uri.rsplit("/", 1)[-1]
    who = handle if _HANDLE.fullmatch(handle) else uri[5:].split("/", 1)[0]
    return f"https://bsky.app/profile/{quote(who, safe=':')}/post/{quote(rkey, safe='')}"


class BlueskyWatcher(Watcher):
    """The owner's notifications on one Bluesky account. ``password`` returns an app
    password; ``vault`` keeps the session between runs (default: in memory only)."""

    kind = "bluesky"
    search_interval = SEARCH_INTERVAL

    def __init__(
        self,
        *,
        handle: str,
        api_url: str,
        password: Secret,
        vault: SessionVault | None = None,
        name: str | None = None,
        timeout: float = 30.0,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.handle = handle.lstrip("@").lower()
        self.api_url = api_url.rstrip("/")
        self.name = name or f"bluesky:@{self.handle}"
        self._password = password
        self.vault: SessionVault = vault if vault is not None else MemoryVault()
        self.timeout = timeout
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._client: Client | None = None
        self._did: str | None = None
        self._resumed = False
        self.logins = 0
        """Password logins made (each costs the account's login budget)."""

    @property
    def own(self) -> tuple[str, ...]:
        return tuple(h for h in (f"@{self.handle}", self._did) if h)

    # -- the session ------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        client = Client(base_url=self.api_url, request=Request(timeout=self.timeout))
        try:
            client.on_session_change(self._session_changed)
            saved = self.vault.load()
            self._resumed = False
            if saved:
                try:
                    client.login(session_string=saved, fetch_bsky_profile=False)
                    self._resumed = True
                except (AtProtocolError, ValueError):
                    log.info("bluesky @%s: the saved session is unusable; signing in", self.handle)
                    self.vault.clear()
            if not self._resumed:
                self._login(client)
        except BaseException:
            client.request.close()
            raise
        self._client = client
        self._learn_did(client)

    def _login(self, client: Client) -> None:
        try:
            password = self._password()
        except OooError as exc:
            raise NetworkAuthError(f"bluesky: no app password: {exc}") from exc
        self.logins += 1
        try:
            client.login(self.handle, password, fetch_bsky_profile=False)
        except UnauthorizedError as exc:
            raise NetworkAuthError(f"bluesky @{self.handle}: the app password was refused") from exc
        except AtProtocolError as exc:
            raise self._unavailable(exc) from exc
        self._resumed = False

    def _session_changed(self, event: SessionEvent, session: Session) -> None:
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self.vault.save(session.export())

    def _learn_did(self, client: Client) -> None:
        try:
            self._did = Session.decode(client.export_session_string()).did
        except (AtProtocolError, ValueError):
            self._did = None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.request.close()
            except Exception:  # closing is best effort
                log.debug("bluesky: closing the client failed", exc_info=True)

    def _require(self) -> Client:
        if self._client is None:
            raise NetworkUnavailable("bluesky: not signed in (call open() first)")
        return self._client

    def _query(self, nsid: str, params: Any) -> dict[str, Any]:
        """One XRPC query; the answer as a dict. Errors mapped to ooo's at this boundary; a
        saved session that is refused is replaced by one password login, and the query
        tried again."""
        for attempt in (1, 2):
            client = self._require()
            try:
                response = client.invoke_query(nsid, params=params)
            except (UnauthorizedError, BadRequestError) as exc:
                if not self._session_refused(exc):
                    if isinstance(exc, UnauthorizedError):
                        raise NetworkAuthError(
                            f"bluesky @{self.handle}: access refused ({exc})"
                        ) from exc
                    raise _BadRequest(_error_name(exc)) from exc
                if attempt == 2:
                    raise NetworkAuthError(
                        f"bluesky @{self.handle}: the session was refused"
                    ) from exc
                # The saved (or current) session expired or was revoked: one password login,
                # then the query again. A refused new session is the owner's to fix.
                log.info("bluesky @%s: the session was refused; signing in again", self.handle)
                self.vault.clear()
                self._login(client)
                continue
            except AtProtocolError as exc:
                raise self._unavailable(exc) from exc
            content = response.content
            if not isinstance(content, dict):
                raise NetworkUnavailable(f"bluesky: {nsid} answered no JSON object")
            return content
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _session_refused(exc: RequestErrorBase) -> bool:
        return isinstance(exc, UnauthorizedError) or _error_name(exc) in _SESSION_ERRORS

    def _unavailable(self, exc: AtProtocolError) -> NetworkUnavailable:
        if isinstance(exc, RateLimitExceededError):
            wait = exc.retry_after
            if wait is None and exc.reset_at is not None:
                wait = max(0.0, (exc.reset_at - datetime.now(UTC)).total_seconds())
            return NetworkUnavailable(f"bluesky @{self.handle}: rate limited (429)", wait)
        if isinstance(exc, RequestErrorBase) and exc.response is not None:
            headers = {str(k): str(v) for k, v in (exc.response.headers or {}).items()}
            return NetworkUnavailable(
                f"bluesky @{self.handle}: HTTP {exc.response.status_code}",
                retry_after_from_headers(headers, datetime.now(UTC)),
            )
        if isinstance(exc, NetworkError):
            return NetworkUnavailable(f"bluesky @{self.handle}: cannot reach the server")
        return NetworkUnavailable(f"bluesky @{self.handle}: {type(exc).__name__}")

    def _guarded(self, fn: Callable[[], T]) -> T:
        """Anything else the SDK or an odd answer raises is the network's fault, not ours."""
        try:
            return fn()
        except (NetworkUnavailable, NetworkAuthError):
            raise
        except (AtProtocolError, ValueError, TypeError, KeyError) as exc:
            raise NetworkUnavailable(
                f"bluesky @{self.handle}: unusable answer ({type(exc).__name__})"
            ) from exc

    # -- reading ----------------------------------------------------------------------------

    def fetch_new(self, cursor: str | None, since: datetime) -> Batch:
        return self._guarded(lambda: self._fetch_new(cursor, since))

    def _fetch_new(self, cursor: str | None, since: datetime) -> Batch:
        stop_at = _time(cursor) or since
        items: list[dict[str, Any]] = []
        page: str | None = None
        for _ in range(self.max_pages):
            params = models.AppBskyNotificationListNotifications.Params(
                reasons=REASONS, limit=self.page_limit, cursor=page
            )
            content = self._query("app.bsky.notification.listNotifications", params)
            notes = [n for n in content.get("notifications") or [] if isinstance(n, dict)]
            items += notes
            times = [t for t in (_time(n.get("indexedAt")) for n in notes) if t]
            page = content.get("cursor") if isinstance(content.get("cursor"), str) else None
            if not notes or not page or (times and min(times) < stop_at):
                break
        fresh = [
            n
            for n in items
            if n.get("reason") in REASONS and (_time(n.get("indexedAt")) or since) >= stop_at
        ]
        newest = max((t for t in (_time(n.get("indexedAt")) for n in fresh) if t), default=None)
        posts = []
        for note in fresh:
            post = self._post(note.get("uri"), note.get("author"), note.get("record"),
                              note.get("indexedAt"))  # fmt: skip
            if post is not None:
                posts.append(post)
        next_cursor = newest.isoformat() if newest else (cursor or "")
        return Batch(posts, next_cursor)

    def thread(self, root: str) -> list[Post]:
        return self._guarded(lambda: self._thread(root))

    def _thread(self, root: str) -> list[Post]:
        params = models.AppBskyFeedGetPostThread.Params(
            uri=root, depth=THREAD_DEPTH, parent_height=0
        )
        try:
            content = self._query("app.bsky.feed.getPostThread", params)
        except _BadRequest as exc:
            if exc.error == "NotFound":
                return []
            raise NetworkUnavailable(f"bluesky: getPostThread refused ({exc.error})") from exc
        posts: list[Post] = []
        frontier = list(_get(content, "thread", "replies") or [])
        while frontier and len(posts) < MAX_THREAD_POSTS:
            node = frontier.pop(0)
            view = _get(node, "post")
            if isinstance(view, dict):
                post = self._post(
                    view.get("uri"), view.get("author"), view.get("record"), view.get("indexedAt")
                )
                if post is not None:
                    posts.append(replace(post, root=root))
            replies = _get(node, "replies")
            if isinstance(replies, list):
                frontier += replies
        return posts

    def search(self, tag: str, since: datetime) -> list[Post]:
        return self._guarded(lambda: self._search(tag, since))

    def _search(self, tag: str, since: datetime) -> list[Post]:
        tag = tag.lstrip("#")
        params = models.AppBskyFeedSearchPosts.Params(
            q=f"#{tag}", tag=[tag], since=since.astimezone(UTC).isoformat(), limit=25
        )
        try:
            content = self._query("app.bsky.feed.searchPosts", params)
        except _BadRequest as exc:
            raise NetworkUnavailable(f"bluesky: searchPosts refused ({exc.error})") from exc
        posts = []
        for view in content.get("posts") or []:
            if isinstance(view, dict):
                post = self._post(
                    view.get("uri"), view.get("author"), view.get("record"), view.get("indexedAt")
                )
                if post is not None and post.created_at >= since:
                    posts.append(post)
        return posts

    def check(self) -> str:
        self.open()
        how = "resumed the saved session" if self._resumed else "signed in"
        return (
            f"{how} on {self.api_url} as @{self.handle}; reads mentions, replies and quotes, "
            "and their threads"
        )

    # -- records -> posts -------------------------------------------------------------------

    def _post(self, uri: Any, author: Any, record: Any, indexed_at: Any) -> Post | None:
        try:
            return self._read_post(uri, author, record, indexed_at)
        except Exception:  # one unreadable post never costs the others
            log.debug("bluesky: skipped a post that could not be read", exc_info=True)
            return None

    def _read_post(self, uri: Any, author: Any, record: Any, indexed_at: Any) -> Post | None:
        if not isinstance(uri, str) or not isinstance(author, dict) or not isinstance(record, dict):
            return None
        if record.get("$type") not in (None, "app.bsky.feed.post"):
            return None
        handle = str(author.get("handle") or "")
        tags = [t for t in record.get("tags") or [] if isinstance(t, str)]
        mentions = []
        for facet in record.get("facets") or []:
            for feature in _get(facet, "features") or []:
                kind = _get(feature, "$type")
                if kind == "app.bsky.richtext.facet#tag":
                    tags.append(str(_get(feature, "tag") or ""))
                elif kind == "app.bsky.richtext.facet#mention":
                    mentions.append(str(_get(feature, "did") or ""))
        reply_to = _get(record, "reply", "parent", "uri")
        root = _get(record, "reply", "root", "uri")
        quoted = _get(record, "embed", "record", "uri") or _get(
            record, "embed", "record", "record", "uri"
        )
        if reply_to is None and isinstance(quoted, str):
            reply_to = quoted  # a quote answers the post it quotes
        return make_post(
            network="bluesky",
            id=uri,
            link=web_link(uri, handle),
            author=f"@{handle}" if handle else str(author.get("did") or "unknown"),
            author_name=str(author.get("displayName") or ""),
            created_at=_time(record.get("createdAt")) or _time(indexed_at),
            text=str(record.get("text") or ""),
            tags=tags,
            reply_to=reply_to if isinstance(reply_to, str) else None,
            root=root if isinstance(root, str) and root != uri else None,
            mentions=mentions,
        )


class _BadRequest(Exception):
    """A 400 that is not about the session: ``error`` is the XRPC error name."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _error_name(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    name = getattr(content, "error", None)
    if name is None and isinstance(content, dict):
        name = content.get("error")
    return str(name or "")
