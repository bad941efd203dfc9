"""Fuzz target for the message parser, the reply policy and the reply composer (hypothesis).

Seeds are the messages in ``tests/corpus/``; hypothesis mutates them (hostile headers
inserted, values swapped for encoded CR/LF, 8-bit and control characters, bytes flipped, cut
short) and runs parse -> decide -> compose on each. What must hold for every input:

- ``parse`` and ``decide`` never raise, and every string of the parsed message is one line;
- every message composed for it (the reply with the delegate in Cc, which is also the Sent
  copy, and the forward to the delegate) has exactly the header lines ooo writes, none
  injected, each well formed, and reads back with no header defects;
- every message id in an outgoing ``In-Reply-To`` / ``References`` is one that validates
  (RFC 5322 ``msg-id``), checked on the raw bytes;
- the fields an Exchange send takes from the composed bytes (``ews_fields``) are one line
  each and carry no encoded word.

A second generator (``hostile_thread``) builds messages whose Message-ID, In-Reply-To and
References are hostile: encoded words that decode to CR/LF and header lines (quoted-printable
and base64, inside and outside the brackets), raw and bare CR/LF, folded values, ids with
spaces, nested brackets, overlong ids, mixed with valid ones.

Runs briefly as a normal test (200 examples); longer on demand::

    OOO_FUZZ_EXAMPLES=100000 python -m pytest tests/fuzz_parse.py
"""

from __future__ import annotations

import base64
import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ooo.config import Person
from ooo.core.compose import compose_forward, compose_reply
from ooo.core.parse import Inbound, is_replyable, parse
from ooo.core.policy import Decision, Reason, decide
from ooo.core.refs import new_ref
from ooo.core.routing import Routing
from ooo.mailbox.base import BODY_CAP, HEADER_CAP
from ooo.mailbox.memory import split_message
from ooo.templating import Renderer
from ooo.transport.ews import ews_fields
from tests.support import CORPUS as SUPPORT_CORPUS
from tests.support.helpers import END, INSIDE, OWNER, START
from tests.support.helpers import settings as engine_settings
from tests.support.hostile import FORWARD_HEADERS, check_reply, one_line

CORPUS = SUPPORT_CORPUS
SEEDS = sorted(p.read_bytes() for p in CORPUS.glob("*.eml"))
EXAMPLES = int(os.environ.get("OOO_FUZZ_EXAMPLES", "200"))

RENDERER = Renderer()
SETTINGS = engine_settings()
#: What compose_reply writes (no Cc: no routing here). Anything else is an injection.
#: What compose_forward writes.
DELEGATE = Person(name="Carol Jones", email="carol@example.com")
ROUTING = Routing(
    audience="external",
    audience_reason="fuzz",
    route=None,
    delegate=DELEGATE,
    template="reply",
    cc_delegate=True,
    forward_to_delegate=True,
    reply=True,
)

NASTY_VALUES = [
    "=?utf-8?q?Hi=0D=0ABcc:_victim@example.net=0D=0AX-Injected:_yes?=",
    "=?utf-8?b?QWxpY2UNClgtSW5qZWN0ZWQ6IHllcw==?= <alice@example.org>",
    "=?iso-8859-1?q?=0AX-Injected:=20yes?=",
    "=?x-unknown?q?broken?=",
    "=?utf-8?q?unterminated",
    "<script>alert(1)</script>",
    "a\rX-Injected: bare-cr",
    "a\nX-Injected: bare-lf",
    "a\x00b",
    "\u202eevil\u2028line\u2029para\x85nel",
    "x" * 5000,
    '"Bob\r\n X-Injected: folded" <bob@example.com>',
    "",
]
HEADER_NAMES = [
    "Subject",
    "From",
    "Return-Path",
    "Sender",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Date",
    "Content-Type",
    "Auto-Submitted",
    "X-Loop",
    "Precedence",
]

header_value = st.one_of(
    st.sampled_from(NASTY_VALUES),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@st.composite
def mutated_message(draw: st.DrawFn) -> bytes:
    """A corpus seed with a handful of header mutations, byte flips or a cut."""
    raw = draw(st.sampled_from(SEEDS))
    head, body = split_message(raw)
    lines = head.rstrip(b"\r\n").split(b"\r\n") if head.strip() else []
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["add", "replace", "drop", "flip", "raw"]))
        name = draw(st.sampled_from(HEADER_NAMES))
        value = draw(header_value).encode("utf-8", "surrogateescape")
        if op == "add" or not lines:
            lines.insert(draw(st.integers(0, len(lines))), name.encode() + b": " + value)
        elif op == "replace":
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = lines[i].split(b":", 1)[0] + b": " + value
        elif op == "drop":
            lines.pop(draw(st.integers(0, len(lines) - 1)))
        elif op == "flip":
            i = draw(st.integers(0, len(lines) - 1))
            if lines[i]:
                j = draw(st.integers(0, len(lines[i]) - 1))
                line = bytearray(lines[i])
                line[j] = draw(st.integers(0, 255))
                lines[i] = bytes(line)
        else:
            lines.append(draw(st.binary(max_size=100)))
    out = b"\r\n".join(lines) + b"\r\n\r\n" + body
    if draw(st.booleans()) and draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


def check_inbound(msg: Inbound) -> None:
    for text in (msg.subject, msg.from_name, msg.sender or "", msg.message_id or ""):
        assert one_line(text), repr(text)
    for values in msg.headers.values():
        assert all(one_line(v) for v in values)
    assert all(one_line(a) and "@" in a for a in msg.recipients)


def pipeline(raw: bytes) -> None:
    """Parse, decide and compose one raw message as the engine would, checking each step."""
    head, body = split_message(raw)
    msg = parse("1", head[:HEADER_CAP], body[:BODY_CAP], INSIDE, len(raw))
    check_inbound(msg)
    decision = decide(
        msg,
        SETTINGS.owner,
        window_start=START,
        window_end=END,
        last_reply_at=None,
        interval=timedelta(days=7),
        now=INSIDE,
    )
    # Compose whatever the policy said, as if it had said yes: the composer must be safe for
    # every message, not only for those that pass the policy.
    # (The policy never answers a non-ASCII sender: see the assertion below.)
    # The policy answers only a plain address; anything else the composer refuses to write.
    usable = msg.sender is not None and is_replyable(msg.sender)
    if decision.reply:
        assert usable
    recipient = msg.sender if msg.sender and usable else "fallback@example.org"
    forced = Decision(Reason.REPLY, owner_address=OWNER, recipient=recipient)
    ref = new_ref(lambda _: False)
    reply = compose_reply(
        msg,
        forced,
        SETTINGS.reply,
        RENDERER,
        message_id="<reply@example.com>",
        now=INSIDE,
        routing=ROUTING,
        ref=ref,
    )
    check_reply(reply.as_bytes())  # also the Sent copy: the same bytes are appended
    forward = compose_forward(
        msg,
        raw,
        forced,
        SETTINGS.reply,
        ROUTING,
        ref=ref,
        message_id="<forward@example.com>",
        now=INSIDE,
    )
    check_reply(forward.as_bytes(), FORWARD_HEADERS)
    for out in (reply, forward):  # the same messages sent through Exchange (EWS)
        for value in ews_fields(out.as_bytes()).header_values():
            assert one_line(value) and "=?" not in value, value


def test_every_corpus_seed_goes_through_the_pipeline() -> None:
    """Each committed hostile message parses, is decided and gets a clean reply."""
    assert len(SEEDS) >= 20
    for raw in SEEDS:
        pipeline(raw)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_message())
def test_mutated_messages_never_crash_nor_inject(raw: bytes) -> None:
    """No mutation of a seed makes parse/decide raise or puts a line into a reply header."""
    pipeline(raw)


_INJECTION = "\r\nX-Injected: yes\r\n\r\n<html>phish</html>"
HOSTILE_IDS = [
    "<=?utf-8?q?x=0D=0AX-Injected:_yes=0D=0A=0D=0Ainjected_body?=@example.test>",
    "<=?utf-8?q?x=0D=0AX-Injected=3A_yes?=@example.test>",  # all atext: grammar alone passes
    "<=?utf-8?b?" + base64.b64encode(_INJECTION.encode()).decode() + "?=@example.test>",
    "=?utf-8?q?<a@b>=0D=0AX-Injected:_yes?=",
    "<a@b> <=?utf-8?q?=0D=0AX-Injected:_yes?=@x>",
    "<a\r\nX-Injected: yes@x>",
    "<a\rX-Injected: bare-cr@x>",
    "<a\nX-Injected: bare-lf@x>",
    "<a@b>\r\n <c@d>\r\n\t<=?iso-8859-1?q?=0A?=@e>",  # folded
    "<has space@example.org>",
    "<<nested@example.org>>",
    "<@>",
    "<no-at-sign>",
    "<ok@[127.0.0.1]>",
    "<" + "x" * 600 + "@example.org>",
    "<valid.1@example.org>",
    "(comment <c@x>) <valid.2@example.org>",
]
id_part = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.from_regex(r"<[A-Za-z0-9.=?_-]{1,40}@[A-Za-z0-9.=?_-]{1,30}>", fullmatch=True),
    st.text(max_size=80).map(lambda t: f"<{t}@example.org>"),
)


@st.composite
def hostile_thread(draw: st.DrawFn) -> bytes:
    """A plain inquiry whose Message-ID, In-Reply-To and References are hostile."""

    def ids() -> str:
        sep = draw(st.sampled_from([" ", "\r\n ", "\r\n\t", ""]))
        return sep.join(draw(st.lists(id_part, min_size=1, max_size=6)))

    head = [
        "Return-Path: <alice@example.org>",
        "From: Alice <alice@example.org>",
        f"To: {OWNER}",
        "Subject: a question",
        f"Message-ID: {draw(id_part)}",
    ]
    if draw(st.booleans()):
        head.append(f"In-Reply-To: {ids()}")
    if draw(st.booleans()):
        head.append(f"References: {ids()}")
    return ("\r\n".join(head) + "\r\n\r\nHello\r\n").encode("utf-8", "surrogateescape")


def test_hostile_ids_in_the_corpus_are_dropped() -> None:
    """The probe's messages: the ids that would inject are dropped, the reply still goes out,
    and a valid parent id next to them is kept."""
    for value in HOSTILE_IDS:
        raw = (
            "Return-Path: <alice@example.org>\r\nFrom: alice@example.org\r\n"
            f"To: {OWNER}\r\nSubject: hi\r\nMessage-ID: {value}\r\n"
            f"References: {value} <kept@example.org>\r\n\r\nHello\r\n"
        ).encode()
        pipeline(raw)
        msg = parse("1", raw)
        assert msg.message_id is None or "=?" not in msg.message_id
        assert all("=?" not in r and "\n" not in r for r in msg.references)
        if not any(c in value for c in "\r\n"):  # a raw CR/LF ends the header line early
            assert "<kept@example.org>" in msg.references, value


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_thread())
def test_hostile_message_ids_never_reach_a_header(raw: bytes) -> None:
    """No Message-ID, In-Reply-To or References value, however encoded or folded, adds a line
    to the reply, the Cc'd copy, the Sent copy or the forward; every id written validates."""
    pipeline(raw)
