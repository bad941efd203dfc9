"""The language detector the reply's language choice is given (ooo.core.language.Detect).

Lingua (``lingua-language-detector``), restricted to the owner's reply languages (and a few
:data:`DECOYS`) and in its low-accuracy mode: its language models load on the first message
that needs them, once per process and set of languages, and cost about 18 MB for the five
shipped languages and the decoys (the high-accuracy models would cost about 160 MB, beyond
the daemon's memory budget). A language
lingua does not know (an owner's own templates for one) is simply never detected: the other
steps of the choice still pick it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ooo.core.language import Detect

log = logging.getLogger("ooo")

#: Languages the detector also knows, though no reply is written in them: without them, an
#: Italian, Portuguese or Swedish message would be read, confidently, as the nearest reply
#: language (Italian as French, Portuguese as Spanish, Swedish, Danish and Norwegian as German).
#: Detected, they are "not a reply language" and the next step of the choice decides. Swedish
#: also catches Danish and Polish. Together they cost about 7 MB (Italian 4.5 MB of it).
DECOYS = ("it", "pt", "sv")


def make_detector(languages: Sequence[str]) -> Detect | None:
    """A detector for ``languages`` (codes), or None when there is nothing to choose between
    (one language) or lingua knows fewer than two of them. Nothing is loaded until the first
    call."""
    if len(set(languages)) < 2:
        return None  # nothing to choose between: lingua is not even imported
    offered = tuple(dict.fromkeys(code for code in languages if _lingua_language(code)))
    if len(offered) < 2:
        return None
    known = tuple(dict.fromkeys((*offered, *DECOYS)))
    lock = threading.Lock()

    def detect(text: str) -> tuple[str, float] | None:
        with lock:  # lingua's detector is built once; the daemon and preview share it
            detector = _detector(known)
        values = detector.compute_language_confidence_values(text)
        if not values:
            return None
        best = values[0]
        return best.language.iso_code_639_1.name.lower(), float(best.value)

    return detect


def _lingua_language(code: str) -> Any:
    try:
        from lingua import IsoCode639_1, Language
    except ImportError:  # pragma: no cover - a dependency; without it, no detection
        return None
    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
    except (AttributeError, ValueError):
        return None


@functools.lru_cache(maxsize=2)
def _detector(codes: tuple[str, ...]) -> Any:
    from lingua import LanguageDetectorBuilder

    log.debug("loading the language detector for %s", ", ".join(codes))
    return (
        LanguageDetectorBuilder.from_languages(*(_lingua_language(c) for c in codes))
        .with_low_accuracy_mode()
        .build()
    )
