"""Exchange items as the engine sees them: what an EWS message becomes, and back.

* **Reading**: a new message is read with :data:`MESSAGE_FIELDS` only (GetItem's default would
  pull about 100 fields including the MIME content of every message).
* **Headers** for the policy are rebuilt from ``InternetMessageHeaders`` as ``Name: value`` lines,
  plus Message-ID / In-Reply-To / References / From / To / Cc / Subject from the item's own
  fields when the transport headers lack them (mail created inside Exchange). The body is the
  item's plain-text body (``TextBody``), cut at BODY_CAP bytes; since that text is decoded, the
  Content-Type of the header block is rewritten to ``text/plain; charset=utf-8`` (a
  ``multipart/report`` type is kept, so delivery reports are still recognised as such).
* **Meeting messages** (an invitation, a cancellation, an answer: ``MeetingRequest`` and its
  kin) are read once more, as MIME (:func:`with_mime`): Exchange writes their iCalendar part
  there (MS-OXCMAIL), and the policy needs it to answer an invitation as a calendar does.
* **Tags** are Exchange categories: the engine's ``$OooResolved`` is the category
  ``ooo: resolved`` (``$OooOpen`` -> ``ooo: open``, and so on), which Outlook shows and filters on.
* **Stored copies** carry PR_MESSAGE_FLAGS (:class:`MessageFlags`), so Exchange files a copy of a
  sent message as read mail, not as an unsent draft.

Pure conversions over exchangelib's item objects; the requests are made in
:mod:`ooo.mailbox.ews`.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from exchangelib import ExtendedProperty, Message
from exchangelib.items.calendar_item import BaseMeetingItem

from ooo.mailbox.base import BODY_CAP, HEADER_CAP, FetchedMessage

#: What a new message is read with: enough for the policy, threading and the body preview.
MESSAGE_FIELDS = [
    "headers",
    "message_id",
    "in_reply_to",
    "references",
    "datetime_received",
    "size",
    "subject",
    "author",
    "to_recipients",
    "cc_recipients",
    "text_body",
    "categories",
]
_CAMEL = re.compile(r"[A-Z][a-z0-9]*")
_CATEGORY_PREFIX = "ooo: "


def keyword_to_category(keyword: str) -> str:
    """``$OooResolved`` -> ``ooo: resolved``; ``$OooNeedsYou`` -> ``ooo: needs you``; any other
    keyword is used as the category name unchanged."""
    rest = keyword[4:] if keyword.startswith("$Ooo") else ""
    words = _CAMEL.findall(rest)
    if words and "".join(words) == rest:
        return _CATEGORY_PREFIX + " ".join(w.lower() for w in words)
    return keyword


def category_to_keyword(category: str) -> str:
    """The inverse of :func:`keyword_to_category`."""
    if category.startswith(_CATEGORY_PREFIX):
        words = category[len(_CATEGORY_PREFIX) :].split()
        if words and all(w.isalnum() for w in words):
            return "$Ooo" + "".join(w.capitalize() for w in words)
    return category


class MessageFlags(ExtendedProperty):  # type: ignore[misc]  # exchangelib is untyped
    """PR_MESSAGE_FLAGS: set on a stored copy so Exchange files it as a sent message (read),
    not as an unsent draft."""

    property_tag = 0x0E07
    property_type = "Integer"


#: MSGFLAG_READ: the value of ``ooo_message_flags`` for a copy stored as read.
MSGFLAG_READ = 0x1
with contextlib.suppress(ValueError):  # already registered (module reloaded in tests)
    Message.register("ooo_message_flags", MessageFlags)


def aware(moment: Any) -> datetime | None:
    """An exchangelib EWSDateTime as a plain timezone-aware datetime (UTC)."""
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        return None
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def _clean_value(value: object) -> str:
    # A header value must not break the block it is put in.
    return re.sub(r"[\r\n]+", " ", str(value or ""))


def _address_list(boxes: Any) -> str:
    parts = []
    for box in boxes or []:
        if box.email_address:
            parts.append(
                f'"{box.name}" <{box.email_address}>' if box.name else str(box.email_address)
            )
    return ", ".join(parts)


def is_meeting_message(item: Any) -> bool:
    """An invitation, a cancellation or an answer to one (IPM.Schedule.Meeting.*)."""
    return isinstance(item, BaseMeetingItem)


def with_mime(fetched: FetchedMessage, mime: bytes) -> FetchedMessage:
    """``fetched`` with the header block and body of its MIME content (as Exchange writes the
    message: its text and its iCalendar part), its arrival time, size and tags kept. MIME
    without a header block leaves it as it was."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = mime.partition(sep)
        if found and head.strip():
            return replace(
                fetched,
                headers=(head + sep)[:HEADER_CAP],
                body=body[:BODY_CAP],
                size=max(fetched.size, len(mime)),
            )
    return fetched


def to_fetched(key: str, item: Any) -> FetchedMessage:
    """A message read with :data:`MESSAGE_FIELDS`, as the engine takes it: a header block, the
    plain-text body, the arrival time and its categories as keywords."""
    lines: list[tuple[str, str]] = [
        (_clean_value(h.name), _clean_value(h.value)) for h in item.headers or [] if h.name
    ]
    present = {name.lower() for name, _ in lines}
    extra = {
        "From": _address_list([item.author] if item.author else []),
        "To": _address_list(item.to_recipients),
        "Cc": _address_list(item.cc_recipients),
        "Subject": item.subject,
        "Message-ID": item.message_id,
        "In-Reply-To": item.in_reply_to,
        "References": item.references,
    }
    for name, value in extra.items():
        if value and name.lower() not in present:
            lines.append((name, _clean_value(value)))
    content_type = next((v for n, v in lines if n.lower() == "content-type"), None)
    if (content_type or present & {"content-transfer-encoding"}) and not (
        content_type or ""
    ).lower().startswith("multipart/report"):
        # The body handed over is the decoded plain text: say so, or the parser would look
        # for MIME parts and transfer encodings that are no longer there.
        lines = [
            (n, v)
            for n, v in lines
            if n.lower() not in ("content-type", "content-transfer-encoding")
        ]
        lines += [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
        ]
    head = "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
    body = (item.text_body or "").encode("utf-8")
    return FetchedMessage(
        key=key,
        headers=head.encode("utf-8")[:HEADER_CAP],
        body=body[:BODY_CAP],
        received_at=aware(item.datetime_received),
        size=int(item.size or len(head) + len(body)),
        keywords=frozenset(category_to_keyword(c) for c in item.categories or []),
    )
