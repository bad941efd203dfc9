"""The reply's bytes, written by ooo.core.mime instead of the email package (a speed-up of
issue 14): read back by the email package, they say exactly what the email package itself
would have written, for every kind of name, subject and thread the reply can carry; and they
keep to the line rules of RFC 5322 and RFC 2046."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage

import pytest

import ooo.core.compose as compose
from ooo.core import mime
from ooo.core.parse import Inbound, clean, parse
from ooo.core.routing import Routing, route
from tests.support.helpers import INSIDE, OWNER, make_engine, raw_message
from tests.support.hostile import check_reply
from tests.support.routing import CAROL, REF, config, decision_for, reply_settings

NOW = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)

#: (From header of the inquiry, its subject, extra headers): every kind of text a reply's
#: header can carry.
SAMPLES = [
    ("alice@example.org", "A question", {}),
    ("Alice Liddell <alice@example.org>", "A question", {}),
    ("José Pérez <jose@example.org>", "Réunion de l'équipe — ordre du jour " + "très " * 30, {}),
    ('"Smith, John \\"JJ\\"" <john@example.org>', "Re: budget; Q3 (draft) <v2>", {}),
    ("=?utf-8?q?Mallory=0D=0AX-Injected=3A_yes?= <mal@example.org>", "=?utf-8?q?=0D=0AX-A:_b", {}),
    ("Ana <ana@example.org>", "literal =?utf-8?q?not_a_word?= in text", {}),
    ("山田 太郎 <taro@example.jp>", "会議の件について" * 6, {}),
    ("Zoë 🐙 <zoe@example.org>", "🎉 " * 40, {}),
    ("Dr. A. B. <ab@example.org>", "x" * 150, {}),
    (
        "Eve <eve@example.org>",
        "A question",
        {"References": " ".join(f"<r{i}@x>" for i in range(30))},
    ),
    ("O'Neil <o'neil@example.ie>", "Tab\there and  two  spaces", {}),
]


def reference(msg: Inbound, routing: Routing | None, raw: bytes) -> EmailMessage:
    """The reply as the email package writes it (ooo's composer before issue 14), for
    ``raw``: the headers and bodies of ooo's reply, set through EmailMessage."""
    parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    ref = EmailMessage(policy=email.policy.SMTP)
    decision = decision_for(msg)
    assert decision.recipient and decision.owner_address
    ref["From"] = addr("Bob Example", decision.owner_address)
    to_name = msg.from_name if msg.from_address == decision.recipient else ""
    ref["To"] = addr(compose.inert(clean(to_name, 200)), decision.recipient)
    if routing and routing.cc_delegate and routing.delegate:
        ref["Cc"] = addr(routing.delegate.name, routing.delegate.email)
    ref["Subject"] = compose.reply_subject(msg.subject)
    ref["Date"] = email.utils.format_datetime(NOW)
    ref["Message-ID"] = "<reply@example.test>"
    for name, value in compose.thread_headers(msg).items():
        ref[name] = value
    ref["Auto-Submitted"] = "auto-replied"
    ref["X-Auto-Response-Suppress"] = "All"
    ref["X-Loop"] = decision.owner_address
    ref.set_content(text)
    ref.add_alternative(html, subtype="html")
    ref["Content-Language"] = "en"
    return ref


def addr(name: str, address: str) -> Address:
    local, _, domain = address.partition("@")
    return Address(display_name=name, username=local, domain=domain)


def read(raw: bytes) -> EmailMessage:
    """``raw`` read as a mail client would (LF line ends, as get_content() gives them)."""
    back = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    return back


def reply_for(sender: str, subject: str, extra: dict[str, str], cc: bool) -> tuple[bytes, bytes]:
    """ooo's reply to an inquiry from ``sender``, and the email package's version of it."""
    raw = raw_message(sender=sender, subject=subject, message_id="<m@x>", extra=extra)
    head, body = raw.split(b"\r\n\r\n", 1)
    msg = parse("k", head, body, received_at=INSIDE)
    cfg = config(CAROL + ("\n[reply.external]\ncc_delegate = true\n" if cc else ""))
    decision = decision_for(msg)
    assert decision.recipient is not None
    routing = route(msg, decision.recipient, cfg)
    engine, *_ = make_engine()
    ours = compose.reply_bytes(
        msg,
        decision,
        reply_settings(cfg),
        engine.renderer,
        message_id="<reply@example.test>",
        now=NOW,
        routing=routing,
        ref=REF,
    )
    return ours, reference(msg, routing, ours).as_bytes()


@pytest.mark.parametrize("cc", [False, True], ids=["to", "to+cc"])
@pytest.mark.parametrize(("sender", "subject", "extra"), SAMPLES)
def test_the_reply_reads_back_as_the_email_package_would_write_it(
    sender: str, subject: str, extra: dict[str, str], cc: bool
) -> None:
    """Every header (decoded), address, content type, charset and body of ooo's reply equals
    that of the same reply written by the email package; and it passes the header-injection
    check the fuzzer and the hostile corpus use."""
    ours, theirs = reply_for(sender, subject, extra, cc)
    check_reply(ours)
    a, b = read(ours), read(theirs)
    assert sorted(k.lower() for k in a) == sorted(k.lower() for k in b)
    for name in set(b.keys()) - {"Content-Type"}:  # (the boundaries differ)
        assert str(a[name]) == str(b[name]), name
    for name in ("From", "To", "Cc"):
        if b[name] is not None:
            assert a[name].addresses == b[name].addresses, name
    assert a.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        ours_part, their_part = a.get_body((kind,)), b.get_body((kind,))
        assert ours_part is not None and their_part is not None
        assert ours_part.get_content_type() == their_part.get_content_type()
        assert ours_part.get_content_charset() == "utf-8"
        assert ours_part.get_content() == their_part.get_content()


@pytest.mark.parametrize(("sender", "subject", "extra"), SAMPLES)
def test_the_reply_keeps_to_the_line_rules(
    sender: str, subject: str, extra: dict[str, str]
) -> None:
    """CRLF line ends only; no line over 998 octets, and none over 78 unless it is one
    unbreakable word; folded lines start with a space; the boundary occurs only as the
    delimiters (three: two parts and the close)."""
    ours, _ = reply_for(sender, subject, extra, cc=False)
    assert b"\r\n" in ours and b"\n" not in ours.replace(b"\r\n", b"")
    assert b"\r" not in ours.replace(b"\r\n", b"")
    head, _, body = ours.partition(b"\r\n\r\n")
    for line in ours.split(b"\r\n"):
        assert len(line) <= 998
        if len(line) > 78:
            assert b" " not in line.strip(), line
    for line in head.split(b"\r\n"):
        assert re.match(rb"[A-Za-z-]+: |[ ]\S", line), line
    boundary = read(ours).get_boundary()
    assert boundary is not None
    assert body.count(boundary.encode()) == 3


def test_a_line_break_or_a_nul_never_reaches_a_header() -> None:
    """Whatever a caller passes, a CR, LF or NUL in a header value is refused, not written."""
    for bad in ("a\r\nX-Injected: yes", "a\nb", "a\rb", "a\x00b"):
        with pytest.raises(ValueError, match="line break or NUL"):
            mime.text_field("Subject", bad)
        with pytest.raises(ValueError, match="line break or NUL"):
            mime.address_field("To", bad, "a@example.org")
    for bad in ("a@b\r\nBcc: x@y", "<a@b>", "a b@c", "Name <a@b>", "a@b,c@d"):
        with pytest.raises(ValueError, match="not a plain address"):
            mime.address_field("To", "A", bad)
    with pytest.raises(ValueError, match="not one ASCII token"):
        mime.words_field("References", ["<a@b>", "<c@d>\r\nX: y"])


def test_a_body_holding_the_boundary_gets_another() -> None:
    """A 7bit part holding the chosen delimiter line makes the writer choose another."""
    raw = mime.alternative(["Subject: x"], "--=_clash\nhello\n", "<p>hi</p>\n", boundary="=_clash")
    boundary = read(raw).get_boundary()
    assert boundary != "=_clash"
    assert read(raw).get_body(("plain",)).get_content() == "--=_clash\nhello\n"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "cte"),
    [
        ("plain ASCII\nshort lines\n", "7bit"),
        ("a long ASCII line " * 8 + "\n", "quoted-printable"),
        ("Grüße aus Köln: ich bin bis zum 5. Januar nicht im Büro.\n", "quoted-printable"),
        ("Grüße\n", "base64"),
        ("会議の件について、来週お返事します。\n" * 3, "base64"),
    ],
)
def test_each_part_gets_the_shorter_safe_encoding(text: str, cte: str) -> None:
    """7bit for short ASCII lines, else quoted-printable or base64, whichever is shorter;
    the text reads back unchanged, its last line end included."""
    raw = mime.alternative([f"To: {OWNER}"], text, "<p>x</p>\n")
    part = read(raw).get_body(("plain",))
    assert part is not None
    assert part["Content-Transfer-Encoding"] == cte
    # (base64 carries the canonical form, CRLF line ends, RFC 2046 §4.1.1)
    assert part.get_content().replace("\r\n", "\n") == text
