"""The one-method interface every transport implements.

Transports map their library's errors to these at the boundary: the engine decides what to
do by type alone (retry later, or give up on this reply).
"""

from __future__ import annotations

import abc

from ooo.errors import OooError


class TransportError(OooError):
    """Sending failed."""


class TransportUnavailable(TransportError):
    """The server is unreachable, or answered with a temporary (4xx) error: keep the reply
    queued and try again later."""


class TransportRejected(TransportError):
    """The server refused this reply for good (5xx): it will never be sent."""


class TransportAuthError(TransportUnavailable):
    """The server refused the credentials. Retried (the user may fix the keyring entry), but
    shown as the last error so the user knows to act."""


class Transport(abc.ABC):
    name: str = "transport"
    concurrent_sends: int = 0
    """How many sends the engine may run at once, on worker threads (the transport then keeps
    a connection per send in flight, and ``send`` is thread-safe). 0: the engine sends one at
    a time from its own thread."""

    @abc.abstractmethod
    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        """Hand one message to the server. ``envelope_from`` may be "" (the null sender).

        The first recipient is the one that matters: if the server refuses it, the send
        fails (TransportRejected). Other recipients it refuses (a mistyped delegate in Cc) are
        returned, address -> the server's answer, and the message counts as sent."""

    def check(self) -> str:
        """Connect and log in without sending; return one line saying what worked."""
        return "ok"

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Drop any open connection. Never raises."""
