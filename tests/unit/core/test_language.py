"""The reply's language: each step of the choice, on real messages in each language (the
corpus in tests/support/corpus/languages/) with the real detector, and the template files a
language is looked for in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ooo.core.language import (
    COUNTRY_LANGUAGES,
    LanguageChoice,
    choose_language,
    detection_text,
    template_candidates,
)
from ooo.core.parse import Inbound, parse
from ooo.detector import make_detector
from tests.support.helpers import raw_message

CORPUS = Path(__file__).resolve().parents[2] / "support" / "corpus" / "languages"
ALL = ("en", "de", "fr", "es", "nl")
DETECT = make_detector(ALL)

GERMAN = (
    "Sehr geehrter Herr Example,\nkönnten Sie mir bitte mitteilen, bis wann die Unterlagen "
    "für das Projekt vorliegen? Vielen Dank im Voraus.\n"
)
ITALIAN = "Ciao Bob, volevo chiederti se hai già ricevuto il contratto firmato. Grazie mille!\n"


def message(raw: bytes) -> Inbound:
    head, _, body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").partition(b"\r\n\r\n")
    return parse("1", head + b"\r\n\r\n", body)


def choose(msg: Inbound, languages: tuple[str, ...] = ALL, **kw: object) -> LanguageChoice:
    return choose_language(msg, msg.sender or "", languages, detect=DETECT, **kw)  # type: ignore[arg-type]


def corpus() -> list[Path]:
    found = sorted(CORPUS.glob("*.eml"))
    assert len(found) >= 12, found
    return found


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_real_messages_are_answered_in_their_language(path: Path) -> None:
    """Each realistic message of the corpus (plain, HTML-only, Outlook, Gmail replies quoting
    an English original, two-word notes) gets the language and the step its name says."""
    language, step, _ = path.name.split(".", 2)
    choice = choose(message(path.read_bytes()))
    assert (choice.language, choice.step) == (language, step), choice.describe()


def test_the_quoted_original_is_not_what_is_read() -> None:
    """Only the sender's own words are read: an English original quoted below a German
    answer is left out of the text the detector sees."""
    msg = message((CORPUS / "de.detected.antwort-mit-zitat.eml").read_bytes())
    text = detection_text(msg)
    assert "Darf ich sie an mein Team weitergeben" in text
    assert "thanks for joining" not in text and "schrieb" not in text


def test_a_route_that_names_a_language_comes_first() -> None:
    """A matching route's language wins over the language the sender wrote in."""
    msg = message(raw_message(sender="a@example.fr", body=GERMAN))
    choice = choose(msg, route_language="es", route="route[0] 'spain'")
    assert (choice.language, choice.step) == ("es", "route")
    assert choice.describe() == "language: es (route[0] 'spain' names it)"


def test_the_language_the_sender_wrote_in_comes_next() -> None:
    """Detected German wins over an English Content-Language and a French domain, and the
    explanation gives the confidence."""
    msg = message(
        raw_message(sender="a@example.fr", body=GERMAN, extra={"Content-Language": "en-US"})
    )
    choice = choose(msg)
    assert (choice.language, choice.step) == ("de", "detected")
    assert choice.describe().startswith("language: de (the sender wrote in German, confidence ")


def test_a_language_that_is_not_offered_falls_through_to_content_language() -> None:
    """Italian is none of the reply languages: it is recognised as Italian (not taken for
    French), so Content-Language decides, and the default's reason says why."""
    msg = message(raw_message(body=ITALIAN, extra={"Content-Language": "es-ES, en"}))
    choice = choose(msg)
    assert (choice.language, choice.step) == ("es", "content-language")
    assert choice.reason == "Content-Language: es-ES"
    plain = choose(message(raw_message(sender="x@example.com", body=ITALIAN)))
    assert (plain.step, plain.reason) == (
        "default",
        "the default; detected Italian, not a reply language",
    )


def test_an_unsure_detection_is_not_trusted() -> None:
    """A short Dutch line under a German subject is Dutch only at a low confidence: the
    country domain decides instead."""
    msg = message(
        raw_message(
            sender="x@example.fr", subject="Re: Termin", body="Kun je me morgen bellen, Bob?"
        )
    )
    choice = choose(msg)
    assert (choice.language, choice.step) == ("fr", "domain")
    assert DETECT is not None
    language, confidence = DETECT(detection_text(msg)) or ("", 1.0)
    assert language == "nl" and confidence < 0.8
    plain = choose(
        message(
            raw_message(
                sender="x@example.com", subject="Re: Termin", body="Kun je me morgen bellen, Bob?"
            )
        )
    )
    assert plain.reason.startswith("the default; Dutch only at confidence 0.")


def test_content_language_skips_a_language_that_is_not_offered() -> None:
    """A Content-Language tag that is not a reply language is passed over for the next."""
    msg = message(raw_message(body="👍", extra={"Content-Language": "it, nl-BE"}))
    assert (choose(msg).language, choose(msg).step) == ("nl", "content-language")


def test_too_little_text_is_not_judged() -> None:
    """ "Danke!" is too short to tell a language: the country domain decides."""
    msg = message(raw_message(sender="kurz@firma.at", body="Danke!\n", subject="Re:"))
    choice = choose(msg)
    assert (choice.language, choice.step) == ("de", "domain")
    assert choice.reason == "the sender's domain ends in .at"


@pytest.mark.parametrize(
    ("domain", "languages", "expected"),
    [
        ("firma.de", ALL, "de"),
        ("example.com.mx", ALL, "es"),
        ("example.co.uk", ("de", "en"), "en"),
        ("example.be", ("en", "nl"), "nl"),
        ("example.be", ("en", "fr"), "fr"),
        ("example.be", ALL, "en"),  # Dutch and French both offered: .be decides nothing
        ("example.ch", ("en", "fr"), "fr"),
        ("example.ch", ALL, "en"),
        ("example.com", ALL, "en"),
    ],
)
def test_the_country_domain(domain: str, languages: tuple[str, ...], expected: str) -> None:
    """A country domain decides when exactly one of its languages is a reply language."""
    msg = message(raw_message(sender=f"x@{domain}", body="👍", subject=":)"))
    assert choose(msg, languages).language == expected


def test_the_default_is_the_first_language() -> None:
    """With nothing to go by, the reply is in the first of the reply languages."""
    msg = message(raw_message(sender="x@example.org", body="👍", subject=":)"))
    choice = choose(msg, ("nl", "en"))
    assert (choice.language, choice.step, choice.reason) == (
        "nl",
        "default",
        "the default; too little text to tell the language",
    )


def test_one_language_reads_nothing() -> None:
    """A single reply language is the answer without asking the detector."""
    msg = message(raw_message(body=GERMAN))

    def fail(text: str) -> tuple[str, float]:
        raise AssertionError("the detector was asked")

    assert choose_language(msg, "a@example.org", ("en",), detect=fail).language == "en"
    assert make_detector(["en"]) is None


def test_a_failing_detector_loses_nothing() -> None:
    """A detector that raises is passed over: the next step decides."""
    msg = message(raw_message(sender="a@firma.de", body=GERMAN))

    def broken(text: str) -> tuple[str, float]:
        raise RuntimeError("model file damaged")

    choice = choose_language(msg, "a@firma.de", ALL, detect=broken)
    assert (choice.language, choice.step) == ("de", "domain")


def test_only_reply_languages_are_chosen() -> None:
    """A route's or header's language that is not a reply language is never chosen."""
    msg = message(raw_message(body="👍", extra={"Content-Language": "fr"}))
    choice = choose_language(msg, "x@example.org", ("en", "de"), route_language="fr")
    assert choice.language == "en"


@pytest.mark.parametrize(
    ("body", "languages"),
    [(GERMAN, ("de", "en")), (GERMAN, ("en", "de")), ("👍", ("en", "de"))],
)
def test_bilingual_puts_the_senders_language_first(body: str, languages: tuple[str, ...]) -> None:
    """With bilingual = [en, de] a reply carries both, the chosen language first."""
    msg = message(raw_message(body=body))
    choice = choose(msg, ALL, bilingual=languages)
    first = "de" if body == GERMAN else "en"
    assert choice.languages == (first, "en" if first == "de" else "de")
    assert choice.describe().startswith(f"language: {choice.languages[0]} + ")


def test_bilingual_leaves_a_third_language_alone() -> None:
    """A French sender, with French offered, gets French alone, not the en/de pair."""
    msg = message((CORPUS / "fr.detected.devis.eml").read_bytes())
    assert choose(msg, ALL, bilingual=("en", "de")).languages == ("fr",)


def test_template_fallback_order() -> None:
    """A route's template in German: vip.de, then reply.de, then vip in the default language
    (English: also the untagged file)."""
    assert template_candidates("vip", "de", "en", "txt") == [
        "vip.de.txt.j2",
        "reply.de.txt.j2",
        "vip.en.txt.j2",
        "vip.txt.j2",
    ]
    assert template_candidates("reply", "en", "de", "html") == [
        "reply.en.html.j2",
        "reply.html.j2",
        "reply.de.html.j2",
    ]
    assert template_candidates("vip", "fr", "de", "txt") == [
        "vip.fr.txt.j2",
        "reply.fr.txt.j2",
        "vip.de.txt.j2",
    ]


def test_every_country_names_languages() -> None:
    """The country table is well-formed: lowercase two-letter domains, language codes."""
    for tld, spoken in COUNTRY_LANGUAGES.items():
        assert len(tld) == 2 and tld.islower() and spoken
        assert all(len(code) == 2 for code in spoken)


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(max_size=200),
    body=st.text(max_size=2000),
    content_language=st.text(max_size=60),
    local=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    tld=st.sampled_from(["de", "be", "com", "xn--p1ai", "ch", "", "fr."]),
)
def test_the_choice_never_fails(
    subject: str, body: str, content_language: str, local: str, tld: str
) -> None:
    """Whatever a message holds (any subject, body, Content-Language, sender domain), the
    choice is one of the reply languages, with a reason, and never raises."""

    def line(text: str) -> str:
        return text.replace("\r", " ").replace("\n", " ")

    raw = (
        f"From: {local}@example.{tld}\r\nSubject: {line(subject)}\r\n"
        f"Content-Language: {line(content_language)}\r\n\r\n"
    ).encode("utf-8", "surrogatepass")
    msg = parse("1", raw, body.encode("utf-8", "surrogatepass"))
    choice = choose(msg, ("nl", "de", "en"), bilingual=("de", "en"))
    assert choice.language in ("nl", "de", "en") and choice.reason
    assert choice.languages[0] == choice.language
