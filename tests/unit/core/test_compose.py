"""Parsing hostile headers and composing the reply: nothing from the sender leaks into a header."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ooo.core.compose import ReplySettings, compose_reply, context_for, reply_subject
from ooo.core.parse import parse
from ooo.core.policy import Decision, Owner, Reason, decide
from ooo.errors import UserError
from ooo.templating import Renderer
from tests.support.helpers import END, INSIDE, OWNER, START, raw_message

SETTINGS = ReplySettings("Bob Example", ZoneInfo("Europe/Berlin"), START, END)
RENDERER = Renderer()


def reply_for(raw: bytes) -> bytes:
    msg = parse("1", *raw.split(b"\r\n\r\n", 1), received_at=INSIDE)
    d = decide(
        msg,
        Owner((OWNER,)),
        window_start=START,
        window_end=END,
        last_reply_at=None,
        interval=timedelta(days=7),
        now=INSIDE,
    )
    assert d.reply, d
    return compose_reply(
        msg, d, SETTINGS, RENDERER, message_id="<r@example.com>", now=INSIDE
    ).as_bytes()


def header_lines(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def test_encoded_crlf_in_subject_and_name_cannot_inject_headers() -> None:
    """RFC 2047-encoded CR/LF in a display name or subject never starts a new header line."""
    raw = raw_message(
        sender="eve@x.org",
        subject="=?utf-8?q?hi=0D=0ABcc:_victim@x.org?=",
        extra={"From": "=?utf-8?q?Eve=0D=0ABcc:_victim2@x.org?= <eve@x.org>"},
    )
    reply = reply_for(raw)
    names = [
        line.split(b":", 1)[0].lower()
        for line in header_lines(reply)
        if line and not line.startswith((b" ", b"\t"))
    ]
    assert b"bcc" not in names
    assert b"\r\nBcc:" not in reply


def test_html_in_subject_is_escaped_in_the_html_part() -> None:
    """A subject with markup shows as text in the HTML reply, never as markup."""
    reply = email.message_from_bytes(
        reply_for(raw_message(subject="<script>alert(1)</script>")), policy=email.policy.default
    )
    html = reply.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_non_ascii_subject_is_encoded() -> None:
    """A non-ASCII subject is RFC 2047-encoded in the reply and decodes back intact."""
    reply = reply_for(raw_message(subject="=?utf-8?q?Contrat_sign=C3=A9?="))
    assert all(b < 128 for b in reply.split(b"\r\n\r\n", 1)[0])
    parsed = email.message_from_bytes(reply, policy=email.policy.default)
    assert parsed["Subject"] == "Auto: Contrat signé"


def test_references_keep_the_thread() -> None:
    """References is the original References plus its Message-ID."""
    reply = email.message_from_bytes(
        reply_for(raw_message(message_id="<c@x>", extra={"References": "<a@x> <b@x>"})),
        policy=email.policy.default,
    )
    assert reply["References"] == "<a@x> <b@x> <c@x>"
    assert reply["In-Reply-To"] == "<c@x>"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Hello", "Auto: Hello"),
        ("", "Auto: (no subject)"),
        ("Auto: Hello", "Auto: Hello"),
        ("line\r\nbreak", "Auto: line break"),
    ],
)
def test_reply_subject(original: str, expected: str) -> None:
    """The subject is derived from the original: one line, one prefix."""
    assert reply_subject(original) == expected


def test_long_subject_is_cut_at_a_word() -> None:
    """A 100,000-character subject becomes a short one ending in an ellipsis at a word break."""
    subject = reply_subject("word " * 20_000)
    assert len(subject) < 200
    assert subject.endswith("word…")


def test_template_syntax_error_names_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A broken user template is a UserError naming the file and line."""
    (tmp_path / "reply.txt.j2").write_text("Hello\n{% if %}\n")
    with pytest.raises(UserError) as err:
        Renderer(tmp_path).render("reply.txt.j2", {})
    assert "reply.txt.j2:2" in err.value.message


def test_user_templates_win_over_defaults(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A user template of the same name replaces the default; the others stay."""
    (tmp_path / "reply.txt.j2").write_text("Custom text for {{ sender.address }}")
    renderer = Renderer(tmp_path)
    assert renderer.render("reply.txt.j2", {"sender": {"address": "a@x"}}) == "Custom text for a@x"
    assert "<html" in renderer.render("reply.html.j2", _sample())


def test_templates_run_in_a_sandbox(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A template cannot reach Python internals."""
    (tmp_path / "reply.txt.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(UserError):
        Renderer(tmp_path).render("reply.txt.j2", {})


def _sample() -> dict[str, object]:
    msg = parse("1", b"From: Sam <sam@example.org>\r\nSubject: s\r\n\r\n")
    decision = Decision(Reason.REPLY, owner_address=OWNER, recipient="sam@example.org")
    return context_for(msg, decision, SETTINGS, ref="OOO-ABC123")


hostile_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200
) | st.sampled_from(
    [
        "=?utf-8?q?a=0D=0AB:_c?=",
        "=?bogus?q?x?=",
        "=?utf-8?b?!!!?=",
        "\x00\r\n X: y",
        "a\u2028b",
    ]
)


@settings(max_examples=300, deadline=None)
@given(name=hostile_text, subject=hostile_text)
def test_no_reply_header_ever_carries_an_injected_line(name: str, subject: str) -> None:
    """Whatever the display name and subject hold, the reply's headers are exactly ours."""
    clean_name = name.replace("\r", " ").replace("\n", " ").replace('"', "'")
    raw = raw_message(
        sender="eve@x.org",
        subject=subject.replace("\r", " ").replace("\n", " "),
        extra={"From": f'"{clean_name}" <eve@x.org>'},
    )
    reply = reply_for(raw)
    starts = {
        line.split(b":", 1)[0].lower()
        for line in header_lines(reply)
        if line and not line.startswith((b" ", b"\t"))
    }
    assert starts <= {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"references",
        b"auto-submitted",
        b"x-auto-response-suppress",
        b"x-loop",
        b"mime-version",
        b"content-type",
        b"content-language",
    }
