"""A Bluesky PDS on loopback that answers the documented XRPC API, for driving the real
``atproto`` SDK (ooo.networks.bluesky) in tests. Standard library only.

What it serves, as the lexicons (atproto.com, docs.bsky.app) define them:

- ``com.atproto.server.createSession`` (handle + app password; 401 ``AuthenticationRequired``
  for a wrong one; login rate limit: 429 with ``ratelimit-*`` headers past ``login_limit``)
  and ``com.atproto.server.refreshSession``. Access and refresh tokens are JWTs whose ``exp``
  the SDK reads to decide when to refresh; an expired access token answers 400
  ``ExpiredToken``, a revoked session 401 ``AuthenticationRequired``;
- ``app.bsky.notification.listNotifications`` (``reasons``, ``limit`` up to 100, ``cursor``),
  newest first, each with the post's record;
- ``app.bsky.feed.getPostThread`` (``uri``, ``depth``, ``parentHeight``): a
  ``threadViewPost`` with nested ``replies``; 400 ``NotFound`` for an unknown post;
- ``app.bsky.feed.searchPosts`` (``q``, ``tag``, ``since``, ``limit``).

Failures on demand: :meth:`FakeBluesky.fail_next` (any status, any headers),
:meth:`FakeBluesky.expire_access` (the next request meets an expired token: the SDK must
refresh), :meth:`FakeBluesky.revoke_sessions`.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OWNER = "bob.bsky.test"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    """An (unsigned, as far as the client can tell) JWT with these claims."""
    header = _b64(json.dumps({"alg": "ES256K", "typ": "at+jwt"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'signature')}"


@dataclass
class Profile:
    did: str
    handle: str
    display_name: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "handle": self.handle,
            "displayName": self.display_name,
            "labels": [],
        }


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeBluesky:
    """A PDS with the owner ``bob.bsky.test`` and its app password."""

    def __init__(self, *, login_limit: int = 30, access_ttl: float = 7200.0) -> None:
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self.owner = Profile("did:plc:bob0000000000000000000", OWNER, "Bob Example")
        self.profiles = {self.owner.did: self.owner}
        self.posts: dict[str, dict[str, Any]] = {}
        """uri -> PostView."""
        self.notifications: list[dict[str, Any]] = []
        self.access: dict[str, float] = {}
        """Valid access tokens and when they expire (epoch seconds)."""
        self.refresh: set[str] = set()
        self.access_ttl = access_ttl
        self.login_limit = login_limit
        self.logins = 0
        self.refreshes = 0
        self.failures: list[Failure] = []
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeBluesky:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the people --------------------------------------------------------------------------

    def profile(self, handle: str, name: str = "") -> Profile:
        with self._lock:
            p = Profile(f"did:plc:{handle.split('.')[0]:0<24}"[:32], handle, name)
            self.profiles[p.did] = p
            return p

    def post(
        self,
        author: Profile,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        tags: tuple[str, ...] = (),
        at: datetime | None = None,
        record: dict[str, Any] | None = None,
    ) -> str:
        """Publish a post (returns its at:// URI). Mentions of "@handle" and "#tags" in the
        text become facets, as the apps write them; ``record`` replaces the record (hostile
        tests). The owner is notified of mentions, replies in their threads and quotes."""
        with self._lock:
            rkey = f"3l{next(self._serial):011d}"
            uri = f"at://{author.did}/app.bsky.feed.post/{rkey}"
            when = (at or datetime.now(UTC)).astimezone(UTC)
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
            facets = []
            encoded = text.encode()
            for handle in [p.handle for p in self.profiles.values()]:
                start = encoded.find(f"@{handle}".encode())
                if start >= 0:
                    did = next(p.did for p in self.profiles.values() if p.handle == handle)
                    facets.append(
                        self._facet(
                            start,
                            start + len(handle) + 1,
                            {"$type": "app.bsky.richtext.facet#mention", "did": did},
                        )
                    )
            for tag in tags:
                start = encoded.find(f"#{tag}".encode())
                if start >= 0:
                    facets.append(
                        self._facet(
                            start,
                            start + len(tag) + 1,
                            {"$type": "app.bsky.richtext.facet#tag", "tag": tag},
                        )
                    )
            body: dict[str, Any] = {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": stamp,
                "langs": ["en"],
            }
            if facets:
                body["facets"] = facets
            parent = self.posts.get(reply_to or "")
            if parent is not None:
                root = parent["record"].get("reply", {}).get("root") or {
                    "uri": parent["uri"],
                    "cid": parent["cid"],
                }
                body["reply"] = {
                    "root": root,
                    "parent": {"uri": parent["uri"], "cid": parent["cid"]},
                }
            quoted = self.posts.get(quote or "")
            if quoted is not None:
                body["embed"] = {
                    "$type": "app.bsky.embed.record",
                    "record": {"uri": quoted["uri"], "cid": quoted["cid"]},
                }
            view = {
                "uri": uri,
                "cid": f"bafyrei{rkey}",
                "author": author.json(),
                "record": record if record is not None else body,
                "indexedAt": stamp,
                "replyCount": 0,
                "likeCount": 0,
                "labels": [],
            }
            self.posts[uri] = view
            reason = None
            if any(f["features"][0].get("did") == self.owner.did for f in facets):
                reason = "mention"
            if parent is not None and self.owner.did in (
                parent["author"]["did"],
                self._author_of(body["reply"]["root"]["uri"]),
            ):
                reason = "reply"
            if quoted is not None and quoted["author"]["did"] == self.owner.did:
                reason = "quote"
            if reason and author.did != self.owner.did:
                self.notifications.append(
                    {
                        "uri": uri,
                        "cid": view["cid"],
                        "author": author.json(),
                        "reason": reason,
                        "record": view["record"],
                        "isRead": False,
                        "indexedAt": stamp,
                        "labels": [],
                    }
                )
            return uri

    def _author_of(self, uri: str) -> str | None:
        view = self.posts.get(uri)
        return view["author"]["did"] if view else None

    @staticmethod
    def _facet(start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
        return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}

    # -- failures ----------------------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int = 503,
        headers: dict[str, str] | None = None,
        error: str = "InternalServerError",
    ) -> None:
        with self._lock:
            body = {"error": error, "message": "try again later"}
            self.failures.extend(Failure(status, body, dict(headers or {})) for _ in range(n))

    def expire_access(self) -> None:
        """Every access token issued so far expires now (the SDK refreshes on its own when it
        sees the expiry coming; a token already expired is refused with ExpiredToken)."""
        with self._lock:
            for token in self.access:
                self.access[token] = 0.0

    def revoke_sessions(self) -> None:
        with self._lock:
            self.access.clear()
            self.refresh.clear()

    # -- answering ---------------------------------------------------------------------------

    def answer(
        self, method: str, nsid: str, query: dict[str, list[str]], body: Any, token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self.failures:
                f = self.failures.pop(0)
                return f.status, f.body, f.headers
            if nsid == "com.atproto.server.createSession" and method == "POST":
                return self._create_session(body)
            if nsid == "com.atproto.server.refreshSession" and method == "POST":
                if token not in self.refresh:
                    return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
                self.refresh.discard(token)
                self.refreshes += 1
                return 200, self._session(), {}
            if token is None or token not in self.access:
                return (
                    401,
                    {"error": "AuthenticationRequired", "message": "Authentication Required"},
                    {},
                )
            if self.access[token] < time.time():
                return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
            if nsid == "app.bsky.notification.listNotifications":
                return self._notifications(query)
            if nsid == "app.bsky.feed.getPostThread":
                return self._thread(query)
            if nsid == "app.bsky.feed.searchPosts":
                return self._search(query)
            if nsid == "app.bsky.actor.getProfile":
                return 200, self.owner.json(), {}
            return 501, {"error": "MethodNotImplemented", "message": nsid}, {}

    def _create_session(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        self.logins += 1
        if self.logins > self.login_limit:
            reset = int(time.time()) + 300
            return (
                429,
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                {
                    "ratelimit-limit": str(self.login_limit),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-policy": f"{self.login_limit};w=300",
                },
            )
        ident = body.get("identifier") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if ident not in (OWNER, self.owner.did) or password != APP_PASSWORD:
            return (
                401,
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
                {},
            )
        return 200, self._session(), {}

    def _session(self) -> dict[str, Any]:
        n = next(self._serial)
        now = time.time()
        access = jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": self.owner.did,
                "iat": int(now),
                "exp": int(now + self.access_ttl),
                "n": n,
            }
        )
        refresh = jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": self.owner.did,
                "iat": int(now),
                "exp": int(now + 90 * 86400),
                "n": n,
            }
        )
        self.access[access] = now + self.access_ttl
        self.refresh.add(refresh)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": OWNER,
            "did": self.owner.did,
            "active": True,
        }

    def _notifications(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        reasons = set(query.get("reasons", []))
        limit = min(int((query.get("limit") or ["50"])[0]), 100)
        start = int((query.get("cursor") or ["0"])[0])
        items = [n for n in reversed(self.notifications) if not reasons or n["reason"] in reasons]
        page = items[start : start + limit]
        body: dict[str, Any] = {"notifications": page}
        if start + limit < len(items):
            body["cursor"] = str(start + limit)
        return 200, body, {}

    def _thread(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        uri = (query.get("uri") or [""])[0]
        view = self.posts.get(uri)
        if view is None:
            return 400, {"error": "NotFound", "message": f"Post not found: {uri}"}, {}
        depth = int((query.get("depth") or ["6"])[0])
        return 200, {"thread": self._node(view, depth)}, {}

    def _node(self, view: dict[str, Any], depth: int) -> dict[str, Any]:
        children = [
            v
            for v in self.posts.values()
            if v["record"].get("reply", {}).get("parent", {}).get("uri") == view["uri"]
        ]
        node: dict[str, Any] = {"$type": "app.bsky.feed.defs#threadViewPost", "post": view}
        if depth > 0:
            node["replies"] = [self._node(c, depth - 1) for c in children]
        return node

    def _search(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        tags = {t.lower() for t in query.get("tag", [])}
        q = (query.get("q") or [""])[0].lower()
        found = [
            v
            for v in self.posts.values()
            if q in str(v["record"].get("text", "")).lower()
            or tags
            & {str(f["features"][0].get("tag", "")).lower() for f in v["record"].get("facets", [])}
        ]
        return 200, {"posts": list(reversed(found))[:25], "hitsTotal": len(found)}, {}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBluesky
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.fake.requests.append(f"{method} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        nsid = parts.path.removeprefix("/xrpc/")
        status, answer, headers = self.fake.answer(method, nsid, parse_qs(parts.query), body, token)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
