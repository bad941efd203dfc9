"""Builders shared by the unit tests: raw messages, an engine on the in-memory backends."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from ooo.core.compose import ReplySettings
from ooo.core.policy import Owner
from ooo.engine import Engine, EngineSettings
from ooo.mailbox.memory import MemoryMailbox
from ooo.store import Store
from ooo.templating import Renderer
from ooo.transport.memory import MemoryTransport

OWNER = "bob@example.com"
ALIAS = "b.example@example.com"
START = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)
END = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
INSIDE = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)


def raw_message(
    sender: str = "alice@example.org",
    to: str = OWNER,
    subject: str = "A question",
    *,
    return_path: str | None = None,
    message_id: str | None = "<m1@example.org>",
    extra: dict[str, str] | None = None,
    body: str = "Hello Bob,\nwhat about the thing?\n",
) -> bytes:
    """An RFC 5322 message as delivered (with a Return-Path, as Dovecot's LMTP adds one)."""
    headers = {
        "Return-Path": f"<{sender}>" if return_path is None else return_path,
        "From": sender,
        "To": to,
        "Subject": subject,
        "Date": "Tue, 22 Dec 2026 10:00:00 +0000",
    }
    if message_id:
        headers["Message-ID"] = message_id
    headers.update(extra or {})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode()


class Clock:
    """A settable clock for the engine: tests move time explicitly."""

    def __init__(self, now: datetime = INSIDE) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def settings(interval: timedelta = timedelta(days=7)) -> EngineSettings:
    return EngineSettings(
        owner=Owner((OWNER, ALIAS)),
        reply=ReplySettings("Bob Example", ZoneInfo("Europe/Berlin"), START, END),
        window_start=START,
        window_end=END,
        interval=interval,
        mailbox_id="memory:test/INBOX",
        delegate_emails=("carol@example.com",),
        delegate_names=("Carol Jones", "carol@example.com"),
        network_names=("@bob@hachyderm.io",),
    )


#: Stores opened by the builders here; tests/conftest.py closes them when each test ends
#: (deterministically: Python 3.13 warns about a connection left to the garbage collector).
OPEN_STORES: list[Store] = []


def tracked(store: Store) -> Store:
    """``store``, closed when the current test ends."""
    OPEN_STORES.append(store)
    return store


def make_engine(
    store: Store | None = None,
    mailbox: MemoryMailbox | None = None,
    transport: MemoryTransport | None = None,
    clock: Clock | None = None,
    **kwargs: object,
) -> tuple[Engine, MemoryMailbox, MemoryTransport, Store, Clock]:
    mailbox = mailbox or MemoryMailbox()
    transport = transport or MemoryTransport()
    store = tracked(store or Store(":memory:"))
    clock = clock or Clock()
    mailbox.open()
    engine = Engine(settings(), mailbox, transport, store, Renderer(), clock, **kwargs)  # type: ignore[arg-type]
    return engine, mailbox, transport, store, clock


def read(raw: bytes) -> EmailMessage:
    """``raw`` parsed as a modern EmailMessage (headers decoded, ``get_body`` available)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
