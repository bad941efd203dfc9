"""SMTP submission with smtplib: SSL, STARTTLS, or plain text to a loopback host.

Connections are kept open across sends (a burst of replies does not pay a TLS handshake and
AUTH each time), up to ``sessions`` of them at once for an engine that sends on several
threads. A session is checked with ``NOOP`` only when it has been idle for ``idle_check``
seconds, or when the server has said something unasked (a 421 before it hangs up) or hung
up: a busy session costs no extra round trip per reply. One that fails the check is
reopened.
"""

from __future__ import annotations

import contextlib
import select
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ooo.errors import UserError
from ooo.host import oauth
from ooo.host.oauth import OAUTH_MECHANISMS
from ooo.transport.base import (
    Transport,
    TransportAuthError,
    TransportRejected,
    TransportUnavailable,
)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate verification on by default; an extra CA for a self-signed server."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    return context


#: Seconds a session may sit unused before the next send checks it with NOOP first: well
#: under the idle timeouts servers use (Postfix: 300 s; RFC 5321 asks for at least 5 min).
IDLE_CHECK = 10.0


@dataclass
class _Session:
    conn: smtplib.SMTP
    last_used: float
    """time.monotonic() when its last command was answered."""


class SmtpTransport(Transport):
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str | None,
        password_provider: Callable[[], str] | None,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        auth: str = "password",
        sessions: int = 1,
        idle_check: float = IDLE_CHECK,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if auth != "password" and auth not in OAUTH_MECHANISMS:
            raise ValueError(f"auth must be 'password', 'xoauth2' or 'oauthbearer', not {auth!r}")
        self.host, self.port, self.security = host, port, security
        # "password" (AUTH via smtplib's login), or "xoauth2"/"oauthbearer": the provider then
        # gives an access token.
        self.auth = auth
        self.username = username
        self.password_provider = password_provider
        self.ca_file = ca_file
        self.timeout = timeout
        if sessions < 1:
            raise ValueError("sessions must be at least 1")
        #: Sends the engine may run at once, each on a session of its own (1: in its thread).
        self.concurrent_sends = sessions if sessions > 1 else 0
        self.idle_check = idle_check
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._idle: list[_Session] = []  # open sessions no send is using, last used last
        #: Sessions opened and NOOPs sent to check one (for tests and benchmarks).
        self.opened = 0
        self.noops = 0

    @property
    def where(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=tls_context(self.ca_file)
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    conn.starttls(context=tls_context(self.ca_file))
            conn.ehlo_or_helo_if_needed()
            if self.username and self.auth in OAUTH_MECHANISMS:
                self._oauth_login(conn, self.username)
            elif self.username:
                password = self.password_provider() if self.password_provider else ""
                conn.login(self.username, password)
            return conn
        except BaseException:
            # A refused login (or anything else half way) must not leave the socket to the
            # garbage collector: close it before the error goes up.
            if conn is not None:
                conn.close()
            raise

    def _open(self) -> smtplib.SMTP:
        """_connect(), with the library's errors mapped to the transport's own."""
        try:
            return self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportAuthError(
                f"{self.where} refused the login for {self.username!r} ({exc.smtp_code}): check "
                f"the password (`ooo secret set smtp`) or smtp.password_command"
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TransportUnavailable(
                f"{self.where}: certificate verify failed ({exc.verify_message}); if the server "
                f"uses a private CA, set smtp.ca_file"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise TransportUnavailable(f"{self.where}: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"{self.where} unreachable: {_describe(exc)}") from exc

    def _oauth_login(self, conn: smtplib.SMTP, user: str) -> None:
        """AUTH XOAUTH2 / OAUTHBEARER with a token fetched now (never kept, never shown)."""
        mechanism: oauth.Mechanism = "oauthbearer" if self.auth == "oauthbearer" else "xoauth2"
        name = oauth.sasl_name(mechanism)
        offered = (conn.esmtp_features.get("auth") or "").upper().split()
        if name not in offered:
            conn.close()
            raise TransportAuthError(
                f"{self.where} does not offer AUTH {name} (offers: {' '.join(offered) or 'none'})"
                "; check smtp.host, smtp.security and smtp.auth (Microsoft 365 and Gmail take "
                '"xoauth2" after STARTTLS or SSL)'
            )
        try:
            token = self.password_provider() if self.password_provider else ""
        except UserError as exc:
            # A failing token helper is for the user to fix: keep the reply queued meanwhile.
            conn.close()
            raise TransportAuthError(exc.render().removeprefix("error: ")) from exc
        responder = oauth.SaslResponder(
            mechanism, oauth.initial_response(mechanism, user, token, self.host, self.port)
        )
        try:
            conn.auth(name, responder, initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            error = exc.smtp_error
            text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            said = f"; SASL {responder.server_status}" if responder.server_status else ""
            raise TransportAuthError(
                f"{self.where} refused the {name} sign-in for {user!r} ({exc.smtp_code} "
                f"{oauth.redact(text, token)}{said}): " + oauth.refused_advice("smtp", user)
            ) from exc

    def _take(self) -> _Session:
        """A healthy session for one send: the most recently used idle one (checked with NOOP
        only if it sat idle too long or the server spoke or hung up meanwhile), else a new
        one."""
        while True:
            with self._lock:
                session = self._idle.pop() if self._idle else None
            if session is None:
                conn = self._open()
                with self._lock:
                    self.opened += 1
                return _Session(conn, self._monotonic())
            idle = self._monotonic() - session.last_used
            if idle < self.idle_check and not _has_spoken(session.conn):
                return session
            with self._lock:
                self.noops += 1
            try:
                if session.conn.noop()[0] == 250:
                    session.last_used = self._monotonic()
                    return session
            except (OSError, smtplib.SMTPException):
                pass
            _drop(session.conn)

    def _give_back(self, session: _Session) -> None:
        session.last_used = self._monotonic()
        with self._lock:
            self._idle.append(session)

    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        session = self._take()
        refused = self._send(session.conn, raw, envelope_from, recipients)  # drops it on error
        self._give_back(session)
        if recipients and recipients[0] in refused:
            code, answer = refused[recipients[0]]
            raise TransportRejected(
                f"{self.where} refused {recipients[0]}: {code} {answer.decode(errors='replace')}"
            )
        return {
            rcpt: f"{code} {answer.decode(errors='replace')}"
            for rcpt, (code, answer) in refused.items()
        }

    def _send(
        self, conn: smtplib.SMTP, raw: bytes, envelope_from: str, recipients: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """One SMTP transaction; on an error the session is closed unless it can go on."""
        try:
            refused = conn.sendmail(envelope_from, recipients, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: smtplib has reset the transaction, the session is fine.
            self._give_back(_Session(conn, 0.0))
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{rcpt}: {code} {msg.decode(errors='replace')}"
                for rcpt, (code, msg) in exc.recipients.items()
            )
            if any(400 <= c < 500 for c in codes):
                raise TransportUnavailable(f"{self.where} deferred: {detail}") from exc
            raise TransportRejected(f"{self.where} refused: {detail}") from exc
        except smtplib.SMTPResponseException as exc:
            _drop(conn)
            error = exc.smtp_error
            detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            text = f"{self.where}: {exc.smtp_code} {detail}"
            if 400 <= exc.smtp_code < 500:
                raise TransportUnavailable(text) from exc
            raise TransportRejected(text) from exc
        except UnicodeEncodeError as exc:
            # A non-ASCII address without SMTPUTF8: this reply can never go; others can.
            _drop(conn)
            raise TransportRejected(f"{self.where}: cannot send to a non-ASCII address") from exc
        except (OSError, smtplib.SMTPException) as exc:
            _drop(conn)
            raise TransportUnavailable(f"{self.where} failed mid-send: {_describe(exc)}") from exc
        return refused

    def check(self) -> str:
        session = self._take()
        features = sorted(session.conn.esmtp_features)
        self._give_back(session)
        auth = f", logged in as {self.username}" if self.username else ", no login configured"
        if self.username and self.auth in OAUTH_MECHANISMS:
            auth += f" with {self.auth.upper()}"
        return f"{self.where}: EHLO ok ({self.security}{auth}; {', '.join(features)[:80]})"

    def close(self) -> None:
        """QUIT every idle session (the engine closes the transport when no send runs)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            _drop(session.conn)


def _has_spoken(conn: smtplib.SMTP) -> bool:
    """The server sent something nobody asked for (a 421 before hanging up) or hung up: the
    socket is readable between transactions. No round trip, unlike NOOP."""
    sock = conn.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _drop(conn: smtplib.SMTP) -> None:
    """QUIT, or just close when the server is gone. Never raises."""
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        with contextlib.suppress(OSError):
            conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
