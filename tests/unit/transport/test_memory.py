"""The in-memory transport (the demo's and the unit tests' outbox): the transport contract,
as far as a transport with no server can honour it, and what it records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

import pytest

from ooo.transport.base import TransportUnavailable
from ooo.transport.memory import MemoryTransport, SentMessage
from tests.support.responder import wait_for
from tests.support.transport_contract import (
    Outage,
    Received,
    Recipient,
    TransportContract,
    reply,
)

NO_SERVER = "MemoryTransport takes every address: there is no server to refuse one"


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


class TestMemoryTransport(TransportContract):
    """MemoryTransport passes the transport contract."""

    cannot: ClassVar[Mapping[str, str]] = {
        "refused_copy": NO_SERVER,
        "refused_recipient": NO_SERVER,
        "credentials": "MemoryTransport has no login",
        "refused_login_closed": "MemoryTransport has no login",
        "check": "check() is the base class's 'ok': there is nothing to connect to",
    }

    @pytest.fixture
    def transport(self, memory: MemoryTransport) -> MemoryTransport:
        return memory

    @pytest.fixture
    def recipient(self) -> Recipient:
        def make(name: str) -> str:
            return f"{name}-{uuid.uuid4().hex[:8]}@example.org"

        return make

    @pytest.fixture
    def received(self, memory: MemoryTransport) -> Received:
        def received(address: str, count: int) -> list[bytes]:
            def arrived() -> list[bytes]:
                return [m.raw for m in memory.sent if address in m.recipients]

            wait_for(lambda: len(arrived()) >= count, 5, f"{count} message(s) to {address}")
            return arrived()

        return received

    @pytest.fixture
    def outage(self, memory: MemoryTransport) -> Outage:
        @contextmanager
        def switched_off() -> Iterator[None]:
            memory.available = False
            try:
                yield
            finally:
                memory.available = True

        return switched_off


def test_sent_keeps_the_envelope(memory: MemoryTransport) -> None:
    """Each send is recorded with its bytes, its envelope sender (the null sender too) and its
    recipients in order, as the engine's tests read them."""
    raw = reply("alice@example.org", cc=("carol@example.com",))
    memory.send(raw, "", ["alice@example.org", "carol@example.com"])
    memory.send(raw, "bob@example.test", ["alice@example.org"])
    assert memory.sent == [
        SentMessage(raw, "", ["alice@example.org", "carol@example.com"]),
        SentMessage(raw, "bob@example.test", ["alice@example.org"]),
    ]


def test_switched_off_records_nothing(memory: MemoryTransport) -> None:
    """While unavailable, a send raises TransportUnavailable and leaves no trace."""
    memory.available = False
    with pytest.raises(TransportUnavailable):
        memory.send(reply("alice@example.org"), "", ["alice@example.org"])
    assert memory.sent == []
