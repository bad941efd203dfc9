"""Turn a raw message (headers and the start of the body) into an :class:`Inbound` record.

Pure and total: any bytes at all give an Inbound, never an exception. Hostile input
(broken encodings, unknown charsets, encoded CR/LF, NUL bytes, huge headers) is decoded as
well as it can be and *sanitised*: no value in an Inbound contains a control character,
so nothing taken from a message can inject a header line into a reply.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.policy import compat32
from typing import NewType

from ooo.core.htmltext import html_to_text
from ooo.core.text import CONTROL, one_line

#: Longest subject or display name kept (a hostile 100,000-character subject is cut).
TEXT_CAP = 1000
#: Longest plain-text body preview kept, in characters.
BODY_TEXT_CAP = 16_000
#: Headers kept per name (5,000 Received lines are not useful).
HEADER_VALUES_CAP = 50
#: Message-ids kept from References.
REFERENCES_CAP = 20
#: Longest message id kept (RFC 5322 allows 998 octets per line; real ids are under 100).
MESSAGE_ID_CAP = 250
#: Longest iCalendar part kept, in characters (an invitation is a few KB; ooo.core.itip).
CALENDAR_CAP = 256 * 1024
#: A header block larger than this is cut by the mailbox backends (a hostile message must not
#: exhaust memory); a message whose header was cut is never answered (Reason.OVERSIZED_HEADER).
HEADER_CAP = 256 * 1024

_ADDR = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")
# RFC 5322 §3.2.3 atext and dot-atom-text, §3.6.4 msg-id (id-left "@" id-right, where id-right
# may also be a no-fold-literal such as [127.0.0.1]). ASCII only, no spaces, no CR/LF.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_MSG_ID = re.compile(rf"<{_DOT_ATOM}@(?:{_DOT_ATOM}|\[[\x21-\x5a\x5e-\x7e]*\])>", re.ASCII)
_BRACKETED = re.compile(r"<[^<>]*>")
# A mailbox a reply can go to: a dot-atom local part and a host name (RFC 5321 §4.1.2).
_REPLYABLE = re.compile(
    rf"{_DOT_ATOM}@[A-Za-z0-9](?:[A-Za-z0-9-]{{0,62}})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{{0,62}}))*",
    re.ASCII,
)

MessageId = NewType("MessageId", str)
"""A message id that matched RFC 5322's ``msg-id`` grammar (brackets included) and holds no
encoded-word opener. Only such values are ever written into an outgoing header."""


def clean(text: str, cap: int = TEXT_CAP) -> str:
    """One line of printable text (ooo.core.text), cut after ``cap`` characters."""
    return one_line(text, cap + 1)


def normalize_address(addr: str) -> str:
    """Compare addresses case-insensitively (RFC 5321 allows case-sensitive local parts; no
    real mail system uses that, and treating Bob@ and bob@ as two senders would answer twice)."""
    return addr.strip().strip("<>").strip().lower()


def is_address(addr: str) -> bool:
    return bool(_ADDR.match(addr))


def is_replyable(addr: str) -> bool:
    """A plain RFC 5321 mailbox (dot-atom local part, host name) with nothing a mail library
    could decode on the way into a header: the only kind of address ooo writes a reply to."""
    return len(addr) <= 254 and "=?" not in addr and _REPLYABLE.fullmatch(addr) is not None


def _to_text(value: object) -> str:
    """A header value as str, whatever the parser handed us (str with surrogates, Header)."""
    if isinstance(value, email.header.Header):
        parts = []
        for chunk, charset in email.header.decode_header(value):
            parts.append(_decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
        return "".join(parts)
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        # 8-bit bytes in a header (not allowed, common anyway): most are UTF-8, the rest Latin-1.
        raw = text.encode("ascii", "surrogateescape")
        return _decode_bytes(raw, None)
    return text


def _decode_bytes(raw: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate or candidate == "unknown-8bit":
            continue
        try:
            return raw.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


def decode_header_value(value: object) -> str:
    """Decode RFC 2047 encoded words; unknown charsets and broken words degrade, never raise."""
    text = _to_text(value)
    if "=?" not in text:
        return text
    try:
        parts = email.header.decode_header(text)
    except Exception:
        return text
    return "".join(
        _decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in parts
    )


def parse_addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    """(display name, lowercase address) pairs from address headers; junk entries dropped."""
    result = []
    try:
        pairs = email.utils.getaddresses(list(values))
    except Exception:
        return []
    for name, addr in pairs:
        addr = normalize_address(clean(addr, 320))
        if is_address(addr):
            result.append((clean(decode_header_value(name), 200), addr))
    return result


def message_id(token: str) -> MessageId | None:
    """``token`` as a :data:`MessageId` when it is one ``<id-left@id-right>`` by RFC 5322, else
    None. Also None for an id with ``=?`` in it: the email package decodes an encoded word even
    inside brackets, so such an id could turn into CR/LF and new header lines when written."""
    if len(token) > MESSAGE_ID_CAP or "=?" in token or not _MSG_ID.fullmatch(token):
        return None
    return MessageId(token)


def message_ids(value: str) -> list[MessageId]:
    """The valid ids in a raw (undecoded) Message-ID / In-Reply-To / References value, brackets
    kept, in order. A bracketed token that is not a valid id is dropped; comments and folding
    between ids do not matter."""
    found = (message_id(token) for token in _BRACKETED.findall(value))
    return list(dict.fromkeys(mid for mid in found if mid is not None))


@dataclass(frozen=True)
class Inbound:
    """A received message, normalised for the decisions. Every str is one clean line."""

    key: str
    message_id: MessageId | None
    sender: str | None
    """Where a reply goes (RFC 3834 §4): the Return-Path, else Sender, else From; lowercase."""
    sender_source: str
    """Which header gave ``sender``: return-path, sender, from, or none."""
    null_return_path: bool
    """Return-Path is ``<>``: a bounce or another auto-response."""
    from_address: str | None
    from_name: str
    subject: str
    recipients: tuple[str, ...]
    """Lowercase addresses from To, Cc, Bcc and the Resent- variants."""
    headers: dict[str, tuple[str, ...]] = field(repr=False)
    """Decoded, cleaned header values by lowercase name (at most HEADER_VALUES_CAP each)."""
    in_reply_to: tuple[MessageId, ...] = ()
    references: tuple[MessageId, ...] = ()
    date: datetime | None = None
    received_at: datetime | None = None
    size: int = 0
    body_text: str = ""
    defects: tuple[str, ...] = ()
    header_cut: bool = False
    """The header block was longer than HEADER_CAP and was cut: headers past the cut (List-Id,
    Auto-Submitted...) are unknown, so the policy does not answer it."""
    calendar: str | None = field(default=None, repr=False)
    """The message's first iCalendar part (a text/calendar part, else an ``.ics`` or
    application/ics attachment), decoded, at most CALENDAR_CAP characters, lines kept (the one
    value here that is not one line; read only by ooo.core.itip). None: there is none."""
    calendar_method: str = ""
    """The ``method`` parameter of that part's Content-Type (iMIP, RFC 6047 §2.4), upper case."""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def has_header(self, name: str) -> bool:
        return name.lower() in self.headers


_RECIPIENT_HEADERS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")


def parse(
    key: str,
    headers: bytes,
    body: bytes = b"",
    received_at: datetime | None = None,
    size: int = 0,
) -> Inbound:
    """Parse a message; never raises."""
    defects: list[str] = []
    header_cut = len(headers) >= HEADER_CAP and not headers.endswith((b"\r\n\r\n", b"\n\n"))
    # NUL bytes make some parsers stop early; they are never meaningful in mail.
    raw = headers.replace(b"\x00", b" ")
    if not raw.endswith((b"\r\n\r\n", b"\n\n")):
        raw = raw.rstrip(b"\r\n") + b"\r\n\r\n"
    try:
        msg = email.message_from_bytes(raw + body.replace(b"\x00", b" "), policy=compat32)
    except Exception as exc:
        defects.append(f"unparseable: {type(exc).__name__}")
        msg = email.message.Message()
    defects += [type(d).__name__ for d in getattr(msg, "defects", [])][:10]

    values: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        lname = clean(str(name), 100).lower()
        bucket = values.setdefault(lname, [])
        if len(bucket) < HEADER_VALUES_CAP:
            bucket.append(_to_text(value))
    cleaned = {k: tuple(clean(decode_header_value(v)) for v in vs) for k, vs in values.items()}

    def raw_values(name: str) -> list[str]:
        # Address and id headers are parsed before RFC 2047 decoding (an encoded ":" or ","
        # in a display name must not change the structure), minus control characters so
        # no folded line survives.
        return [CONTROL.sub(" ", v)[:100_000] for v in values.get(name, [])]

    from_pairs = parse_addresses(raw_values("from"))
    from_name, from_address = from_pairs[0] if from_pairs else ("", None)

    null_return_path = False
    sender: str | None = None
    source = "none"
    return_paths = raw_values("return-path")
    if return_paths:
        rp = return_paths[0].strip()
        if rp in ("<>", "") or rp.replace(" ", "") == "<>":
            null_return_path = True
        else:
            found = parse_addresses([rp])
            if found:
                sender, source = found[0][1], "return-path"
    if sender is None and not null_return_path:
        found = parse_addresses(raw_values("sender")[:1])
        if found:
            sender, source = found[0][1], "sender"
        elif from_address:
            sender, source = from_address, "from"

    recipients: list[str] = []
    for name in _RECIPIENT_HEADERS:
        for _, addr in parse_addresses(raw_values(name)):
            if addr not in recipients:
                recipients.append(addr)

    mid_values = message_ids(" ".join(raw_values("message-id")[:1]))
    date = None
    date_value = cleaned.get("date", ("",))[0]
    if date_value:
        try:
            date = email.utils.parsedate_to_datetime(date_value)
        except (TypeError, ValueError, IndexError):
            defects.append("bad Date")

    calendar, calendar_method = _calendar_part(msg)
    return Inbound(
        key=key,
        message_id=mid_values[0] if mid_values else None,
        sender=sender,
        sender_source=source,
        null_return_path=null_return_path,
        from_address=from_address,
        from_name=from_name,
        subject=cleaned.get("subject", ("",))[0],
        recipients=tuple(recipients[:5000]),
        headers=cleaned,
        in_reply_to=tuple(message_ids(" ".join(raw_values("in-reply-to")))[:REFERENCES_CAP]),
        references=tuple(message_ids(" ".join(raw_values("references")))[-REFERENCES_CAP:]),
        date=date,
        received_at=received_at,
        size=size,
        body_text=_body_text(msg),
        defects=tuple(defects),
        header_cut=header_cut,
        calendar=calendar,
        calendar_method=calendar_method,
    )


def _body_text(msg: email.message.Message) -> str:
    """The first text/plain part (or stripped text/html), decoded leniently and capped."""
    try:
        chosen = None
        for count, part in enumerate(msg.walk()):
            if count > 200:  # twenty levels of nested messages are not worth walking
                break
            ctype = part.get_content_type()
            if ctype == "text/plain":
                chosen = part
                break
            if ctype == "text/html" and chosen is None:
                chosen = part
        if chosen is None:
            return ""
        payload = chosen.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return ""
        html = chosen.get_content_type() == "text/html"
        # Markup takes most of an HTML part: read more of it (the converter is bounded).
        limit = BODY_TEXT_CAP * (16 if html else 4)
        text = _decode_bytes(payload[:limit], chosen.get_content_charset())
        if html:
            # Block structure, quotes (as "> ") and signatures survive, so the resolution
            # rules read HTML-only mail as they read plain text.
            text = html_to_text(text, cap=BODY_TEXT_CAP)
        return text.replace("\x00", " ")[:BODY_TEXT_CAP]
    except Exception:
        return ""


_CALENDAR_TYPES = ("application/ics", "application/x-ics", "text/x-vcalendar")


def _calendar_part(msg: email.message.Message) -> tuple[str | None, str]:
    """The first text/calendar part (an invitation as Outlook, Google and Thunderbird send it),
    else the first ``.ics`` attachment; decoded leniently, capped; never raises."""
    try:
        chosen = None
        for count, part in enumerate(msg.walk()):
            if count > 200:
                break
            ctype = part.get_content_type()
            if ctype == "text/calendar":
                chosen = part
                break
            filename = str(part.get_filename() or "").lower()
            if chosen is None and (ctype in _CALENDAR_TYPES or filename.endswith(".ics")):
                chosen = part
        if chosen is None:
            return None, ""
        payload = chosen.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return None, ""
        text = _decode_bytes(payload[: CALENDAR_CAP * 4], chosen.get_content_charset())
        method = clean(str(chosen.get_param("method") or ""), 40).upper()
        return text.replace("\x00", " ")[:CALENDAR_CAP], method
    except Exception:
        return None, ""
