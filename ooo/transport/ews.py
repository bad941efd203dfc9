"""Replies sent through Exchange (EWS), for an Exchange mailbox without an ``[smtp]`` section.

The engine composes every reply as RFC 5322 bytes; this transport turns them into a new EWS
``Message`` (CreateItem, SendAndSaveCopy) with the same subject, body, recipients,
``In-Reply-To``, ``References`` and ``Message-ID``. A reply made with ``create_reply`` cannot carry
extended properties, so it is not used: ``Auto-Submitted`` and ``X-Auto-Response-Suppress`` go
out as extended properties in the ``InternetHeaders`` property set, which Exchange writes into
the message's MIME headers. Exchange always sends from the mailbox itself, so the null
envelope sender of RFC 3834 §3.3 is not available here; the Auto-Submitted header is what
stops loops.

Errors are mapped at this boundary: a refused login is TransportAuthError, a refused
recipient TransportRejected, everything else TransportUnavailable (the reply stays queued).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from exchangelib import HTMLBody, Mailbox, Message
from exchangelib import errors as ews_errors
from exchangelib.extended_properties import ExtendedProperty

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


#: Message field name -> the header it carries.
_HEADER_PROPERTIES = {
    "ooo_auto_submitted": ("Auto-Submitted", AutoSubmitted),
    "ooo_auto_response_suppress": ("X-Auto-Response-Suppress", AutoResponseSuppress),
}
for _name, (_, _property) in _HEADER_PROPERTIES.items():
    with contextlib.suppress(ValueError):  # already registered
        Message.register(_name, _property)

# Exchange's answers that mean "this recipient will never work", not "try later".
_REJECTIONS = (
    ews_errors.ErrorInvalidRecipients,
    ews_errors.ErrorInvalidSmtpAddress,
    ews_errors.ErrorMessageSizeExceeded,
    ews_errors.ErrorSendAsDenied,
)


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
        account = self._account()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        message = Message(
            account=account,
            subject=str(parsed.get("Subject", "")),
            body=_body(parsed),
            to_recipients=[Mailbox(email_address=recipients[0])],
            cc_recipients=[Mailbox(email_address=r) for r in recipients[1:]] or None,
            in_reply_to=_header(parsed, "In-Reply-To"),
            references=_header(parsed, "References"),
            message_id=_header(parsed, "Message-ID"),
            is_read=True,
        )
        for field, (header, _cls) in _HEADER_PROPERTIES.items():
            value = _header(parsed, header)
            if value:
                setattr(message, field, value)
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

    def check(self) -> str:
        self._account()
        return f"replies go out through {self._mailbox.where}"

    def close(self) -> None:
        self._mailbox.close()


def _header(msg: EmailMessage, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _body(msg: EmailMessage) -> Any:
    html = msg.get_body(preferencelist=("html",))
    if html is not None:
        return HTMLBody(str(html.get_content()))
    plain = msg.get_body(preferencelist=("plain",))
    return str(plain.get_content()) if plain is not None else ""
