"""A Mastodon server on loopback that answers the documented REST API, for driving the real
``Mastodon.py`` client (ooo.networks.mastodon) in tests. Standard library only.

What it serves, as docs.joinmastodon.org documents it:

- ``GET /api/v1/accounts/verify_credentials``: the token's account;
- ``GET /api/v1/notifications`` with ``types[]``, ``max_id``, ``since_id``, ``min_id`` and
  ``limit`` (at most 80): newest first, with a ``Link`` header (``next``: ``max_id`` = the
  oldest id in the page; ``prev``: ``min_id`` = the newest). ``min_id`` returns the page right
  after it (the oldest of the newer ones), ``since_id`` the newest;
- ``GET /api/v1/statuses/:id`` and ``GET /api/v1/statuses/:id/context`` (``ancestors``,
  ``descendants``);
- ``GET /api/v1/timelines/tag/:tag``: 404 ``{"error": "Record not found"}`` for a tag no
  status ever carried;
- every answer carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` (an ISO time); when the budget is spent: 429 ``{"error": "Too many
  requests"}``;
- a wrong or revoked token: 401 ``{"error": "The access token is invalid"}`` (or "... was
  revoked").

Statuses are JSON as the API returns them (string ids, ``uri``, ``url``, ``created_at``,
``account.acct`` relative to this instance, HTML ``content``, ``mentions``, ``tags``) and the
server writes the HTML the way Mastodon does (``h-card`` mentions, ``hashtag`` links,
``invisible`` spans). Tests can put any HTML in, hostile included.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

INSTANCE = "hachyderm.test"
TOKEN = "good-token"
"""The owner's access token the server accepts."""


@dataclass
class Account:
    id: str
    username: str
    domain: str | None = None
    """None: a local account of this instance."""
    display_name: str = ""

    def json(self) -> dict[str, Any]:
        acct = self.username if self.domain is None else f"{self.username}@{self.domain}"
        host = self.domain or INSTANCE
        return {
            "id": self.id,
            "username": self.username,
            "acct": acct,
            "display_name": self.display_name,
            "url": f"https://{host}/@{self.username}",
            "locked": False,
            "bot": False,
            "created_at": "2020-01-01T00:00:00.000Z",
            "note": "",
            "avatar": f"https://{INSTANCE}/avatars/original/missing.png",
            "followers_count": 1,
            "following_count": 1,
            "statuses_count": 1,
        }


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeMastodon:
    """The instance ``hachyderm.test`` on 127.0.0.1, with the owner ``@bob``."""

    def __init__(self, *, rate_limit: int = 300) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(109_000_000_000_000_001)
        self.owner = Account(self._next(), "bob", display_name="Bob Example")
        self.accounts: dict[str, Account] = {self.owner.id: self.owner}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.tokens = {TOKEN: self.owner.id}
        self.revoked: set[str] = set()
        self.rate_limit = rate_limit
        self.remaining = rate_limit
        self.reset_at = datetime.now(UTC) + timedelta(minutes=5)
        self.failures: list[Failure] = []
        self.resets = 0
        """How many of the next requests are answered by resetting the connection (RST)."""
        self.requests: list[str] = []
        """Every request as "METHOD /path?query", in order."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _next(self) -> str:
        return str(next(self._ids))

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeMastodon:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMastodon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the people --------------------------------------------------------------------------

    def account(self, username: str, domain: str | None = None, name: str = "") -> Account:
        with self._lock:
            account = Account(self._next(), username, domain, name or username.title())
            self.accounts[account.id] = account
            return account

    def post(
        self,
        author: Account,
        text: str,
        *,
        reply_to: str | None = None,
        mentions: tuple[Account, ...] = (),
        tags: tuple[str, ...] = (),
        content: str | None = None,
        at: datetime | None = None,
        url: str | bool | None = True,
        visibility: str = "public",
    ) -> dict[str, Any]:
        """Publish a status written as Mastodon renders it: mentions as h-cards first, then
        ``text`` (escaped), then the hashtags; ``content`` replaces the whole HTML (hostile
        tests). ``url=None`` leaves the web link out (the API allows it). Mentions of the
        owner, and replies to the owner's statuses, notify the owner."""
        with self._lock:
            status_id = self._next()
            host = author.domain or INSTANCE
            parent = self.statuses.get(reply_to) if reply_to else None
            html_text = content
            if html_text is None:
                cards = "".join(
                    f'<span class="h-card" translate="no"><a href="https://'
                    f'{m.domain or INSTANCE}/@{m.username}" class="u-url mention">@<span>'
                    f"{m.username}</span></a></span> "
                    for m in mentions
                )
                hashtags = "".join(
                    f' <a href="https://{INSTANCE}/tags/{t}" class="mention hashtag" '
                    f'rel="tag">#<span>{t}</span></a>'
                    for t in tags
                )
                html_text = f"<p>{cards}{html.escape(text)}{hashtags}</p>"
            when = at or datetime.now(UTC)
            status = {
                "id": status_id,
                "uri": f"https://{host}/users/{author.username}/statuses/{status_id}",
                "url": (
                    f"https://{host}/@{author.username}/{status_id}"
                    if url is True
                    else (url or None)
                ),
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{when.microsecond // 1000:03d}Z",
                "account": author.json(),
                "content": html_text,
                "visibility": visibility,
                "sensitive": False,
                "spoiler_text": "",
                "in_reply_to_id": reply_to,
                "in_reply_to_account_id": parent["account"]["id"] if parent else None,
                "mentions": [
                    {
                        "id": m.id,
                        "username": m.username,
                        "acct": m.json()["acct"],
                        "url": m.json()["url"],
                    }
                    for m in mentions
                ],
                "tags": [{"name": t.lower(), "url": f"https://{INSTANCE}/tags/{t}"} for t in tags],
                "emojis": [],
                "media_attachments": [],
                "reblogs_count": 0,
                "favourites_count": 0,
                "replies_count": 0,
                "reblog": None,
                "language": "en",
            }
            self.statuses[status_id] = status
            to_owner = any(m.id == self.owner.id for m in mentions) or (
                parent is not None and parent["account"]["id"] == self.owner.id
            )
            if to_owner and author.id != self.owner.id:
                self.notifications.append(
                    {
                        "id": self._next(),
                        "type": "mention",
                        "created_at": status["created_at"],
                        "account": author.json(),
                        "status": status,
                    }
                )
            return status

    def fail_next(self, n: int, status: int = 503, headers: dict[str, str] | None = None) -> None:
        """The next ``n`` API requests answer ``status`` (with these headers)."""
        with self._lock:
            body = {"error": "Service Unavailable" if status >= 500 else "error"}
            self.failures.extend(Failure(status, body, dict(headers or {})) for _ in range(n))

    def reset_next(self, n: int) -> None:
        """The next ``n`` requests get no answer: the connection is reset (TCP RST), as a
        restarting proxy or a dropped keep-alive connection does."""
        with self._lock:
            self.resets += n

    def take_reset(self) -> bool:
        with self._lock:
            if self.resets <= 0:
                return False
            self.resets -= 1
            return True

    def spend_budget(self, remaining: int = 0, reset_in: float = 120.0) -> None:
        """Leave ``remaining`` requests in the rate-limit window, which resets in
        ``reset_in`` seconds."""
        with self._lock:
            self.remaining = remaining
            self.reset_at = datetime.now(UTC) + timedelta(seconds=reset_in)

    def revoke(self, token: str = TOKEN) -> None:
        with self._lock:
            self.revoked.add(token)

    def api_requests(self, path: str) -> list[str]:
        """The requests made to ``path`` (a prefix such as "/api/v1/notifications")."""
        return [r for r in self.requests if r.split(" ", 1)[1].startswith(path)]

    # -- answering ---------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self.failures:
                failure = self.failures.pop(0)
                return failure.status, failure.body, failure.headers
            if token in self.revoked:
                return 401, {"error": "The access token was revoked"}, {}
            if token not in self.tokens:
                return 401, {"error": "The access token is invalid"}, {}
            if self.remaining <= 0 and datetime.now(UTC) < self.reset_at:
                return 429, {"error": "Too many requests"}, self._limit_headers()
            if datetime.now(UTC) >= self.reset_at:
                self.remaining, self.reset_at = (
                    self.rate_limit,
                    datetime.now(UTC) + timedelta(minutes=5),
                )
            self.remaining -= 1
            status, body, headers = self._route(method, path, query)
            return status, body, {**self._limit_headers(), **headers}

    def _limit_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": self.reset_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def _route(
        self, method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        if method != "GET":
            return 405, {"error": "This action is not allowed"}, {}
        if path == "/api/v1/accounts/verify_credentials":
            return 200, self.owner.json(), {}
        if path == "/api/v1/notifications":
            types = query.get("types[]", [])
            items = [n for n in self.notifications if not types or n["type"] in types]
            return self._page(path, items, query)
        match = re.fullmatch(r"/api/v1/statuses/(\d+)(/context)?", path)
        if match:
            status = self.statuses.get(match.group(1))
            if status is None:
                return 404, {"error": "Record not found"}, {}
            if match.group(2):
                return 200, self._context(status), {}
            return 200, status, {}
        match = re.fullmatch(r"/api/v1/timelines/tag/([^/]+)", path)
        if match:
            tag = match.group(1).lower()
            tagged = [
                s
                for s in self.statuses.values()
                if s["visibility"] == "public" and tag in {t["name"] for t in s["tags"]}
            ]
            if not tagged:
                return 404, {"error": "Record not found"}, {}
            return self._page(path, tagged, query)
        return 404, {"error": "Record not found"}, {}

    def _page(
        self, path: str, items: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        def one(name: str) -> int | None:
            values = query.get(name)
            return int(values[0]) if values and values[0].isdigit() else None

        limit = min(one("limit") or 20, 80)
        ordered = sorted(items, key=lambda i: int(i["id"]))
        if (max_id := one("max_id")) is not None:
            ordered = [i for i in ordered if int(i["id"]) < max_id]
        if (since_id := one("since_id")) is not None:
            ordered = [i for i in ordered if int(i["id"]) > since_id]
        if (min_id := one("min_id")) is not None:
            page = [i for i in ordered if int(i["id"]) > min_id][:limit]
        else:
            page = ordered[-limit:]
        page.reverse()  # newest first, as the API answers
        headers = {}
        if page:
            base = {k: v for k, v in query.items() if k not in ("max_id", "min_id", "since_id")}
            newer = urlencode({**base, "min_id": page[0]["id"]}, doseq=True)
            older = urlencode({**base, "max_id": page[-1]["id"]}, doseq=True)
            url = f"http://{INSTANCE}{path}"
            headers["Link"] = f'<{url}?{older}>; rel="next", <{url}?{newer}>; rel="prev"'
        return 200, page, headers

    def _context(self, status: dict[str, Any]) -> dict[str, Any]:
        ancestors = []
        parent = self.statuses.get(status["in_reply_to_id"] or "")
        while parent is not None:
            ancestors.insert(0, parent)
            parent = self.statuses.get(parent["in_reply_to_id"] or "")
        descendants: list[dict[str, Any]] = []
        frontier = [status["id"]]
        while frontier:
            children = sorted(
                (s for s in self.statuses.values() if s["in_reply_to_id"] in frontier),
                key=lambda s: int(s["id"]),
            )
            descendants += children
            frontier = [c["id"] for c in children]
        return {"ancestors": ancestors, "descendants": descendants}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMastodon
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.fake.requests.append(f"{method} {self.path}")
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.fake.take_reset():
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()
            self.close_connection = True
            return
        status, body, headers = self.fake.answer(method, parts.path, parse_qs(parts.query), token)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read fake.requests


@contextmanager
def running() -> Iterator[FakeMastodon]:
    """A started fake, stopped afterwards."""
    fake = FakeMastodon()
    with fake:
        yield fake
