"""Follow-ups in a known inquiry's thread: what the author wrote now, and what it says.

Tables first (one row per phrase, language, quoting style), then the scenarios the issue names
(a sender who first still needs it and later solved it, who helped), then properties: quoted
text never counts, and no body can crash or stall the classifier.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ooo import resolve
from ooo.resolve import MAX_EVIDENCE, Signal, classify, new_text

DELEGATES = ["Carol Jones", "carol@example.com"]
NETWORK = ["@ana@hachyderm.io", "ana.bsky.social"]


def sender(body: str) -> Signal | None:
    return classify(body, role="sender", delegate_names=DELEGATES, network_names=NETWORK)


# ---------------------------------------------------------------------------------------------
# The sender says it is resolved

RESOLVED = [
    ("en", "RESOLVED"),
    ("en", "resolved"),
    ("en", "Resolved, thank you!"),
    ("en", "OOO-7K3Q9M RESOLVED"),
    ("en", "Never mind, I asked the wrong person."),
    ("en", "nevermind"),
    ("en", "Figured it out, thanks."),
    ("en", "I figured out the config problem."),
    ("en", "It's sorted now."),
    ("en", "All sorted!"),
    ("en", "Sorted, thanks."),
    ("en", "Got it sorted yesterday."),
    ("en", "Solved!"),
    ("en", "Problem solved, thank you."),
    ("en", "Fixed it myself."),
    ("en", "It's fixed."),
    ("en", "Thanks, got it!"),
    ("en", "Got it, thanks"),
    ("en", "Thank you, I got it."),
    ("en", "I no longer need this."),
    ("en", "All good now, thanks!"),
    ("en", "Found the answer in the wiki."),
    ("de", "Hat sich erledigt."),
    ("de", "Erledigt, danke!"),
    ("de", "Ist gelöst, danke."),
    ("de", "Problem geloest."),
    ("de", "Hab's gefunden!"),
    ("de", "Habe die Lösung gefunden."),
    ("de", "Passt schon."),
    ("de", "Ist nicht mehr nötig."),
    ("fr", "Résolu, merci."),
    ("fr", "C'est réglé, merci."),
    ("fr", "C’est réglé."),
    ("fr", "Laisse tomber, désolé."),
    ("fr", "Laissez tomber."),
    ("fr", "J'ai trouvé la solution."),
    ("fr", "Plus besoin, merci !"),
    ("es", "Resuelto, gracias."),
    ("es", "Ya está, gracias."),
    ("es", "Olvídalo."),
    ("es", "Lo he solucionado."),
    ("es", "Ya no hace falta."),
    ("nl", "Opgelost, bedankt."),
    ("nl", "Laat maar."),
    ("nl", "Is al geregeld."),
    ("nl", "Niet meer nodig."),
    ("nl", "Ik heb het gevonden!"),
]


@pytest.mark.parametrize(("lang", "text"), RESOLVED, ids=[f"{lg}:{t}" for lg, t in RESOLVED])
def test_sender_says_resolved(lang: str, text: str) -> None:
    """Each resolution phrase, in each language, is a resolution by the sender, with the
    sentence as evidence."""
    signal = sender(f"Hi,\n\n{text}\n\nBest,\nBob")
    assert signal is not None
    assert (signal.kind, signal.by, signal.rule) == ("resolved", "sender", "sender_says_resolved")
    assert signal.evidence == " ".join(text.replace("’", "'").split())
    assert signal.flagged is False


# ---------------------------------------------------------------------------------------------
# The sender says it is still open

OPEN = [
    ("en", "I still need this."),
    ("en", "Still waiting for an answer."),
    ("en", "This is still open."),
    ("en", "Still not working."),
    ("en", "Urgent: the release is blocked."),
    ("en", "Please answer ASAP."),
    ("en", "I need it as soon as possible."),
    ("en", "Any update?"),
    ("de", "Das ist dringend."),
    ("de", "Ich brauche noch Hilfe."),
    ("de", "Ich brauche das noch."),
    ("de", "Geht immer noch nicht."),
    ("fr", "C'est urgent."),
    ("fr", "J'ai toujours besoin d'aide."),
    ("fr", "Toujours pas de réponse."),
    ("es", "Es urgente."),
    ("es", "Todavía necesito ayuda."),
    ("es", "Sigo esperando."),
    ("nl", "Het is dringend."),
    ("nl", "Werkt nog steeds niet."),
    ("nl", "Ik heb het nog nodig."),
]


@pytest.mark.parametrize(("lang", "text"), OPEN, ids=[f"{lg}:{t}" for lg, t in OPEN])
def test_sender_still_open(lang: str, text: str) -> None:
    """Each still-open or urgent phrase is an open signal, flagged: the sender is pressing."""
    signal = sender(f"Hello,\n\n{text}\n\nThanks,\nBob")
    assert signal == Signal("open", None, "sender_still_open", text, flagged=True)


NEGATED = [
    ("It's not resolved.", False),
    ("It has not been resolved yet.", False),
    ("Still not solved.", True),
    ("It isn't sorted yet.", False),
    ("I haven't figured it out.", False),
    ("Es ist nicht gelöst.", False),
    ("Ist noch nicht erledigt.", False),
    ("Ce n'est pas résolu.", False),
    ("Pas encore réglé.", False),
    ("No está resuelto.", False),
    ("Todavía no está resuelto.", False),
    ("Het is niet opgelost.", False),
    ("Nog steeds niet opgelost.", True),
]


@pytest.mark.parametrize(("text", "flagged"), NEGATED, ids=[t for t, _ in NEGATED])
def test_negated_resolution_is_open(text: str, flagged: bool) -> None:
    """A negated resolution phrase means still open; it is flagged only when the sender also
    presses ("still", "nog steeds")."""
    assert sender(text) == Signal("open", None, "sender_still_open", text, flagged=flagged)


NOTHING = [
    "Can you send me a sorted list of the users?",
    "The list is sorted by date.",
    "What is the fixed price?",
    "Has this been resolved?",
    "Is it sorted?",
    "Let me know if it's resolved.",
    "Just following up on my question.",
    "It's not urgent.",
    "If someone already helped you, reply with the word RESOLVED so I won't follow up twice.",
    "I found it hard to configure.",
    "",
]


@pytest.mark.parametrize("text", NOTHING)
def test_no_signal(text: str) -> None:
    """Near misses say nothing: a sorted list, a question, a condition, a denied urgency, the
    reply template's own instruction pasted back."""
    assert sender(text) is None


def test_no_worries_is_not_a_negation() -> None:
    """A "no worries" does not negate what follows: the sender says it is sorted."""
    signal = sender("No worries, it's sorted")
    assert signal is not None and signal.kind == "resolved"


# ---------------------------------------------------------------------------------------------
# Order: the last statement wins


def test_sender_first_still_needs_then_solved() -> None:
    """The issue's scenario: a sender's first follow-up "still need this" is open and flagged,
    a later one "solved" is resolved (two messages, two calls)."""
    first = sender("Hi,\n\nI still need this for Friday.\n\nBob")
    later = sender(
        "Solved, thanks!\n\nOn Tue, 4 Jun 2024, Bob <bob@x.org> wrote:\n> I still need this"
    )
    assert first == Signal(
        "open", None, "sender_still_open", "I still need this for Friday.", flagged=True
    )
    assert later == Signal("resolved", "sender", "sender_says_resolved", "Solved, thanks!")


@pytest.mark.parametrize(
    ("text", "kind", "evidence"),
    [
        ("Still need this... oh wait, figured it out", "resolved", "oh wait, figured it out"),
        ("Still need this. Never mind, found it!", "resolved", "Never mind, found it!"),
        (
            "Figured it out. Oh no, it's still not working.",
            "open",
            "Oh no, it's still not working.",
        ),
        ("Dringend! ... Hat sich erledigt.", "resolved", "Hat sich erledigt."),
        ("C'est réglé. Ah non, toujours pas.", "open", "Ah non, toujours pas."),
    ],
)
def test_last_statement_wins(text: str, kind: str, evidence: str) -> None:
    """When a text says both, the last statement decides, and is the evidence."""
    signal = sender(text)
    assert signal is not None
    assert (signal.kind, signal.evidence) == (kind, evidence)


# ---------------------------------------------------------------------------------------------
# Who helped

HELPERS = [
    ("Carol sorted it out for me, thanks", "delegate", "Carol"),
    ("Carol Jones helped me, RESOLVED", "delegate", "Carol Jones"),
    ("carol@example.com answered. Thanks, got it.", "delegate", "carol@example.com"),
    ("someone on Mastodon figured it out", "network", "someone on Mastodon"),
    ("Got an answer on Bluesky, resolved.", "network", "on Bluesky"),
    ("A colleague of yours sorted it.", "network", "A colleague of yours"),
    ("Jemand auf LinkedIn hat geholfen, erledigt.", "network", "Jemand auf LinkedIn"),
    ("@ana@hachyderm.io helped, resolved", "network", "@ana@hachyderm.io"),
    ("ana.bsky.social helped, resolved", "network", "ana.bsky.social"),
    ("@zoe@mastodon.social answered it, solved", "network", "@zoe@mastodon.social"),
    ("Thanks to Bob in accounting, it's solved.", "sender", "Bob"),
    ("Never mind, figured it out myself.", "sender", None),
    ("Hi Carol, never mind, figured it out.", "sender", None),
]


@pytest.mark.parametrize(("text", "by", "helper"), HELPERS, ids=[t for t, _, _ in HELPERS])
def test_helper_named_by_sender(text: str, by: str, helper: str | None) -> None:
    """A delegate's name or address makes it resolved by the delegate; a network handle or
    "someone on Mastodon" by the network; anyone else (or no one) by the sender. A name in a
    greeting ("Hi Carol,") is not a helper."""
    signal = sender(text)
    assert signal is not None and signal.kind == "resolved"
    assert (signal.by, signal.helper) == (by, helper)


def test_bare_first_name_must_be_capitalised() -> None:
    """A delegate's first name counts only as a name ("Will"), not as a word ("will")."""
    signal = classify(
        "It will be fine, I figured it out.", role="sender", delegate_names=["Will Smith"]
    )
    assert signal is not None and (signal.by, signal.helper) == ("sender", None)


# ---------------------------------------------------------------------------------------------
# The delegate and third parties

ANSWER = "Hi Bob,\n\nYou need to restart the gateway after changing the key.\n\nBest,\nCarol"
HOLDING = [
    "I'll look into it.",
    "Hi Bob,\n\nwill get back to you tomorrow.\n\nCarol",
    "Thanks Bob, I'm looking into it.",
    "Ich schaue mir das an.",
    "Hallo Bob, ich melde mich morgen.",
    "Je regarde.",
    "Bonjour, je reviens vers vous demain.",
    "Lo miro.",
    "Hola, lo reviso y te digo algo.",
    "Ik kijk ernaar.",
    "Hoi Bob, ik kom erop terug.",
    "+1, same problem here.",
    "Me too!",
]


@pytest.mark.parametrize(
    ("role", "by", "rule"),
    [("delegate", "delegate", "delegate_answered"), ("third_party", "network", "network_answered")],
)
def test_answer_in_thread(role: resolve.Role, by: resolve.ResolvedBy, rule: str) -> None:
    """The delegate or a third party writing in the thread resolves it; the evidence is the
    first sentence that is not a greeting, and the helper is left to the engine."""
    signal = classify(ANSWER, role=role, delegate_names=DELEGATES)
    assert signal == Signal(
        "resolved", by, rule, "You need to restart the gateway after changing the key."
    )


@pytest.mark.parametrize("role", ["delegate", "third_party"])
@pytest.mark.parametrize("text", HOLDING)
def test_holding_reply_is_no_answer(role: resolve.Role, text: str) -> None:
    """A holding reply ("I'll look into it", in five languages) or a "me too" resolves nothing."""
    assert classify(text, role=role) is None


@pytest.mark.parametrize("role", ["delegate", "third_party"])
def test_holding_then_answer_is_an_answer(role: resolve.Role) -> None:
    """A holding phrase followed by the actual answer is an answer."""
    body = "Let me check: you need the admin role for that page."
    signal = classify(body, role=role)
    assert signal is not None and signal.kind == "resolved" and signal.evidence == body


@pytest.mark.parametrize("role", ["delegate", "third_party"])
def test_answer_only_quoted_is_no_answer(role: resolve.Role) -> None:
    """A delegate who wrote nothing new (only the quoted thread) resolves nothing."""
    body = "\n\nOn Mon, Bob <bob@x.org> wrote:\n> How do I reset my key?\n"
    assert classify(body, role=role) is None


# ---------------------------------------------------------------------------------------------
# Quoted text never counts

QUOTED = [
    ("> line", "Thanks for the auto-reply.\n\n> never mind\n> old stuff\n", None),
    ("> line under open", "Still need help.\n> never mind\n", "open"),
    ("nested >", "Any update?\n\n> > RESOLVED\n> figured it out\n", "open"),
    (
        "On ... wrote:, quoted",
        "Still need this please.\n\nOn Mon, 3 Jun 2024 at 10:00, Alice <a@x.org> wrote:\n"
        "> RESOLVED\n",
        "open",
    ),
    (
        "On ... wrote:, unquoted",
        "Still waiting.\n\nOn Mon, Alice wrote:\nRESOLVED\nthanks\n",
        "open",
    ),
    ("On ... wrote: only", "On Mon, Alice wrote:\nRESOLVED\n", None),
    (
        "On ... wrote: wrapped",
        "Any update?\n\nOn Mon, 3 Jun 2024 at 10:00, Alice Example <alice@example.org>\n"
        "wrote:\n> never mind\n",
        "open",
    ),
    (
        "Outlook Original Message",
        "Still not working.\n\n-----Original Message-----\nFrom: Bob\n"
        "Sent: Monday, June 3, 2024 10:00 AM\nTo: Owner\nSubject: RE: help\n\n"
        "Never mind, solved.\n",
        "open",
    ),
    (
        "Outlook From/Sent",
        "Urgent, please.\n\nFrom: Bob Smith <bob@x.org>\nSent: Monday, June 3, 2024 10:00 AM\n"
        "To: Owner <o@x.org>\nSubject: RE: help\n\nNever mind, solved.\n",
        "open",
    ),
    (
        "Outlook separator line",
        "Any update?\n\n________________________________\nFrom: Bob <bob@x.org>\n"
        "Sent: Monday\nTo: Owner\nSubject: RE: help\n\nall sorted\n",
        "open",
    ),
    (
        "Outlook headers, nothing new",
        "From: Bob <bob@x.org>\nSent: Monday\nTo: Owner\nSubject: x\n\nRESOLVED\n",
        None,
    ),
    (
        "Outlook de",
        "Dringend bitte.\n\nVon: Bob <bob@x.org>\nGesendet: Montag, 3. Juni 2024 10:00\n"
        "An: Owner\nBetreff: AW: Hilfe\n\nHat sich erledigt.\n",
        "open",
    ),
    (
        "Outlook de Ursprüngliche Nachricht",
        "Dringend.\n\n-----Ursprüngliche Nachricht-----\nVon: Bob\nGesendet: Montag\n"
        "An: Owner\nBetreff: x\n\nerledigt\n",
        "open",
    ),
    (
        "Outlook fr",
        "Toujours pas.\n\nDe : Bob <bob@x.org>\nEnvoyé : lundi 3 juin 2024 10:00\nÀ : Owner\n"
        "Objet : RE: aide\n\nrésolu\n",
        "open",
    ),
    (
        "Outlook es",
        "Urgente.\n\nDe: Bob <bob@x.org>\nEnviado: lunes, 3 de junio de 2024 10:00\n"
        "Para: Owner\nAsunto: RE: ayuda\n\nresuelto\n",
        "open",
    ),
    (
        "Outlook nl",
        "Dringend.\n\nVan: Bob <bob@x.org>\nVerzonden: maandag 3 juni 2024 10:00\nAan: Owner\n"
        "Onderwerp: RE: hulp\n\nopgelost\n",
        "open",
    ),
    (
        "fr a écrit",
        "Toujours besoin d'aide.\n\nLe lun. 3 déc., Alice a écrit :\n> C'est réglé.\n",
        "open",
    ),
    (
        "fr a écrit, unquoted",
        "Toujours besoin.\n\nLe lun. 3 déc. 2024 à 10:00, Alice <a@x.org> a écrit :\n"
        "C'est réglé.\n",
        "open",
    ),
    (
        "de schrieb",
        "Brauche noch Hilfe.\n\nAm Mo., 3. Juni 2024 um 10:00 Uhr schrieb Alice <a@x.org>:\n"
        "Hat sich erledigt\n",
        "open",
    ),
    ("de schrieb, short", "Immer noch offen.\n\nAm 03.06.2024 schrieb Alice:\nerledigt\n", "open"),
    (
        "es escribió",
        "Sigo esperando.\n\nEl lun, 3 jun 2024 a las 10:00, Alice (<a@x.org>) escribió:\n"
        "Ya está resuelto\n",
        "open",
    ),
    (
        "nl schreef",
        "Nog steeds nodig.\n\nOp ma 3 jun. 2024 om 10:00 schreef Alice <a@x.org>:\nopgelost\n",
        "open",
    ),
    (
        "it ha scritto",
        "Urgente!\n\nIl giorno lun 3 giu 2024 alle ore 10:00 Alice ha scritto:\n"
        "risolto, resolved\n",
        "open",
    ),
    (
        "forwarded",
        "Any update?\n\n---------- Forwarded message ---------\nFrom: Bob <b@x.org>\n"
        "Date: Mon, Jun 3, 2024\nSubject: x\n\nnever mind\n",
        "open",
    ),
    (
        "Apple forward",
        "Still need help\n\nBegin forwarded message:\n\n"
        "From: Bob <b@x.org>\nSubject: x\n\nsolved\n",
        "open",
    ),
    ("signature", "Still need this.\n\n-- \nAlice\nnever mind the typo\n", "open"),
    ("signature no space", "Still need this.\n\n--\nAlice Example | Solved Inc.\n", "open"),
    ("mobile footer", "Any update?\n\nSent from my iPhone, resolved\n", "open"),
    (
        "template echo",
        "Hi,\n\n-----Original Message-----\nFrom: Owner\nSent: x\n\n"
        "If someone already helped you, reply with the word RESOLVED\n",
        None,
    ),
    ("CRLF", "Still need it.\r\n\r\nOn Mon, Alice wrote:\r\n> solved\r\n", "open"),
    # Header blocks only the library knows (its languages beyond the five named in the issue).
    (
        "Outlook da",
        "Haster!\n\n-----Oprindelig meddelelse-----\nFra: Bob <bob@x.org>\n"
        "Sendt: 3. juni 2024 10:00\nTil: Owner\nEmne: SV: hjælp\n\nresolved\n",
        None,
    ),
    (
        "Outlook sv",
        "Brådskande!\n\nFrån: Bob <bob@x.org>\nSkickat: den 3 juni 2024 10:00\nTill: Owner\n"
        "Ämne: SV: hjälp\n\nresolved\n",
        None,
    ),
    (
        "Outlook cs",
        "Naléhavé!\n\nOd: Bob <bob@x.org>\nOdesláno: pondělí 3. června 2024 10:00\n"
        "Komu: Owner\nPředmět: RE: pomoc\n\nresolved\n",
        None,
    ),
]
LIBRARY_ONLY = {"Outlook da", "Outlook sv", "Outlook cs"}


@pytest.mark.parametrize(("name", "body", "kind"), QUOTED, ids=[n for n, _, _ in QUOTED])
def test_quoted_text_never_counts(name: str, body: str, kind: str | None) -> None:
    """Resolution phrases in quoted history, attribution blocks (five languages and more),
    Outlook header blocks, forwards and signatures do not count: only the new text decides."""
    signal = sender(body)
    assert (signal.kind if signal else None) == kind


BOTTOM_POSTED = [
    ("bottom-posted", "On Mon, Alice wrote:\n> Can you help?\n\nNever mind, figured it out.\n"),
    ("inline", "On Mon, Alice wrote:\n> Q1?\nA1: still need\n> Q2?\nfigured it out\n-- \nBob"),
    ("de bottom-posted", "Am 03.06.2024 schrieb Alice:\n> Hilfe?\n\nHat sich erledigt.\n"),
]


@pytest.mark.parametrize(("name", "body"), BOTTOM_POSTED, ids=[n for n, _ in BOTTOM_POSTED])
def test_text_below_a_quote_counts(name: str, body: str) -> None:
    """Someone who writes below the quote (bottom-posting, inline answers) is read too."""
    signal = sender(body)
    assert signal is not None and signal.kind == "resolved"


def test_new_text_keeps_only_what_was_written_now() -> None:
    """new_text keeps the new lines (signature, attribution and quote removed)."""
    body = (
        "Thanks, got it.\r\nIt works now.\r\n\r\n-- \r\nBob\r\n\r\n"
        "On Mon, 3 Jun 2024 at 10:00, Owner <o@x.org> wrote:\r\n> I'm away.\r\n"
    )
    assert new_text(body) == "Thanks, got it.\nIt works now."


def test_new_text_keeps_signature_like_thanks() -> None:
    """A line starting with "Thanks," is not a signature (the library's own heuristic would
    drop it): "Thanks, got it" is exactly what a resolving sender writes."""
    assert new_text("Hi,\nThanks, got it - works now.\n") == "Hi,\nThanks, got it - works now."


def test_header_like_line_in_new_text_is_kept() -> None:
    """A single "Data:" line is not a header block: the text after it is still new."""
    body = "Hi,\nData: the export from yesterday\nNever mind, figured it out.\n"
    assert new_text(body) == body.strip()


def test_library_is_installed() -> None:
    """The reply-parsing library is installed (a missing dependency must not go unnoticed)."""
    assert resolve.LIBRARY_AVAILABLE


def test_library_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the library raises, the targeted rules still strip quotes and headers (all but the
    header blocks only the library knows)."""

    class Broken:
        def __init__(self, **_: object) -> None:
            raise RuntimeError("boom")

    monkeypatch.setattr(resolve, "_ReplyParser", Broken)
    for name, body, kind in QUOTED:
        if name not in LIBRARY_ONLY:
            signal = sender(body)
            assert (signal.kind if signal else None) == kind, name


def test_library_sees_bounded_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library is given at most its character budget and call budget, whatever the body."""
    seen: list[str] = []

    class Spy:
        def __init__(self, **_: object) -> None:
            pass

        def read(self, text: str) -> object:
            seen.append(text)
            raise RuntimeError("spy")

    monkeypatch.setattr(resolve, "_ReplyParser", Spy)
    body = "> quoted\nnew: text\n" * 20_000 + "x: " * 100_000
    new_text(body)
    assert len(seen) <= resolve._LIBRARY_MAX_CALLS
    assert sum(map(len, seen)) <= resolve._LIBRARY_BUDGET
    assert all(len(line) <= 300 for text in seen for line in text.split("\n"))


# ---------------------------------------------------------------------------------------------
# Evidence and properties


def test_evidence_is_one_trimmed_line() -> None:
    """Evidence is one line of at most 300 characters, around what triggered it."""
    long = "word " * 200 + "and in the end never mind, " + "more words " * 100
    signal = sender(long)
    assert signal is not None and signal.kind == "resolved"
    assert "never mind" in signal.evidence
    assert len(signal.evidence) <= MAX_EVIDENCE and "\n" not in signal.evidence


PHRASES = [t for _, t in RESOLVED] + [t for _, t in OPEN] + [t for t, _ in NEGATED] + NOTHING
FRAGMENTS = [
    "On ",
    "On Mon, Alice <a@x.org> wrote:",
    "Am 3. Juni schrieb Bob:",
    "Le lun. 3 déc., X a écrit :",
    "El lun escribió:",
    "Op ma schreef Y:",
    "From: a",
    "Sent: b",
    "Von: c",
    "-----Original Message-----",
    "________________________________",
    "-- ",
    "> ",
    ">",
    "\n",
    "\r\n",
    "\r",
    " ",
    "@",
    "@ana@hachyderm.io",
    "Carol",
    "not ",
    "no ",
    "still ",
    "sorted ",
    "?",
    ",",
    ":",
    "'",
    "\u200b",
    "\x00",
    "é",
    "e\u0301",
]


@st.composite
def hostile_bodies(draw: st.DrawFn) -> str:
    """Bodies up to 100 KB built from the pieces the parsers look for, repeated."""
    pieces = draw(
        st.lists(st.one_of(st.sampled_from(FRAGMENTS + PHRASES), st.text(max_size=40)), max_size=30)
    )
    unit = "".join(pieces)
    repeat = draw(st.integers(min_value=1, max_value=100_000 // max(len(unit), 1)))
    return unit * repeat


# The deadline catches catastrophic regex backtracking (minutes, as email-reply-parser takes on
# 9 KB of "On On On ..."); the worst body found takes about 0.3 s, so 3 s leaves ample margin.
@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(body=hostile_bodies(), role=st.sampled_from(["sender", "delegate", "third_party"]))
def test_classify_is_total_and_fast(body: str, role: resolve.Role) -> None:
    """classify never raises and returns quickly on any body up to 100 KB; evidence is always
    one line of at most 300 characters."""
    signal = classify(body, role=role, delegate_names=DELEGATES, network_names=NETWORK)
    assert signal is None or isinstance(signal, Signal)
    if signal is not None:
        assert len(signal.evidence) <= MAX_EVIDENCE and "\n" not in signal.evidence
    assert not any(line.lstrip().startswith(">") for line in new_text(body).split("\n"))


ADVERSARIAL = {
    "On On On": "On " * 34_000,
    "On lines": ("On " * 99 + ":\n") * 330,
    "Op lines": ("Op a " * 59 + "schreef:\n") * 330,
    "one long line": "resolved word " * 7_000,
    "no spaces": "x" * 100_000,
    "headers": "From: a\nSent: b\n" * 6_000,
    "alternating quotes": "> x\ny: z\n" * 11_000,
    "handles": "@a@b.c " * 14_000,
    "names": "Carol Jones resolved it. " * 4_000,
    "negations": "no no resolved " * 6_500,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_bodies_finish(body: str) -> None:
    """Bodies built to make backtracking regexes explode finish (the worst in well under a
    second; the timeout only guards against a regression to minutes)."""
    roles: tuple[resolve.Role, ...] = ("sender", "delegate")
    for role in roles:
        classify(body, role=role, delegate_names=DELEGATES, network_names=NETWORK)


def quote(text: str) -> str:
    return "\n".join("> " + line for line in re.split(r"\r\n|\r|\n", text))


@settings(max_examples=200, deadline=None)
@given(
    new=st.lists(st.sampled_from(PHRASES), min_size=1, max_size=4).map(" ".join),
    old=st.text(max_size=300),
    header=st.sampled_from(
        ["On Mon, 3 Jun 2024, Alice <a@x.org> wrote:", "Am 03.06.2024 schrieb Alice:", ""]
    ),
)
def test_quoted_history_never_changes_the_signal(new: str, old: str, header: str) -> None:
    """Whatever the quoted history says, the signal is the one of the new text alone."""
    body = f"{new}\n\n{header}\n{quote(old)}\n"
    assert sender(body) == sender(new)
