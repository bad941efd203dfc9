"""The Matrix watcher (and poster), with ``matrix-nio``: the team's internal room, where ooo
may ask for the owner (``ask``) and watches the answers. **Unencrypted rooms only**: reading
an encrypted room needs nio's ``e2e`` extra (libolm) and a device the team verifies; ooo
refuses an encrypted room with a clear error instead.

- **Signing in**: with an access token (``token_command``), or with the account's password, in
  which case the access token that login returns is kept in the
  :class:`~ooo.networks.base.SessionVault` and reused (a password login creates a new device
  each time). The room is resolved once: a room id (``!id:server`` or the server-less ``!id``
  of room version 12 and later) as it is, an alias (``#room:server``) through the directory;
  the account joins it if it is not a member yet.
- **Reading**: the room's messages after a cursor (``/messages`` forwards from a pagination
  token); a first poll reads back to the away window's start. The room's timeline holds every
  message, threads included, so threads need no re-reading (:attr:`rereads_threads` is
  False); :meth:`MatrixWatcher.thread` still reads one through its ``m.thread`` relations.
  A thread reply carries ``m.relates_to: {rel_type: m.thread, event_id: <root>}``, a plain
  reply only ``m.in_reply_to``; edits (``m.replace``) are not read as new messages.
- **Posting** a notice (``ask``): an ``m.text`` message with an HTML version, sent with a
  transaction id derived from the inquiry, so a retry after a crash is the same event.

nio is asynchronous; this module wraps it for a plain thread: each watcher owns an event loop,
and every call runs on it with a timeout (:attr:`MatrixWatcher.timeout`), so a homeserver that
stops answering costs one timeout, never a hung thread. nio's own retrying is off
(``max_limit_exceeded=0``, ``max_timeouts=0``): the runner's backoff decides.

Errors: ``M_LIMIT_EXCEEDED`` (429, with ``retry_after_ms``), 5xx, timeouts and refused
connections are :class:`~ooo.networks.base.NetworkUnavailable`; ``M_UNKNOWN_TOKEN`` (401),
``M_FORBIDDEN`` (not allowed to read or post in the room), an alias that does not exist and an
encrypted room are :class:`~ooo.networks.base.NetworkAuthError` (the owner must act).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp

# matrix-nio ships no type information (no py.typed): its names are Any here.
from nio import AsyncClient, AsyncClientConfig, ErrorResponse  # type: ignore[import-untyped]
from nio.api import MessageDirection, RelationshipType  # type: ignore[import-untyped]

from ooo.core.htmltext import html_to_text
from ooo.core.network import matrix_to
from ooo.core.social import Post, make_post
from ooo.errors import OooError
from ooo.networks.base import (
    Batch,
    MemoryVault,
    NetworkAuthError,
    NetworkUnavailable,
    Poster,
    Secret,
    SessionVault,
    Watcher,
)

log = logging.getLogger("ooo")

T = TypeVar("T")

PAGE_LIMIT = 100
MAX_PAGES = 10
MAX_THREAD_EVENTS = 500
MESSAGES = {"types": ["m.room.message"]}
_AUTH_CODES = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_FORBIDDEN", "M_NOT_FOUND"})
_HASHTAG = re.compile(r"(?<![\w#])#([A-Za-z0-9_]{1,50})\b")
_FALLBACK = re.compile(r"\A(?:> ?[^\n]*\n)+\n?")


class MatrixWatcher(Watcher, Poster):
    """One room, watched (and, with ``ask``, posted to) as ``user``. Give ``token`` (an
    access token) or ``password``; ``vault`` keeps the access token a password login returns."""

    kind = "matrix"
    rereads_threads = False
    search_interval = None

    def __init__(
        self,
        *,
        homeserver: str,
        user: str,
        room: str,
        token: Secret | None = None,
        password: Secret | None = None,
        vault: SessionVault | None = None,
        name: str | None = None,
        timeout: float = 30.0,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = MAX_PAGES,
    ) -> None:
        if (token is None) == (password is None):
            raise ValueError("MatrixWatcher needs a token or a password (one of them)")
        self.homeserver = homeserver.rstrip("/")
        self.user = user
        self.room_ref = room
        self.name = name or f"matrix:{room}"
        self._token = token
        self._password = password
        self.vault: SessionVault = vault if vault is not None else MemoryVault()
        self.timeout = timeout
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.room_id: str | None = None
        """The resolved room id (after :meth:`open`)."""
        self.logins = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: AsyncClient | None = None
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def own(self) -> tuple[str, ...]:
        return (self.user,)

    # -- the event loop ---------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        """Run ``coro`` on this watcher's loop, at most :attr:`timeout` seconds; transport
        failures become NetworkUnavailable."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        try:
            with self._lock:
                return self._loop.run_until_complete(asyncio.wait_for(coro, self.timeout))
        except TimeoutError as exc:
            raise NetworkUnavailable(
                f"matrix {self.homeserver}: no answer to {what} within {self.timeout:g} s"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkUnavailable(
                f"matrix {self.homeserver}: {what} failed ({type(exc).__name__})"
            ) from exc

    def _check(self, response: T, what: str) -> T:
        """``response``, unless nio returned an error response: then the mapped error."""
        if not isinstance(response, ErrorResponse):
            return response
        code = str(response.status_code or "")
        status = getattr(getattr(response, "transport_response", None), "status", None)
        message = f"matrix {self.homeserver}: {what}: {code or status} {response.message}"
        if code == "M_LIMIT_EXCEEDED" or status == 429:
            retry = response.retry_after_ms / 1000 if response.retry_after_ms else None
            raise NetworkUnavailable(message, retry)
        if code in _AUTH_CODES or status in (401, 403):
            raise NetworkAuthError(message)
        raise NetworkUnavailable(message)

    # -- signing in -------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        client = AsyncClient(
            self.homeserver,
            self.user,
            config=AsyncClientConfig(
                max_limit_exceeded=0,
                max_timeouts=0,
                request_timeout=self.timeout,
                encryption_enabled=False,
                store_sync_tokens=False,
            ),
        )
        self._client = client
        try:
            self._sign_in(client)
            self.room_id = self._resolve(client)
        except BaseException:
            self.close()
            raise

    def _secret(self, source: Secret) -> str:
        try:
            return source()
        except OooError as exc:
            raise NetworkAuthError(f"matrix {self.user}: no credentials: {exc}") from exc

    def _sign_in(self, client: AsyncClient) -> None:
        if self._token is not None:
            client.access_token = self._secret(self._token)
            client.user_id = self.user
            who = self._check(self._run(client.whoami(), "whoami"), "sign-in")
            client.restore_login(self.user, who.device_id or "", client.access_token)
            return
        saved = self._saved()
        if saved is not None:
            client.restore_login(self.user, saved["device_id"], saved["access_token"])
            try:
                self._check(self._run(client.whoami(), "whoami"), "sign-in")
                return
            except NetworkAuthError:
                log.info("matrix %s: the saved session was refused; signing in", self.user)
                self.vault.clear()
        assert self._password is not None
        self.logins += 1
        response = self._run(client.login(self._secret(self._password), device_name="ooo"), "login")
        done = self._check(response, "password login")
        self.vault.save(
            json.dumps({"device_id": done.device_id, "access_token": done.access_token})
        )

    def _saved(self) -> dict[str, str] | None:
        raw = self.vault.load()
        if not raw:
            return None
        try:
            saved = json.loads(raw)
        except ValueError:
            return None
        ok = isinstance(saved, dict) and all(
            isinstance(saved.get(k), str) for k in ("device_id", "access_token")
        )
        return saved if ok else None

    def _resolve(self, client: AsyncClient) -> str:
        room = self.room_ref
        if room.startswith("#"):
            found = self._check(self._run(client.room_resolve_alias(room), "alias"), room)
            room = str(found.room_id)
        joined = self._check(self._run(client.joined_rooms(), "joined rooms"), "joined rooms")
        if room not in joined.rooms:
            self._check(self._run(client.join(room), "join"), f"joining {self.room_ref}")
            log.info("matrix %s: joined %s", self.user, self.room_ref)
        encryption = self._run(client.room_get_state_event(room, "m.room.encryption"), "room state")
        if not isinstance(encryption, ErrorResponse) and encryption.content:
            raise NetworkAuthError(
                f"matrix {self.room_ref} is encrypted: ooo reads unencrypted rooms only "
                "(pick an unencrypted room for ooo to ask and watch in)"
            )
        return room

    def close(self) -> None:
        client, self._client = self._client, None
        loop = self._loop
        if client is not None and loop is not None and not loop.is_closed():
            try:
                with self._lock:
                    loop.run_until_complete(asyncio.wait_for(client.close(), 5))
            except Exception:  # closing is best effort
                log.debug("matrix: closing the client failed", exc_info=True)
        if loop is not None and not loop.is_closed():
            loop.close()
        self._loop = None

    def _require(self) -> tuple[AsyncClient, str]:
        if self._client is None or self.room_id is None:
            raise NetworkUnavailable("matrix: not signed in (call open() first)")
        return self._client, self.room_id

    # -- reading ----------------------------------------------------------------------------

    def fetch_new(self, cursor: str | None, since: datetime) -> Batch:
        client, room = self._require()
        events: list[dict[str, Any]] = []
        if not cursor:
            # From now back to the window's start; the forward cursor is "now".
            first = self._messages(client, room, None, MessageDirection.back)
            token, newest = first.end, first.start
            events += _sources(first.chunk)
            for _ in range(self.max_pages - 1):
                times = [_ts(e) for e in events]
                if not first.chunk or token is None or (times and min(times) < since):
                    break
                first = self._messages(client, room, token, MessageDirection.back)
                events += _sources(first.chunk)
                token = first.end
            next_cursor = str(newest)
        else:
            token = cursor
            for _ in range(self.max_pages):
                page = self._messages(client, room, token, MessageDirection.front)
                events += _sources(page.chunk)
                if not page.end or page.end == token:
                    break
                token = page.end
                if not page.chunk:
                    break
            next_cursor = token
        posts = self._posts(events, room)
        if not cursor:
            posts = [p for p in posts if p.created_at >= since]
        return Batch(posts, next_cursor)

    def _messages(self, client: AsyncClient, room: str, token: str | None, direction: Any) -> Any:
        response = self._run(
            client.room_messages(
                room,
                start=token,
                direction=direction,
                limit=self.page_limit,
                message_filter=MESSAGES,
            ),
            "messages",
        )
        return self._check(response, "reading the room")

    def thread(self, root: str) -> list[Post]:
        client, room = self._require()

        async def collect() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            async for event in client.room_get_event_relations(
                room, root, rel_type=RelationshipType.thread
            ):
                if isinstance(event, ErrorResponse):
                    self._check(event, "reading a thread")
                found += _sources([event])
                if len(found) >= MAX_THREAD_EVENTS:
                    break
            return found

        return [p for p in self._posts(self._run(collect(), "thread"), room) if p.root == root]

    def check(self) -> str:
        self.open()
        client, room = self._require()
        members = self._check(self._run(client.joined_members(room), "members"), "members")
        return (
            f"signed in to {self.homeserver} as {self.user}; room {self.room_ref} "
            f"({room}), {len(members.members)} members, unencrypted"
        )

    # -- events -> posts --------------------------------------------------------------------

    def _display_names(self, room: str, senders: set[str]) -> None:
        if senders <= self._names.keys() or self._client is None:
            return
        try:
            members = self._check(
                self._run(self._client.joined_members(room), "members"), "members"
            )
        except NetworkUnavailable:
            return  # names are a courtesy; the handles are the record
        for member in members.members:
            self._names[str(member.user_id)] = str(member.display_name or "")

    def _posts(self, events: list[dict[str, Any]], room: str) -> list[Post]:
        self._display_names(room, {str(e.get("sender")) for e in events})
        posts = []
        for event in events:
            try:
                post = self._post(event, room)
            except Exception:  # one unreadable event never costs the others
                log.debug("matrix: skipped an event that could not be read", exc_info=True)
                continue
            if post is not None:
                posts.append(post)
        return posts

    def _post(self, event: dict[str, Any], room: str) -> Post | None:
        content = event.get("content")
        event_id, sender = event.get("event_id"), event.get("sender")
        if event.get("type") != "m.room.message" or not isinstance(content, dict):
            return None
        if not isinstance(event_id, str) or not isinstance(sender, str):
            return None
        relates = content.get("m.relates_to")
        relates = relates if isinstance(relates, dict) else {}
        if relates.get("rel_type") == "m.replace":
            return None  # an edit of an earlier message, not something new
        root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        in_reply = relates.get("m.in_reply_to")
        reply_to = in_reply.get("event_id") if isinstance(in_reply, dict) else None
        body = content.get("body")
        html = content.get("formatted_body")
        if content.get("format") == "org.matrix.custom.html" and isinstance(html, str):
            html = re.sub(r"(?is)<mx-reply>.*?</mx-reply>", "", html)
            text = html_to_text(html, cap=20_000)
        else:
            text = _FALLBACK.sub("", body) if isinstance(body, str) else ""
        mentions = _get_list(content, "m.mentions", "user_ids")
        server = sender.split(":", 1)[1] if ":" in sender else None
        return make_post(
            network="matrix",
            id=event_id,
            link=matrix_to(room, event_id, via=server),
            author=sender,
            author_name=self._names.get(sender, ""),
            created_at=_time(event.get("origin_server_ts")),
            text=text,
            tags=_HASHTAG.findall(text),
            reply_to=reply_to if isinstance(reply_to, str) else None,
            root=root if isinstance(root, str) else None,
            mentions=[m for m in mentions if isinstance(m, str)],
        )

    # -- posting ----------------------------------------------------------------------------

    @property
    def room(self) -> str:
        return self.room_id or self.room_ref

    def post(self, text: str, html: str, *, txn_id: str) -> str:
        client, room = self._require()
        content = {
            "msgtype": "m.text",
            "body": text,
            "format": "org.matrix.custom.html",
            "formatted_body": html,
        }
        response = self._run(
            client.room_send(room, "m.room.message", content, tx_id=txn_id), "send"
        )
        return str(self._check(response, "posting the notice").event_id)

    def link_for(self, post_id: str) -> str:
        server = self.user.split(":", 1)[1] if ":" in self.user else None
        return matrix_to(self.room, post_id, via=server)


def _sources(chunk: list[Any]) -> list[dict[str, Any]]:
    out = []
    for event in chunk:
        source = getattr(event, "source", None)
        if isinstance(source, dict):
            out.append(source)
    return out


def _ts(event: dict[str, Any]) -> datetime:
    return _time(event.get("origin_server_ts")) or datetime.fromtimestamp(0, UTC)


def _time(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**14:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _get_list(content: dict[str, Any], *path: str) -> list[Any]:
    value: Any = content
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return list(value) if isinstance(value, list) else []
