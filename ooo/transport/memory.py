"""An in-memory transport: keeps what it was asked to send (the demo and the unit tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ooo.transport.base import Transport, TransportRejected, TransportUnavailable


@dataclass
class SentMessage:
    raw: bytes
    envelope_from: str
    recipients: list[str]


@dataclass
class MemoryTransport(Transport):
    name: str = "memory"
    sent: list[SentMessage] = field(default_factory=list)
    available: bool = True

    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        if not self.available:
            raise TransportUnavailable("memory transport is switched off")
        if not recipients:
            raise TransportRejected("no recipient")  # as every real transport says
        self.sent.append(SentMessage(raw, envelope_from, list(recipients)))
        return {}
