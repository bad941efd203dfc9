"""ooo's automatic reply as bytes: a few header fields and a multipart/alternative of a text
and an HTML part, written directly.

Why not ``email.message.EmailMessage``: building and flattening the reply with the email
package took 1.3-1.6 ms of CPU per reply, templates included (a third of the daemon's CPU per
message in a burst, on the one thread that decides every message; issue 14); written here, it
takes 0.12-0.18 ms. The reply's shape never changes. The email package still reads it back
for the tests and anything that wants a message object
(:func:`ooo.core.compose.compose_reply`), and still writes the rarer messages (the forward to
the delegate, iTIP answers, digests).

What reaches a header is checked here once more, whatever the caller validated: a value with a
CR, LF or NUL is refused (ValueError), never folded into a second line. Unstructured text that
is not plain ASCII goes out as RFC 2047 encoded words (UTF-8), whole, so a literal ``=?`` in it
is never read as an encoded word by the receiver. Lines are folded at 78 characters where a
space allows (RFC 5322 §2.2.3); bodies are 7bit when they are ASCII with short lines, else
quoted-printable or base64, whichever is shorter (as the email package chooses).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from email.header import Header

CRLF = "\r\n"
#: RFC 5322 §2.1.1: lines SHOULD be at most 78 characters.
MAX_LINE = 78
#: Where an unstructured or phrase value may be folded: a space before something else.
_FOLD_AT = re.compile(r" (?=\S)")
#: RFC 5322 ``specials`` and the dot: an ASCII display name holding one is quoted.
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
#: What address_field() takes: an addr-spec with nothing to quote (callers pass only
#: ooo.core.parse.is_replyable addresses; this is the last line of defence).
_ADDR_SPEC = re.compile(r"[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.-]+", re.ASCII)


def _one_line(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"a line break or NUL in the {name} header: {value!r}")
    return value


def _folded(first: str, words: list[str]) -> str:
    """``first`` and the words after it (each put back after a space), on lines of at most
    MAX_LINE characters where the words allow (a longer word gets a line of its own)."""
    lines = [first]
    for word in words:
        if len(lines[-1]) + 1 + len(word) <= MAX_LINE:
            lines[-1] += " " + word
        else:
            lines.append(" " + word)
    return CRLF.join(lines)


def _encoded(name: str, value: str) -> str:
    """``value`` as RFC 2047 encoded words (UTF-8), folded, for the field ``name``."""
    return Header(value, "utf-8", maxlinelen=MAX_LINE, header_name=name).encode(linesep=CRLF)


def text_field(name: str, value: str) -> str:
    """An unstructured field (Subject), or any one-token or ASCII value (Date, Message-ID)."""
    _one_line(name, value)
    if not value.isascii():
        return f"{name}: {_encoded(name, value)}"
    if len(name) + 2 + len(value) <= MAX_LINE:
        return f"{name}: {value}"
    first, *rest = _FOLD_AT.split(value)
    return _folded(f"{name}: {first}", rest)


def words_field(name: str, words: list[str]) -> str:
    """A structured field of ASCII tokens separated by spaces (References, In-Reply-To)."""
    for word in words:
        if not word.isascii() or not word or any(c in word for c in " \t\r\n\x00"):
            raise ValueError(f"not one ASCII token in the {name} header: {word!r}")
    first, *rest = words
    return _folded(f"{name}: {first}", rest)


def address_field(name: str, display: str, address: str) -> str:
    """``Name <address>`` (just the address without a name): an ASCII name as an atom phrase,
    or quoted when it holds a special; any other name as encoded words."""
    _one_line(name, display)
    if not _ADDR_SPEC.fullmatch(address):
        raise ValueError(f"not a plain address for the {name} header: {address!r}")
    if not display:
        return f"{name}: {address}"
    angle = f"<{address}>"
    if not display.isascii():
        head = f"{name}: {_encoded(name, display)}"
        last = head.rsplit(CRLF, 1)[-1]
        joint = " " if len(last) + 1 + len(angle) <= MAX_LINE else CRLF + " "
        return head + joint + angle
    if _SPECIALS.search(display):
        display = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
    first, *rest = _FOLD_AT.split(display)
    return _folded(f"{name}: {first}", [*rest, angle])


def _body(text: str) -> tuple[str, bytes]:
    """The transfer encoding and the encoded lines (CRLF) of a UTF-8 text part."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    data = text.encode("utf-8")
    if data.isascii() and max(map(len, data.split(b"\n"))) <= MAX_LINE and "\x00" not in text:
        return "7bit", data.replace(b"\n", b"\r\n")
    qp = binascii.b2a_qp(data, istext=True)
    # RFC 2046 §4.1.1: text is encoded in its canonical form, CRLF line ends included.
    b64 = base64.encodebytes(data.replace(b"\n", b"\r\n"))
    if len(b64) < len(qp):
        return "base64", b64.replace(b"\n", b"\r\n")
    return "quoted-printable", qp.replace(b"\n", b"\r\n")


def alternative(fields: list[str], text: str, html: str, boundary: str | None = None) -> bytes:
    """The whole message: ``fields`` (from the functions above, in order), MIME-Version and
    the multipart/alternative of ``text`` and ``html`` (UTF-8)."""
    parts = [("plain", *_body(text)), ("html", *_body(html))]
    # "=_" never occurs in quoted-printable or base64; a 7bit part is checked.
    boundary = boundary or "=_" + secrets.token_hex(12)
    marker = b"--" + boundary.encode("ascii")
    if any(cte == "7bit" and marker in data for _, cte, data in parts):
        return alternative(fields, text, html, "=_" + secrets.token_hex(12))
    head = CRLF.join(
        [
            *fields,
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
        ]
    )
    out = [head.encode("ascii"), b"\r\n\r\n"]
    for subtype, cte, data in parts:
        out += [
            marker,
            f'\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode("ascii"),
            data,
            # RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter, so the
            # part's own last line end (data ends with one) needs another after it.
            b"\r\n",
        ]
    out += [marker, b"--\r\n"]
    return b"".join(out)
