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
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username = username
        self.password_provider = password_provider
        self.ca_file = ca_file
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        try:
            conn: smtplib.SMTP
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=tls_context(self.ca_file)
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    conn.starttls(context=tls_context(self.ca_file))
            conn.ehlo_or_helo_if_needed()
            if self.username:
                password = self.password_provider() if self.password_provider else ""
                conn.login(self.username, password)
            return conn
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

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            try:
                status = self._conn.noop()[0]
                if status == 250:
                    return self._conn
            except (OSError, smtplib.SMTPException):
                pass
            self.close()
        self._conn = self._connect()
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
