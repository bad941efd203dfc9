"""Every shipped reply template, in every language, reads right: rendered through the real
composer with a long name, a non-ASCII subject and a delegate (copied, forwarded, or only
named), with and without network entries. No English is left in a German reply, the date is
written in the reply's language, no template syntax leaks, and the language detector reads
the result as the language it claims to be."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from ooo.config import Config
from ooo.core.compose import ReplySettings, compose_reply
from ooo.core.parse import parse
from ooo.core.policy import Decision, Reason
from ooo.core.resolve import classify
from ooo.core.routing import route
from ooo.detector import make_detector
from ooo.templating import Renderer
from tests.support.helpers import INSIDE, OWNER
from tests.support.routing import config

LANGUAGES = ("en", "de", "fr", "es", "nl")
DETECT = make_detector(LANGUAGES)
RENDERER = Renderer()

SENDER = "maximiliane@example.org"
LONG_NAME = (
    "Maximiliane Alexandra Konstanze von Hohenzollern-Sigmaringen-Wittelsbach de la Fontaine"
)
SUBJECT = "Ångström-Kalibrierung – Rückfrage zu Größe № 5 ✓"
DELEGATE = "Carolina Jones-Müller"

#: The day the window ends (2027-01-05 09:00 in Berlin), as each language writes it.
BACK_ON = {
    "en": "Tuesday 5 January 2027",
    "de": "Dienstag, 5. Januar 2027",
    "fr": "mardi 5 janvier 2027",
    "es": "martes, 5 de enero de 2027",
    "nl": "dinsdag 5 januari 2027",
}
#: The word each language asks the sender to reply with when someone already helped.
RESOLVED_WORD = {
    "en": "RESOLVED",
    "de": "ERLEDIGT",
    "fr": "RÉSOLU",
    "es": "RESUELTO",
    "nl": "OPGELOST",
}

#: English words none of the other languages' replies may contain.
ENGLISH = re.compile(
    r"\b(?:the|and|you|your|thank|thanks|hello|please|until|regards|reply|away|reference"
    r"|urgent|network|automatic|won't|i'm|i've|ask|there|soon|back|directly|someone|helped"
    r"|passed|looking|forwarded|copied|on)\b",
    re.IGNORECASE,
)
SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}", "None", "Undefined")

DELEGATE_CASES = {
    "cc": "\n[reply.external]\ncc_delegate = true\n",
    "forwarded": "\n[reply.external]\nforward_to_delegate = true\n",
    "named": "",
}
NETWORK = """
[[network]]
kind = "mastodon"
handle = "@bob@hachyderm.io"

[[network]]
kind = "website"
url = "https://forum.example.org/c/help"
label = "Forum"
"""


def setup(language: str, delegate: str, network: bool) -> Config:
    return config(
        f'\n[delegate]\nname = "{DELEGATE}"\nemail = "carol@example.com"\n'
        'handle = "@carol@hachyderm.io"\n',
        DELEGATE_CASES[delegate],
        NETWORK if network else "",
        f"\n[reply]\nshare_subject = true\nlanguages = {list(LANGUAGES)!r}\n".replace("'", '"'),
        f'\n[[route]]\nfrom = ["example.org"]\nlanguage = "{language}"\n',
    )


def reply(language: str, delegate: str, network: bool) -> EmailMessage:
    cfg = setup(language, delegate, network)
    raw = (
        f"From: {LONG_NAME} <{SENDER}>\r\nTo: {OWNER}\r\nMessage-ID: <q1@example.org>\r\n"
        f"Subject: =?utf-8?b?{__import__('base64').b64encode(SUBJECT.encode()).decode()}?=\r\n"
        "\r\n"
    ).encode()
    head, _, body = raw.partition(b"\r\n\r\n")
    msg = parse("1", head + b"\r\n\r\n", body)
    routing = route(msg, SENDER, cfg)
    decision = Decision(Reason.REPLY, owner_address=OWNER, recipient=SENDER)
    settings = ReplySettings.of(cfg, share_subject=True, detect=DETECT)
    out = compose_reply(
        msg,
        decision,
        settings,
        RENDERER,
        message_id="<r1@example.com>",
        now=INSIDE,
        routing=routing,
        ref="OOO-7K3Q9M",
    )
    parsed = email.message_from_bytes(out.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.lang: str | None = None
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if tag not in ("br", "meta", "hr", "li", "p") and tag != "html":
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "meta", "hr", "li", "p", "html"):
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def words_only(text: str) -> str:
    """The template's own words: the values that came from the sender and the config
    (names, subject, addresses, links, handles, the reference) taken out."""
    for value in (LONG_NAME, SUBJECT, DELEGATE, "Bob Example", "OOO-7K3Q9M", "Forum"):
        text = text.replace(value, " ")
    text = re.sub(r"https?://\S+|\S+@\S+|@\w+", " ", text)
    return text


@pytest.mark.parametrize("network", [True, False], ids=["network", "no-network"])
@pytest.mark.parametrize("delegate", list(DELEGATE_CASES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_reads_right(language: str, delegate: str, network: bool) -> None:
    """The text and HTML parts are in the chosen language: its date, its reply word, every
    variable filled in, no template syntax, no English in another language, and the detector
    agrees with the label."""
    parsed = reply(language, delegate, network)
    assert parsed["Content-Language"] == language
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    page = _Text()
    page.feed(html)
    page.close()
    assert page.lang == language and page.open == []
    shown = "".join(page.parts)
    for part in (text, shown):
        for piece in SYNTAX:
            assert piece not in part, (piece, part)
        for value in (LONG_NAME, SUBJECT, DELEGATE, BACK_ON[language], RESOLVED_WORD[language]):
            assert value in part, (value, part)
        assert "carol@example.com" in part
        assert ("@bob@hachyderm.io" in part or "Forum" in part) == network
        own = words_only(part)
        if language != "en":
            assert ENGLISH.findall(own) == [], own
        assert DETECT is not None
        detected = DETECT(own)
        assert detected is not None and detected[0] == language and detected[1] > 0.9, detected
    if delegate == "cc":
        assert DELEGATE in parsed["Cc"]


def test_the_english_reply_is_as_it_always_was() -> None:
    """With the default `languages = ["en"]`, the reply is the English one, with the English
    date as before."""
    cfg = config()
    assert cfg.reply.languages == ["en"]
    settings = ReplySettings.of(cfg, share_subject=False)
    assert settings.languages == ("en",) and settings.detect is None
    msg = parse("1", b"From: A <a@example.de>\r\nSubject: Frage\r\n\r\n", b"Hallo Bob, eine Frage.")
    out = compose_reply(
        msg,
        Decision(Reason.REPLY, owner_address=OWNER, recipient="a@example.de"),
        settings,
        RENDERER,
        message_id="<r1@example.com>",
        now=INSIDE,
        routing=route(msg, "a@example.de", cfg),
    )
    text = out.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith(
        'Hello A,\n\nThank you for your message "Frage". I\'m away until Tuesday 5 January 2027'
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reply_word_each_language_asks_for_resolves(language: str) -> None:
    """The word a reply asks the sender to answer with ("ERLEDIGT", "RÉSOLU", ...) is read as
    resolved by the resolution rules, alone or in a short sentence."""
    word = RESOLVED_WORD[language]
    for body in (word, word.lower().capitalize() + "!", f"{word}, merci / danke / thanks"):
        signal = classify(body, role="sender")
        assert signal is not None and signal.kind == "resolved", (body, signal)
