"""SMTP submission with smtplib: SSL, STARTTLS, or plain text to a loopback host.

One connection is kept open across sends (a burst of replies does not pay a TLS handshake
and AUTH each time) and reopened when the server has dropped it.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Callable
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
        self._conn: smtplib.SMTP | None = None

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

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            try:
                status = self._conn.noop()[0]
                if status == 250:
                    return self._conn
            except (OSError, smtplib.SMTPException):
                pass
            self.close()
        self._conn = self._open()
        return self._conn

    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        conn = self._connection()
        try:
            refused = conn.sendmail(envelope_from, recipients, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{rcpt}: {code} {msg.decode(errors='replace')}"
                for rcpt, (code, msg) in exc.recipients.items()
            )
            if any(400 <= c < 500 for c in codes):
                raise TransportUnavailable(f"{self.where} deferred: {detail}") from exc
            raise TransportRejected(f"{self.where} refused: {detail}") from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            error = exc.smtp_error
            detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            text = f"{self.where}: {exc.smtp_code} {detail}"
            if 400 <= exc.smtp_code < 500:
                raise TransportUnavailable(text) from exc
            raise TransportRejected(text) from exc
        except UnicodeEncodeError as exc:
            # A non-ASCII address without SMTPUTF8: this reply can never go; others can.
            self.close()
            raise TransportRejected(f"{self.where}: cannot send to a non-ASCII address") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransportUnavailable(f"{self.where} failed mid-send: {_describe(exc)}") from exc
        if recipients and recipients[0] in refused:
            code, answer = refused[recipients[0]]
            raise TransportRejected(
                f"{self.where} refused {recipients[0]}: {code} {answer.decode(errors='replace')}"
            )
        return {
            rcpt: f"{code} {answer.decode(errors='replace')}"
            for rcpt, (code, answer) in refused.items()
        }

    def check(self) -> str:
        conn = self._connection()
        features = sorted(conn.esmtp_features)
        auth = f", logged in as {self.username}" if self.username else ", no login configured"
        if self.username and self.auth in OAUTH_MECHANISMS:
            auth += f" with {self.auth.upper()}"
        return f"{self.where}: EHLO ok ({self.security}{auth}; {', '.join(features)[:80]})"

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                with contextlib.suppress(OSError):
                    self._conn.close()
            self._conn = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
