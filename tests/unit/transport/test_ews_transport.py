"""What EwsTransport puts into the EWS message, through exchangelib's real client stack against
tests/support/ews_server.py: the forward's attachment and Reply-To, X-Loop, and only validated
ids (the conversion itself is the pure ``ews_fields``, tested here on hostile input as well).
What every transport must do is in tests/support/transport_contract.py (test_ews_contract.py)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ooo.store import Store as StateStore
from ooo.transport.base import TransportRejected
from ooo.transport.ews import ews_fields
from tests.support.ews_server import NS, EwsServer
from tests.support.exchange import ews_transport, exchange_engine, extended_properties
from tests.support.helpers import INSIDE, OWNER, Clock, raw_message
from tests.support.routing import forward_of

INJECTED = "<=?utf-8?q?x=0D=0AX-Injected:_yes?=@example.test>"


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(stream_seconds=1.0).start()
    yield server
    server.stop()


def sent_message(server: EwsServer) -> tuple[ET.Element, bytes]:
    """The one message of the last CreateItem that sent something, and the request's bytes."""
    create = [r for r in server.calls("CreateItem") if b'"SendAndSaveCopy"' in r.body][-1]
    (msg,) = create.findall("m:CreateItem/m:Items/t:Message")
    return msg, create.body


def send(server: EwsServer, raw: bytes, recipients: list[str]) -> tuple[ET.Element, bytes]:
    transport = ews_transport(server)
    try:
        assert transport.send(raw, "", recipients) == {}
    finally:
        transport.close()
    return sent_message(server)


# -- 1: a forward to the delegate carries the original and the asker's Reply-To --------------

ORIGINALS = {
    # Attached by ooo.core.compose as a message/rfc822 part.
    "message/rfc822": (
        raw_message(sender="Alice <alice@example.org>", subject="Invoice 42"),
        "message/rfc822",
    ),
    # NUL bytes: attached as application/octet-stream inquiry.eml, base64-encoded.
    "hostile original": (
        b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Invoice 42\r\n\r\n"
        b"a NUL \x00 byte\r\n",
        "application/octet-stream",
    ),
}


@pytest.mark.parametrize("case", list(ORIGINALS))
def test_a_forward_carries_the_original_and_the_askers_reply_to(ews: EwsServer, case: str) -> None:
    """The forward the engine composes for the delegate says "the original message is
    attached": through EWS the original goes along as a FileAttachment with the very bytes the
    composed message carries (the original's), and ReplyTo holds the asker, so the delegate's
    answer goes to them."""
    original, content_type = ORIGINALS[case]
    fwd, _decision, _routing = forward_of(
        raw_message(sender="Alice <alice@example.org>", subject="Invoice 42"), original
    )
    assert b"The original message is attached." in fwd
    msg, _ = send(ews, fwd, ["carol@example.com"])
    (attachment,) = msg.findall("t:Attachments/t:FileAttachment", NS)
    assert base64.b64decode(attachment.findtext("t:Content", "", NS)) == original
    assert attachment.findtext("t:ContentType", None, NS) == content_type
    assert (attachment.findtext("t:Name", "", NS) or "").endswith(".eml")
    reply_to = [a.text for a in msg.findall("t:ReplyTo/t:Mailbox/t:EmailAddress", NS)]
    assert reply_to == ["alice@example.org"]
    to = [a.text for a in msg.findall("t:ToRecipients/t:Mailbox/t:EmailAddress", NS)]
    assert to == ["carol@example.com"]
    assert extended_properties(msg) == {
        "Auto-Submitted": "auto-forwarded",
        "X-Auto-Response-Suppress": "All",
        "X-Loop": OWNER,
    }
    assert msg.findtext("t:Subject", "", NS).endswith("Fwd: Invoice 42")
    # The copy in Sent Items has them too.
    (copy,) = ews.contents("sentitems")
    assert copy.fields["reply_to"] == ["alice@example.org"]
    assert [content for _, _, content in copy.fields["attachments"]] == [original]


# -- 3: X-Loop ----------------------------------------------------------------------------------


def test_a_reply_composed_by_the_engine_carries_x_loop(ews: EwsServer, tmp_path: Path) -> None:
    """The README promises X-Loop on every reply: through EWS it goes out as an InternetHeaders
    extended property next to Auto-Submitted, with the value the engine composed (the owner's
    address the inquiry was sent to)."""
    store = StateStore(tmp_path / "state.sqlite")
    engine, box = exchange_engine(ews, store, Clock())
    try:
        engine.sync()
        ews.deliver(raw_message(sender="asker@example.org", message_id="<x1@example.org>"), INSIDE)
        engine.sync()
        msg, _ = sent_message(ews)
        assert extended_properties(msg) == {
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            "X-Loop": OWNER,
        }
        assert msg.findtext("t:InReplyTo", None, NS) == "<x1@example.org>"
    finally:
        box.close()
        store.db.close()


# -- 4: nothing decoded from a header reaches the EWS message ---------------------------------


def composed(**headers: str) -> bytes:
    """A composed reply with these header fields (raw, as they would stand in the bytes)."""
    fields = {
        "From": "Bob <bob@example.test>",
        "To": "alice@example.org",
        "Subject": "Auto: A question",
        "Message-ID": "<r1@example.test>",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "X-Loop": "bob@example.test",
        "Content-Type": "text/plain; charset=utf-8",
        **headers,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return (head + "\r\nI am away until Monday.\r\n").encode()


HOSTILE_THREAD = composed(
    **{
        "In-Reply-To": f"{INJECTED} <q1@example.org>",
        "References": f"<q0@example.org>\r\n {INJECTED}\r\n <q1@example.org>",
    }
)


def test_ews_fields_keep_valid_ids_and_drop_encoded_words() -> None:
    """In-Reply-To / References / Message-ID are read from the raw header, undecoded, and only
    RFC 5322 msg-ids are kept: an id with an encoded word (which email.policy.default decodes
    into CR/LF and a header line) is dropped, the valid one next to it is kept."""
    fields = ews_fields(HOSTILE_THREAD)
    assert fields.in_reply_to == "<q1@example.org>"
    assert fields.references == "<q0@example.org> <q1@example.org>"
    assert fields.message_id == "<r1@example.test>"
    assert fields.subject == "Auto: A question"
    assert fields.body == "I am away until Monday.\r\n" and not fields.html
    assert fields.headers == (
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-Loop", "bob@example.test"),
    )
    assert_clean(fields.header_values())


@pytest.mark.parametrize(
    "headers",
    [
        {"Message-ID": INJECTED},
        {"Reply-To": f"=?utf-8?q?a=0D=0AX-Injected:_yes?= <{INJECTED[1:-1]}>, alice@example.org"},
        {"X-Loop": "=?utf-8?q?bob=0D=0AX-Injected:_yes?=@example.test"},
        {"Auto-Submitted": "=?utf-8?q?no=0D=0AX-Injected:_yes?="},
        {"X-Auto-Response-Suppress": "All\r\n X-Injected: yes"},
        {"Subject": "=?utf-8?q?A_question=0D=0AX-Injected:_yes?= =?utf-8?q?=3D=3Fx?="},
        {"Subject": "=?bogus?q?=0D=0AX-Injected:_yes?="},
    ],
)
def test_ews_fields_never_carry_cr_lf_or_encoded_words(headers: dict[str, str]) -> None:
    """Whatever a header holds, every header-bound field of the EWS message is one line with no
    encoded word; hostile ids, addresses and keywords are dropped, a hostile subject cleaned."""
    fields = ews_fields(composed(**headers))
    assert_clean(fields.header_values())
    assert fields.reply_to in ((), ("alice@example.org",))
    if "Message-ID" in headers:
        assert fields.message_id is None


PIECES = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff",
    b"=?utf-8?q?=0D=0AX-Injected:_yes?=",
    b"=?utf-8?b?DQpYLUluamVjdGVkOiB5ZXM=?=",
    b"<",
    b">",
    b",",
    b'"',
    b":",
    b"\r\n ",
    b"--",
    b'Content-Type: multipart/mixed; boundary="b"\r\n',
    b"Content-Transfer-Encoding: base64\r\n",
    b"\r\n--b\r\n",
    b"\r\n--b--\r\n",
    b"Reply-To: ",
    b"In-Reply-To: ",
    b"References: ",
    b"X-Loop: ",
]


#: What is mutated: a reply with hostile thread ids, a plain one, a forward with its original.
SEEDS = [HOSTILE_THREAD, composed(), forward_of(raw_message())[0]]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.binary(min_size=1, max_size=8)))
        if draw(st.booleans()):
            data[at:at] = piece
        else:
            del data[at : at + len(piece)]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_ews_fields_is_total_and_clean_on_mutated_messages(raw: bytes) -> None:
    """Any bytes give EwsFields (never an exception), with clean header-bound values and only
    valid ids and plain addresses."""
    fields = ews_fields(raw)
    assert_clean(fields.header_values())


def assert_clean(values: list[str]) -> None:
    for value in values:
        assert "\r" not in value and "\n" not in value, value
        assert "=?" not in value, value


def test_the_sent_message_has_only_the_valid_ids(ews: EwsServer) -> None:
    """On the wire (the CreateItem SOAP), InReplyTo and References hold only the valid ids and
    no decoded header line."""
    msg, body = send(ews, HOSTILE_THREAD, ["alice@example.org"])
    assert msg.findtext("t:InReplyTo", None, NS) == "<q1@example.org>"
    assert msg.findtext("t:References", None, NS) == "<q0@example.org> <q1@example.org>"
    assert msg.findtext("t:InternetMessageId", None, NS) == "<r1@example.test>"
    assert b"X-Injected" not in body


def test_a_recipient_that_is_not_a_plain_address_is_rejected(ews: EwsServer) -> None:
    """Recipients go into the EWS message too: only plain addresses, else TransportRejected
    (before anything is sent)."""
    transport = ews_transport(ews)
    try:
        with pytest.raises(TransportRejected, match="not a plain email address"):
            transport.send(composed(), "", ["alice@example.org\r\nBcc: eve@example.net"])
    finally:
        transport.close()
    assert not ews.calls("CreateItem")
