"""The Mastodon watcher, with the ``Mastodon.py`` library (2.x): the owner's mentions, the
threads they start, and the tag timeline as a fallback. Read-only: it never posts.

- **Mentions** are the reliable path: the "ask there" post mentions the owner, so it reaches
  the owner's instance whoever follows whom. ``GET /api/v1/notifications?types[]=mention``,
  80 per page; after the stored cursor with ``min_id`` and the ``Link`` header's ``prev``
  pages (``fetch_previous``); on a first poll, newest first with the ``next`` pages back to
  the away window's start. The cursor is the newest notification id seen (ids are strings,
  compared by length, then text: never cast to int). Since Mastodon 4.3 the owner's
  notification policy may filter mentions from strangers (private mentions by default);
  public "ask there" posts pass, and the tag timeline finds what was filtered.
- **Threads** (``GET /api/v1/statuses/:id/context``): the replies under a followed root,
  also those that do not mention the owner. A thread that is gone (404) is empty.
- **Tag timeline** (``GET /api/v1/timelines/tag/:tag``, the fallback): an unknown tag answers
  404, which means "nothing yet". Only public posts the instance knows about.

Rate limits: ``ratelimit_method="throw"``, so a 429 raises here and ooo's runner decides
when to try again (the library's "wait" and "pace" modes sleep inside the call and are not
thread-safe). The ``X-RateLimit-*`` headers of every answer are read: a 429 reports the time
until the window resets as ``retry_after``, and :meth:`MastodonWatcher.cooldown` asks the
runner to pause when the budget is nearly spent. 5xx and network errors are
:class:`~ooo.networks.base.NetworkUnavailable` (with ``Retry-After`` when sent), 401 (a revoked
token) and 403 (a token without the read scopes) :class:`~ooo.networks.base.NetworkAuthError`.

A status becomes a :class:`~ooo.core.social.Post`: ``url`` (or ``uri``) as its link, the
author as ``@user@instance`` (local accounts get the instance's domain), the HTML content
reduced to text by :func:`ooo.core.htmltext.html_to_text` (a content warning first), the tags
from ``tags[].name``. A status that cannot be read is skipped; nothing it contains reaches the
caller unchecked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ooo.core.htmltext import html_to_text
from ooo.core.network import safe_url
from ooo.core.social import Post, make_post
from ooo.errors import OooError
from ooo.networks.base import (
    Batch,
    NetworkAuthError,
    NetworkUnavailable,
    Secret,
    Watcher,
    retry_after_from_headers,
)

log = logging.getLogger("ooo")

T = TypeVar("T")

PAGE_LIMIT = 80
"""Notifications per page: the API's maximum."""
MAX_PAGES = 5
"""Pages read in one poll; a longer backlog is read over the next polls."""
RETRIES = 1
"""A read that failed on the connection (reset, refused) is tried this many times more."""
TAG_LIMIT = 40
LOW_BUDGET = 0.05
"""Pause when fewer than this share of the rate-limit window's requests are left."""


class _Gone(Exception):
    """404 from the API (an unknown tag, a deleted status)."""


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _id_key(value: str) -> tuple[int, str]:
    """Mastodon ids are decimal strings that grow: order them by length, then text."""
    return (len(value), value)


class MastodonWatcher(Watcher):
    """The owner's mentions on one Mastodon account. ``token`` returns an access token with
    the read scopes (``read:notifications``, ``read:statuses``)."""

    kind = "mastodon"
    search_interval = 0.0

    def __init__(
        self,
        *,
        handle: str,
        api_url: str,
        token: Secret,
        name: str | None = None,
        timeout: float = 30.0,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.handle = handle
        self.api_url = api_url.rstrip("/")
        self.instance = handle.rsplit("@", 1)[-1]
        self.name = name or f"mastodon:{handle}"
        self._token = token
        self.timeout = timeout
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._api: Mastodon | None = None
        self._me: str | None = None
        self._headers: dict[str, str] = {}

    @property
    def own(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h for h in (self.handle, self._me) if h))

    # -- connection -------------------------------------------------------------------------

    def open(self) -> None:
        if self._api is not None:
            return
        try:
            token = self._token()
        except OooError as exc:
            raise NetworkAuthError(f"mastodon: no access token: {exc}") from exc
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        # A connection reset or refused once (a dropped keep-alive connection, a proxy that
        # restarts) is tried again at once. ooo only reads here (GET), which is safe to repeat.
        retry = Retry(
            total=RETRIES,
            connect=RETRIES,
            read=RETRIES,
            status=0,
            other=0,
            redirect=False,
            allowed_methods=frozenset({"GET", "HEAD"}),
            backoff_factor=0.2,
            raise_on_status=False,
            respect_retry_after_header=False,  # a 429 is the watcher's to schedule, not a wait
        )
        for prefix in ("http://", "https://"):
            session.mount(prefix, HTTPAdapter(max_retries=retry))
        api = Mastodon(
            access_token=token,
            api_base_url=self.api_url,
            ratelimit_method="throw",
            request_timeout=self.timeout,
            version_check_mode="none",
            session=session,
        )
        try:
            account = self._call(api.account_verify_credentials)
        except BaseException:
            session.close()
            raise
        acct = str(_get(account, "acct") or "")
        self._me = self._handle(acct) if acct else None
        self._api = api

    def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            try:
                api.session.close()
            except Exception:  # closing is best effort
                log.debug("mastodon: closing the session failed", exc_info=True)

    def _require(self) -> Mastodon:
        if self._api is None:
            raise NetworkUnavailable("mastodon: not signed in (call open() first)")
        return self._api

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._headers = {str(k): str(v) for k, v in response.headers.items()}

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the library; map its errors to ooo's at this boundary."""
        try:
            return fn(*args, **kwargs)
        except MastodonNotFoundError as exc:
            raise _Gone() from exc
        except MastodonUnauthorizedError as exc:
            raise NetworkAuthError(
                f"mastodon {self.instance}: the access token was refused (401): "
                "it was revoked or is wrong"
            ) from exc
        except MastodonRatelimitError as exc:
            raise NetworkUnavailable(
                f"mastodon {self.instance}: rate limited (429)", self._reset_in()
            ) from exc
        except (MastodonServerError, MastodonNetworkError) as exc:
            raise NetworkUnavailable(
                f"mastodon {self.instance}: {self._describe(exc)}", self._retry_after()
            ) from exc
        except MastodonAPIError as exc:
            status = exc.args[1] if len(exc.args) > 1 else None
            if status == 403:
                raise NetworkAuthError(
                    f"mastodon {self.instance}: the token may not read this (403): it needs "
                    "the read:notifications and read:statuses scopes"
                ) from exc
            raise NetworkUnavailable(
                f"mastodon {self.instance}: {self._describe(exc)}", self._retry_after()
            ) from exc
        except MastodonError as exc:
            raise NetworkUnavailable(
                f"mastodon {self.instance}: unusable answer ({type(exc).__name__})"
            ) from exc
        except (ValueError, TypeError, KeyError, AttributeError, requests.RequestException) as exc:
            # The library choked on what the server sent: not ours to crash on.
            raise NetworkUnavailable(
                f"mastodon {self.instance}: unusable answer ({type(exc).__name__})"
            ) from exc

    @staticmethod
    def _describe(exc: Exception) -> str:
        if len(exc.args) > 2 and isinstance(exc.args[1], int):
            return f"HTTP {exc.args[1]} {exc.args[2]}"
        # The library's own sentence says what failed ("Could not complete request: ...
        # Connection refused"); the URL in it is the instance's, the token is never in it.
        said = str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else ""
        return f"{type(exc).__name__}: {said[:200]}" if said else type(exc).__name__

    def _retry_after(self) -> float | None:
        return retry_after_from_headers(self._headers, datetime.now(UTC))

    def _reset_in(self) -> float | None:
        """Seconds until the rate-limit window resets, from the last answer's headers (as
        the library read them), or its Retry-After."""
        found = self._retry_after()
        if found is not None:
            return found
        api = self._api
        reset = getattr(api, "ratelimit_reset", None) if api is not None else None
        return max(0.0, float(reset) - time.time()) if isinstance(reset, int | float) else None

    def cooldown(self) -> float | None:
        api = self._api
        if api is None:
            return None
        limit, remaining = api.ratelimit_limit, api.ratelimit_remaining
        low = isinstance(limit, int) and isinstance(remaining, int) and limit > 0
        if low and remaining <= max(1, int(limit * LOW_BUDGET)):
            return self._reset_in()
        return None

    # -- reading ----------------------------------------------------------------------------

    def fetch_new(self, cursor: str | None, since: datetime) -> Batch:
        api = self._require()
        items: list[Any] = []
        if not cursor:
            page: Any = self._call(api.notifications, types=["mention"], limit=self.page_limit)
            for _ in range(self.max_pages):
                if not page:
                    break
                items += page
                times = [t for t in (_time(_get(n, "created_at")) for n in page) if t]
                if not times or min(times) < since:
                    break
                page = self._call(api.fetch_next, page)
        else:
            page = self._call(
                api.notifications, types=["mention"], min_id=cursor, limit=self.page_limit
            )
            for _ in range(self.max_pages):
                if not page:
                    break
                items += page
                page = self._call(api.fetch_previous, page)
        ids = [str(_get(n, "id")) for n in items if _get(n, "id") is not None]
        newest = max(ids, key=_id_key) if ids else None
        if cursor and newest is not None and _id_key(newest) < _id_key(cursor):
            newest = cursor  # a server answering with older ids never moves us back
        posts = [
            p
            for p in self._posts(
                _get(n, "status") for n in items if _get(n, "type") in (None, "mention")
            )
            if cursor or p.created_at >= since
        ]
        return Batch(posts, newest or cursor or "")

    def thread(self, root: str) -> list[Post]:
        api = self._require()
        try:
            context = self._call(api.status_context, root)
        except _Gone:
            return []
        descendants = _get(context, "descendants") or []
        return [_with_root(p, root) for p in self._posts(_list(descendants))]

    def search(self, tag: str, since: datetime) -> list[Post]:
        api = self._require()
        try:
            found = self._call(api.timeline_hashtag, tag.lstrip("#"), limit=TAG_LIMIT)
        except _Gone:
            return []  # Mastodon does not know the tag yet
        return [p for p in self._posts(found or []) if p.created_at >= since]

    def check(self) -> str:
        self.open()
        api = self._require()
        return (
            f"signed in to {self.instance} as {self._me or self.handle}; reads mentions, "
            f"their threads and tag timelines (rate limit: {api.ratelimit_remaining} of "
            f"{api.ratelimit_limit} requests left)"
        )

    # -- statuses -> posts ------------------------------------------------------------------

    def _handle(self, acct: str) -> str:
        acct = acct.lstrip("@")
        return f"@{acct}" if "@" in acct else f"@{acct}@{self.instance}"

    def _posts(self, statuses: Iterable[Any]) -> list[Post]:
        posts = []
        for status in statuses:
            if not status:
                continue
            try:
                posts.append(self._post(status))
            except Exception:  # one unreadable status never costs the others
                log.debug("mastodon: skipped a status that could not be read", exc_info=True)
        return posts

    def _post(self, status: Any) -> Post:
        account = _get(status, "account") or {}
        acct = str(_get(account, "acct") or "")
        if not acct or _get(status, "id") is None:
            raise ValueError("a status without id or account")
        # The web link: ``url``, else the global ``uri`` (url may be null, or unusable).
        link = next(
            (str(v) for v in (_get(status, "url"), _get(status, "uri")) if _usable(v)), None
        )
        spoiler = str(_get(status, "spoiler_text") or "")
        content = html_to_text(str(_get(status, "content") or ""), cap=20_000)
        tags = [str(_get(t, "name") or "") for t in _list(_get(status, "tags"))]
        mentions = [
            self._handle(str(_get(m, "acct") or "")) for m in _list(_get(status, "mentions"))
        ]
        reply_to = _get(status, "in_reply_to_id")
        return make_post(
            network="mastodon",
            id=str(_get(status, "id")),
            link=link,
            author=self._handle(acct),
            author_name=str(_get(account, "display_name") or ""),
            created_at=_time(_get(status, "created_at")),
            text=f"{spoiler}\n{content}" if spoiler else content,
            tags=tags,
            reply_to=str(reply_to) if reply_to is not None else None,
            mentions=mentions,
        )


def _usable(link: Any) -> bool:
    if not isinstance(link, str) or not link:
        return False
    try:
        safe_url(link)
    except ValueError:
        return False
    return True


def _iterable(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _list(value: Any) -> list[Any]:
    return list(value) if _iterable(value) else []


def _with_root(post: Post, root: str) -> Post:
    return replace(post, root=root)
