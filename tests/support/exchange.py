"""The Exchange backend wired to the loopback EWS server (tests/support/ews_server.py): its
mailbox, its transport, the engine on both, and what to read back from a sent message."""

from __future__ import annotations

import email.policy
import xml.etree.ElementTree as ET
from dataclasses import replace
from email.message import EmailMessage

from ooo.engine import Engine
from ooo.mailbox.ews import EwsMailbox
from ooo.store import Store as StateStore
from ooo.templating import Renderer
from ooo.transport.ews import EwsTransport
from tests.support.ews_server import NS, EwsServer, Item
from tests.support.helpers import Clock, settings


def ews_mailbox(server: EwsServer, password: str = "secret", **kw: object) -> EwsMailbox:  # noqa: S107
    """An unopened EwsMailbox for the server's account (basic auth)."""
    return EwsMailbox(
        server.url,
        server.username,
        lambda: password,
        primary_smtp_address=server.address,
        auth="basic",
        **kw,  # type: ignore[arg-type]
    )


def ews_transport(server: EwsServer, password: str | None = None) -> EwsTransport:
    """An EwsTransport for the server's account (basic auth); with the server's own password
    (read at each login) unless ``password`` is given."""
    return EwsTransport(
        server.url,
        server.username,
        (lambda: server.password) if password is None else (lambda: password),
        primary_smtp_address=server.address,
        auth="basic",
    )


def extended_properties(message: ET.Element) -> dict[str, str]:
    """PropertyName -> value of the extended properties on one CreateItem message."""
    out = {}
    for prop in message.findall("t:ExtendedProperty", NS):
        uri = prop.find("t:ExtendedFieldURI", NS)
        assert uri is not None
        assert uri.get("DistinguishedPropertySetId") == "InternetHeaders"
        out[uri.get("PropertyName", "")] = prop.findtext("t:Value", "", NS)
    return out


def exchange_engine(ews: EwsServer, store: StateStore, clock: Clock) -> tuple[Engine, EwsMailbox]:
    """The engine on an opened Exchange mailbox that replies through EWS. The caller closes
    the mailbox."""
    box = ews_mailbox(ews)
    box.open()
    cfg = replace(settings(), mailbox_id=f"exchange:{ews.address}@{ews.url}/INBOX")
    engine = Engine(cfg, box, ews_transport(ews), store, Renderer(), clock)
    return engine, box


def as_received(item: Item) -> bytes:
    """A message sent through EWS (an item in Sent Items, made from fields) as RFC 5322 bytes:
    the header fields Exchange writes from those fields and the extended InternetHeaders
    properties, then the body. What its recipients read, short of Exchange's own additions."""
    fields = item.fields
    headers = [
        ("To", ", ".join(fields.get("to") or [])),
        ("Cc", ", ".join(fields.get("cc") or [])),
        ("Reply-To", ", ".join(fields.get("reply_to") or [])),
        ("Subject", fields.get("subject") or ""),
        ("Message-ID", fields.get("message_id") or ""),
        ("In-Reply-To", fields.get("in_reply_to") or ""),
        ("References", fields.get("references") or ""),
        *item.extended.items(),
    ]
    message = EmailMessage(policy=email.policy.SMTP)
    for name, value in headers:
        if value:
            message[name] = value
    message.set_content(str(fields.get("body") or ""))
    return message.as_bytes()
