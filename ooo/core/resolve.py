"""What a follow-up in a known inquiry's thread says: resolved, still open, or nothing.

While the owner is away, later messages arrive in the thread of an inquiry (the engine links
them). This module reads one such message's body and decides whether it is a resolution
signal (:class:`Signal`), for the store to record as a :class:`ooo.core.tracking.SignalEvent`.
The rules, by who wrote it (``Signal.rule`` names the rule):

- ``sender_says_resolved``: the *sender* says it is resolved ("RESOLVED", "never mind",
  "figured it out", "it works now", "erledigt", "gelöst", "c'est réglé", "ya está", "se
  solucionó", "opgelost", "het is gelukt", and the plain words in Italian, Portuguese, Swedish,
  Danish/Norwegian, Polish and Czech: "risolto", "resolvido", "löst", "løst", "rozwiązane",
  "vyřešeno") -> resolved, by whoever they say helped (the delegate, the network, or the
  sender);
- ``sender_still_open``: the *sender* says it is still open ("still need", "still waiting",
  "noch offen", "j'attends toujours", "sigo esperando", "nog steeds"), denies a resolution
  ("not resolved yet", "noch nicht erledigt", "pas encore résolu", "todavía no está resuelto",
  "nog niet opgelost", "non risolto", "inte löst", ...) or presses -> open. ``flagged`` means
  *urgent* and nothing else: it is True only when the sender presses ("urgent", "asap", "as
  soon as possible", "dringend", "eilig", "dès que possible", "cuanto antes", "spoed", "zo snel
  mogelijk", ...). Still open without an urgency word is open and not flagged;
- ``delegate_answered`` / ``network_answered``: the *delegate*, or a *third party*, answers in
  the thread -> resolved by the delegate or the network. A holding reply ("I'll look into it"),
  a "me too", greetings and sign-offs are no answer (no signal);
- ``delegate_engaged``: the *delegate* only asks back ("Could you send me the invoice
  number?", "Könnten Sie mir die Rechnungsnummer schicken?") -> open, ``by`` None, not
  flagged: the delegate has taken it up and waits on the sender. A third party who only asks
  back gives no signal. A text that answers and also asks ("anything else?") is an answer.

Only what the author wrote *now* counts: :func:`new_text` removes quoted history ("> ..."),
"On <date>, X wrote:" blocks in several languages, Outlook's original-message headers,
forwarded originals, signatures and legal disclaimers ("This e-mail and any attachments are
confidential", "Diese E-Mail enthält vertrauliche ...", "Ce message ... confidentiel", "Este
mensaje ... confidencial", "Dit bericht is uitsluitend bestemd ...", even inside one run-on
line). The header detection is done by the ``mail-parser-reply`` library (multilingual
"wrote:" lines and Outlook "From:/Sent:" blocks), with small targeted rules for what it does
not cover ("> " lines, Spanish and Dutch Gmail attribution lines, forward markers, signatures,
disclaimers). The library only ever sees bounded input, and any error in it falls back to the
targeted rules alone, so a hostile body cannot crash or stall the caller. HTML bodies are
turned into text first by :func:`ooo.core.htmltext.html_to_text`, which marks quotes with "> " and
signatures with "-- " so that the same rules apply.

The words themselves live in :mod:`ooo.core.resolve_words`.

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

from ooo.core import resolve_words as W
from ooo.core.text import one_line

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
    """sender_says_resolved, sender_still_open, delegate_answered, delegate_engaged or
    network_answered."""
    evidence: str
    """The sentence that triggered it: one line, trimmed, at most 300 characters."""
    helper: str | None = None
    """Who helped, as the sender named them ("Carol", "@ana@hachyderm.io", "someone on
    Mastodon"); None when they named no one, and always None for the delegate and third-party
    rules (the engine knows who wrote)."""
    flagged: bool = False
    """Urgent: an ``open`` signal where the sender presses ("urgent", "asap", "dringend",
    "dès que possible", "cuanto antes", "spoed", ...). "Still need it" alone is not urgent."""


# ---------------------------------------------------------------------------------------------
# new_text: what the author wrote now


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\x00"), None)


def new_text(body: str) -> str:
    """The part of a reply the author wrote now.

    Quoted text ("> ..."), "On <date>, X wrote:" blocks (English, German, French, Spanish,
    Dutch and more), Outlook's "-----Original Message-----" and "From: ... Sent: ..." blocks,
    forwarded originals, signatures and legal disclaimers (from the first disclaimer sentence
    on, also in the middle of a line) are removed. Text written below a quote (bottom-posting,
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
    an Outlook header block, a forward marker, a signature or a disclaimer ends the new text.
    """
    run, disclaimer = _cut_disclaimer(run)
    cut, kind = _first_marker(run)
    before = run[:cut]
    if kind is None:
        stop = False
    elif kind == "attribution":
        stop = any(line.strip() for line in run[cut + _attribution_height(run, cut) :])
    else:
        stop = True
    stop = stop or disclaimer
    library = _library_split("\n".join(before), budget)
    if library is not None:
        top, after = library
        return top.split("\n"), stop or bool(after)
    return before, stop


def _cut_disclaimer(run: list[str]) -> tuple[list[str], bool]:
    """The lines before the first disclaimer sentence, and whether there was one.

    A disclaimer may start in the middle of a line ("Bob | ACME | This e-mail is confidential
    ..."), and a long line was wrapped by :func:`_prepare`, so each line is read together with
    the start of the next one.
    """
    for i, line in enumerate(run):
        window = line + " " + run[i + 1][:80] if i + 1 < len(run) else line
        lowered = window.lower()
        if not any(key in lowered for key in W.DISCLAIMER_KEYS):
            continue
        m = W.DISCLAIMER.search(window)
        if m is not None and m.start() < len(line):
            kept = line[: m.start()]
            return [*run[:i], kept] if kept.strip() else run[:i], True
    return run, False


def _first_marker(run: list[str]) -> tuple[int, str | None]:
    for i, line in enumerate(run):
        stripped = line.strip()
        if not stripped:
            continue
        if W.SIGNATURE.match(stripped) or W.FORWARD_MARKER.match(stripped):
            return i, "end"
        if _attribution_height(run, i):
            return i, "attribution"
        if W.HEADER_FROM.match(stripped) and _next_is_header(run, i):
            return i, "end"
    return len(run), None


def _attribution_height(run: list[str], i: int) -> int:
    """1 or 2 when an attribution line ("On ..., X wrote:") starts at line i, else 0.

    Gmail wraps long ones: "On Mon, 3 Jun 2024 at 10:00, Alice <alice@example.org>" / "wrote:".
    """
    line = run[i].strip()
    # "Alice <alice@example.org> wrote:" has no "On"; "Here is what you wrote:" is not a header.
    if not (W.ATTRIBUTION_START.match(line) or "@" in line or "<" in line):
        return 0
    if W.ATTRIBUTION_VERB.search(line):
        return 1
    if i + 1 < len(run) and W.ATTRIBUTION_VERB.search(line + " " + run[i + 1].strip()):
        return 2
    return 0


def _next_is_header(run: list[str], i: int) -> bool:
    for line in run[i + 1 : i + 3]:
        if line.strip():
            return W.HEADER_NEXT.match(line.strip()) is not None
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
    the sender names them. The rules and the signals they give (``sender_says_resolved``,
    ``sender_still_open``, ``delegate_answered``, ``delegate_engaged``, ``network_answered``)
    are described in the module docstring. ``body`` is plain text; an HTML body goes through
    :func:`ooo.core.htmltext.html_to_text` first. Pure and total: never raises, for any ``body``.
    """
    try:
        text = new_text(body)
        if role == "sender":
            return _classify_sender(_flatten(text), delegate_names, network_names)
        return _classify_answer(_flatten(_before_sign_off(text)), role)
    except Exception:  # a bug here must not stop the engine; no signal instead
        return None


def _flatten(text: str) -> str:
    """One line per paragraph, typographic apostrophes made plain, whitespace collapsed."""
    text = re.sub(r"[’‘ʼ`´]", "'", text).replace("\xa0", " ")
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


_THANKS = re.compile(r"(?:thanks|thank\s+you|many\s+thanks|thx|merci|gracias)\b", re.IGNORECASE)


def _before_sign_off(text: str) -> str:
    """The text above the line that closes it ("Best,", "Viele Grüße", "Un saludo, Carol") and
    above a signature block at the bottom ("Carol Jones" / "ACME Ltd" / "+1 555 0100"): the
    writer's name, title, company and phone are not an answer."""
    lines = text.split("\n")
    seen_text = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if seen_text and _is_sign_off(stripped):
            lines = lines[:i]
            break
        seen_text = True
    end = len(lines)
    block = 0
    while end > 1 and (not lines[end - 1].strip() or _is_signature_line(lines[end - 1])):
        end -= 1
        block += bool(lines[end].strip())
    if block >= 2 or (block == 1 and _SIGNATURE_DETAIL.search(lines[end])):
        lines = lines[:end]
    return "\n".join(lines)


_SIGNATURE_DETAIL = re.compile(r"\d|@|\||www\.|https?:")
_COMPANY_SUFFIX = re.compile(
    r"\b(?:ltd|inc|co|corp|llc|plc|gmbh|ag|b\.v|bv|n\.v|nv|s\.a|sa|s\.l|sl|srl|jr|sr|dr|e\.v)\.\s*$",
    re.IGNORECASE,
)
_LOWER_IN_SIGNATURE = W.words("of and & de la le du van von der den del y et und en at")


def _is_signature_line(line: str) -> bool:
    """A short line of names and numbers, not a sentence: "Carol Jones", "Head of Finance",
    "ACME Ltd | +1 555 0100"."""
    tokens = line.split()
    if not 0 < len(tokens) <= 6 or re.search(r"[!?:;,]$", line.strip()):
        return False
    if line.rstrip().endswith(".") and not _COMPANY_SUFFIX.search(line):
        return False  # "Restart Outlook." is a sentence; "ACME Ltd." is not
    for token in tokens:
        if _SIGNATURE_DETAIL.search(token) or "." in token or not any(c.isalpha() for c in token):
            continue
        if not (token[:1].isupper() or token.lower() in _LOWER_IN_SIGNATURE):
            return False
    return True


def _is_sign_off(line: str) -> bool:
    m = W.SIGN_OFF.match(line)
    if m is None:
        return False
    rest = W.WORD.findall(line[m.end() :])
    if len(rest) > 3 or not all(w[:1].isupper() for w in rest):
        return False
    # "Thanks!" or "Thanks." can open a paragraph; "Thanks," or "Thanks, Carol" close one.
    return bool(rest) or not _THANKS.match(line) or line.rstrip().endswith(",")


@dataclass(frozen=True)
class _Statement:
    start: int
    end: int
    kind: Literal["resolved", "negated", "open", "urgent"]


def _in_context(text: str, m: re.Match[str], words: list[str]) -> bool:
    if m.group("ctx") is None:
        return True
    after = W.WORD.findall(text[m.end() : m.end() + 40])
    if after and after[0].lower() in W.NOT_CONTEXT_AFTER:
        return False
    if after and after[0].lower() in W.CONTEXT_AFTER:
        return True
    if words and words[-1] in W.CONTEXT_BEFORE:
        return True
    if len(words) >= 2 and words[-1] in W.CONTEXT_OBJECT and words[-2] in W.CONTEXT_BEFORE:
        return True
    # "Sorted!", "Fixed, thanks." on their own.
    return not words and re.match(r"[ \t]*(?:[!.,;)]|$)", text[m.end() :]) is not None


def _statements(text: str) -> list[_Statement]:
    found: list[_Statement] = []
    for m in W.RESOLVED.finditer(text):
        before = _clause_before(text, m.start())
        all_words = [w.lower() for w in W.WORD.findall(before)]
        words = all_words[-3:]
        if not _in_context(text, m, words):
            continue
        if _is_hypothetical(words) or W.INSTRUCTION.search(before) or _is_question(text, m.end()):
            continue
        kind: Literal["resolved", "negated"] = "negated" if _is_negated(all_words) else "resolved"
        found.append(_Statement(m.start(), m.end(), kind))
    pressing: tuple[tuple[re.Pattern[str], Literal["open", "urgent"]], ...] = (
        (W.STILL_OPEN, "open"),
        (W.URGENT, "urgent"),
    )
    for pattern, open_kind in pressing:
        for m in pattern.finditer(text):
            all_words = [w.lower() for w in W.WORD.findall(_clause_before(text, m.start()))]
            if not _is_negated(all_words) and not _is_hypothetical(all_words[-3:]):
                found.append(_Statement(m.start(), m.end(), open_kind))
    return sorted(found, key=lambda s: (s.start, s.end))


def _clause_before(text: str, at: int) -> str:
    window = text[max(0, at - 60) : at]
    breaks = list(W.CLAUSE_BREAK.finditer(window))
    return window[breaks[-1].end() :] if breaks else window


def _is_negated(clause_words: list[str]) -> bool:
    """Whether one of the last three words before a phrase (not counting "yet", "still",
    "encore", "ancora", ... in between) negates it."""
    words = [w for w in clause_words if w not in W.NEGATION_FILLER][-3:]
    for i, word in enumerate(words):
        if word.endswith("n't") or word in ("cannot", "can't") or word.startswith("n'"):
            return True
        if word in W.NEGATORS:
            following = words[i + 1] if i + 1 < len(words) else ""
            if word in W.NOUN_NEGATORS and following in W.BENIGN_AFTER_NO:
                continue
            return True
    return False


def _is_hypothetical(words: list[str]) -> bool:
    return any(word in W.HYPOTHETICAL for word in words)


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
        # Flagged means urgent: "still waiting" alone is open, not pressing.
        urgent = any(s.kind == "urgent" for s in statements)
        return Signal("open", None, "sender_still_open", evidence, flagged=urgent)
    by, helper = _helper(text, last.start, delegate_names, network_names)
    return Signal("resolved", by, "sender_says_resolved", evidence, helper=helper)


def _classify_answer(text: str, role: Role) -> Signal | None:
    substantive = [
        text[start:end]
        for start, end in _sentences(text)
        if not _is_pleasantry(text[start:end])
        and not _is_holding(text[start:end])
        and not _is_closer(text[start:end])
    ]
    if not substantive:
        return None
    answers = [sentence for sentence in substantive if not _is_ask(sentence)]
    if answers:
        evidence = _one_line(answers[0])
        if role == "delegate":
            return Signal("resolved", "delegate", "delegate_answered", evidence)
        return Signal("resolved", "network", "network_answered", evidence)
    # Only questions back: the delegate has taken it up and waits on the sender; a third
    # party asking back has answered nothing.
    if role == "delegate":
        return Signal("open", None, "delegate_engaged", _one_line(substantive[0]))
    return None


def _is_holding(sentence: str) -> bool:
    m = W.HOLDING.search(sentence) or W.TAKING_OVER.search(sentence)
    if m is None:
        return False
    # "I'll check, but the answer is to restart it" says more than "I'll check"; so does
    # "Let me check: you need the admin role".
    rest = sentence[m.end() :]
    return ":" not in rest and len(W.WORD.findall(rest)) <= 8


def _is_closer(sentence: str) -> bool:
    """A closing line that asks and says nothing: "Let me know if you need anything else"."""
    return W.CLOSER.search(sentence) is not None and not sentence.rstrip().endswith("?")


def _is_ask(sentence: str) -> bool:
    """A question back or a request for information ("Which account is it?", "Please send me
    the invoice number"), not an answer phrased as a question ("Have you tried restarting?")."""
    stripped = sentence.strip()
    question = re.search(r"[?？][\s)\"'»”]*$", stripped) is not None or stripped.startswith("¿")
    if question:
        return W.SUGGESTION.search(stripped) is None
    # "Please send me the number, thanks" asks; "It's refunded, please confirm" answers.
    clauses = [c for c in re.split(r"[,;:]", stripped) if c.strip()]
    asks = [c for c in clauses if W.ASK.search(c)]
    return bool(asks) and all(
        c in asks or W.POLITE.fullmatch(c.strip(" .!")) or _is_pleasantry(c) for c in clauses
    )


def _is_pleasantry(sentence: str) -> bool:
    """A greeting, a thank-you or a sign-off with nothing else in it ("Hi Bob,", "Best, Carol")."""
    words = W.WORD.findall(sentence)
    if not words:
        return True
    m = W.PLEASANTRY.match(sentence.strip())
    if m:
        rest = W.WORD.findall(sentence.strip()[m.end() :])
        if not rest or (
            len(rest) <= 3 and (rest[0].lower() in W.PLEASANTRY_TAIL or rest[0][:1].isupper())
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
    return one_line(text, MAX_EVIDENCE)


def _helper(
    text: str, at: int, delegate_names: Sequence[str], network_names: Sequence[str]
) -> tuple[ResolvedBy, str | None]:
    """Who the sender says helped, and what that makes the resolution: by whom."""
    marks = _boundaries(text)
    i = bisect_right(marks, at) - 1
    near = (marks[max(i - 1, 0)], marks[min(i + 2, len(marks) - 1)])
    sentence = text[marks[max(i, 0)] : marks[min(i + 1, len(marks) - 1)]]
    if W.SELF.search(sentence):
        return "sender", None
    for scope in (sentence, text):
        found = _find_delegate(scope, delegate_names)
        if found:
            return "delegate", found
        found = _find_network_name(scope, network_names)
        if found:
            return "network", found
    m = W.NETWORK_PHRASE.search(text, near[0], near[1])
    if m:
        return "network", _one_line(m.group())
    m = W.NAMED_HELPER.search(sentence) or W.NAMED_HELPER.search(text)
    if m:
        name = next(g for g in m.groups() if g).rstrip(".,;:!?'-")
        if name.startswith("@") and len(name) > 2:
            return "network", name
        # "Bob in accounting" -> "Bob"; "It", "Someone" are not names.
        capitalized = []
        for word in name.split():
            if not word[:1].isupper() or word.lower() in W.NOT_NAMES or "'" in word:
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
                if W.GREETING_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
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
    m = W.HANDLE.search(text)
    return m.group().rstrip(".-") if m else None
