"""mailbox.ca_file for Exchange: the loopback EWS server over HTTPS with a certificate from a
throwaway CA (tests/support/tls.py; the ``certificates`` fixture is in this folder's
conftest.py). Without ca_file the login fails with advice naming mailbox.ca_file; with it the
mailbox and the transport work, and the trust stays with that mailbox: nothing process-wide
changes for other connections."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import requests.adapters
from exchangelib.protocol import BaseProtocol

from ooo.config import loads
from ooo.mailbox import create
from ooo.mailbox.base import MailboxUnavailable
from ooo.mailbox.ews import EwsMailbox
from ooo.transport.base import TransportUnavailable
from ooo.transport.ews import EwsTransport
from tests.support.configs import GOOD
from tests.support.ews_server import EwsServer
from tests.support.mailbox_contract import drain, message, unique
from tests.support.tls import Certificates


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The global workaround this replaces must not make the tests pass by accident."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def https_ews(certificates: Certificates) -> Iterator[EwsServer]:
    server = EwsServer(
        stream_seconds=1.0, certificate=(certificates.cert_file, certificates.key_file)
    ).start()
    yield server
    server.stop()


def mailbox(server: EwsServer, ca_file: str | None = None) -> EwsMailbox:
    return EwsMailbox(
        server.url,
        server.username,
        lambda: server.password,
        primary_smtp_address=server.address,
        auth="basic",
        ca_file=ca_file,
    )


def transport(server: EwsServer, ca_file: str | None = None) -> EwsTransport:
    return EwsTransport(
        server.url,
        server.username,
        lambda: server.password,
        primary_smtp_address=server.address,
        auth="basic",
        ca_file=ca_file,
    )


def test_an_unknown_ca_is_refused_with_advice_naming_ca_file(https_ews: EwsServer) -> None:
    """Certificates are verified: a server certificate from a private CA fails the login with
    MailboxUnavailable naming the server and mailbox.ca_file."""
    assert https_ews.url.startswith("https://")
    box = mailbox(https_ews)
    with pytest.raises(MailboxUnavailable) as caught:
        box.open()
    text = str(caught.value)
    assert "certificate" in text and "not trusted" in text
    assert "mailbox.ca_file" in text
    assert https_ews.url in text
    assert not box.connected
    assert not https_ews.requests  # no request got through the handshake


def test_with_ca_file_the_mailbox_works_and_only_this_mailbox_trusts_the_ca(
    https_ews: EwsServer,
    certificates: Certificates,
) -> None:
    """With ca_file naming the CA, the same server is trusted: login, baseline, new mail. The
    trust is this mailbox's own: meanwhile a second mailbox with the same login but no ca_file
    is still refused, plain requests still refuse the certificate, and exchangelib's global
    adapter class is untouched."""
    box = mailbox(https_ews, certificates.ca_file)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        https_ews.deliver(message(unique("tls")))
        fetched, _ = drain(box, cursor)
        assert len(fetched) == 1

        other = mailbox(https_ews)
        with pytest.raises(MailboxUnavailable, match=r"mailbox\.ca_file"):
            other.open()
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(https_ews.url, data=b"", timeout=10)
        assert BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter

        # The first mailbox still works after the second was refused.
        https_ews.deliver(message(unique("tls-again")))
        fetched, _ = drain(box, cursor)
        assert len(fetched) == 2
    finally:
        box.close()


def test_a_ca_file_that_cannot_be_loaded_says_so(https_ews: EwsServer, tmp_path: Path) -> None:
    """A missing or broken ca_file is named, before any connection is made."""
    box = mailbox(https_ews, str(tmp_path / "missing.pem"))
    with pytest.raises(MailboxUnavailable, match=r"cannot load mailbox\.ca_file .*missing\.pem"):
        box.open()
    assert not https_ews.requests


def test_the_transport_uses_ca_file_too(
    https_ews: EwsServer,
    certificates: Certificates,
) -> None:
    """EwsTransport(ca_file=...) hands it to its own connection: without it a send is
    TransportUnavailable naming mailbox.ca_file (the reply stays queued), with it the reply is
    sent."""
    raw = message(unique("reply"))
    refused = transport(https_ews)
    try:
        with pytest.raises(TransportUnavailable, match=r"not trusted.*mailbox\.ca_file"):
            refused.send(raw, "", ["alice@example.org"])
    finally:
        refused.close()
    trusted = transport(https_ews, certificates.ca_file)
    try:
        assert trusted.send(raw, "", ["alice@example.org"]) == {}
    finally:
        trusted.close()
    assert len(https_ews.calls("CreateItem")) == 1


def test_the_factory_passes_mailbox_ca_file(
    https_ews: EwsServer,
    certificates: Certificates,
    tmp_path: Path,
) -> None:
    """[mailbox] ca_file reaches the EwsMailbox that ooo.mailbox.create builds, and it logs in."""
    text = GOOD.replace(
        '[mailbox]\nhost = "127.0.0.1"\nport = 1143\nsecurity = "plain"\n',
        f'[mailbox]\nbackend = "exchange"\nservice_endpoint = "{https_ews.url}"\n'
        f'auth = "basic"\nprimary_smtp_address = "{https_ews.address}"\n'
        f'ca_file = "{certificates.ca_file}"\n',
    )
    assert 'backend = "exchange"' in text
    cfg = loads(text, tmp_path / "c.toml")
    box = create(cfg.mailbox, lambda: https_ews.password)
    assert isinstance(box, EwsMailbox)
    assert box.ca_file == certificates.ca_file
    box.open()
    box.close()
