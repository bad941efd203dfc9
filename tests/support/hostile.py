"""Builders for the hostile messages too big to commit: generated at run time, byte-exact and
deterministic. The small ones are files in ``tests/support/corpus/``.

Also the checks that nothing from a hostile message reached a header of what ooo sends
(`check_reply`), shared by the fuzzer (tests/unit/core/fuzz_parse.py) and the real-server test
(tests/servers/test_hostile.py)."""

from __future__ import annotations

import base64
import email
import email.policy
import re

from ooo.core.parse import message_id
from tests.support import CORPUS as SUPPORT_CORPUS

CORPUS = SUPPORT_CORPUS
#: The placeholders the corpus uses for the sender and the owner.
CORPUS_SENDER = b"alice@example.org"
CORPUS_OWNER = b"bob@example.com"


def _head(sender: str, owner: str, subject: str, extra: str = "") -> bytes:
    return (
        f"From: Hostile <{sender}>\r\nTo: {owner}\r\nSubject: {subject}\r\n"
        f"Date: Tue, 22 Dec 2026 10:00:00 +0000\r\n{extra}"
    ).encode()


def huge_attachment(sender: str, owner: str, megabytes: int = 30) -> bytes:
    """A short text part plus an attachment of ``megabytes`` MB (base64 encoded)."""
    blob = base64.encodebytes(bytes(range(256)) * (megabytes * 4096))
    return (
        _head(
            sender,
            owner,
            f"{megabytes} MB attachment",
            'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n',
        )
        + b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
        + b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="big.bin"\r\n\r\n'
        + blob.replace(b"\n", b"\r\n")
        + b"\r\n--B--\r\n"
    )


def long_subject(sender: str, owner: str, length: int = 100_000) -> bytes:
    """A subject of ``length`` characters, folded as a client would."""
    words = (f"word{i:05d} " for i in range(length // 10))
    subject = "".join(words)[:length]
    folded = "\r\n ".join(subject[i : i + 900] for i in range(0, len(subject), 900))
    return _head(sender, owner, folded) + b"\r\nbody\r\n"


def many_recipients(sender: str, owner: str, count: int = 5_000) -> bytes:
    """The owner among ``count`` recipients in To."""
    others = ",\r\n ".join(f"person{i}@example.net" for i in range(count - 1))
    return _head(sender, f"{others},\r\n {owner}", f"{count} recipients") + b"\r\nbody\r\n"


def nested_rfc822(sender: str, owner: str, depth: int = 20) -> bytes:
    """message/rfc822 nested ``depth`` levels deep."""
    inner = b"From: innermost@example.org\r\nSubject: level 0\r\n\r\nthe bottom\r\n"
    for level in range(1, depth):
        inner = (
            f"From: level{level}@example.org\r\nSubject: level {level}\r\n".encode()
            + b"MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
            + inner
        )
    return (
        _head(sender, owner, f"nested {depth} deep", "MIME-Version: 1.0\r\n")
        + b"Content-Type: message/rfc822\r\n\r\n"
        + inner
    )


def corpus() -> dict[str, bytes]:
    """The committed corpus by file name, with CORPUS_SENDER / CORPUS_OWNER placeholders."""
    return {path.name: path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))}


def addressed(raw: bytes, sender: str, owner: str) -> bytes:
    """A corpus message with its placeholders replaced."""
    return raw.replace(CORPUS_SENDER, sender.encode()).replace(CORPUS_OWNER, owner.encode())


# -- what an outgoing message may hold ----------------------------------------------------------

#: What compose_reply writes (Cc only with the delegate copied). Anything else is an injection.
REPLY_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-loop",
    "mime-version",
    "content-type",
    "content-language",
    "cc",
}
#: What compose_forward writes.
FORWARD_HEADERS = (REPLY_HEADERS - {"in-reply-to", "cc", "content-language"}) | {"reply-to"}
_HEADER_LINE = re.compile(rb"^[A-Za-z0-9-]+:( |$)")  # the value may start folded


def one_line(value: str) -> bool:
    """No CR, LF or NUL in ``value``."""
    return not any(c in value for c in "\r\n\x00")


def check_reply(raw: bytes, allowed: set[str] = REPLY_HEADERS) -> None:
    """Assert that the header block of an outgoing message holds only well-formed lines of the
    ``allowed`` fields, none twice, with valid message ids, and that its address, subject and
    thread fields read back as one line each."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in head.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line, line
        if line[:1] in (b" ", b"\t"):
            continue  # a folded continuation of the header above
        assert _HEADER_LINE.match(line), f"not a header line: {line!r}"
        names.append(line.split(b":", 1)[0].decode().lower())
    assert set(names) <= allowed, set(names) - allowed
    assert len(names) == len(set(names)), names  # nothing doubled
    check_ids(head)
    back = email.message_from_bytes(raw, policy=email.policy.default)
    for name in ("From", "To", "Subject", "In-Reply-To", "References"):
        value = back[name]
        if value is not None:
            # (Address syntax defects, e.g. "mallor.@example.net", are the sender's problem:
            # the server refuses such a recipient for good. Only injection matters here.)
            assert one_line(str(value)), (name, str(value))


def check_ids(head: bytes) -> None:
    """Every token of the raw In-Reply-To / References / Message-ID lines is a valid id."""
    unfolded = re.sub(rb"\r\n[ \t]", b" ", head)
    for line in unfolded.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() in (b"in-reply-to", b"references", b"message-id"):
            tokens = value.decode("ascii").split()
            assert tokens, line
            assert all(message_id(t) == t for t in tokens), line
