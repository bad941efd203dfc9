"""The resolution rules in each shipped language (en, de, fr, es, nl): what a sender writes
when it is resolved, when it is still open, and when it is urgent, as people write it, each
read as the right signal."""

from __future__ import annotations

import pytest

from ooo.core.resolve import classify

RESOLVED = {
    "en": [
        "Never mind, I figured it out.",
        "Resolved, thanks!",
        "All sorted now, thank you.",
        "No longer needed, we found another way.",
        "It works now, thanks anyway.",
    ],
    "de": [
        "Hat sich erledigt, danke!",
        "Das Problem ist gelöst.",
        "Danke, hat sich inzwischen geklärt.",
        "Ich habe die Lösung gefunden, vielen Dank.",
        "Funktioniert jetzt wieder, danke.",
        "Brauche ich nicht mehr, danke.",
        "Hat sich erübrigt.",
    ],
    "fr": [
        "C'est réglé, merci !",
        "Problème résolu, merci beaucoup.",
        "Laissez tomber, j'ai trouvé.",
        "Plus besoin, merci.",
        "Ça marche maintenant, merci.",
        "Ne vous embêtez pas, c'est bon.",
    ],
    "es": [
        "Ya está resuelto, gracias.",
        "Olvídelo, ya lo solucioné.",
        "Ya no hace falta, gracias.",
        "Ya funciona, muchas gracias.",
        "Lo he resuelto por mi cuenta.",
    ],
    "nl": [
        "Het is opgelost, bedankt!",
        "Laat maar, ik heb het al gevonden.",
        "Niet meer nodig, dank u.",
        "Het werkt nu weer, bedankt.",
        "Is geregeld, dank je.",
        "Het is me gelukt, bedankt.",
    ],
}

STILL_OPEN = {
    "en": [
        "I still need an answer on this.",
        "Any update on this?",
        "This is still not working.",
        "Not resolved yet, unfortunately.",
    ],
    "de": [
        "Ich brauche noch eine Antwort.",
        "Das ist leider noch offen.",
        "Ich warte immer noch auf eine Rückmeldung.",
        "Leider noch nicht gelöst.",
        "Es funktioniert immer noch nicht.",
    ],
    "fr": [
        "J'attends toujours une réponse.",
        "J'ai toujours besoin d'aide.",
        "Ce n'est pas encore résolu.",
        "Le problème n'est toujours pas réglé.",
    ],
    "es": [
        "Sigo esperando una respuesta.",
        "Todavía lo necesito.",
        "Todavía no está resuelto.",
        "Sigue sin funcionar.",
    ],
    "nl": [
        "Ik wacht nog steeds op een antwoord.",
        "Het is nog niet opgelost.",
        "Ik heb het nog steeds nodig.",
        "Het werkt nog altijd niet.",
    ],
}

URGENT = {
    "en": [
        "This is urgent, please call me.",
        "I need it ASAP.",
        "Please reply as soon as possible.",
    ],
    "de": [
        "Es ist dringend, bitte melden Sie sich.",
        "Bitte so schnell wie möglich antworten.",
        "Die Sache eilt.",
    ],
    "fr": [
        "C'est urgent, merci de me rappeler.",
        "Merci de me répondre dès que possible.",
        "J'en ai besoin au plus vite.",
    ],
    "es": [
        "Es urgente, por favor llámeme.",
        "Necesito una respuesta cuanto antes.",
        "Por favor, respóndame lo antes posible.",
    ],
    "nl": [
        "Het is dringend, wilt u mij bellen?",
        "Graag zo snel mogelijk een reactie.",
        "Dit heeft spoed.",
    ],
}


def cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(language, text) for language, texts in table.items() for text in texts]


def test_every_shipped_language_is_covered() -> None:
    """The tables below cover each shipped reply language."""
    for table in (RESOLVED, STILL_OPEN, URGENT):
        assert set(table) == {"en", "de", "fr", "es", "nl"}


@pytest.mark.parametrize(("language", "text"), cases(RESOLVED))
def test_resolved(language: str, text: str) -> None:
    """The sender saying it is resolved is a resolution by the sender."""
    signal = classify(text, role="sender")
    assert signal is not None, text
    assert (signal.kind, signal.rule) == ("resolved", "sender_says_resolved"), (text, signal)


@pytest.mark.parametrize(("language", "text"), cases(STILL_OPEN))
def test_still_open(language: str, text: str) -> None:
    """The sender saying it is still open (or denying a resolution) keeps it open, and not
    urgent without an urgency word."""
    signal = classify(text, role="sender")
    assert signal is not None, text
    assert (signal.kind, signal.rule, signal.flagged) == ("open", "sender_still_open", False), (
        text,
        signal,
    )


@pytest.mark.parametrize(("language", "text"), cases(URGENT))
def test_urgent(language: str, text: str) -> None:
    """The sender pressing is open and flagged urgent."""
    signal = classify(text, role="sender")
    assert signal is not None, text
    assert (signal.kind, signal.flagged) == ("open", True), (text, signal)
