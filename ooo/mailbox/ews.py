"""The Exchange mailbox backend, over ``exchangelib`` (EWS).

It watches one folder of an on-premises Exchange Server 2016/2019/SE through Exchange Web
Services, behind the same :class:`~ooo.mailbox.base.Mailbox` interface as IMAP:

* **Cursors** are ``"ews1:"`` plus a small JSON object: the folder's SyncFolderItems sync state
  and, right after a baseline, the ids of the messages received since the away window began
  that have not been handed out yet. A sync state is only known once a SyncFolderItems call is
  complete, so one call is one batch: ``fetch_new`` asks for at most ``limit`` changes, reads the
  new messages (GetItem, always with a short ``only_fields`` list; the default would pull about
  100 fields including the MIME content of every message), and returns the new state as the
  cursor. A crash before the engine stores it replays the batch; the engine recognises every
  message again by its key (the Exchange item id, which does not change while the item stays in
  the folder) and answers nothing twice. ``ErrorInvalidSyncStateData`` becomes CursorInvalid and
  the engine takes a fresh baseline.
* **Baseline**: Exchange has no "sync state as of now", so ``baseline(since)`` walks the folder
  once with a sync that reads only item ids and arrival times (cheap, but proportional to the
  folder's size; done on first start and after an invalid state, never in steady running), and
  keeps the ids of mail received at or after ``since`` in the cursor: that mail is answered,
  older mail is never read.
* **Messages** become the engine's header block and plain-text body, and tags become Exchange
  categories (``$OooResolved`` is ``ooo: resolved``), in :mod:`ooo.mailbox.ews_items`.
* **Waiting** uses a streaming subscription (Subscribe / GetStreamingEvents on a connection of
  its own, in a background thread) only as a wake-up signal; the sync state stays the source of
  truth. When the server refuses streaming, or the stream fails, ``wait`` polls with a
  SyncFolderItems call that is never stored.
* **append** saves a copy of a message (its exact MIME bytes) into a folder, created under the top
  of the mailbox when missing.
* **TLS**: the server's certificate is verified; ``ca_file`` adds a private CA to the system's,
  for this mailbox's own connections only (:mod:`ooo.mailbox.ews_connection`).

Every ``exchangelib``, ``requests`` and socket error is mapped here to MailboxUnavailable or
MailboxAuthError; messages name the server and the user, never the password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchangelib import Account, Folder, Message
from exchangelib import errors as ews_errors
from exchangelib.folders import FolderCollection
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems

from ooo.host.threads import child_name
from ooo.mailbox.base import (
    Batch,
    CursorInvalid,
    FetchedMessage,
    Mailbox,
    MailboxAuthError,
    MailboxUnavailable,
    Watching,
)
from ooo.mailbox.ews_connection import (
    AUTH_MODES,
    Auth,
    ca_advice,
    certificate_refused,
    configuration,
    tls_context,
    use_own_protocol,
)
from ooo.mailbox.ews_items import (
    MESSAGE_FIELDS,
    MSGFLAG_READ,
    aware,
    category_to_keyword,
    is_meeting_message,
    keyword_to_category,
    to_fetched,
    with_mime,
)

log = logging.getLogger("ooo")

_CURSOR_PREFIX = "ews1:"
#: Exchange caps MaxChangesReturned at 512.
_MAX_CHANGES = 512
#: inbox_holds() looks at this many of the newest Inbox items with the Message-ID (a server
#: that ignored the restriction would give the newest items of all: the report is among them).
_REPORT_LOOKUP = 20
_STREAM_EVENTS = ["NewMailEvent", "CreatedEvent", "MovedEvent"]
#: Minutes one GetStreamingEvents connection stays open (EWS allows 1-30). Short, so a closed
#: mailbox's stream thread ends soon; a new connection a minute costs one small request.
_STREAM_MINUTES = 1
#: Well-known folder names a config may use for distinguished folders.
_DISTINGUISHED = {
    "inbox": "inbox",
    "sent": "sentitems",
    "sent items": "sentitems",
    "sentitems": "sentitems",
    "drafts": "drafts",
}


@dataclass(frozen=True)
class _Cursor:
    state: str
    pending: tuple[str, ...] = ()

    def encode(self) -> str:
        return _CURSOR_PREFIX + json.dumps(
            {"state": self.state, "pending": list(self.pending)}, separators=(",", ":")
        )

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        if not text.startswith(_CURSOR_PREFIX):
            raise CursorInvalid(f"not an Exchange cursor: {text[:40]!r}")
        try:
            data = json.loads(text[len(_CURSOR_PREFIX) :])
            state, pending = data["state"], data.get("pending", [])
        except (ValueError, TypeError, KeyError) as exc:
            raise CursorInvalid(f"malformed Exchange cursor {text[:40]!r}") from exc
        if not isinstance(state, str) or not state:
            raise CursorInvalid(f"malformed Exchange cursor {text[:40]!r}")
        if not isinstance(pending, list) or not all(isinstance(p, str) for p in pending):
            raise CursorInvalid(f"malformed Exchange cursor {text[:40]!r}")
        return cls(state, tuple(pending))


class EwsMailbox(Mailbox):
    """One Exchange folder, watched for new mail through EWS.

    ``service_endpoint`` is the EWS URL (``https://mail.example.com/EWS/Exchange.asmx``).
    ``password_provider`` is called at each open(), so a changed keyring entry is picked up on
    reconnect; with ``auth="oauth2"`` it must return an access token. ``poll_interval`` is how
    often ``wait`` asks the server when streaming notifications are not available;
    ``use_streaming=False`` forces polling. ``ca_file`` (``mailbox.ca_file``) is a PEM bundle
    with a private CA that signed the server's certificate, trusted for this server only.
    """

    # Item ids are the same after a sync state is rejected and the folder is read again.
    stable_keys = True

    name = "exchange"

    def __init__(
        self,
        service_endpoint: str,
        username: str,
        password_provider: Callable[[], str],
        *,
        primary_smtp_address: str | None = None,
        auth: Auth = "ntlm",
        folder: str = "INBOX",
        poll_interval: float = 60.0,
        use_streaming: bool = True,
        max_connections: int = 4,
        ca_file: str | None = None,
    ) -> None:
        if auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, not {auth!r}")
        self.service_endpoint = service_endpoint
        self.username = username
        self.primary_smtp_address = primary_smtp_address or username
        if "@" not in self.primary_smtp_address:
            raise ValueError(
                f"the Exchange login {username!r} is not an address: set "
                "mailbox.primary_smtp_address to the mailbox's email address"
            )
        self.auth: Auth = auth
        self.folder = folder
        self.poll_interval = poll_interval
        self.use_streaming = use_streaming
        self.max_connections = max_connections
        self.ca_file = ca_file
        """A private CA (PEM) trusted for this server in addition to the system's CAs."""
        self._password_provider = password_provider
        self._config: Any = None
        self._account: Any = None  # exchangelib.Account, untyped
        self._folder: Any = None
        self._secret: str = ""
        # The sync state of the newest cursor handed out: what polling compares against.
        self._last_state: str | None = None
        # A batch left changes behind (or a baseline left messages pending): wait() returns at
        # once, as nothing on the server will announce them again.
        self._announced = False
        self._watcher: _Watcher | None = None
        # Set by interrupt(): a wait() in another thread returns now.
        self._woken = threading.Event()

    @property
    def where(self) -> str:
        """Description for messages (never the password)."""
        return f"Exchange server {self.service_endpoint} (user {self.username!r})"

    @property
    def connected(self) -> bool:
        return self._account is not None

    @property
    def account(self) -> Any:
        """The exchangelib Account (for the EWS transport and ``ooo check``); open() first."""
        return self._require()

    # -- connection ----------------------------------------------------------------------

    def open(self) -> None:
        if self._account is not None:
            return
        tls = tls_context(self.ca_file, self.where)
        secret = self._password_provider()
        self._secret = secret
        config = configuration(
            self.service_endpoint,
            self.auth,
            self.username,
            secret,
            max_connections=self.max_connections,
        )
        account: Any = None
        try:
            with self._mapped("logging in"):
                account = Account(
                    self.primary_smtp_address,
                    config=config,
                    autodiscover=False,
                    access_type="delegate",
                )
                # Before any request: this mailbox's own sessions, with its own TLS trust.
                use_own_protocol(account, config, tls)
                folder = self._find_folder(account, self.folder, create=False)
                if folder is None:
                    raise MailboxUnavailable(
                        f"folder {self.folder!r} not found on {self.where}; check mailbox.folder"
                    )
        except BaseException:
            if account is not None:
                with contextlib.suppress(Exception):
                    account.protocol.close()
            raise
        self._config, self._account, self._folder = config, account, folder
        self._announced = False
        if self.use_streaming:
            self._watcher = _Watcher.start(folder, self.where)

    def watching(self) -> Watching:
        streaming = self._watcher is not None
        how = "streaming notifications" if streaming else f"polling every {self.poll_interval:g} s"
        return Watching((self.folder,), how)

    def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        account = self._account
        self._account = self._folder = self._config = None
        if account is None:
            return
        with contextlib.suppress(Exception):  # close() never raises
            account.protocol.close()

    @contextlib.contextmanager
    def _mapped(self, doing: str) -> Iterator[None]:
        """Turn library errors raised inside the block into the project's own.

        On anything but a per-item error the account is dropped: the engine's answer to
        MailboxUnavailable is to open() again, which starts from a clean session.
        """
        try:
            yield
        except (MailboxUnavailable, MailboxAuthError, CursorInvalid):
            raise
        except ews_errors.ErrorInvalidSyncStateData as exc:
            # Not a connection problem: the engine takes a fresh baseline on this session.
            raise CursorInvalid(
                f"{self.where} no longer accepts the stored sync state of {self.folder!r}"
            ) from exc
        except ews_errors.UnauthorizedError as exc:
            self._drop()
            raise MailboxAuthError(
                f"{self.where} refused the login ({self._describe(exc)}); check mailbox.username, "
                "mailbox.auth and the stored password (ooo secret set)"
            ) from exc
        except (ews_errors.ErrorAccessDenied, ews_errors.ErrorNonExistentMailbox) as exc:
            self._drop()
            raise MailboxAuthError(
                f"{self.where} denied access to {self.primary_smtp_address!r} while {doing}: "
                f"{self._describe(exc)}; check mailbox.primary_smtp_address"
            ) from exc
        except (ews_errors.EWSError, OSError, ValueError, TypeError, AttributeError) as exc:
            # exchangelib reports malformed answers as ValueError/TypeError/AttributeError too.
            self._drop()
            refused = certificate_refused(exc)
            if refused is not None:
                advice = ca_advice(self.ca_file)
                raise MailboxUnavailable(
                    f"{doing} on {self.where} failed: the server's TLS certificate is not "
                    f"trusted (certificate verify failed: {refused[:200]}); {advice}"
                ) from exc
            raise MailboxUnavailable(
                f"{doing} on {self.where} failed: {self._describe(exc)}"
            ) from exc

    def _describe(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return f"{type(exc).__name__}: {text}"[:500]

    def _drop(self) -> None:
        if self._account is not None:
            self.close()

    def _require(self) -> Any:
        if self._account is None:
            raise MailboxUnavailable(f"not connected to {self.where} (open() first)")
        return self._account

    def _find_folder(self, account: Any, name: str, *, create: bool) -> Any:
        """A folder by well-known name ("INBOX", "Sent") or by display name under the top of
        the mailbox; created there when missing and ``create`` is set, else None."""
        known = _DISTINGUISHED.get(name.strip().lower())
        if known == "inbox":
            return account.inbox
        if known == "sentitems":
            return account.sent
        if known == "drafts":
            return account.drafts
        top = account.msg_folder_root
        children = FolderCollection(account=account, folders=[top]).find_folders(depth="Shallow")
        for found in children:
            if isinstance(found, Exception):
                continue
            if (found.name or "").lower() == name.lower():
                return found
        if not create:
            return None
        new = Folder(parent=top, name=name)
        new.save()
        return new

    # -- cursors -------------------------------------------------------------------------

    def baseline(self, since: datetime) -> str:
        if since.tzinfo is None:
            raise ValueError("baseline() needs a timezone-aware datetime")
        self._require()
        pending: list[tuple[datetime, int, str]] = []
        with self._mapped("taking a baseline of " + repr(self.folder)):
            # Starting from no state lists every item once as a "create"; only ids and arrival
            # times are read, and nothing before ``since`` is ever fetched.
            self._folder.item_sync_state = None
            changes = self._folder.sync_items(
                only_fields=["datetime_received"], max_changes_returned=_MAX_CHANGES
            )
            for order, (kind, item) in enumerate(changes):
                if kind != SyncFolderItems.CREATE:
                    continue
                received = aware(item.datetime_received)
                if received is not None and received >= since:
                    pending.append((received, order, item.id))
            state = self._folder.item_sync_state
        pending.sort()
        self._announced = bool(pending)
        cursor = _Cursor(state, tuple(item_id for _, _, item_id in pending))
        self._last_state = state
        return cursor.encode()

    # -- reading -------------------------------------------------------------------------

    def fetch_new(self, cursor: str, limit: int = 100) -> Batch:
        parsed = _Cursor.decode(cursor)
        self._require()
        limit = max(limit, 1)
        watcher = self._watcher
        if watcher is not None:
            # Anything announced from now on may be newer than what this fetch reads.
            watcher.news.clear()
        self._announced = False
        if parsed.pending:
            taken, rest = parsed.pending[:limit], parsed.pending[limit:]
            messages = self._read(list(taken))
            self._announced = bool(rest)
            self._last_state = parsed.state
            return Batch(messages, _Cursor(parsed.state, rest).encode())
        state = parsed.state
        created: list[str] = []
        changed = False
        while True:
            changes, state, last = self._sync_once(state, min(limit, _MAX_CHANGES))
            changed = changed or bool(changes)
            created += [item_id for kind, item_id in changes if kind == SyncFolderItems.CREATE]
            # Changes that are not new mail (our own category updates, reads, deletions) do
            # not end a batch: an empty batch tells the engine that it has caught up.
            if created or last:
                break
        self._announced = not last
        self._last_state = state
        if not changed:
            return Batch([], cursor)
        return Batch(self._read(created), _Cursor(state).encode())

    def _sync_once(self, state: str, limit: int) -> tuple[list[tuple[str, str]], str, bool]:
        """One SyncFolderItems call: (change kind, item id) pairs, the new state, and whether
        the server has nothing more after it."""
        account = self._require()
        service = SyncFolderItems(account=account)
        with self._mapped("looking for new mail"):
            changes = list(
                service.call(
                    folder=self._folder,
                    shape="IdOnly",
                    additional_fields=set(),
                    sync_state=state,
                    ignore=None,
                    max_changes_returned=limit,
                    sync_scope=None,
                )
            )
        out: list[tuple[str, str]] = []
        for kind, item in changes:
            # A read-flag change is an (ItemId, is_read) pair; the others carry an item.
            item_id = item[0].id if kind == SyncFolderItems.READ_FLAG_CHANGE else item.id
            out.append((kind, item_id))
        return out, str(service.sync_state), bool(service.includes_last_item_in_range)

    def _read(self, ids: list[str]) -> list[FetchedMessage]:
        if not ids:
            return []
        account = self._require()
        out: list[FetchedMessage] = []
        meetings: dict[str, int] = {}
        with self._mapped("reading new mail"):
            found = account.fetch(ids=[ItemId(id=i) for i in ids], only_fields=MESSAGE_FIELDS)
            for item_id, item in zip(ids, found, strict=True):
                if isinstance(item, ews_errors.ErrorItemNotFound):
                    continue  # deleted or moved away since the sync: nothing to answer
                if isinstance(item, Exception):
                    raise item
                if is_meeting_message(item):
                    meetings[item_id] = len(out)
                out.append(to_fetched(item_id, item))
        if meetings:
            self._read_calendars(out, meetings)
        return out

    def _read_calendars(self, out: list[FetchedMessage], meetings: dict[str, int]) -> None:
        """Meeting messages (invitations, cancellations, answers) again, as MIME: their
        iCalendar part, which the policy reads, is not in the text body. Rare, so a second
        GetItem for them alone; one that fails keeps its text (it is then ordinary mail)."""
        account = self._require()
        ids = list(meetings)
        with self._mapped("reading an invitation"):
            found = account.fetch(ids=[ItemId(id=i) for i in ids], only_fields=["mime_content"])
            for item_id, item in zip(ids, found, strict=True):
                mime = None if isinstance(item, Exception) else item.mime_content
                if mime:
                    index = meetings[item_id]
                    out[index] = with_mime(out[index], mime)
                else:
                    log.warning(
                        "%s: could not read the calendar part of %s (%s); it is read as mail",
                        self.where,
                        item_id,
                        item if isinstance(item, Exception) else "no MIME content",
                    )

    # -- waiting -------------------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        self._require()
        deadline = time.monotonic() + max(timeout, 0.0)
        if self._announced:
            return True
        watcher = self._watcher
        if watcher is not None:
            while not watcher.failed:
                remaining = deadline - time.monotonic()
                if watcher.news.wait(min(max(remaining, 0.0), 1.0)):
                    return True
                if remaining <= 0:
                    return False
            log.info(
                "%s: streaming notifications stopped (%s); polling", self.where, watcher.failed
            )
            self._watcher = None
        return self._wait_polling(deadline)

    def _wait_polling(self, deadline: float) -> bool:
        while True:
            if self._changed_since_last_fetch():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._woken.wait(min(self.poll_interval, remaining)):
                self._woken.clear()
                return True  # interrupt(): the caller looks at why it was woken

    def interrupt(self) -> None:
        # wait() returns as if news came: the daemon finds nothing new and sees why it woke.
        self._woken.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.news.set()

    def _changed_since_last_fetch(self) -> bool:
        if self._last_state is None:
            return True
        try:
            changes, _state, _last = self._sync_once(self._last_state, _MAX_CHANGES)
        except CursorInvalid:
            return True  # the next fetch_new re-baselines
        return any(kind == SyncFolderItems.CREATE for kind, _ in changes)

    # -- tags ----------------------------------------------------------------------------

    def tag(self, key: str, keyword: str) -> None:
        self._set_category(key, keyword_to_category(keyword), present=True)

    def untag(self, key: str, keyword: str) -> None:
        self._set_category(key, keyword_to_category(keyword), present=False)

    def keywords(self, key: str) -> set[str]:
        item = self._categories_of(key)
        if item is None:
            return set()
        return {category_to_keyword(c) for c in item.categories or []}

    def _categories_of(self, key: str) -> Any:
        account = self._require()
        with self._mapped(f"reading the categories of message {key[:20]}…"):
            (item,) = list(account.fetch(ids=[ItemId(id=key)], only_fields=["categories"]))
            if isinstance(item, ews_errors.ErrorItemNotFound | ews_errors.ErrorInvalidIdMalformed):
                return None  # like IMAP STORE on an expunged UID: silently nothing
            if isinstance(item, Exception):
                raise item
            return item

    def _set_category(self, key: str, category: str, *, present: bool) -> None:
        item = self._categories_of(key)
        if item is None:
            return
        categories = list(item.categories or [])
        if (category in categories) == present:
            return
        if present:
            categories.append(category)
        else:
            categories = [c for c in categories if c != category]
        item.categories = categories or None
        with self._mapped(f"setting the categories of message {key[:20]}…"):
            item.save(update_fields=["categories"])

    # -- other folders -------------------------------------------------------------------

    def append(self, folder: str, raw: bytes, seen: bool = True) -> None:
        account = self._require()
        with self._mapped(f"storing a message in {folder!r}"):
            target = self._find_folder(account, folder, create=True)
            copy = Message(
                account=account,
                folder=target,
                mime_content=raw,
                is_read=seen,
                ooo_message_flags=MSGFLAG_READ if seen else 0,
            )
            copy.save()

    def inbox_holds(self, message_id: str) -> bool:
        account = self._require()
        wanted = message_id.strip()
        with self._mapped("looking for a message in the Inbox"):
            # Restricted on the server; checked here too, among the newest (the report is).
            items = (
                account.inbox.filter(message_id=wanted)
                .order_by("-datetime_received")
                .only("message_id")[:_REPORT_LOOKUP]
            )
            return any((item.message_id or "").strip() == wanted for item in items)

    def correspondents(self, folder: str, limit: int = 20_000) -> set[str]:
        account = self._require()
        found: set[str] = set()
        with self._mapped(f"reading the recipients in {folder!r}"):
            target = self._find_folder(account, folder, create=False)
            if target is None:
                return found
            items = (
                target.all()
                .order_by("-datetime_received")
                .only("to_recipients", "cc_recipients", "bcc_recipients")[:limit]
            )
            for item in items:
                if isinstance(item, Exception):
                    continue
                for box in [
                    *(item.to_recipients or []),
                    *(item.cc_recipients or []),
                    *(item.bcc_recipients or []),
                ]:
                    if box.email_address and "@" in box.email_address:
                        found.add(box.email_address.strip().lower())
        return found

    # -- server-side automatic replies ---------------------------------------------------

    def server_autoreply(self) -> str | None:
        """A description of the server's own automatic replies (OOF) when they are on or
        scheduled, None when they are off."""
        account = self._require()
        with self._mapped("reading the automatic-reply (OOF) settings"):
            oof = account.oof_settings
        if oof is None or oof.state == "Disabled":
            return None
        if oof.state == "Scheduled" and oof.start and oof.end:
            return f"scheduled from {aware(oof.start)} to {aware(oof.end)}"
        return "on"


class _Watcher:
    """A background thread holding a streaming subscription, only to learn that something
    arrived: :attr:`news` is set on every notification. :attr:`failed` says why it stopped."""

    def __init__(self, folder: Any, where: str, subscription: str) -> None:
        self.folder = folder
        self.where = where
        self.subscription = subscription
        self.news = threading.Event()
        self.failed: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=child_name("ews-stream"), daemon=True
        )

    @classmethod
    def start(cls, folder: Any, where: str) -> _Watcher | None:
        """Subscribe now (so nothing that arrives after open() is missed) and start streaming;
        None when the server refuses a streaming subscription (the caller polls)."""
        try:
            subscription = folder.subscribe_to_streaming(event_types=_STREAM_EVENTS)
        except (ews_errors.EWSError, OSError, ValueError) as exc:
            log.info("%s: no streaming notifications (%s); polling instead", where, exc)
            return None
        watcher = cls(folder, where, str(subscription))
        watcher._thread.start()
        return watcher

    def stop(self) -> None:
        self._stop.set()
        # The stream ends at the server's next document; the thread is a daemon either way.
        with contextlib.suppress(Exception):
            self.folder.unsubscribe(self.subscription)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for notification in self.folder.get_streaming_events(
                    self.subscription, connection_timeout=_STREAM_MINUTES
                ):
                    if notification.events:
                        self.news.set()
                    if self._stop.is_set():
                        return
        except ews_errors.ErrorSubscriptionNotFound as exc:
            # Expired (no connection for too long): events may have been lost. Wake the engine
            # and let wait() poll from now on; the next open() subscribes again.
            self._fail(f"subscription expired: {exc}")
        except Exception as exc:  # a dying thread must say why, never raise into nowhere
            self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, why: str) -> None:
        if not self._stop.is_set():
            self.failed = why[:300]
            self.news.set()


__all__ = [
    "AUTH_MODES",
    "Auth",
    "EwsMailbox",
    "category_to_keyword",
    "keyword_to_category",
]
