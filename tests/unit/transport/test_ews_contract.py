"""EwsTransport passes the transport contract through exchangelib's real client stack against
the loopback EWS server (tests/support/ews_server.py). A message "arrives" for a recipient
when Exchange took it for that recipient: it is in Sent Items addressed to them, read back as
the fields Exchange writes (tests/support/exchange.py: as_received)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

import pytest

from ooo.transport.ews import EwsTransport
from tests.support.ews_server import EwsServer
from tests.support.exchange import as_received, ews_transport
from tests.support.responder import wait_for
from tests.support.transport_contract import (
    Outage,
    Received,
    Recipient,
    TransportContract,
    TransportWithPassword,
)


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(stream_seconds=1.0).start()
    yield server
    server.stop()


class TestEwsTransport(TransportContract):
    """EwsTransport passes the transport contract against a loopback EWS server."""

    cannot: ClassVar[Mapping[str, str]] = {
        "exact_bytes": (
            "Exchange sends a new message built from the composed one's fields "
            "(ooo/transport/ews.py: ews_fields), so its recipients get Exchange's MIME: the "
            "header fields and the text are compared instead"
        ),
        "refused_copy": (
            "Exchange takes or refuses a message whole: CreateItem gives no answer per "
            "recipient, and a copy it cannot deliver comes back later as a non-delivery "
            "report, so send() always returns {}"
        ),
    }

    @pytest.fixture
    def transport(self, ews: EwsServer) -> Iterator[EwsTransport]:
        transport = ews_transport(ews)
        yield transport
        transport.close()

    @pytest.fixture
    def recipient(self) -> Recipient:
        def make(name: str) -> str:
            return f"{name}-{uuid.uuid4().hex[:8]}@example.org"

        return make

    @pytest.fixture
    def received(self, ews: EwsServer) -> Received:
        def received(address: str, count: int) -> list[bytes]:
            def arrived() -> list[bytes]:
                return [
                    as_received(item)
                    for item in ews.contents("sentitems")
                    if address in (item.fields.get("to") or []) + (item.fields.get("cc") or [])
                ]

            wait_for(lambda: len(arrived()) >= count, 10, f"{count} message(s) to {address}")
            return arrived()

        return received

    @pytest.fixture
    def outage(self, ews: EwsServer) -> Outage:
        @contextmanager
        def server_stopped() -> Iterator[None]:
            port = ews.port
            ews.stop()
            try:
                yield
            finally:
                ews.start(port)

        return server_stopped

    @pytest.fixture
    def refused_address(self, ews: EwsServer) -> str:
        address = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
        ews.refused_recipients.add(address)
        return address

    @pytest.fixture
    def transport_with_password(self, ews: EwsServer) -> TransportWithPassword:
        def make(password: str) -> EwsTransport:
            return ews_transport(ews, password=password)

        return make

    @pytest.fixture
    def where(self, ews: EwsServer) -> str:
        return ews.url
