"""A ManageSieve (RFC 5804) session over ``sievelib``: the only module that imports it.

sievelib's client is small and maintained, but three things in it do not fit ooo, so a subclass
fixes them here rather than at every call:

* its TLS context takes no CA: ``ca_file`` (a private CA, as ``mailbox.ca_file`` for IMAP) is
  added to the system's CAs, and the host name is verified;
* its XOAUTH2 string has a stray comma after the user name; both OAuth mechanisms use the
  strings of ooo.host.oauth (the same as IMAP and SMTP);
* it warns about unencrypted logins, which the config allows only to a loopback host.

:class:`Session` counts round trips (the greeting, each command), which is what "a handful per
hour" is measured in, and maps every sievelib, socket and TLS error to the handoff's own
errors; messages name the server and the user, never the password or token.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from sievelib import managesieve  # type: ignore[import-untyped]

from ooo.errors import UserError
from ooo.handoff.base import HandoffAuthError, HandoffError, HandoffUnavailable
from ooo.host import oauth

SECURITY = ("ssl", "starttls", "plain")


@dataclass
class RoundTrips:
    """How many times ooo talked to the ManageSieve server (for the measurement)."""

    sessions: int = 0
    commands: int = 0
    """Round trips: the greeting of each connection plus every command (STARTTLS,
    AUTHENTICATE, LISTSCRIPTS, PUTSCRIPT, LOGOUT, ...)."""


class _Client(managesieve.Client):  # type: ignore[misc]
    """sievelib's client with a CA file, correct OAuth strings and round-trip counting."""

    sock: Any

    def __init__(
        self, host: str, port: int, ca_file: str | None, trips: RoundTrips, timeout: float
    ) -> None:
        super().__init__(host, port)
        self.ca_file = ca_file
        self.trips = trips
        self.timeout = timeout

    # sievelib's private methods, overridden by their mangled names.
    def _Client__enable_ssl(self, keyfile: str | None = None, certfile: str | None = None) -> None:
        context = ssl.create_default_context()
        if self.ca_file:
            try:
                context.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise managesieve.Error(f"cannot load the CA file {self.ca_file}: {exc}") from exc
        plain: socket.socket = self.sock
        plain.settimeout(self.timeout)
        self.sock = context.wrap_socket(plain, server_hostname=self.srvhostname)

    def _Client__send_command(self, *args: Any, **kwargs: Any) -> Any:
        self.trips.commands += 1
        return super()._Client__send_command(*args, **kwargs)

    def _Client__get_capabilities(self) -> Any:
        self.trips.commands += 1  # the greeting, or the capabilities sent again after STARTTLS
        return super()._Client__get_capabilities()

    def _sasl(self, mechanism: oauth.Mechanism, login: bytes, token: bytes) -> bool:
        """AUTHENTICATE with an initial response. A refused token comes back as a server
        challenge (a JSON error report) that must be answered before the NO (RFC 7628 §3.2.3);
        sievelib would wait for the NO forever, so the exchange is read here."""
        initial = oauth.initial_response(
            mechanism, login.decode(), token.decode(), self.srvhostname, self.srvport
        )
        responder = oauth.SaslResponder(mechanism, initial)
        name = oauth.sasl_name(mechanism)
        first = base64.b64encode(responder().encode()).decode()
        self.trips.commands += 1
        self.sock.sendall(f'AUTHENTICATE "{name}" "{first}"\r\n'.encode())
        for _ in range(3):
            try:
                line = self._Client__read_line()
            except managesieve.Response as done:
                return bool(done.code == b"OK")
            except managesieve.Literal as literal:
                line = self._Client__read_block(literal.value)
                self._Client__read_line()  # the CRLF after the literal
            challenge = base64.b64decode(line.strip().strip(b'"') or b"")
            answer = base64.b64encode(responder(challenge).encode()).decode()
            self.trips.commands += 1
            self.sock.sendall(f'"{answer}"\r\n'.encode())
        raise managesieve.Error("the server kept challenging the OAuth sign-in")

    def _xoauth2_authentication(self, login: bytes, password: bytes, authz_id: bytes = b"") -> bool:
        return self._sasl("xoauth2", login, password)

    def _oauthbearer_authentication(
        self, login: bytes, password: bytes, authz_id: bytes = b""
    ) -> bool:
        return self._sasl("oauthbearer", login, password)


class Session:
    """One logged-in ManageSieve connection; use as a context manager (logs out at the end).

    ``secret`` is called once per session (password or, with auth "xoauth2"/"oauthbearer",
    an access token), so a rotated password or a fresh token is always used.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        secret: Callable[[], str],
        *,
        auth: str = "password",
        ca_file: str | None = None,
        timeout: float = 30.0,
        trips: RoundTrips | None = None,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"security must be one of {SECURITY}, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self.auth = username, auth
        self.ca_file, self.timeout = ca_file, timeout
        self.trips = trips if trips is not None else RoundTrips()
        self._secret = secret
        self._said = ""
        self.client: Any = None

    @property
    def where(self) -> str:
        return f"ManageSieve server {self.host}:{self.port} (user {self.username!r})"

    def __enter__(self) -> Session:
        try:
            said = self._secret()
        except UserError as exc:
            raise HandoffAuthError(f"{self.where}: {exc.message}") from exc
        self._said = said
        client = _Client(self.host, self.port, self.ca_file, self.trips, self.timeout)
        self.trips.sessions += 1
        mechanism = {"xoauth2": "XOAUTH2", "oauthbearer": "OAUTHBEARER"}.get(self.auth)
        try:
            with warnings.catch_warnings():
                # Plain text is allowed by the config only to a loopback host.
                warnings.filterwarnings("ignore", "Credentials are sent over an unencrypted")
                ok = client.connect(
                    self.username,
                    said,
                    starttls=self.security == "starttls",
                    ssl=self.security == "ssl",
                    authmech=mechanism,
                )
            if client.sock is not None:
                client.sock.settimeout(self.timeout)
        except BaseException as exc:
            _close(client)
            self._fail("connecting", exc)
        if not ok:
            detail = self._server_said(client) or "no reason given"
            _close(client)
            if mechanism and mechanism not in _mechanisms(client):
                raise HandoffAuthError(
                    f"{self.where} does not offer {mechanism} (it offers "
                    f"{', '.join(_mechanisms(client)) or 'nothing'}); check mailbox.auth"
                )
            advice = (
                oauth.refused_advice("mailbox", self.username)
                if mechanism
                else "check mailbox.username and the stored password (ooo secret set mailbox)"
            )
            raise HandoffAuthError(f"{self.where} refused the login ({detail}); {advice}")
        self.client = client
        return self

    def __exit__(self, *exc: object) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):  # the work is done; a rude server cannot undo it
            client.logout()
        _close(client)

    # -- commands ---------------------------------------------------------------------------

    def capabilities(self) -> list[str]:
        """The Sieve extensions the server offers (lowercase)."""
        return [
            str(c).lower() for c in self._call("reading capabilities", "get_sieve_capabilities")
        ]

    def listscripts(self) -> tuple[str | None, list[str]]:
        """(the active script or None, the others)."""
        found = self._call("listing scripts", "listscripts")
        if found is None:
            self._refused("listing scripts")
        active, others = found
        return active, list(others)

    def getscript(self, name: str) -> str:
        text = self._call(f"reading script {name!r}", "getscript", name)
        if text is None:
            self._refused(f"reading script {name!r}")
        return str(text)

    def checkscript(self, text: str) -> str | None:
        """None when the server accepts the script, else its complaint. A server without
        CHECKSCRIPT (ManageSieve before RFC 5804's VERSION) is taken as accepting: it checks
        at PUTSCRIPT anyway."""
        try:
            ok = self._call("checking the script", "checkscript", text)
        except NotImplementedError:
            return None
        return None if ok else self._server_said(self.client) or "refused"

    def putscript(self, name: str, text: str) -> tuple[bool, str]:
        """(stored, the server's response code such as "QUOTA/MAXSIZE" when it was not)."""
        if self._call(f"storing script {name!r}", "putscript", name, text):
            return True, ""
        return False, self._code()

    def setactive(self, name: str) -> None:
        if not self._call(f"activating script {name!r}", "setactive", name):
            self._refused(f"activating script {name!r}")

    def deletescript(self, name: str) -> None:
        if not self._call(f"deleting script {name!r}", "deletescript", name):
            if self._code().upper().startswith("NONEXISTENT"):
                return
            self._refused(f"deleting script {name!r}")

    def refusal(self, doing: str) -> HandoffError:
        """The error for a command the server answered with NO."""
        code = self._code()
        said = self._server_said(self.client)
        detail = f"[{code}] {said}" if code else said or "no reason given"
        return HandoffError(f"{self.where} refused {doing}: {detail}")

    def _refused(self, doing: str) -> NoReturn:
        raise self.refusal(doing)

    def _call(self, doing: str, method: str, *args: Any) -> Any:
        if self.client is None:
            raise HandoffUnavailable(f"not connected to {self.where}")
        try:
            return getattr(self.client, method)(*args)
        except NotImplementedError:
            raise
        except Exception as exc:
            client, self.client = self.client, None
            _close(client)
            self._fail(doing, exc)

    def _code(self) -> str:
        code = getattr(self.client, "errcode", None) or b""
        return code.decode("utf-8", "replace") if isinstance(code, bytes) else str(code)

    def _server_said(self, client: Any) -> str:
        text = getattr(client, "errmsg", None) or b""
        said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return oauth.redact(said, self._said)[:300]

    def _fail(self, doing: str, exc: BaseException) -> NoReturn:
        if isinstance(exc, HandoffError):
            raise exc
        if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise HandoffUnavailable(
                f"certificate verify failed for {self.host}:{self.port} "
                f"({getattr(exc, 'verify_message', '') or exc}); set handoff.ca_file (or "
                "mailbox.ca_file) to the CA certificate that signed the server's certificate, "
                "or check that handoff.host is the name it was issued for"
            ) from exc
        if isinstance(exc, OSError | managesieve.Error | ssl.SSLError | socket.timeout):
            detail = oauth.redact(str(exc) or type(exc).__name__, self._said)
            raise HandoffUnavailable(f"{doing} on {self.where} failed: {detail}") from exc
        if isinstance(exc, Exception):
            # sievelib reports a malformed answer with whatever broke while parsing it.
            raise HandoffUnavailable(
                f"{doing} on {self.where} failed: {type(exc).__name__}: "
                f"{oauth.redact(str(exc), self._said)[:200]}"
            ) from exc
        raise exc


def _mechanisms(client: Any) -> list[str]:
    with contextlib.suppress(Exception):
        return list(client.get_sasl_mechanisms())
    return []


def _close(client: Any) -> None:
    sock = getattr(client, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
        client.sock = None
