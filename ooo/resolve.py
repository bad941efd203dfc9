"""What a follow-up in a known inquiry's thread says: resolved, still open, or nothing.

While the owner is away, later messages arrive in the thread of an inquiry (the engine links
them). This module reads one such message's body and decides whether it is a resolution
signal (:class:`Signal`), for the store to record as a :class:`ooo.tracking.SignalEvent`:

- the *sender* says it is resolved ("RESOLVED", "never mind", "figured it out", "erledigt",
  "c'est réglé", "ya está", "opgelost", ...) -> resolved, by whoever they say helped;
- the *sender* says it is still open or urgent ("still need", "asap", "dringend", ...) -> open;
- the *delegate*, or a *third party*, writes in the thread -> resolved by the delegate or the
  network, unless all they wrote is a holding reply ("I'll look into it").

Only what the author wrote *now* counts: :func:`new_text` removes quoted history ("> ..."),
"On <date>, X wrote:" blocks in several languages, Outlook's original-message headers,
forwarded originals and signatures. The header detection is done by the ``mail-parser-reply``
library (multilingual "wrote:" lines and Outlook "From:/Sent:" blocks), with small targeted
rules for what it does not cover ("> " lines, Spanish and Dutch Gmail attribution lines,
forward markers, signatures). The library only ever sees bounded input, and any error in it
falls back to the targeted rules alone, so a hostile body cannot crash or stall the caller.

Pure: no I/O, no clock, no globals that change.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import warnings
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

try:  # The library is a dependency; without it the targeted rules still work on their own.
    from mailparser_reply import EmailReplyParser as _ReplyParser
except ImportError:  # pragma: no cover - exercised only on a broken install
    _ReplyParser = None

Role = Literal["sender", "delegate", "third_party"]
SignalKind = Literal["resolved", "open"]
ResolvedBy = Literal["sender", "delegate", "network"]

LIBRARY_AVAILABLE = _ReplyParser is not None
"""Whether ``mail-parser-reply`` is importable (a test checks that it is)."""

MAX_BODY = 100_000
"""Only the first this many characters of a body are read: new text sits at the top."""
_WRAP = 300
# The library's "wrote:" patterns cost time quadratic in the length of a line; real attribution
# lines are far shorter, so longer lines are wrapped at a space before anything looks at them.
_LIBRARY_BUDGET = 20_000
_LIBRARY_MAX_CALLS = 50
# Total characters, and number of calls, the library may see for one body; beyond that only the
# targeted (linear) rules run. Together with _WRAP this bounds its worst case to well under a
# second on this project's reference machine.
# Polish is left out: the library takes a single "Data:" or "Do:" line for a Polish header
# block, which cuts English mail ("Data: the export from yesterday") short.
_LANGUAGES = ["en", "de", "fr", "es", "nl", "it", "sv", "da", "cs"]
MAX_EVIDENCE = 300


@dataclass(frozen=True)
class Signal:
    """What one follow-up says about its inquiry."""

    kind: SignalKind
    by: ResolvedBy | None
    """Who resolved it (None for ``open``)."""
    rule: str
    """sender_says_resolved, delegate_answered, network_answered or sender_still_open."""
    evidence: str
    """The sentence that triggered it: one line, trimmed, at most 300 characters."""
    helper: str | None = None
    """Who helped, as the sender named them ("Carol", "@ana@hachyderm.io", "someone on
    Mastodon"); None when they named no one, and always None for the delegate and third-party
    rules (the engine knows who wrote)."""
    flagged: bool = False
    """An ``open`` signal where the sender presses: "still need", "urgent", "asap", ..."""


# ---------------------------------------------------------------------------------------------
# new_text: what the author wrote now


_ATTRIBUTION_START = re.compile(r"(?:on|am|le|el|op|den|em|il|dnia|dne)\s", re.IGNORECASE)
_ATTRIBUTION_VERB = re.compile(
    r"(?:\bwrote|\bschrieb\b[^:]{0,150}|\ba\s+[ée]crit|\bescribi[óo]|\bschreef\b[^:]{0,150}"
    r"|\bheeft\b[^:]{0,150}\bgeschreven|\bskrev\b[^:]{0,150}|\bescreveu|\bha\s+scritto"
    r"|\bnapisał\(a\)|\bnapsal\(a\))\s*:\s*$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"-{2,}\s*(?:forwarded\s+message|original\s+message|ursprüngliche\s+nachricht"
    r"|weitergeleitete\s+nachricht|message\s+d'origine|message\s+transféré"
    r"|mensaje\s+original|mensaje\s+reenviado|oorspronkelijk\s+bericht|doorgestuurd\s+bericht"
    r"|origineel\s+bericht)\s*-{2,}\s*$"
    r"|(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+(?:e-mail|nachricht)"
    r"|début\s+du\s+message\s+réexpédié|inicio\s+del\s+mensaje\s+reenviado"
    r"|begin\s+doorgestuurd\s+bericht)\s*:\s*$"
    r"|_{20,}\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"\*?(?:from|von|de|van|da|od|från|fra)\s?\*?:", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|enviado"
    r"|fecha|para|asunto|verzonden|aan|onderwerp|inviato|oggetto|a)\s?\*?:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"--\s*$|(?:sent\s+from\s+my|get\s+outlook\s+for|gesendet\s+von\s+meinem"
    r"|von\s+meinem\s+\S+\s+gesendet|envoyé\s+de\s+mon|enviado\s+desde\s+mi"
    r"|verzonden\s+(?:vanaf|met)\s+mijn|verstuurd\s+vanaf\s+mijn)\b",
    re.IGNORECASE,
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\x00"), None)


def new_text(body: str) -> str:
    """The part of a reply the author wrote now.

    Quoted text ("> ..."), "On <date>, X wrote:" blocks (English, German, French, Spanish,
    Dutch and more), Outlook's "-----Original Message-----" and "From: ... Sent: ..." blocks,
    forwarded originals and signatures are removed. Text written below a quote (bottom-posting,
    inline answers) is kept. Never raises; reads at most :data:`MAX_BODY` characters.
    """
    try:
        return _new_text(body)
    except Exception:  # a bug here must not lose the message; degrade instead
        lines = _prepare(body).split("\n")
        return "\n".join(ln for ln in lines if not ln.lstrip().startswith(">")).strip()


def _prepare(body: str) -> str:
    text = unicodedata.normalize("NFC", str(body)[:MAX_BODY]).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_wrap(line) for line in text.split("\n"))


def _wrap(line: str) -> str:
    if len(line) <= _WRAP:
        return line
    pieces = []
    while len(line) > _WRAP:
        cut = line.rfind(" ", _WRAP // 2, _WRAP)
        if cut < 0:
            cut = _WRAP
        pieces.append(line[:cut])
        line = line[cut:].lstrip(" ")
    pieces.append(line)
    return "\n".join(pieces)


@dataclass
class _Budget:
    chars: int = _LIBRARY_BUDGET
    calls: int = _LIBRARY_MAX_CALLS


def _new_text(body: str) -> str:
    kept: list[str] = []
    budget = _Budget()
    for run in _unquoted_runs(_prepare(body).split("\n")):
        lines, stop = _scan_run(run, budget)
        kept.extend(lines)
        kept.append("")
        if stop:
            break
    text = "\n".join(line.rstrip() for line in kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _unquoted_runs(lines: list[str]) -> Iterator[list[str]]:
    """The blocks of unquoted lines, in order: quoted lines never belong to new text."""
    run: list[str] = []
    for line in lines:
        if line.lstrip().startswith(">"):
            if any(ln.strip() for ln in run):
                yield run
            run = []
        else:
            run.append(line)
    if any(ln.strip() for ln in run):
        yield run


def _scan_run(run: list[str], budget: _Budget) -> tuple[list[str], bool]:
    """The new lines of one unquoted block, and whether everything after it is old.

    After an attribution line ("On ... wrote:") followed only by quoted lines, the author may
    go on writing below the quote, so reading continues. Unquoted text right after such a line,
    an Outlook header block, a forward marker or a signature ends the new text.
    """
    cut, kind = _first_marker(run)
    before = run[:cut]
    if kind is None:
        stop = False
    elif kind == "attribution":
        stop = any(line.strip() for line in run[cut + _attribution_height(run, cut) :])
    else:
        stop = True
    library = _library_split("\n".join(before), budget)
    if library is not None:
        top, after = library
        return top.split("\n"), stop or bool(after)
    return before, stop


def _first_marker(run: list[str]) -> tuple[int, str | None]:
    for i, line in enumerate(run):
        stripped = line.strip()
        if not stripped:
            continue
        if _SIGNATURE.match(stripped) or _FORWARD_MARKER.match(stripped):
            return i, "end"
        if _attribution_height(run, i):
            return i, "attribution"
        if _HEADER_FROM.match(stripped) and _next_is_header(run, i):
            return i, "end"
    return len(run), None


def _attribution_height(run: list[str], i: int) -> int:
    """1 or 2 when an attribution line ("On ..., X wrote:") starts at line i, else 0.

    Gmail wraps long ones: "On Mon, 3 Jun 2024 at 10:00, Alice <alice@example.org>" / "wrote:".
    """
    line = run[i].strip()
    # "Alice <alice@example.org> wrote:" has no "On"; "Here is what you wrote:" is not a header.
    if not (_ATTRIBUTION_START.match(line) or "@" in line or "<" in line):
        return 0
    if _ATTRIBUTION_VERB.search(line):
        return 1
    if i + 1 < len(run) and _ATTRIBUTION_VERB.search(line + " " + run[i + 1].strip()):
        return 2
    return 0


def _next_is_header(run: list[str], i: int) -> bool:
    for line in run[i + 1 : i + 3]:
        if line.strip():
            return _HEADER_NEXT.match(line.strip()) is not None
    return False


def _library_split(text: str, budget: _Budget) -> tuple[str, str] | None:
    """(new text, old text) when the library finds a reply header in ``text``, else None.

    None too when the library is missing, fails, or the budget is spent: the targeted rules
    then decide alone.
    """
    if _ReplyParser is None or (":" not in text and "：" not in text):
        return None
    if len(text) > budget.chars or budget.calls <= 0:
        return None
    budget.chars -= len(text)
    budget.calls -= 1
    try:
        with warnings.catch_warnings():
            # Its regex calls use arguments newer Pythons deprecate; not ours to report.
            warnings.simplefilter("ignore")
            message = _ReplyParser(languages=list(_LANGUAGES)).read(text)
            normalized: str = message.text
            header = next((r.headers for r in message.replies if r.headers), "")
    except Exception:  # a third-party parser on hostile input: fall back
        return None
    if not header:
        return None
    at = normalized.find(header)
    if at < 0:
        return None
    return normalized[:at].strip(), normalized[at + len(header) :].strip()


# ---------------------------------------------------------------------------------------------
# classify: what the new text says


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _alternation(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)


_RESOLVED = _alternation(
    # English
    r"\bresolved\b",
    r"\bnever\s*-?\s*mind\b",
    r"\bfigured\s+(?:(?:it|this|that)\s+)?out\b",
    r"\bworked\s+it\s+out\b",
    # "sorted" and "fixed" alone are too common ("a sorted list", "a fixed price"): they count
    # only in the contexts _in_context accepts, so that a negation before them stays visible.
    r"\b(?P<ctx>sorted|fixed)\b",
    r"\bsolved\b",
    r"\bthanks?(?:\s+you)?[\s,.!;:-]{0,5}(?:i\s+)?got\s+it\b",
    r"\bgot\s+it[\s,.!;:-]{0,5}(?:thanks|thank\s+you|thx|ty)\b",
    r"\bno\s+longer\s+(?:need|needed|required|necessary|an\s+issue|a\s+problem)\b",
    r"\bdon't\s+need\s+(?:it|this|that|help|an\s+answer)\s+any\s?more\b",
    r"\ball\s+good\s+now\b",
    r"\b(?:it's|we're|i'm|everything's)\s+all\s+good\b",
    r"\bfound\s+(?:it|the\s+(?:answer|solution|fix)|a\s+(?:solution|fix|way))\b"
    r"(?!\s+(?:hard|difficult|easy|odd|strange|weird|interesting|confusing)\b)",
    # German
    r"\berledigt\b",
    r"\bgel(?:ö|oe)st\b",
    r"\bhab(?:e|'s|s)?(?:\s+(?:es|ich|die\s+lösung|die\s+antwort))?\s+gefunden\b",
    r"\bpasst\s+schon\b",
    r"\bnicht\s+mehr\s+(?:nötig|noetig|notwendig|erforderlich)\b",
    r"\bbrauche?\s+(?:(?:es|das|ihn|sie|hilfe)\s+)?nicht\s+mehr\b",
    r"\b(?:ist|sind|hat\s+sich|alles)\s+geklärt\b",
    # French
    r"\br[ée]solue?s?\b",
    r"\bréglée?s?\b|\bc'est\s+regl[ée]\b",
    r"\blaisse[zr]?\s+tomber\b",
    r"\bj'ai\s+trouv[ée]\b",
    r"\bplus\s+besoin\b",
    # Spanish
    r"\bresuelt[oa]s?\b",
    r"\bya\s+est[áa]\b",
    r"\bolv[íi]d(?:alo|elo|enlo|ate)\b",
    r"\blo\s+(?:he\s+solucionado|he\s+resuelto|solucion[ée]|resolv[íi])\b",
    r"\bsolucionad[oa]s?\b",
    r"\bya\s+no\s+(?:hace\s+falta|lo\s+necesito|necesito|es\s+necesario)\b",
    # Dutch
    r"\bopgelost\b",
    r"\blaat\s+maar\b",
    r"\bgeregeld\b",
    r"\bniet\s+meer\s+nodig\b",
    r"\bgevonden\b",
)

_OPEN = _alternation(
    # English
    r"\bstill\s+(?:need|needs|needed|require|requires|waiting|open|not|unresolved|broken"
    r"|stuck|pending|an?\s+(?:issue|problem)|(?:do|does|did|is|are|has|have|can)n't)\b",
    r"\burgent(?:ly)?\b",
    r"\basap\b",
    r"\bas\s+soon\s+as\s+possible\b",
    r"\bany\s+(?:update|updates|news|progress)\b",
    r"\bunresolved\b|\bungel(?:ö|oe)st\b|\bsin\s+resolver\b|\bonopgelost\b",
    # German
    r"\bdringend\b",
    r"\bbrauche?\s+(?:(?:es|das|ihn|sie|hilfe|eine\s+antwort)\s+)?noch\b",
    r"\bimmer\s+noch\b",
    r"\bnoch\s+offen\b",
    r"\bwarte\s+(?:immer\s+)?noch\b",
    r"\bso\s+schnell\s+wie\s+möglich\b",
    # French (urgent is matched above)
    r"\burgente?s?\b",
    r"\btoujours\s+(?:besoin|pas|en\s+attente)\b",
    r"\bj'attends\s+toujours\b",
    r"\bdès\s+que\s+possible\b",
    # Spanish
    r"\btodav[íi]a\s+(?:lo\s+)?necesito\b",
    r"\ba[úu]n\s+(?:lo\s+)?necesito\b",
    r"\bsigo\s+esperando\b",
    r"\bsigue\s+sin\b",
    r"\bcuanto\s+antes\b|\blo\s+antes\s+posible\b",
    # Dutch
    r"\bnog\s+steeds\b",
    r"\bnog\s+altijd\b",
    r"\bheb\s+(?:\w+\s+){0,2}nog\s+(?:\w+\s+){0,2}nodig\b",
    r"\bspoed\b",
    r"\bzo\s+snel\s+mogelijk\b",
)

_NEGATORS = _words(
    "not never cannot nothing nobody neither nor nicht nie niemals nichts pas jamais rien "
    "nunca sin tampoco nada niet nooit niets niks no non geen kein keine"
)
# "No worries, it's sorted" is not a negation: these words only negate a verb, not a noun.
_NOUN_NEGATORS = _words("no non geen kein keine")
_BENIGN_AFTER_NO = _words(
    "worries worry problem problems problemo rush stress biggie probleem zorgen punt "
    "sorge sorgen stress souci soucis problème problema problemas prisa pasa"
)
_HYPOTHETICAL = _words("if whether once unless wenn falls ob sobald si lorsque cuando zodra indien")
_CLAUSE_BREAK = re.compile(r"[,;:.!?()\n]")
_WORD = re.compile(r"[\w']+")
# The reply template asks: "reply with the word RESOLVED" - someone pasting it back is not
# saying anything.
_INSTRUCTION = re.compile(
    r"(?:reply|answer|respond|write)\s+with(?:\s+the\s+word)?\s*[\"'“«]?\s*$"
    r"|\bthe\s+word\s*[\"'“«]?\s*$",
    re.IGNORECASE,
)

_HOLDING = _alternation(
    r"\b(?:i'll|i\s+will|will|let\s+me|i'm\s+going\s+to|going\s+to|i\s+shall|i\s+can)\s+"
    r"(?:look\s+into|look\s+at|have\s+a\s+look|take\s+a\s+look|check|find\s+out|follow\s+up"
    r"|get\s+back|come\s+back|revert|dig\s+into|investigate|ask|forward)",
    r"\bget\s+back\s+to\s+you\b",
    r"\b(?:i'm\s+|i\s+am\s+)?looking\s+into\s+(?:it|this|that)\b",
    r"\b(?:i'm\s+)?on\s+it\b",
    r"\bchecking\s+(?:with|on)\b",
    # Someone with the same question is not an answer either.
    r"^\s*\+1\b|\bme\s+too\b|\bsame\s+(?:here|problem|issue|question)\b|\bich\s+auch\b"
    r"|\bmoi\s+aussi\b|\byo\s+también\b|\bik\s+ook\b",
    # German
    r"\b(?:ich\s+)?schau(?:e)?\s+(?:mir\s+)?(?:das|es|mal|nach)\b",
    r"\bich\s+schaue?\s+mir\s+das\s+an\b",
    r"\b(?:ich\s+)?melde\s+mich\b",
    r"\bich\s+kümmere\s+mich\b",
    r"\bich\s+(?:prüfe|kläre)\s+das\b",
    # French
    r"\bje\s+(?:regarde|vais\s+regarder|vérifie|vais\s+vérifier|m'en\s+occupe)\b",
    r"\bje\s+reviens\s+vers\b",
    # Spanish
    r"\blo\s+(?:miro|reviso|veo|compruebo)\b",
    r"\b(?:te|le|os|les)\s+(?:digo\s+algo|respondo|contesto|aviso)\b",
    r"\bme\s+pongo\s+con\s+ello\b",
    # Dutch
    r"\bik\s+kijk\s+er\s*naar\b",
    r"\bik\s+kom\s+er(?:op)?\s+(?:op\s+)?terug\b",
    r"\bik\s+laat\s+(?:het\s+)?(?:je|u)\s+(?:het\s+)?weten\b",
    r"\bik\s+zoek\s+het\s+uit\b",
)
_PLEASANTRY = re.compile(
    r"(?:hi|hello|hey|dear|hallo|liebe[rs]?|guten\s+tag|moin|bonjour|salut|coucou|hola"
    r"|buenos\s+d[íi]as|buenas|hoi|beste|goedemorgen|goedemiddag|thanks?|thank\s+you|cheers"
    r"|best|regards|kind\s+regards|many\s+thanks|danke|vielen\s+dank|grüße|gruß|viele\s+grüße"
    r"|merci|cordialement|bien\s+à\s+vous|gracias|saludos|un\s+saludo|bedankt|groeten"
    r"|met\s+vriendelijke\s+groet)\b",
    re.IGNORECASE,
)

_NETWORK_PLACE = (
    r"mastodon|the\s+fediverse|fediverse|bluesky|bsky|linkedin|slack|teams|discord|matrix"
    r"|twitter|x\.com|threads|stack\s*overflow|reddit|github|(?:the|your|our)\s+forum|forum"
    r"|(?:my|your|the)\s+network"
)
_NETWORK_PHRASE = _alternation(
    r"\b(?:(?:someone|somebody|people|folks|a\s+(?:kind\s+)?(?:person|stranger|user|member|reader)"
    r"|jemand|leute|quelqu'un|des\s+gens|alguien|iemand|mensen)\s+)?"
    r"(?:on|from|in|at|via|over|auf|über|bei|im|sur|de|dans|en|desde|op|van|uit)\s+"
    r"(?:" + _NETWORK_PLACE + r")\b",
    r"\b(?:a|one)\s+(?:colleague|co-?worker|teammate)\s+of\s+yours\b",
    r"\b(?:one\s+of\s+)?your\s+(?:colleagues?|co-?workers?|team(?:mates?)?|followers?"
    r"|network|community)\b",
    r"\b(?:jemand\s+aus\s+)?(?:deinem|ihrem|eurem)\s+(?:netzwerk|team)\b"
    r"|\b(?:ein(?:e)?\s+)?(?:kollegin|kollege)\s+von\s+(?:dir|ihnen)\b",
    r"\b(?:un(?:e)?\s+)?(?:collègue|collaborat(?:eur|rice))\s+(?:à\s+toi|à\s+vous|de\s+(?:toi|vous))\b"
    r"|\bton\s+réseau\b|\bvotre\s+réseau\b",
    r"\bun(?:a)?\s+(?:colega|compañer[oa])\s+tuy[oa]\b|\btu\s+(?:red|equipo)\b",
    r"\b(?:een\s+)?collega\s+van\s+(?:je|jou|u)\b|\b(?:je|jouw|uw)\s+netwerk\b",
)
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_][\w.-]{0,60}(?:@[\w-]{1,63}(?:\.[\w-]{1,63})+)?")
_GREETING_BEFORE = re.compile(
    r"(?:hi|hello|hey|dear|hallo|liebe[rs]?|bonjour|salut|hola|hoi|beste|cc|an|to)[\s,:]*$",
    re.IGNORECASE,
)
_SELF = re.compile(
    r"\b(?:myself|on\s+my\s+own|selbst|moi-même|tout\s+seul|yo\s+mism[oa]|zelf)\b", re.IGNORECASE
)
_NAME = r"(@[\w.@-]{2,80}|[^\W\d_][\w'-]{1,40}(?:\s+[^\W\d_][\w'-]{1,40})?)"
_NAMED_HELPER = _alternation(
    r"\b(?:thanks\s+to|thank\s+you\s+to|with\s+(?:the\s+)?help\s+(?:of|from)|help\s+from"
    r"|dank(?:\s+an)?|dankzij|mit\s+hilfe\s+von|grâce\s+à|gracias\s+a|met\s+hulp\s+van)\s+" + _NAME,
    _NAME + r"\s+(?:helped|answered|(?:sorted|solved|fixed|resolved|figured)\s+(?:it|this|that)"
    r"|hat\s+(?:mir\s+)?geholfen|a\s+aidé|m'a\s+aidé|me\s+ayudó|heeft\s+(?:me\s+)?geholpen"
    r"|hat\s+(?:es|das)\s+gelöst|l'a\s+résolu|lo\s+resolvió|heeft\s+het\s+opgelost)\b",
)
_NOT_NAMES = _words(
    "i it we he she they this that someone somebody who which what you your my our the "
    "everything nothing one people folks ich es wir er sie das jemand je il elle on nous "
    "ça yo él ella alguien ik het wij hij zij iemand finally eventually also and but so "
    "then just a an me"
)


def classify(
    body: str,
    *,
    role: Role,
    delegate_names: Sequence[str] = (),
    network_names: Sequence[str] = (),
) -> Signal | None:
    """The resolution signal in one follow-up of a known inquiry, or None if it says nothing.

    ``role`` is who wrote it: the inquiry's sender, the owner's delegate, or anyone else
    (a third party, counted as the network). ``delegate_names`` and ``network_names`` are the
    owner's delegates (names and addresses) and network handles, used to say who helped when
    the sender names them. Pure and total: never raises, for any ``body``.
    """
    try:
        text = _flatten(new_text(body))
        if role == "sender":
            return _classify_sender(text, delegate_names, network_names)
        return _classify_answer(text, role)
    except Exception:  # a bug here must not stop the engine; no signal instead
        return None


def _flatten(text: str) -> str:
    """One line per paragraph, typographic apostrophes made plain, whitespace collapsed."""
    text = re.sub(r"[’‘ʼ`´]", "'", text).replace("\xa0", " ")
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


@dataclass(frozen=True)
class _Statement:
    start: int
    end: int
    kind: Literal["resolved", "negated", "open"]


# Words before "sorted"/"fixed" that make it a statement about the inquiry ("it's sorted",
# "got it fixed", "isn't sorted"), and words after it ("sorted it out", "fixed now").
_CONTEXT_BEFORE = _words(
    "all it's its is isn't was wasn't been are aren't now everything's finally completely "
    "totally not already got get getting"
)
_CONTEXT_OBJECT = _words("it this that everything")
_CONTEXT_AFTER = _words("it this that out now already")
_NOT_CONTEXT_AFTER = _words(
    "by in on alphabetically ascending descending list lists array order price rate term date"
)


def _in_context(text: str, m: re.Match[str], words: list[str]) -> bool:
    if m.group("ctx") is None:
        return True
    after = _WORD.findall(text[m.end() : m.end() + 40])
    if after and after[0].lower() in _NOT_CONTEXT_AFTER:
        return False
    if after and after[0].lower() in _CONTEXT_AFTER:
        return True
    if words and words[-1] in _CONTEXT_BEFORE:
        return True
    if len(words) >= 2 and words[-1] in _CONTEXT_OBJECT and words[-2] in _CONTEXT_BEFORE:
        return True
    # "Sorted!", "Fixed, thanks." on their own.
    return not words and re.match(r"[ \t]*(?:[!.,;)]|$)", text[m.end() :]) is not None


def _statements(text: str) -> list[_Statement]:
    found: list[_Statement] = []
    for m in _RESOLVED.finditer(text):
        before = _clause_before(text, m.start())
        words = [w.lower() for w in _WORD.findall(before)][-3:]
        if not _in_context(text, m, words):
            continue
        if _is_hypothetical(words) or _INSTRUCTION.search(before) or _is_question(text, m.end()):
            continue
        kind: Literal["resolved", "negated"] = "negated" if _is_negated(words) else "resolved"
        found.append(_Statement(m.start(), m.end(), kind))
    for m in _OPEN.finditer(text):
        words = [w.lower() for w in _WORD.findall(_clause_before(text, m.start()))][-3:]
        if not _is_negated(words) and not _is_hypothetical(words):
            found.append(_Statement(m.start(), m.end(), "open"))
    return sorted(found, key=lambda s: (s.start, s.end))


def _clause_before(text: str, at: int) -> str:
    window = text[max(0, at - 60) : at]
    breaks = list(_CLAUSE_BREAK.finditer(window))
    return window[breaks[-1].end() :] if breaks else window


def _is_negated(words: list[str]) -> bool:
    for i, word in enumerate(words):
        if word.endswith("n't") or word in ("cannot", "can't"):
            return True
        if word in _NEGATORS:
            following = words[i + 1] if i + 1 < len(words) else ""
            if word in _NOUN_NEGATORS and following in _BENIGN_AFTER_NO:
                continue
            return True
    return False


def _is_hypothetical(words: list[str]) -> bool:
    return any(word in _HYPOTHETICAL for word in words)


def _is_question(text: str, end: int) -> bool:
    rest = text[end : end + 200]
    m = re.search(r"[,;.!?\n]", rest)
    return m is not None and m.group() == "?"


def _classify_sender(
    text: str, delegate_names: Sequence[str], network_names: Sequence[str]
) -> Signal | None:
    statements = _statements(text)
    if not statements:
        return None
    last = statements[-1]
    evidence = _sentence(text, last.start, last.end)
    if last.kind != "resolved":
        pressing = any(s.kind == "open" for s in statements)
        return Signal("open", None, "sender_still_open", evidence, flagged=pressing)
    by, helper = _helper(text, last.start, delegate_names, network_names)
    return Signal("resolved", by, "sender_says_resolved", evidence, helper=helper)


def _classify_answer(text: str, role: Role) -> Signal | None:
    substantive = [
        (start, end)
        for start, end in _sentences(text)
        if not _is_pleasantry(text[start:end]) and not _is_holding(text[start:end])
    ]
    if not substantive:
        return None
    start, end = substantive[0]
    evidence = _one_line(text[start:end])
    if role == "delegate":
        return Signal("resolved", "delegate", "delegate_answered", evidence)
    return Signal("resolved", "network", "network_answered", evidence)


def _is_holding(sentence: str) -> bool:
    m = _HOLDING.search(sentence)
    if m is None:
        return False
    # "I'll check, but the answer is to restart it" says more than "I'll check"; so does
    # "Let me check: you need the admin role".
    rest = sentence[m.end() :]
    return ":" not in rest and len(_WORD.findall(rest)) <= 8


_PLEASANTRY_TAIL = _words(
    "for again so very all everyone everybody in advance a lot much pour für por voor de du und and"
)


def _is_pleasantry(sentence: str) -> bool:
    """A greeting, a thank-you or a sign-off with nothing else in it ("Hi Bob,", "Best, Carol")."""
    words = _WORD.findall(sentence)
    if not words:
        return True
    m = _PLEASANTRY.match(sentence.strip())
    if m:
        rest = _WORD.findall(sentence.strip()[m.end() :])
        if not rest or (
            len(rest) <= 3 and (rest[0].lower() in _PLEASANTRY_TAIL or rest[0][:1].isupper())
        ):
            return True
    # A sign-off: "Carol", "Carol J." on its own.
    return len(words) <= 2 and all(w[:1].isupper() for w in words) and not sentence.endswith("?")


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n")


def _boundaries(text: str) -> list[int]:
    return [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]


def _sentences(text: str) -> list[tuple[int, int]]:
    marks = _boundaries(text)
    return [(a, b) for a, b in itertools.pairwise(marks) if text[a:b].strip()]


def _sentence(text: str, start: int, end: int) -> str:
    marks = _boundaries(text)
    i = bisect_right(marks, start) - 1
    j = bisect_right(marks, max(start, end - 1))
    first, last = marks[max(i, 0)], marks[min(j, len(marks) - 1)]
    sentence = text[first:last]
    if len(" ".join(sentence.split())) > MAX_EVIDENCE:
        # A run-on "sentence": keep a window around what triggered it.
        offset = start - first
        lo = max(0, offset - 100)
        sentence = ("…" if lo else "") + sentence[lo : lo + MAX_EVIDENCE - 2]
    return _one_line(sentence)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > MAX_EVIDENCE:
        line = line[: MAX_EVIDENCE - 1].rstrip() + "…"
    return line


def _helper(
    text: str, at: int, delegate_names: Sequence[str], network_names: Sequence[str]
) -> tuple[ResolvedBy, str | None]:
    """Who the sender says helped, and what that makes the resolution: by whom."""
    marks = _boundaries(text)
    i = bisect_right(marks, at) - 1
    near = (marks[max(i - 1, 0)], marks[min(i + 2, len(marks) - 1)])
    sentence = text[marks[max(i, 0)] : marks[min(i + 1, len(marks) - 1)]]
    if _SELF.search(sentence):
        return "sender", None
    for scope in (sentence, text):
        found = _find_delegate(scope, delegate_names)
        if found:
            return "delegate", found
        found = _find_network_name(scope, network_names)
        if found:
            return "network", found
    m = _NETWORK_PHRASE.search(text, near[0], near[1])
    if m:
        return "network", _one_line(m.group())
    m = _NAMED_HELPER.search(sentence) or _NAMED_HELPER.search(text)
    if m:
        name = next(g for g in m.groups() if g).rstrip(".,;:!?'-")
        if name.startswith("@") and len(name) > 2:
            return "network", name
        # "Bob in accounting" -> "Bob"; "It", "Someone" are not names.
        capitalized = []
        for word in name.split():
            if not word[:1].isupper() or word.lower() in _NOT_NAMES or "'" in word:
                break
            capitalized.append(word)
        if capitalized:
            return "sender", " ".join(capitalized)
    return "sender", None


def _find_delegate(text: str, delegate_names: Sequence[str]) -> str | None:
    for entry in delegate_names:
        for pattern, need_capital in _name_patterns(entry):
            for m in pattern.finditer(text):
                if need_capital and not m.group()[:1].isupper():
                    continue
                if _GREETING_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
                    continue
                return m.group()
    return None


def _name_patterns(entry: str) -> list[tuple[re.Pattern[str], bool]]:
    entry = " ".join(str(entry).split())
    if not entry:
        return []
    patterns: list[tuple[re.Pattern[str], bool]] = [
        (re.compile(r"(?<![\w@.])" + re.escape(entry) + r"(?![\w@])", re.IGNORECASE), False)
    ]
    if "@" in entry:
        first = re.split(r"[._+-]", entry.split("@", 1)[0])[0]
    else:
        first = entry.split()[0] if " " in entry else ""
    if len(first) >= 3 and first.isalpha():
        patterns.append((re.compile(r"\b" + re.escape(first) + r"\b", re.IGNORECASE), True))
    return patterns


def _find_network_name(text: str, network_names: Sequence[str]) -> str | None:
    for entry in network_names:
        entry = str(entry).strip()
        if not entry:
            continue
        for variant in dict.fromkeys((entry, entry.lstrip("@"))):
            if len(variant) < 2:
                continue
            pattern = r"(?<![\w@.])@?" + re.escape(variant) + r"(?![\w@])"
            m = re.search(pattern, text, re.IGNORECASE)
            if m:
                return m.group()
    m = _HANDLE.search(text)
    return m.group().rstrip(".-") if m else None
