"""The IMAP mailbox backend, over ``imapclient``: the only module that imports it.

It watches one folder with UID cursors (``"UIDVALIDITY:LASTUID"``), fetches headers and a
capped body without setting ``\\Seen``, waits with IDLE (or NOOP polling when the server has
none), and tags answered messages with IMAP keywords. Every ``imapclient``, socket and TLS
error is mapped here to :class:`MailboxUnavailable` or :class:`MailboxAuthError`; messages
name the server and the user, never the password.

Server facts this module relies on (measured against Dovecot 2.3, see MAILSERVERS.md):

* Mail that arrives while a command runs is announced as an untagged ``* N EXISTS`` inside
  that command's response, and IDLE does not announce it again. We remember such EXISTS
  responses and :meth:`ImapMailbox.wait` returns at once while one is outstanding.
* ``UID SEARCH UID n:*`` always matches the highest UID, even when it is below ``n``.
* ``imapclient`` raises on ``FETCH 1:*``, so we always fetch explicit UIDs.
* After a server kick, ``idle_check`` may return ``[]`` instantly, over and over.
* A command sees the folder as of the previous sync: a SEARCH that runs while new mail is
  being noticed misses it (and announces it with EXISTS), so we search again.
* IDLE reports only changes made after it started watching; mail delivered between our last
  command and IDLE waits for the next keep-alive (minutes). A NOOP before IDLE catches it.
* Dovecot delays IDLE notifications by 0.5 s on purpose; measured wake-up is about 0.5 s
  after delivery.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NoReturn

import imapclient
from imapclient import exceptions as imap_errors

from ooo.core.parse import parse
from ooo.host import oauth
from ooo.host.oauth import OAUTH_MECHANISMS
from ooo.mailbox.base import (
    BODY_CAP,
    HEADER_CAP,
    Batch,
    CursorInvalid,
    FetchedMessage,
    Mailbox,
    MailboxAuthError,
    MailboxUnavailable,
    Watching,
)

Security = Literal["ssl", "starttls", "plain"]
SECURITY_MODES: tuple[Security, ...] = ("ssl", "starttls", "plain")

_HEADER_ITEM = f"BODY.PEEK[HEADER]<0.{HEADER_CAP}>"
_BODY_ITEM = f"BODY.PEEK[TEXT]<0.{BODY_CAP}>"
# The server answers a partial fetch under the section name without PEEK and without the length.
_HEADER_KEY = b"BODY[HEADER]<0>"
_BODY_KEY = b"BODY[TEXT]<0>"
_FETCH_ITEMS = [_HEADER_ITEM, _BODY_ITEM, "INTERNALDATE", "RFC822.SIZE", "FLAGS"]

# RFC 3501 flag-keyword is an atom: no spaces, controls or any of ( ) { % * " \ ].
_KEYWORD = re.compile(r"^[^\x00-\x20\x7f(){%*\"\\\]]+$")

# Login refusals that are the server's trouble, not the user's (RFC 5530 response codes).
_TRANSIENT_LOGIN_CODES = ("[UNAVAILABLE]", "[SERVERBUG]", "[INUSE]", "[LIMIT]")

# WITHIN (RFC 5032) searches INTERNALDATE to the second, but on the server's clock: allow for
# skew. Matching a little early only costs a few extra fetches the engine filters out.
_CLOCK_SLACK = timedelta(minutes=5)

# Seconds close() waits for the server to acknowledge LOGOUT.
_LOGOUT_TIMEOUT = 5.0

# baseline()'s date search covers the folder's last this many messages first, then this many
# times more at each round, for as long as the first message of the range matches as well.
_BASELINE_TAIL = 256
_BASELINE_GROWTH = 8

# Searches in a row that may each be overtaken by newly announced mail (a burst arriving).
_SEARCH_ATTEMPTS = 3

# An IDLE wait that comes back empty in under this fraction of the time asked, this many times
# in a row, means the socket is at EOF: imapclient swallows EOF and returns [] at once.
_FAST_EMPTY_FRACTION = 0.5
_FAST_EMPTY_LIMIT = 3


_RECIPIENT_FIELDS = "BODY.PEEK[HEADER.FIELDS (TO CC BCC)]"


class ImapMailbox(Mailbox):
    """One IMAP folder, watched for new mail.

    ``password_provider`` is called at each login, so the password lives only as long as
    the LOGIN command (and a changed keyring entry is picked up on reconnect).
    ``poll_interval`` is how often a server without IDLE is asked (NOOP) for news;
    ``use_idle=False`` forces polling even when IDLE is advertised.
    """

    name = "imap"

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str,
        password_provider: Callable[[], str],
        folder: str = "INBOX",
        ca_file: str | None = None,
        timeout: float = 30.0,
        idle_refresh: float = 25 * 60,
        *,
        poll_interval: float = 5.0,
        use_idle: bool = True,
        auth: str = "password",
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {SECURITY_MODES}, not {security!r}")
        if auth != "password" and auth not in OAUTH_MECHANISMS:
            raise ValueError(f"auth must be 'password', 'xoauth2' or 'oauthbearer', not {auth!r}")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self.folder = folder
        self.ca_file = ca_file
        self.timeout = timeout
        self.idle_refresh = idle_refresh
        self.poll_interval = poll_interval
        self.use_idle = use_idle
        self._password_provider = password_provider
        # "password" (LOGIN), or "xoauth2"/"oauthbearer": the provider then gives a token.
        self.auth = auth
        self._client: Any = None  # imapclient.IMAPClient, untyped
        self._uidvalidity = 0
        self._uidnext = 1
        # Set when the server announced new mail (EXISTS) that no fetch_new has seen yet.
        self._mail_announced = False
        # True between IDLE and DONE: close() must not wait for a LOGOUT reply then.
        self._idling = False

    @property
    def where(self) -> str:
        """``user@host:port``-style description for messages (never the password)."""
        return f"IMAP server {self.host}:{self.port} (user {self.username!r})"

    @property
    def connected(self) -> bool:
        return self._client is not None

    def watching(self) -> Watching:
        client = self._client
        idle = self.use_idle and client is not None and client.has_capability("IDLE")
        how = "IDLE" if idle else f"polling every {self.poll_interval:g} s"
        return Watching((self.folder,), how)

    # -- connection ----------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        client = self._connect()
        try:
            self._login(client)
            with self._mapped("selecting folder " + repr(self.folder), client):
                selected = client.select_folder(self.folder)
        except BaseException:
            _abandon(client)
            raise
        self._client = client
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self._uidnext = int(selected.get(b"UIDNEXT", 1))
        # SELECT reports the folder's size as an EXISTS: that is not news.
        self._take_untagged_exists()
        self._mail_announced = False

    def interrupt(self) -> None:
        # shutdown() wakes a select() blocked on the socket in another thread (closing the
        # descriptor would not); that thread reads end-of-file and close() drops the rest.
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.socket().shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._idling:
            # A signal cut an IDLE short: the server ignores LOGOUT until it gets DONE, so a
            # polite logout would wait out the socket timeout. Just drop the connection.
            self._idling = False
            _abandon(client)
            return
        try:
            # A server that stopped answering must not hold up a shutdown for the full timeout.
            client.socket().settimeout(min(self.timeout, _LOGOUT_TIMEOUT))
            client.logout()
        except Exception:  # close() never raises: whatever went wrong, the socket goes
            _abandon(client)

    def _connect(self) -> Any:
        context = self._tls_context()
        try:
            client = imapclient.IMAPClient(
                self.host,
                self.port,
                use_uid=True,
                ssl=self.security == "ssl",
                ssl_context=context,
                timeout=self.timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            self._cert_failed(exc)
        except (OSError, imap_errors.IMAPClientError) as exc:
            raise MailboxUnavailable(f"cannot connect to {self.where}: {_describe(exc)}") from exc
        # INTERNALDATE as timezone-aware datetimes, not converted to naive local time.
        client.normalise_times = False
        if self.security == "starttls":
            try:
                if not client.has_capability("STARTTLS"):
                    raise MailboxUnavailable(
                        f"{self.where} does not offer STARTTLS; refusing to log in without TLS "
                        '(set mailbox.security to "ssl" if the server has an IMAPS port)'
                    )
                client.starttls(context)
            except ssl.SSLCertVerificationError as exc:
                _abandon(client)
                self._cert_failed(exc)
            except (OSError, imap_errors.IMAPClientError) as exc:
                _abandon(client)
                raise MailboxUnavailable(
                    f"STARTTLS failed with {self.where}: {_describe(exc)}"
                ) from exc
            except MailboxUnavailable:
                _abandon(client)
                raise
        return client

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.security == "plain":
            return None
        try:
            # Verifies the chain and the host name; ca_file adds a private CA to the system's.
            context = ssl.create_default_context()
            if self.ca_file is not None:
                context.load_verify_locations(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailboxUnavailable(
                f"cannot load mailbox.ca_file {self.ca_file!r} for {self.where}: {exc}"
            ) from exc
        return context

    def _cert_failed(self, exc: ssl.SSLCertVerificationError) -> NoReturn:
        reason = exc.verify_message or str(exc)
        raise MailboxUnavailable(
            f"certificate verify failed for {self.host}:{self.port} ({reason}); "
            "set mailbox.ca_file to the CA certificate that signed the server's certificate, "
            "or check that mailbox.host is the name the certificate was issued for"
        ) from exc

    def _login(self, client: Any) -> None:
        if self.auth in OAUTH_MECHANISMS:
            self._oauth_login(client)
            return
        password = self._password_provider()
        try:
            client.login(self.username, password)
        except imap_errors.LoginError as exc:
            detail = _describe(exc).replace(password, "***") if password else _describe(exc)
            if any(code in detail for code in _TRANSIENT_LOGIN_CODES):
                raise MailboxUnavailable(f"{self.where} cannot log in right now: {detail}") from exc
            raise MailboxAuthError(
                f"{self.where} refused the login: {detail}; check mailbox.username and the "
                "stored password (ooo secret set)"
            ) from exc
        except (OSError, imap_errors.IMAPClientError) as exc:
            detail = _describe(exc).replace(password, "***") if password else _describe(exc)
            raise MailboxUnavailable(f"login to {self.where} failed: {detail}") from exc

    def _oauth_login(self, client: Any) -> None:
        """AUTHENTICATE XOAUTH2 / OAUTHBEARER with a token fetched now (never kept)."""
        mechanism: oauth.Mechanism = "oauthbearer" if self.auth == "oauthbearer" else "xoauth2"
        name = oauth.sasl_name(mechanism)
        # Asked before the token helper runs: a wrong host should not cost a token refresh.
        with self._mapped("reading capabilities", client):
            offered = client.has_capability(f"AUTH={name}")
        if not offered:
            raise MailboxAuthError(
                f"{self.where} does not offer AUTH={name}; check mailbox.host and "
                'mailbox.auth (Microsoft 365 and Gmail take "xoauth2")'
            )
        token = self._password_provider()
        responder = oauth.SaslResponder(
            mechanism,
            oauth.initial_response(mechanism, self.username, token, self.host, self.port),
        )
        try:
            client.sasl_login(name, responder)
        except imap_errors.LoginError as exc:
            detail = oauth.redact(_describe(exc), token)
            if any(code in detail for code in _TRANSIENT_LOGIN_CODES):
                raise MailboxUnavailable(f"{self.where} cannot log in right now: {detail}") from exc
            said = f"; SASL {responder.server_status}" if responder.server_status else ""
            raise MailboxAuthError(
                f"{self.where} refused the {name} sign-in ({detail}{said}): "
                + oauth.refused_advice("mailbox", self.username)
            ) from exc
        except (OSError, imap_errors.IMAPClientError) as exc:
            detail = oauth.redact(_describe(exc), token)
            raise MailboxUnavailable(f"{name} login to {self.where} failed: {detail}") from exc

    @contextlib.contextmanager
    def _mapped(self, doing: str, client: Any = None) -> Iterator[None]:
        """Turn library errors raised inside the block into MailboxUnavailable.

        The connection is dropped as well: after a socket error or a protocol surprise its
        state is unknown, and the engine's answer to MailboxUnavailable is to open() again.
        """
        try:
            yield
        except ssl.SSLCertVerificationError as exc:
            self._drop(client)
            self._cert_failed(exc)
        except (OSError, imap_errors.IMAPClientError) as exc:
            self._drop(client)
            raise MailboxUnavailable(f"{doing} on {self.where} failed: {_describe(exc)}") from exc

    def _drop(self, client: Any = None) -> None:
        dead = client if client is not None else self._client
        if dead is self._client:
            self._client = None
            self._idling = False
        if dead is not None:
            _abandon(dead)

    def _require(self) -> Any:
        if self._client is None:
            raise MailboxUnavailable(f"not connected to {self.where} (open() first)")
        return self._client

    # -- cursors -------------------------------------------------------------------------

    def baseline(self, since: datetime) -> str:
        client = self._require()
        # Searches see the folder as of our last sync; mail delivered since would be missed.
        self._sync(client)
        with self._mapped("searching by date"):
            # The highest UID first: mail arriving between the two searches is then after
            # the cursor whichever way the date search goes.
            highest = max(client.search(["UID", "*"]), default=self._uidnext - 1)
            criteria = self._since_criteria(client, since)
            first = _first_match(client, criteria) if criteria else None
        last = first - 1 if first is not None else highest
        return f"{self._uidvalidity}:{last}"

    def _since_criteria(self, client: Any, since: datetime) -> list[Any]:
        """SEARCH criteria for mail received at or after ``since``; [] when none can be."""
        if since.tzinfo is None:
            raise ValueError("baseline() needs a timezone-aware datetime")
        if client.has_capability("WITHIN"):
            # To the second, so a big mailbox that got mail earlier today is not refetched.
            age = (datetime.now(UTC) - since + _CLOCK_SLACK).total_seconds()
            return ["YOUNGER", math.ceil(age)] if age > 0 else []
        # SINCE compares dates only, in a timezone of the server's choosing: go back a day.
        return ["SINCE", (since.astimezone(UTC) - timedelta(days=1)).date()]

    def _parse_cursor(self, cursor: str) -> int:
        validity, sep, last = cursor.partition(":")
        if not sep or not validity.isdigit() or not last.isdigit():
            raise CursorInvalid(f"malformed IMAP cursor {cursor!r}")
        if int(validity) != self._uidvalidity:
            raise CursorInvalid(
                f"{self.folder!r} on {self.where} has UIDVALIDITY {self._uidvalidity}, "
                f"the cursor was made for {validity}: UIDs were renumbered"
            )
        return int(last)

    # -- reading -------------------------------------------------------------------------

    def fetch_new(self, cursor: str, limit: int = 100) -> Batch:
        client = self._require()
        last = self._parse_cursor(cursor)
        # Everything announced so far is covered by the search below; EXISTS responses that
        # come back inside the search or fetch are news for the next wait().
        self._take_untagged_exists()
        self._mail_announced = False
        with self._mapped("searching for new mail"):
            for _ in range(_SEARCH_ATTEMPTS):
                found = client.search(["UID", f"{last + 1}:*"])
                if not self._take_untagged_exists():
                    break
                # The server noticed new mail while running the search, which therefore
                # looked only at the folder as it was before: search again.
            else:
                self._mail_announced = True
        newer = sorted(uid for uid in found if uid > last)
        uids = newer[: max(limit, 0)]
        if len(newer) > len(uids):
            # The rest is already announced, so IDLE would not mention it again: the next
            # wait() must return at once.
            self._mail_announced = True
        if not uids:
            self._note_untagged_exists()
            return Batch(messages=[], cursor=cursor)
        with self._mapped("fetching new mail"):
            data = client.fetch(uids, _FETCH_ITEMS)
        self._note_untagged_exists()
        # A UID missing from the answer was expunged in between; UIDs are never reused, so
        # the cursor may still move past it.
        messages = [_to_fetched(uid, data[uid]) for uid in uids if uid in data]
        return Batch(messages=messages, cursor=f"{self._uidvalidity}:{uids[-1]}")

    def tag(self, key: str, keyword: str) -> None:
        self._store_flags([key], keyword, add=True, what=f"message {key}")

    def tag_many(self, keys: Sequence[str], keyword: str) -> None:
        self._store_flags(keys, keyword, add=True)

    def untag_many(self, keys: Sequence[str], keyword: str) -> None:
        self._store_flags(keys, keyword, add=False)

    def _store_flags(
        self, keys: Sequence[str], keyword: str, *, add: bool, what: str | None = None
    ) -> None:
        """One UID STORE per 500 messages instead of one per message. ``what``: the messages,
        for an error message."""
        if not _KEYWORD.match(keyword) or keyword.startswith("\\"):
            raise ValueError(f"not an IMAP keyword: {keyword!r}")
        uids = [_uid(k) for k in keys]
        if not uids:
            return
        client = self._require()
        what = what or f"{len(uids)} messages"
        with self._mapped(f"{'tagging' if add else 'untagging'} {what}"):
            for start in range(0, len(uids), 500):
                chunk = uids[start : start + 500]
                if add:
                    client.add_flags(chunk, [keyword], silent=True)
                else:
                    client.remove_flags(chunk, [keyword], silent=True)
        self._note_untagged_exists()

    def untag(self, key: str, keyword: str) -> None:
        self._store_flags([key], keyword, add=False, what=f"message {key}")

    def keywords(self, key: str) -> set[str]:
        client = self._require()
        with self._mapped(f"reading flags of message {key}"):
            flags = client.get_flags([_uid(key)]).get(_uid(key), ())
        self._note_untagged_exists()
        return {_text(f) for f in flags if not _text(f).startswith("\\")}

    def append(self, folder: str, raw: bytes, seen: bool = True) -> None:
        client = self._require()
        flags = [imapclient.SEEN] if seen else []
        with self._mapped(f"storing a message in {folder!r}"):
            try:
                client.append(folder, raw, flags=flags)
            except imap_errors.IMAPClientError as exc:
                # RFC 3501: NO [TRYCREATE] means the folder is missing; a Sent folder may
                # not exist yet on a fresh account.
                if "TRYCREATE" not in _describe(exc):
                    raise
                client.create_folder(folder)
                client.append(folder, raw, flags=flags)
        self._note_untagged_exists()

    def append_many(self, folder: str, raws: Sequence[bytes], seen: bool = True) -> None:
        client = self._require()
        if not raws:
            return
        if not client.has_capability("MULTIAPPEND"):
            super().append_many(folder, raws, seen)
            return
        flags = [imapclient.SEEN] if seen else []
        # RFC 3502: one command for the whole batch (a burst's Sent copies cost one round
        # trip, not one each); chunks keep a single command's size reasonable.
        with self._mapped(f"storing {len(raws)} messages in {folder!r}"):
            for start in range(0, len(raws), 50):
                chunk = [{"msg": raw, "flags": flags} for raw in raws[start : start + 50]]
                # imapclient returns a NO here instead of raising.
                typ, data = client.multiappend(folder, chunk)
                if typ != "OK" and b"TRYCREATE" in b" ".join(data):
                    client.create_folder(folder)
                    typ, data = client.multiappend(folder, chunk)
                if typ != "OK":
                    raise imap_errors.IMAPClientError(
                        f"MULTIAPPEND refused: {b' '.join(data).decode(errors='replace')}"
                    )
        self._note_untagged_exists()

    def correspondents(self, folder: str, limit: int = 20_000) -> set[str]:
        found: set[str] = set()
        with self._mapped(f"reading the recipients in {folder!r}", self._require()):
            self._visit(folder, lambda client: found.update(_recipients(client, folder, limit)))
        return found

    def inbox_holds(self, message_id: str) -> bool:
        found: list[int] = []
        with self._mapped("looking for a message in INBOX", self._require()):
            self._visit("INBOX", lambda client: found.extend(_with_message_id(client, message_id)))
        return bool(found)

    def _visit(self, folder: str, read: Callable[[Any], object]) -> None:
        """``read(client)`` with ``folder`` selected read-only (nothing if it does not exist),
        then the watched folder selected again. New mail may have come meanwhile: the next
        wait() looks at once. The watched folder itself is read where it is: no SELECT (on a
        big Maildir each one costs Dovecot 0.4-0.85 s)."""
        client = self._require()
        if same_folder(folder, self.folder):
            read(client)
            return
        if not client.folder_exists(folder):
            return
        try:
            client.select_folder(folder, readonly=True)
            read(client)
        finally:
            selected = client.select_folder(self.folder)
            self._uidvalidity = int(selected[b"UIDVALIDITY"])
            self._take_untagged_exists()
            self._mail_announced = True

    # -- waiting -------------------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        client = self._require()
        deadline = time.monotonic() + max(timeout, 0.0)
        self._note_untagged_exists()
        if self._mail_announced:
            return True
        # Dovecot's IDLE reports only changes made after it starts watching: mail delivered
        # since our last command (say, while the engine was sending replies) would wait for
        # the next keep-alive, minutes later. A NOOP first makes the server look now.
        self._sync(client)
        if self._mail_announced:
            return True
        return self._wait_for_news(client, deadline)

    def _wait_for_news(self, client: Any, deadline: float) -> bool:
        """Wait until the server announces mail or ``deadline``: IDLE where offered."""
        if self.use_idle and client.has_capability("IDLE"):
            return self._wait_idle(client, deadline)
        return self._wait_polling(client, deadline)

    def _sync(self, client: Any) -> None:
        """NOOP: have the server bring our view of the folder up to date, noting new mail."""
        with self._mapped("checking for mail (NOOP)"):
            _text_reply, responses = client.noop()
        self._note_responses(responses)
        self._note_untagged_exists()

    def _wait_idle(self, client: Any, deadline: float) -> bool:
        with self._mapped("waiting for mail (IDLE)"):
            client.idle()
            self._idling = True
            idle_started = time.monotonic()
            fast_empty = 0
            while not self._mail_announced:
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0:
                    break
                # Servers may drop an IDLE after 30 minutes (RFC 2177): renew it earlier.
                if now - idle_started >= self.idle_refresh:
                    self._end_idle(client)
                    if self._mail_announced:
                        return True
                    client.idle()
                    self._idling = True
                    idle_started = time.monotonic()
                    continue
                chunk = min(remaining, self.idle_refresh - (now - idle_started))
                asked = time.monotonic()
                responses = client.idle_check(timeout=chunk)
                if any(_is_bye(r) for r in responses):
                    self._dead("the server said BYE during IDLE")
                self._note_responses(responses)
                if responses or time.monotonic() - asked >= chunk * _FAST_EMPTY_FRACTION:
                    fast_empty = 0
                    continue
                fast_empty += 1
                if fast_empty >= _FAST_EMPTY_LIMIT:
                    self._dead("the connection closed during IDLE")
            self._end_idle(client)
        return self._mail_announced

    def _end_idle(self, client: Any) -> None:
        # DONE's reply is read under the client's socket timeout (set in the constructor),
        # so a silent server cannot hang us here.
        self._idling = False
        _text_reply, responses = client.idle_done()
        self._note_responses(responses)
        self._note_untagged_exists()

    def _wait_polling(self, client: Any, deadline: float) -> bool:
        while not self._mail_announced:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self.poll_interval, remaining))
            self._sync(client)
        return True

    def _dead(self, why: str) -> NoReturn:
        self._drop()
        raise MailboxUnavailable(f"lost the connection to {self.where}: {why}")

    # -- untagged EXISTS bookkeeping -----------------------------------------------------

    def _take_untagged_exists(self) -> bool:
        """Pop the EXISTS responses imaplib collected during earlier commands.

        ``IMAP4.response()`` is imaplib's public accessor for its untagged-response store
        (which imapclient's command methods fill but never clear); it returns and forgets.
        """
        if self._client is None:
            return False
        _name, values = self._client._imap.response("EXISTS")
        return any(v is not None for v in values)

    def _note_untagged_exists(self) -> None:
        if self._take_untagged_exists():
            self._mail_announced = True

    def _note_responses(self, responses: Iterable[Any]) -> None:
        for response in responses:
            if isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS":
                self._mail_announced = True


def same_folder(a: str, b: str) -> bool:
    """Whether two folder names are one folder: INBOX is case-insensitive (RFC 3501 5.1)."""
    return a == b or a.upper() == b.upper() == "INBOX"


def _first_match(client: Any, criteria: list[Any]) -> int | None:
    """The UID of the first message of the selected folder that matches ``criteria`` (a
    date search: mail received at or after some time), or None when none does.

    Cost: in proportion to the messages received since that time, not to the folder. A
    date search over the whole folder reads every message's received date: on Dovecot with
    a Maildir, a 100,000-message INBOX took 658 ms for the first ``SEARCH YOUNGER`` (a
    stat() per file), 71 ms afterwards, and 360-380 ms for ``SEARCH SINCE``. With a range
    of message sequence numbers in the criteria the server reads only those messages
    (0.7 ms for the last hundred). The mail we look for is recent, so at the end of the
    folder: search its last ``_BASELINE_TAIL`` messages, and widen the range
    ``_BASELINE_GROWTH``-fold for as long as its first message matches too. The last range
    is at most eight times the matching messages (the one before matched from its start), all the
    rounds together about 8/7 of the last (or 256 messages when fewer match); each round is
    one SEARCH (four reach back over 100,000 messages), plus one command before them to
    count the messages and one after for the first match's UID. On that INBOX, with five
    messages received since the time, a first baseline took 12 ms (808 ms before), 5 ms with
    SINCE (1,144 ms before).

    Sequence numbers rather than UIDs: they run 1..EXISTS without gaps, so a range holds as
    many messages as it says and its first message is known. The searches run as plain
    SEARCH (not UID SEARCH), during which a server may not announce expunges (RFC 3501
    7.4.1): every number refers to the same messages until the last command, a UID SEARCH
    that turns the first match into its UID.

    The one difference from searching the whole folder: a match below the range is not
    found when the range's first message does not match (the search stops there). Messages
    are given UIDs in the order they arrive, so one that arrived before a message received
    before the time was received before it too; only mail stored with an older date of its
    own (copied or moved in, or APPENDed with a date) breaks that order, and then only if it
    sits exactly at the range's first message with mail of the window below it.
    """
    previous_mode = client.use_uid
    client.use_uid = False  # plain SEARCH: sequence numbers in the criteria and the answer
    try:
        count = max(client.search(["*"]), default=0)
        found: list[int] = []
        span = _BASELINE_TAIL
        while count:
            low = max(1, count - span + 1)
            found = client.search([f"{low}:*", *criteria])
            if low == 1 or low not in found:
                break  # the range already reaches back to mail from before the time
            span *= _BASELINE_GROWTH
    finally:
        client.use_uid = previous_mode
    if not found:
        return None
    # The lowest UID from the first match on is that match's UID; and should the message
    # have been expunged meanwhile, the next one's (nothing lies between the two).
    return min((int(uid) for uid in client.search([f"{min(found)}:*"])), default=None)


def _recipients(client: Any, folder: str, limit: int) -> set[str]:
    """The recipients of the last ``limit`` messages of the selected ``folder``."""
    found: set[str] = set()
    uids = sorted(client.search("ALL"))[-limit:]
    for start in range(0, len(uids), 500):
        data = client.fetch(uids[start : start + 500], [_RECIPIENT_FIELDS])
        for item in data.values():
            raw = next((v for k, v in item.items() if k.startswith(b"BODY[")), b"")
            found.update(parse(folder, raw or b"").recipients)
    return found


def _with_message_id(client: Any, message_id: str) -> list[int]:
    """The UIDs of the selected folder's messages whose Message-ID header is ``message_id``
    (a substring search on the server; checked exactly here)."""
    uids = client.search(["HEADER", "Message-ID", message_id])
    if not uids:
        return []
    data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    wanted = message_id.strip()
    return [
        uid
        for uid, item in data.items()
        if any(
            v.decode("ascii", "replace").split(":", 1)[-1].strip() == wanted
            for k, v in item.items()
            if k.startswith(b"BODY[")
        )
    ]


def _to_fetched(uid: int, item: dict[bytes, Any]) -> FetchedMessage:
    received = item.get(b"INTERNALDATE")
    if isinstance(received, datetime) and received.tzinfo is not None:
        received = received.astimezone(UTC)
    else:
        received = None
    return FetchedMessage(
        key=str(uid),
        headers=bytes(item.get(_HEADER_KEY) or b"")[:HEADER_CAP],
        body=bytes(item.get(_BODY_KEY) or b"")[:BODY_CAP],
        received_at=received,
        size=int(item.get(b"RFC822.SIZE") or 0),
        keywords=frozenset(
            f for f in (_text(flag) for flag in item.get(b"FLAGS") or ()) if not f.startswith("\\")
        ),
    )


def _uid(key: str) -> int:
    if not key.isdigit():
        raise ValueError(f"not an IMAP UID: {key!r}")
    return int(key)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _is_bye(response: Any) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def _describe(exc: BaseException) -> str:
    # imaplib raises with the server's reply as bytes; show it as text, not as b'...'.
    parts = [_text(a) if isinstance(a, bytes) else str(a) for a in exc.args]
    text = " ".join(parts).strip()
    return text or type(exc).__name__


def _abandon(client: Any) -> None:
    """Drop a connection without talking to the server; never raises."""
    # The socket may already be gone; there is nothing more to do either way.
    with contextlib.suppress(Exception):
        client.shutdown()


__all__ = ["SECURITY_MODES", "ImapMailbox", "Security"]
