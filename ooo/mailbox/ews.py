"""The Exchange mailbox backend, over ``exchangelib`` (EWS): the only module that imports it.

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
* **Headers** for the policy are rebuilt from ``InternetMessageHeaders`` as ``Name: value`` lines,
  plus Message-ID / In-Reply-To / References / From / To / Cc / Subject from the item's own
  fields when the transport headers lack them (mail created inside Exchange). The body is the
  item's plain-text body (``TextBody``), cut at BODY_CAP bytes; since that text is decoded, the
  Content-Type of the header block is rewritten to ``text/plain; charset=utf-8`` (a
  ``multipart/report`` type is kept, so delivery reports are still recognised as such).
* **Waiting** uses a streaming subscription (Subscribe / GetStreamingEvents on a connection of
  its own, in a background thread) only as a wake-up signal; the sync state stays the source of
  truth. When the server refuses streaming, or the stream fails, ``wait`` polls with a
  SyncFolderItems call that is never stored.
* **Tags** are Exchange categories: the engine's ``$OooResolved`` is the category
  ``ooo: resolved`` (``$OooOpen`` -> ``ooo: open``, and so on), which Outlook shows and filters on.
* **append** saves a copy of a message (its exact MIME bytes) into a folder, created under the top
  of the mailbox when missing.
* **TLS**: the server's certificate is verified; ``ca_file`` adds a private CA to the system's,
  as ``mailbox.ca_file`` does for IMAP. It applies to this mailbox's own connections only: each
  EwsMailbox talks through a protocol object of its own (:class:`_MailboxProtocol`, not
  exchangelib's cache shared per endpoint and login), whose sessions mount an HTTPS adapter with
  that CA on the service endpoint. exchangelib's ``BaseProtocol.HTTP_ADAPTER_CLS`` is a global
  for every server in the process, so it is left alone.

Every ``exchangelib``, ``requests`` and socket error is mapped here to MailboxUnavailable or
MailboxAuthError; messages name the server and the user, never the password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import requests.adapters
from exchangelib import (
    BASIC,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    ExtendedProperty,
    Folder,
    Message,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.folders import FolderCollection
from exchangelib.properties import ItemId
from exchangelib.protocol import CachingProtocol, FailFast, Protocol
from exchangelib.services import SyncFolderItems

from ooo.mailbox.base import (
    BODY_CAP,
    HEADER_CAP,
    Batch,
    CursorInvalid,
    FetchedMessage,
    Mailbox,
    MailboxAuthError,
    MailboxUnavailable,
)

log = logging.getLogger("ooo")

Auth = Literal["ntlm", "basic", "oauth2"]
AUTH_MODES: tuple[Auth, ...] = ("ntlm", "basic", "oauth2")

_CURSOR_PREFIX = "ews1:"
#: Exchange caps MaxChangesReturned at 512.
_MAX_CHANGES = 512
#: What a new message is read with: enough for the policy, threading and the body preview.
_MESSAGE_FIELDS = [
    "headers",
    "message_id",
    "in_reply_to",
    "references",
    "datetime_received",
    "size",
    "subject",
    "author",
    "to_recipients",
    "cc_recipients",
    "text_body",
    "categories",
]
_STREAM_EVENTS = ["NewMailEvent", "CreatedEvent", "MovedEvent"]
#: Minutes one GetStreamingEvents connection stays open (EWS allows 1-30). Short, so a closed
#: mailbox's stream thread ends soon; a new connection a minute costs one small request.
_STREAM_MINUTES = 1
#: Exchange 2016 and later; a fixed version skips exchangelib's version-guessing requests.
_BUILD = Build(15, 1, 2507, 6)
#: Well-known folder names a config may use for distinguished folders.
_DISTINGUISHED = {
    "inbox": "inbox",
    "sent": "sentitems",
    "sent items": "sentitems",
    "sentitems": "sentitems",
    "drafts": "drafts",
}
_CAMEL = re.compile(r"[A-Z][a-z0-9]*")
_CATEGORY_PREFIX = "ooo: "


def keyword_to_category(keyword: str) -> str:
    """``$OooResolved`` -> ``ooo: resolved``; ``$OooNeedsYou`` -> ``ooo: needs you``; any other
    keyword is used as the category name unchanged."""
    rest = keyword[4:] if keyword.startswith("$Ooo") else ""
    words = _CAMEL.findall(rest)
    if words and "".join(words) == rest:
        return _CATEGORY_PREFIX + " ".join(w.lower() for w in words)
    return keyword


def category_to_keyword(category: str) -> str:
    """The inverse of :func:`keyword_to_category`."""
    if category.startswith(_CATEGORY_PREFIX):
        words = category[len(_CATEGORY_PREFIX) :].split()
        if words and all(w.isalnum() for w in words):
            return "$Ooo" + "".join(w.capitalize() for w in words)
    return category


class MessageFlags(ExtendedProperty):  # type: ignore[misc]  # exchangelib is untyped
    """PR_MESSAGE_FLAGS: set on a stored copy so Exchange files it as a sent message (read),
    not as an unsent draft."""

    property_tag = 0x0E07
    property_type = "Integer"


_MSGFLAG_READ = 0x1
with contextlib.suppress(ValueError):  # already registered (module reloaded in tests)
    Message.register("ooo_message_flags", MessageFlags)


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
        tls = self._tls_context()
        secret = self._password_provider()
        self._secret = secret
        config = Configuration(
            service_endpoint=self.service_endpoint,
            credentials=self._credentials(secret),
            auth_type={"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2}[self.auth],
            version=Version(build=_BUILD),
            retry_policy=FailFast(),
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
                # Before any request: this mailbox's own sessions, with its own TLS trust. The
                # Protocol that Account() put into exchangelib's process-wide cache is unused.
                with contextlib.suppress(KeyError):
                    del Protocol[config]
                account.protocol = _MailboxProtocol(config=config, tls=tls)
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

    def _tls_context(self) -> ssl.SSLContext | None:
        """The system's CAs plus ``ca_file``; None without a ca_file (requests' defaults)."""
        if self.ca_file is None:
            return None
        try:
            context = ssl.create_default_context()
            context.load_verify_locations(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailboxUnavailable(
                f"cannot load mailbox.ca_file {self.ca_file!r} for {self.where}: {exc}"
            ) from exc
        return context

    def _credentials(self, secret: str) -> Any:
        if self.auth == "oauth2":
            from exchangelib import OAuth2AuthorizationCodeCredentials
            from oauthlib.oauth2 import OAuth2Token

            return OAuth2AuthorizationCodeCredentials(
                access_token=OAuth2Token({"access_token": secret, "token_type": "Bearer"})
            )
        return Credentials(self.username, secret)

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
            refused = _certificate_refused(exc)
            if refused is not None:
                raise MailboxUnavailable(
                    f"{doing} on {self.where} failed: the server's TLS certificate is not "
                    f"trusted (certificate verify failed: {refused[:200]}); {self._ca_advice()}"
                ) from exc
            raise MailboxUnavailable(
                f"{doing} on {self.where} failed: {self._describe(exc)}"
            ) from exc

    def _ca_advice(self) -> str:
        if self.ca_file is not None:
            return (
                f"check that mailbox.ca_file ({self.ca_file}) holds the CA certificate that "
                "signed the server's certificate, and that the service endpoint's host name is "
                "the one the certificate was issued for"
            )
        return (
            "if the server uses a certificate from a private CA, set mailbox.ca_file to that CA "
            "certificate (PEM); else check that the service endpoint's host name is the one "
            "the certificate was issued for"
        )

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
                received = _aware(item.datetime_received)
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
        with self._mapped("reading new mail"):
            found = account.fetch(ids=[ItemId(id=i) for i in ids], only_fields=_MESSAGE_FIELDS)
            for item_id, item in zip(ids, found, strict=True):
                if isinstance(item, ews_errors.ErrorItemNotFound):
                    continue  # deleted or moved away since the sync: nothing to answer
                if isinstance(item, Exception):
                    raise item
                out.append(_to_fetched(item_id, item))
        return out

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
            time.sleep(min(self.poll_interval, remaining))

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
                ooo_message_flags=_MSGFLAG_READ if seen else 0,
            )
            copy.save()

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
            return f"scheduled from {_aware(oof.start)} to {_aware(oof.end)}"
        return "on"


class _PrivateCaAdapter(requests.adapters.HTTPAdapter):
    """HTTPS verified against one SSL context (the system's CAs plus ``mailbox.ca_file``), on
    every request through it, whatever ``verify`` requests would pass (REQUESTS_CA_BUNDLE
    included): an explicit ca_file in the config wins."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host, pool = super().build_connection_pool_key_attributes(request, True, cert)
        pool["ssl_context"] = self._context
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, True, cert)
        # The context holds the CAs; nothing more is loaded into it per connection.
        conn.ca_certs = conn.ca_cert_dir = None


class _Uncached(CachingProtocol):  # type: ignore[misc]  # exchangelib is untyped
    """exchangelib caches one Protocol per (endpoint, credentials) for the whole process, so two
    mailboxes with the same login would share sessions, TLS trust and close() calls. A protocol
    of this metaclass is a plain object, owned by one EwsMailbox."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return type.__call__(cls, *args, **kwargs)


class _MailboxProtocol(Protocol, metaclass=_Uncached):  # type: ignore[misc]
    """The sessions of one EwsMailbox; with a TLS context (from ``ca_file``), every session
    verifies the service endpoint against it."""

    def __init__(self, *, config: Any, tls: ssl.SSLContext | None) -> None:
        super().__init__(config=config)
        self.tls = tls

    def create_session(self) -> Any:
        session = super().create_session()
        if self.tls is not None:
            # Replaces the adapter exchangelib mounted on the endpoint, with the same pool shape.
            session.mount(
                self.service_endpoint,
                _PrivateCaAdapter(
                    self.tls,
                    pool_block=True,
                    pool_connections=self.CONNECTIONS_PER_SESSION,
                    pool_maxsize=self.CONNECTIONS_PER_SESSION,
                    max_retries=0,
                ),
            )
        return session


_VERIFY_FAILED = re.compile(r"certificate verify failed:? ?([^()]*)", re.IGNORECASE)


def _certificate_refused(exc: BaseException) -> str | None:
    """Why certificate verification failed, when it did somewhere in the error's chain (else
    None). exchangelib re-raises TLS errors as a TransportError with the text only, so the
    text is read too."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current)
        found = _VERIFY_FAILED.search(str(current))
        if found:
            return found.group(1).strip() or "certificate verify failed"
        current = current.__cause__ or current.__context__
    return None


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
        self._thread = threading.Thread(target=self._run, name="ooo-ews-stream", daemon=True)

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


def _aware(moment: Any) -> datetime | None:
    """An exchangelib EWSDateTime as a plain timezone-aware datetime (UTC)."""
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        return None
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def _clean_value(value: object) -> str:
    # A header value must not break the block it is put in.
    return re.sub(r"[\r\n]+", " ", str(value or ""))


def _address_list(boxes: Any) -> str:
    parts = []
    for box in boxes or []:
        if box.email_address:
            parts.append(
                f'"{box.name}" <{box.email_address}>' if box.name else str(box.email_address)
            )
    return ", ".join(parts)


def _to_fetched(key: str, item: Any) -> FetchedMessage:
    lines: list[tuple[str, str]] = [
        (_clean_value(h.name), _clean_value(h.value)) for h in item.headers or [] if h.name
    ]
    present = {name.lower() for name, _ in lines}
    extra = {
        "From": _address_list([item.author] if item.author else []),
        "To": _address_list(item.to_recipients),
        "Cc": _address_list(item.cc_recipients),
        "Subject": item.subject,
        "Message-ID": item.message_id,
        "In-Reply-To": item.in_reply_to,
        "References": item.references,
    }
    for name, value in extra.items():
        if value and name.lower() not in present:
            lines.append((name, _clean_value(value)))
    content_type = next((v for n, v in lines if n.lower() == "content-type"), None)
    if (content_type or present & {"content-transfer-encoding"}) and not (
        content_type or ""
    ).lower().startswith("multipart/report"):
        # The body handed over is the decoded plain text: say so, or the parser would look
        # for MIME parts and transfer encodings that are no longer there.
        lines = [
            (n, v)
            for n, v in lines
            if n.lower() not in ("content-type", "content-transfer-encoding")
        ]
        lines += [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
        ]
    head = "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
    body = (item.text_body or "").encode("utf-8")
    return FetchedMessage(
        key=key,
        headers=head.encode("utf-8")[:HEADER_CAP],
        body=body[:BODY_CAP],
        received_at=_aware(item.datetime_received),
        size=int(item.size or len(head) + len(body)),
        keywords=frozenset(category_to_keyword(c) for c in item.categories or []),
    )


__all__ = [
    "AUTH_MODES",
    "Auth",
    "EwsMailbox",
    "category_to_keyword",
    "keyword_to_category",
]
