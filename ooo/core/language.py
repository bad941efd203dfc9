"""Which language a reply is written in, and which template files say it.

The choice, in this order (the first that gives an answer wins):

1. a matching ``[[route]]`` that names a ``language``;
2. the language the sender wrote in, detected from their own words (the subject and the new
   text of the first text part, quotes and signatures left out), when the detector is
   confident (:data:`CONFIDENT`) and the text long enough to judge (:data:`MIN_LETTERS`);
3. the message's ``Content-Language`` header (RFC 3282), its first tag that is a reply
   language;
4. the country domain of the sender's address (:data:`COUNTRY_LANGUAGES`); a country with
   several languages (``.be``, ``.ch``, ``.ca``, ...) counts only when exactly one of them is
   a reply language;
5. the default: the first of ``[reply] languages``.

Only the owner's reply languages are ever chosen. The detector itself is passed in (the shell
builds it, see ooo.detector), so this module stays pure.

Template files: English is the untagged ``reply.txt.j2``; every other language carries its
code, ``reply.de.txt.j2``. For a route's or audience's template ``vip`` in language ``de``
with the default language ``en``, the files tried are :func:`template_candidates`:
``vip.de`` → ``reply.de`` → ``vip.en`` → ``vip`` (each with ``.txt.j2`` / ``.html.j2``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ooo.core.parse import Inbound
from ooo.core.resolve import new_text

#: What the shell's detector does: the language of ``text`` among the reply languages, and how
#: sure it is (0..1, relative to those languages), or None when it cannot tell.
Detect = Callable[[str], tuple[str, float] | None]

#: Below this confidence the detected language is not trusted (the next step decides).
CONFIDENT = 0.8
#: Fewer letters than this ("Hi", "Danke!", a lone link) are too little to judge a language.
MIN_LETTERS = 20
#: The detector reads at most this much of the sender's own words.
DETECT_CHARS = 2000

#: The shipped languages, by their code, named in English (for explanations).
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "nl": "Dutch",
    "it": "Italian",
    "pt": "Portuguese",
    "sv": "Swedish",
    "da": "Danish",
    "nb": "Norwegian",
    "pl": "Polish",
    "cs": "Czech",
}

#: Country-code domains and the languages spoken there, the most used first. A country with
#: one entry decides alone; one with several decides only when exactly one of its languages
#: is a reply language (``.be`` with ``languages = ["en", "nl"]`` is Dutch, with
#: ``["en", "nl", "fr"]`` it decides nothing). Generic domains (.com, .org, .eu) say nothing.
COUNTRY_LANGUAGES: dict[str, tuple[str, ...]] = {
    # German
    "de": ("de",),
    "at": ("de",),
    "li": ("de",),
    "ch": ("de", "fr", "it"),
    "lu": ("fr", "de"),
    # French
    "fr": ("fr",),
    "mc": ("fr",),
    "be": ("nl", "fr", "de"),
    "ca": ("en", "fr"),
    "sn": ("fr",),
    "ci": ("fr",),
    # Spanish
    "es": ("es",),
    "mx": ("es",),
    "ar": ("es",),
    "cl": ("es",),
    "co": ("es",),
    "pe": ("es",),
    "ve": ("es",),
    "ec": ("es",),
    "uy": ("es",),
    "py": ("es",),
    "bo": ("es",),
    "cr": ("es",),
    "pa": ("es",),
    "do": ("es",),
    "gt": ("es",),
    "hn": ("es",),
    "sv": ("es",),
    "ni": ("es",),
    "cu": ("es",),
    # Dutch
    "nl": ("nl",),
    "sr": ("nl",),
    # English
    "uk": ("en",),
    "ie": ("en",),
    "au": ("en",),
    "nz": ("en",),
    "us": ("en",),
    # Others an owner may add templates for
    "it": ("it",),
    "pt": ("pt",),
    "br": ("pt",),
    "se": ("sv",),
    "dk": ("da",),
    "no": ("nb",),
    "pl": ("pl",),
    "cz": ("cs",),
}

Step = Literal["route", "detected", "content-language", "domain", "default"]

_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class LanguageChoice:
    language: str
    """The language the reply is written in (the first one of a bilingual reply)."""
    step: Step
    reason: str
    """Why, in the owner's words ("the sender wrote in German, confidence 0.93")."""
    languages: tuple[str, ...] = ()
    """Every language the reply carries, in order: one, or two for a bilingual reply."""

    def describe(self) -> str:
        both = " + ".join(self.languages) if len(self.languages) > 1 else self.language
        return f"language: {both} ({self.reason})"


def name_of(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def primary(tag: str) -> str:
    """``"de"`` of ``"de-AT"`` or ``"DE_at"``."""
    return tag.replace("_", "-").split("-", 1)[0].lower()


def detection_text(msg: Inbound) -> str:
    """What the sender wrote now: the subject and the new text of the body (no quoted
    history, no signature, no disclaimer), capped."""
    subject = re.sub(r"^(?:(?:re|aw|wg|fw|fwd|tr|rv|sv|antw)\s*:\s*)+", "", msg.subject, flags=re.I)
    return f"{subject}\n{new_text(msg.body_text[: DETECT_CHARS * 4])}"[:DETECT_CHARS].strip()


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def choose_language(
    msg: Inbound,
    sender: str,
    languages: Sequence[str],
    *,
    route_language: str | None = None,
    route: str | None = None,
    detect: Detect | None = None,
    bilingual: Sequence[str] = (),
) -> LanguageChoice:
    """The reply's language for ``msg`` from ``sender`` (see the module docstring for the
    order). ``languages`` are the owner's reply languages, the default first; ``route`` says
    which route named ``route_language``. Total: never raises."""
    offered = tuple(languages) or ("en",)
    choice = _choose(msg, sender, offered, route_language, route, detect)
    pair = tuple(bilingual)
    if len(pair) == 2 and choice.language in pair:
        other = pair[1] if choice.language == pair[0] else pair[0]
        return LanguageChoice(
            choice.language, choice.step, choice.reason + "; bilingual", (choice.language, other)
        )
    return LanguageChoice(choice.language, choice.step, choice.reason, (choice.language,))


def _choose(
    msg: Inbound,
    sender: str,
    offered: tuple[str, ...],
    route_language: str | None,
    route: str | None,
    detect: Detect | None,
) -> LanguageChoice:
    if route_language and route_language in offered:
        return LanguageChoice(route_language, "route", f"{route or 'a route'} names it")
    if detect is not None and len(offered) > 1:
        found = _detected(msg, offered, detect)
        if isinstance(found, LanguageChoice):
            return found
        unsure = found
    else:
        unsure = ""
    for value in msg.headers.get("content-language", ())[:3]:
        for tag in re.split(r"[,;\s]+", value)[:8]:
            if _LANGUAGE_TAG.fullmatch(tag) and primary(tag) in offered:
                return LanguageChoice(primary(tag), "content-language", f"Content-Language: {tag}")
    domain = _country_domain(msg, sender)
    if domain:
        spoken = [lang for lang in COUNTRY_LANGUAGES.get(domain, ()) if lang in offered]
        if len(spoken) == 1:
            return LanguageChoice(spoken[0], "domain", f"the sender's domain ends in .{domain}")
    why = "the default" + (f"; {unsure}" if unsure else "")
    return LanguageChoice(offered[0], "default", why)


def _detected(msg: Inbound, offered: tuple[str, ...], detect: Detect) -> LanguageChoice | str:
    """The detected language as a choice, or why it was not trusted."""
    text = detection_text(msg)
    if letters(text) < MIN_LETTERS:
        return "too little text to tell the language"
    try:
        found = detect(text)
    except Exception:  # a detector failing must not lose the reply: the next step decides
        return "the language detector failed"
    if found is None:
        return "the language could not be told"
    language, confidence = found
    if language not in offered:
        return f"detected {name_of(language)}, not a reply language"
    if confidence < CONFIDENT:
        return f"{name_of(language)} only at confidence {confidence:.2f}"
    return LanguageChoice(
        language,
        "detected",
        f"the sender wrote in {name_of(language)}, confidence {confidence:.2f}",
    )


def _country_domain(msg: Inbound, sender: str) -> str | None:
    """The top-level domain of the sender's From (the person), else of the reply address."""
    address = msg.from_address or sender
    if "@" not in address:
        return None
    tld = address.rsplit("@", 1)[1].rstrip(".").rsplit(".", 1)[-1].lower()
    return tld if tld in COUNTRY_LANGUAGES else None


def tagged(base: str, language: str) -> list[str]:
    """The file base names of ``base`` in ``language``: ``vip.de``; English also untagged."""
    return [f"{base}.{language}", base] if language == "en" else [f"{base}.{language}"]


def template_candidates(base: str, language: str, default: str, ext: str) -> list[str]:
    """The template files to try, in order, for ``base`` (a route's or audience's template,
    or ``reply``) in ``language``: the template in the language, the default template in the
    language, the template in the default language. ``ext`` is ``txt`` or ``html``."""
    bases = tagged(base, language) + tagged("reply", language) + tagged(base, default)
    return [f"{b}.{ext}.j2" for b in dict.fromkeys(bases)]
