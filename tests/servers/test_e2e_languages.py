"""Replies in the sender's language on the real servers: three people write to the owner in
German, French and English through Postfix; `ooo run --once` answers each in their language,
with the date in it, and the reply says its language in Content-Language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ooo.templating import Renderer
from tests.support.helpers import read
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, wait_for

pytestmark = pytest.mark.servers

LETTERS = {
    "de": (
        "Frage zur Rechnung",
        "Guten Tag,\n\nkönnten Sie mir bitte erklären, wie sich die Positionen auf der letzten "
        "Rechnung zusammensetzen? Wir möchten die Zahlung noch dieses Jahr freigeben.\n\n"
        "Viele Grüße\nAnna\n",
    ),
    "fr": (
        "Demande de devis",
        "Bonjour,\n\npourriez-vous nous envoyer un devis pour la maintenance de l'année "
        "prochaine ? Nous souhaitons finaliser notre budget avant la fin du mois.\n\n"
        "Cordialement,\nClaire\n",
    ),
    "en": (
        "Conference talk",
        "Hi,\n\nwould you be interested in giving a talk at our spring conference? The "
        "deadline for abstracts is the end of January.\n\nBest wishes,\nSarah\n",
    ),
}
RENDERER = Renderer()
GREETING = {"de": "Guten Tag", "fr": "Bonjour", "en": "Hello"}


def letter(sender: User, to: User, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender.address
    msg["To"] = to.address
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def responder(mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path) -> Responder:
    r = Responder(
        mail_stack,
        mail_user("bob"),
        tmp_path,
        extra='[reply]\nlanguages = ["en", "de", "fr"]\n',
    )
    yield r  # type: ignore[misc]
    if r.proc is not None and r.proc.poll() is None:
        r.stop()


def test_each_sender_is_answered_in_their_language(
    mail_stack: MailStack, mail_user: Callable[[str], User], responder: Responder
) -> None:
    """German, French and English inquiries delivered by Postfix get German, French and
    English replies from one `ooo run --once`."""
    bob = responder.owner
    senders = {code: mail_user(f"lang{code}") for code in LETTERS}
    for code, (subject, body) in LETTERS.items():
        sender = senders[code]
        mail_stack.send(letter(sender, bob, subject, body), sender.address, [bob.address])
    wait_for(lambda: len(mail_stack.fetch_all(bob)) == 3, 30, "delivery of the three letters")

    once = responder.cli("run", "--once")
    assert once.returncode == 0, once.stderr
    for code, sender in senders.items():
        (raw,) = mail_stack.wait_for_mail(sender, 1, timeout=30)
        reply = read(raw)
        assert reply["Content-Language"] == code
        text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert text.startswith(GREETING[code]), text
        assert LETTERS[code][0] in text
        back = RENDERER.day(responder.end_at.astimezone(ZoneInfo("Europe/Berlin")), code)
        assert back in text, (back, text)
