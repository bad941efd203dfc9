"""Replies sent through Exchange (EWS), for an Exchange mailbox without an ``[smtp]`` section.

The engine composes every message as RFC 5322 bytes; this transport turns them into a new EWS
``Message`` (CreateItem, SendAndSaveCopy). A reply made with ``create_reply`` cannot carry
extended properties, so it is not used: ``Auto-Submitted``, ``X-Auto-Response-Suppress`` and
``X-Loop`` go out as extended properties in the ``InternetHeaders`` property set, which Exchange
writes into the message's MIME headers. Exchange always sends from the mailbox itself, so the
null envelope sender of RFC 3834 §3.3 is not available here; the Auto-Submitted header is what
stops loops.

What goes into the EWS message is worked out by :func:`ews_fields`, a pure function of the
composed bytes, and is either our own composed text or a validated value, never a header value
copied through a parser that decodes it:

* Subject and body: the composed text (the subject decoded from its RFC 2047 words, cleaned to
  one line, any literal ``=?`` left inert).
* Message-ID, In-Reply-To, References: read from the raw header bytes (no encoded-word
  decoding), keeping only ids that match RFC 5322's ``msg-id`` (:func:`ooo.core.parse.message_ids`).
  ``email.policy.default`` would decode ``<=?utf-8?q?x=0D=0AX-Injected:_yes?=@example.test>``
  into a CR/LF and a header line of the sender's choosing.
* Reply-To and X-Loop: plain addresses (:func:`ooo.core.parse.is_replyable`) from the raw headers.
* Auto-Submitted and X-Auto-Response-Suppress: RFC 3834 / Exchange keywords, nothing else.
* Attachments (the original inquiry on a forward to the delegate): every MIME part that is not
  the body, carried as a FileAttachment with the exact bytes the composed message holds (a
  ``message/rfc822`` part's content as it stands between its boundaries; a base64 part decoded).

One message is sent as it was composed instead (CreateItem with ``MimeContent``): the answer to
an invitation (:func:`is_calendar_answer`, a ``text/calendar; method=REPLY`` part). Exchange
reads its iCalendar part as a calendar does and sends a meeting response the organiser's
calendar applies; as fields, the part would arrive as a plain ``.ics`` attachment. Its bytes
are ooo's own (:func:`ooo.core.itip.compose_answer`, from validated values), the same bytes the
SMTP transport sends, and its recipients are the composed To, which must be the one recipient
the engine gives.

Errors are mapped at this boundary: a refused login is TransportAuthError, a refused
recipient TransportRejected, everything else TransportUnavailable (the reply stays queued).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.message import Message as MimeMessage
from email.policy import compat32
from typing import Any

from exchangelib import FileAttachment, HTMLBody, Mailbox, Message
from exchangelib import errors as ews_errors
from exchangelib.extended_properties import ExtendedProperty

from ooo.core.parse import MessageId, clean, is_replyable, message_ids
from ooo.mailbox.base import MailboxAuthError, MailboxError
from ooo.mailbox.ews import Auth, EwsMailbox
from ooo.transport.base import (
    Transport,
    TransportAuthError,
    TransportRejected,
    TransportUnavailable,
)


class AutoSubmitted(ExtendedProperty):  # type: ignore[misc]  # exchangelib is untyped
    distinguished_property_set_id = "InternetHeaders"
    property_name = "Auto-Submitted"
    property_type = "String"


class AutoResponseSuppress(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "InternetHeaders"
    property_name = "X-Auto-Response-Suppress"
    property_type = "String"


class XLoop(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "InternetHeaders"
    property_name = "X-Loop"
    property_type = "String"


#: Header -> (the Message field that carries it, its extended property, what a value must be).
_HEADER_PROPERTIES: dict[str, tuple[str, type, Callable[[str], bool]]] = {
    # RFC 3834 §5 keywords (auto-replied, auto-forwarded, ...), without parameters.
    "Auto-Submitted": (
        "ooo_auto_submitted",
        AutoSubmitted,
        lambda v: re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,39}", v) is not None,
    ),
    # Exchange's list of suppressed responses: All, or names such as DR, OOF, AutoReply.
    "X-Auto-Response-Suppress": (
        "ooo_auto_response_suppress",
        AutoResponseSuppress,
        lambda v: re.fullmatch(r"[A-Za-z]{1,20}(?: ?, ?[A-Za-z]{1,20}){0,9}", v) is not None,
    ),
    # The owner's address (RFC 3834 leaves X-Loop's content to the responder).
    "X-Loop": ("ooo_x_loop", XLoop, is_replyable),
}
for _field, _property, _valid in _HEADER_PROPERTIES.values():
    with contextlib.suppress(ValueError):  # already registered
        Message.register(_field, _property)

# Exchange's answers that mean "this recipient will never work", not "try later".
_REJECTIONS = (
    ews_errors.ErrorInvalidRecipients,
    ews_errors.ErrorInvalidSmtpAddress,
    ews_errors.ErrorMessageSizeExceeded,
    ews_errors.ErrorSendAsDenied,
)

#: MIME nesting followed at most (the engine composes two levels).
_MAX_DEPTH = 8
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,99}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
_ENCODED = ("base64", "quoted-printable")


@dataclass(frozen=True)
class EwsAttachment:
    """One attachment of the composed message: a plain file name, a validated content type,
    and the bytes the composed message carries (transfer encoding undone)."""

    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class EwsFields:
    """What an EWS Message is built from, worked out from the composed bytes alone.

    Every value but :attr:`body` and the attachments' :attr:`~EwsAttachment.content` ends up in
    a header of the sent message: each is one line, with no CR/LF and no ``=?``
    (:meth:`header_values` lists them, for tests and fuzzers)."""

    subject: str
    body: str
    html: bool
    """The body is the HTML alternative (else plain text)."""
    message_id: MessageId | None = None
    in_reply_to: str | None = None
    """Valid ids only, space-separated."""
    references: str | None = None
    reply_to: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    """(header, value) pairs that go out as InternetHeaders extended properties."""
    attachments: tuple[EwsAttachment, ...] = ()

    def header_values(self) -> list[str]:
        values = [self.subject, self.message_id or "", self.in_reply_to or ""]
        values += [self.references or "", *self.reply_to]
        values += [v for pair in self.headers for v in pair]
        values += [v for a in self.attachments for v in (a.name, a.content_type)]
        return values


def ews_fields(raw: bytes) -> EwsFields:
    """The fields of the EWS message for one composed message. Pure and total: any bytes give
    an EwsFields, and nothing in a header-bound field was decoded from an encoded word except
    the subject, which is our own composed text and is cleaned again here."""
    head, _ = _split(raw)
    fields = _raw_headers(head)
    ids = {name: message_ids(fields.get(name.lower(), "")) for name in _ID_HEADERS}
    headers = []
    for name, (_field, _cls, valid) in _HEADER_PROPERTIES.items():
        value = " ".join(fields.get(name.lower(), "").split())
        if value and valid(value):
            headers.append((name, value))
    reply_to = _addresses(fields.get("reply-to", ""))
    plain: str | None = None
    html: str | None = None
    attachments: list[EwsAttachment] = []
    for info, part, body in _leaves(raw):
        kind = info.get_content_type()
        if kind in ("text/plain", "text/html") and info.get_content_disposition() != "attachment":
            if kind == "text/plain" and plain is None:
                plain = _text(part, body)
                continue
            if kind == "text/html" and html is None:
                html = _text(part, body)
                continue
        attachments.append(_attachment(info, part, body, len(attachments) + 1))
    return EwsFields(
        subject=_subject(raw, fields.get("subject")),
        body=html if html is not None else plain or "",
        html=html is not None,
        message_id=next(iter(ids["Message-ID"]), None),
        in_reply_to=" ".join(ids["In-Reply-To"]) or None,
        references=" ".join(ids["References"]) or None,
        reply_to=tuple(dict.fromkeys(reply_to)),
        headers=tuple(headers),
        attachments=tuple(attachments),
    )


_ID_HEADERS = ("Message-ID", "In-Reply-To", "References")


def is_calendar_answer(raw: bytes, recipients: list[str]) -> bool:
    """``raw`` answers an invitation (it carries a ``text/calendar`` part with ``method=REPLY``)
    and goes to exactly the address its To names, with no Cc: then it is sent as MIME."""
    head, _ = _split(raw)
    fields = _raw_headers(head)
    to = [a.lower() for a in _addresses(fields.get("to", ""))]
    if fields.get("cc") or to != [r.lower() for r in recipients]:
        return False
    for info, _part, _body in _leaves(raw):
        method = info.get_param("method") if info.get_content_type() == "text/calendar" else None
        if isinstance(method, str) and method.upper() == "REPLY":
            return True
    return False


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """A header block and the body after the blank line."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw.split(b"\n", 1)[1]
    blank = re.search(rb"\r?\n\r?\n", raw)
    if blank is None:
        return raw, b""
    return raw[: blank.start()], raw[blank.end() :]


def _raw_headers(head: bytes) -> dict[str, str]:
    """The first value of each header field as it stands in the bytes, unfolded: no encoded
    word is decoded, and a non-ASCII byte becomes U+FFFD (which no id or address matches).
    Lines end at LF (or CRLF) only, so no other control character can start a field."""
    out: dict[str, str] = {}
    name: str | None = None
    for line in re.split(r"\r?\n", head.decode("ascii", "replace")):
        if line[:1] in (" ", "\t"):
            if name is not None:
                out[name] += " " + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            name = field.strip().lower()
            if name in out:
                name = None  # a repeated field: the first one counts
            else:
                out[name] = value.strip()
        else:
            name = None
    return out


def _addresses(value: str) -> list[str]:
    """The plain addresses of a raw address-list value: each element's ``<addr>``, or the
    element itself when it has no brackets, kept only when it is a plain address. Display names
    are not kept, and nothing is decoded: a full address parser would read a colon inside an
    encoded word as a group name and make an address out of the rest."""
    elements: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "<>":
            depth = max(0, depth + (1 if char == "<" else -1))
        elif not quoted and depth == 0 and char == ",":
            elements.append("".join(current))
            current = []
            continue
        current.append(char)
    elements.append("".join(current))
    found = []
    for element in elements:
        bracketed = re.findall(r"<([^<>]*)>", element)
        addr = bracketed[-1] if bracketed else element
        addr = addr.strip()
        if is_replyable(addr):
            found.append(addr)
    return list(dict.fromkeys(found))


def _leaves(raw: bytes, depth: int = 0) -> Iterator[tuple[MimeMessage, bytes, bytes]]:
    """The leaf parts of a MIME message: (its header fields, the whole part, its body), a
    multipart's parts cut out of the bytes at their boundaries (RFC 2046 §5.1.1), so a part's
    content is exactly what the composed message holds."""
    head, body = _split(raw)
    info = email.message_from_bytes(head + b"\r\n\r\n", policy=compat32)
    boundary = info.get_boundary() if info.get_content_maintype() == "multipart" else None
    if boundary and depth < _MAX_DEPTH:
        try:
            delimiter = boundary.encode("ascii", "surrogateescape")
        except UnicodeError:
            delimiter = b""
        if delimiter:
            for part in _parts(body, delimiter):
                yield from _leaves(part, depth + 1)
            return
    yield info, raw, body


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    # The line break before a delimiter belongs to the delimiter.
    found = list(
        re.finditer(rb"(?:\A|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?=\r?\n|\Z)", body)
    )
    parts = []
    for index, this in enumerate(found):
        after = found[index + 1] if index + 1 < len(found) else None
        if this.group(1):
            break  # the close delimiter
        start = this.end()
        start += 2 if body.startswith(b"\r\n", start) else 1 if body.startswith(b"\n", start) else 0
        parts.append(body[start : after.start() if after else len(body)])
    return parts


def _text(part: bytes, body: bytes) -> str:
    """A text part of our own composition as text."""
    try:
        parsed = email.message_from_bytes(part, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        content = parsed.get_content()
        if isinstance(content, str):
            return content
    except Exception:  # noqa: S110 - an unknown charset or a broken encoding: the raw text
        pass
    return body.decode("utf-8", "replace")


def _attachment(info: MimeMessage, part: bytes, body: bytes, number: int) -> EwsAttachment:
    kind = info.get_content_type()
    if not _CONTENT_TYPE.fullmatch(kind):
        kind = "application/octet-stream"
    content = body
    encoding = str(info.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in _ENCODED:
        decoded = email.message_from_bytes(part, policy=compat32).get_payload(decode=True)
        if isinstance(decoded, bytes):
            content = decoded
    name = info.get_filename()
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        if kind == "message/rfc822":
            name = "message.eml" if number == 1 else f"message-{number}.eml"
        else:
            name = f"attachment-{number}{mimetypes.guess_extension(kind) or '.bin'}"
    return EwsAttachment(name, kind, content)


def _subject(raw: bytes, fallback: str | None) -> str:
    """The composed subject as one line of text. It is ours (any sender text in it was made
    inert by ooo.core.compose), so its encoded words are decoded; a ``=?`` that is still there after
    that is made inert again, and control characters become spaces."""
    try:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        value = str(parsed.get("Subject", ""))
    except Exception:  # Python's header parser has failed on hostile input before
        value = fallback or ""
    return clean(value).replace("=?", "=\u200b?")


class EwsTransport(Transport):
    """Sends through the Exchange account of ``[mailbox]`` on a connection of its own."""

    name = "exchange"

    def __init__(
        self,
        service_endpoint: str,
        username: str,
        password_provider: Callable[[], str],
        *,
        primary_smtp_address: str | None = None,
        auth: Auth = "ntlm",
        save_copy: bool = True,
        ca_file: str | None = None,
    ) -> None:
        self.save_copy = save_copy
        """Keep a copy in Sent Items (then the engine's own sent_folder copy is not needed)."""
        self._mailbox = EwsMailbox(
            service_endpoint,
            username,
            password_provider,
            primary_smtp_address=primary_smtp_address,
            auth=auth,
            use_streaming=False,
            ca_file=ca_file,
        )

    def _account(self) -> Any:
        try:
            self._mailbox.open()
        except MailboxAuthError as exc:
            raise TransportAuthError(str(exc)) from exc
        except MailboxError as exc:
            raise TransportUnavailable(str(exc)) from exc
        return self._mailbox.account

    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        if not recipients:
            raise TransportRejected("no recipient")
        for recipient in recipients:
            if not is_replyable(recipient):
                raise TransportRejected(f"not a plain email address: {recipient[:100]!r}")
        account = self._account()
        if is_calendar_answer(raw, recipients):
            message = Message(account=account, mime_content=raw, is_read=True)
        else:
            message = self._message(account, raw, recipients)
        where = self._mailbox.where
        try:
            message.send(save_copy=self.save_copy)
        except _REJECTIONS as exc:
            raise TransportRejected(f"{where} refused the reply to {recipients[0]}: {exc}") from exc
        except ews_errors.UnauthorizedError as exc:
            self._mailbox.close()
            raise TransportAuthError(f"{where} refused the login: {exc}") from exc
        except (ews_errors.EWSError, OSError, ValueError, TypeError, AttributeError) as exc:
            self._mailbox.close()
            raise TransportUnavailable(f"sending through {where} failed: {exc}") from exc
        return {}

    @staticmethod
    def _message(account: Any, raw: bytes, recipients: list[str]) -> Any:
        """The EWS message made from the fields of ``raw`` (see :func:`ews_fields`)."""
        fields = ews_fields(raw)
        message = Message(
            account=account,
            subject=fields.subject,
            body=HTMLBody(fields.body) if fields.html else fields.body,
            to_recipients=[Mailbox(email_address=recipients[0])],
            cc_recipients=[Mailbox(email_address=r) for r in recipients[1:]] or None,
            reply_to=[Mailbox(email_address=a) for a in fields.reply_to] or None,
            in_reply_to=fields.in_reply_to,
            references=fields.references,
            message_id=fields.message_id,
            is_read=True,
        )
        for header, value in fields.headers:
            setattr(message, _HEADER_PROPERTIES[header][0], value)
        if fields.attachments:
            message.attach(
                [
                    FileAttachment(name=a.name, content_type=a.content_type, content=a.content)
                    for a in fields.attachments
                ]
            )
        return message

    def check(self) -> str:
        self._account()
        return f"replies go out through {self._mailbox.where}"

    def close(self) -> None:
        self._mailbox.close()


__all__ = ["EwsAttachment", "EwsFields", "EwsTransport", "ews_fields", "is_calendar_answer"]
