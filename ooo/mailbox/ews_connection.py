"""How one :class:`~ooo.mailbox.ews.EwsMailbox` connects to Exchange: the configuration, the
credentials, and TLS trust of its own.

* **Configuration**: a fixed server version (:data:`BUILD`) skips exchangelib's
  version-guessing requests; ``FailFast`` leaves retrying to the engine's backoff.
* **Credentials**: NTLM or basic with the password, or an OAuth 2 access token.
* **TLS**: the server's certificate is verified; ``ca_file`` adds a private CA to the system's,
  as ``mailbox.ca_file`` does for IMAP. It applies to this mailbox's own connections only: each
  EwsMailbox talks through a protocol object of its own (:class:`MailboxProtocol`, not
  exchangelib's cache shared per endpoint and login), whose sessions mount an HTTPS adapter with
  that CA on the service endpoint. exchangelib's ``BaseProtocol.HTTP_ADAPTER_CLS`` is a global
  for every server in the process, so it is left alone. When verification fails,
  :func:`certificate_refused` finds why in the error chain and :func:`ca_advice` says what to
  check.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from typing import Any, Literal

import requests.adapters
from exchangelib import BASIC, NTLM, OAUTH2, Build, Configuration, Credentials, Version
from exchangelib.protocol import CachingProtocol, FailFast, Protocol

from ooo.mailbox.base import MailboxUnavailable

Auth = Literal["ntlm", "basic", "oauth2"]
AUTH_MODES: tuple[Auth, ...] = ("ntlm", "basic", "oauth2")

#: Exchange 2016 and later; a fixed version skips exchangelib's version-guessing requests.
BUILD = Build(15, 1, 2507, 6)
_AUTH_TYPES = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2}


def configuration(
    service_endpoint: str, auth: Auth, username: str, secret: str, *, max_connections: int
) -> Any:
    """The exchangelib Configuration of one mailbox (``secret``: a password, or an access token
    with ``auth="oauth2"``)."""
    return Configuration(
        service_endpoint=service_endpoint,
        credentials=_credentials(auth, username, secret),
        auth_type=_AUTH_TYPES[auth],
        version=Version(build=BUILD),
        retry_policy=FailFast(),
        max_connections=max_connections,
    )


def _credentials(auth: Auth, username: str, secret: str) -> Any:
    if auth == "oauth2":
        from exchangelib import OAuth2AuthorizationCodeCredentials
        from oauthlib.oauth2 import OAuth2Token

        return OAuth2AuthorizationCodeCredentials(
            access_token=OAuth2Token({"access_token": secret, "token_type": "Bearer"})
        )
    return Credentials(username, secret)


def tls_context(ca_file: str | None, where: str) -> ssl.SSLContext | None:
    """The system's CAs plus ``ca_file``; None without a ca_file (requests' defaults)."""
    if ca_file is None:
        return None
    try:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxUnavailable(
            f"cannot load mailbox.ca_file {ca_file!r} for {where}: {exc}"
        ) from exc
    return context


def use_own_protocol(account: Any, config: Any, tls: ssl.SSLContext | None) -> None:
    """Give ``account`` sessions of its own, with its own TLS trust; before any request. The
    Protocol that Account() put into exchangelib's process-wide cache is unused."""
    with contextlib.suppress(KeyError):
        del Protocol[config]
    account.protocol = MailboxProtocol(config=config, tls=tls)


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


class MailboxProtocol(Protocol, metaclass=_Uncached):  # type: ignore[misc]
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


def certificate_refused(exc: BaseException) -> str | None:
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


def ca_advice(ca_file: str | None) -> str:
    """What to check when the server's certificate was not trusted."""
    if ca_file is not None:
        return (
            f"check that mailbox.ca_file ({ca_file}) holds the CA certificate that "
            "signed the server's certificate, and that the service endpoint's host name is "
            "the one the certificate was issued for"
        )
    return (
        "if the server uses a certificate from a private CA, set mailbox.ca_file to that CA "
        "certificate (PEM); else check that the service endpoint's host name is the one "
        "the certificate was issued for"
    )
