"""Follow-ups as people really write them: a corpus for ``ooo.core.resolve.classify``.

Score (kind, by, rule and flagged all as expected), measured on this corpus of 79 cases:

- the ORIGINAL code (``git show HEAD:ooo/resolve.py`` at commit 2e263f7, imported from a copy
  in /tmp; HTML cases given the text the original message parser made of them: tags replaced
  by spaces, entities left as they were): 28 / 79 right;
- the final code (``ooo.core.resolve``, HTML cases run through ``ooo.core.htmltext.html_to_text``):
  79 / 79 right (``tests/test_resolve.py::test_followups_corpus``).

What the original got wrong, by kind: delegate questions counted as answers (9), disclaimers
read as the writer's words (9), verb forms and other languages missed (19), still-open
flagged as urgent or an urgency word ("eilig") missed (8), HTML quotes, signatures and
Outlook headers read as new text (6).

The cases were written before the rules were changed, from what mail clients and people send
(greetings, signatures, quoted auto-replies, Outlook and Gmail blocks, legal disclaimers,
HTML-only mail), not from the rules. Each case: who wrote it (``role``), the body, and what
``classify`` must return (``kind`` None means no signal; ``by`` and ``flagged`` are checked
only for a signal). The delegate is Carol Jones (carol@example.com); the owner's network
includes @ana@hachyderm.io. ``html`` marks a body that is a text/html part: the test runs it
through ``html_to_text`` first, as the message parser does.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

DELEGATES = ("Carol Jones", "carol@example.com")
NETWORK = ("@ana@hachyderm.io", "ana.bsky.social")

Role = Literal["sender", "delegate", "third_party"]


class Case(NamedTuple):
    id: str
    role: Role
    body: str
    kind: Literal["resolved", "open"] | None
    by: Literal["sender", "delegate", "network"] | None = None
    rule: str | None = None
    flagged: bool = False
    html: bool = False


AUTO_REPLY_QUOTE = (
    "On Mon, 3 Jun 2024 at 09:14, Dana Owner <dana@corp.example> wrote:\n"
    "> Hello,\n"
    ">\n"
    "> I'm out of the office until 14 June with limited access to email.\n"
    "> For anything urgent, please contact Carol Jones (carol@example.com).\n"
    "> If someone already helped you, reply with the word RESOLVED so I won't follow up.\n"
    ">\n"
    "> Reference: OOO-7K3Q9M\n"
)

DISCLAIMER_EN = (
    "This e-mail and any attachments are confidential and may be privileged. If you are not "
    "the intended recipient, please notify the sender urgently and delete it from your system; "
    "any use, copying or disclosure is prohibited."
)

OUTLOOK_HEADER_EN = (
    "________________________________\n"
    "From: Carol Jones <carol@example.com>\n"
    "Sent: Tuesday, June 4, 2024 11:02 AM\n"
    "To: Bob Miller <bob@client.example>\n"
    "Subject: RE: Invoice charged twice\n\n"
)

CASES: list[Case] = [
    # -----------------------------------------------------------------------------------------
    # 1. The delegate asks back: engaged, the inquiry waits on the sender.
    Case(
        "delegate-question-en",
        "delegate",
        "Hi Bob,\n\nCould you send me the invoice number? Then I can check with accounting.\n\n"
        "Thanks,\nCarol\n\n" + AUTO_REPLY_QUOTE,
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-covering-question-en",
        "delegate",
        "Hi Bob,\n\nI'm covering for Dana while she is away. Which account is this about, "
        "and when did you first see the double charge?\n\nBest,\nCarol Jones\nFinance team",
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-please-send-en",
        "delegate",
        "Hi Bob, please send me a screenshot of the error message.\n\nCarol",
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-question-de",
        "delegate",
        "Hallo Herr Miller,\n\nkönnten Sie mir bitte die Rechnungsnummer schicken?\n\n"
        "Viele Grüße\nCarol Jones",
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-question-fr",
        "delegate",
        "Bonjour Bob,\n\nPouvez-vous m'envoyer le numéro de facture ? Je vérifierai ensuite "
        "avec la comptabilité.\n\nCordialement,\nCarol",
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-question-es",
        "delegate",
        "Hola Bob,\n\n¿Me puedes mandar el número de factura? ¿Y de qué mes es el cargo?\n\n"
        "Un saludo,\nCarol",
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-question-nl",
        "delegate",
        "Hoi Bob,\n\nKun je me het factuurnummer sturen? Dan zoek ik het uit.\n\nGroeten,\nCarol",
        "open",
        None,
        "delegate_engaged",
    ),
    Case(
        "delegate-answer-anything-else-en",
        "delegate",
        "Hi Bob,\n\nThe second charge was a duplicate; I've refunded it, you'll see it within "
        "three days. Anything else I can help with?\n\nCarol",
        "resolved",
        "delegate",
        "delegate_answered",
    ),
    Case(
        "delegate-answer-noch-fragen-de",
        "delegate",
        "Hallo Bob,\n\ndie doppelte Abbuchung ist storniert, das Geld ist in drei Tagen "
        "zurück. Gibt es sonst noch Fragen?\n\nGruß\nCarol",
        "resolved",
        "delegate",
        "delegate_answered",
    ),
    Case(
        "delegate-suggestion-question-en",
        "delegate",
        "Have you tried clearing the cache and logging in again? That usually fixes it.",
        "resolved",
        "delegate",
        "delegate_answered",
    ),
    Case(
        "third-party-question-en",
        "third_party",
        "Which version of the client are you on?",
        None,
    ),
    Case(
        "third-party-question-de",
        "third_party",
        "Hallo, welche Version nutzt du denn?\n\nGruß, Jens",
        None,
    ),
    Case(
        "third-party-answer-en",
        "third_party",
        "Hey Bob, Dana asked me to reply: the export lives under Settings > Data > Export, "
        "it takes a minute.\n\nCheers,\nMarco",
        "resolved",
        "network",
        "network_answered",
    ),
    Case(
        "third-party-answer-es",
        "third_party",
        'Hola Bob:\n\nTienes que activar la opción "Facturación" en tu perfil, luego aparece '
        "el botón.\n\nSaludos,\nLucía\n\nEl lun, 3 jun 2024 a las 10:00, Bob Miller "
        "(<bob@client.example>) escribió:\n> ¿Dónde descargo las facturas?\n",
        "resolved",
        "network",
        "network_answered",
    ),
    # -----------------------------------------------------------------------------------------
    # Holding replies: the delegate has it, nothing is answered yet.
    Case(
        "delegate-holding-en",
        "delegate",
        "Hi Bob, I'll check with finance and get back to you tomorrow.\n\nCarol",
        None,
    ),
    Case(
        "delegate-holding-fr",
        "delegate",
        "Bonjour, je m'en occupe et je reviens vers vous demain.\n\nCarol",
        None,
    ),
    Case(
        "delegate-holding-disclaimer-de",
        "delegate",
        "Hallo Bob,\n\nich kümmere mich darum.\n\nViele Grüße\nCarol Jones\nACME GmbH\n\n"
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. "
        "Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, "
        "informieren Sie bitte sofort den Absender und vernichten Sie diese Mail.",
        None,
    ),
    # -----------------------------------------------------------------------------------------
    # 2. Disclaimers are not the writer's words.
    Case(
        "disclaimer-urgently-en",
        "sender",
        "Hi,\n\nI'm still waiting for the refund.\n\nBob Miller\nClient Corp\n\n" + DISCLAIMER_EN,
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "disclaimer-resolved-en",
        "sender",
        "Never mind, found the refund in my statement.\n\nBob\n\nCONFIDENTIALITY NOTICE: "
        + DISCLAIMER_EN,
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "disclaimer-run-on-en",
        "sender",
        "Thanks, all sorted now. Bob Miller | Client Corp | +1 555 0100 | " + DISCLAIMER_EN,
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "disclaimer-de",
        "sender",
        "Hallo,\n\nich warte immer noch auf eine Antwort.\n\nMit freundlichen Grüßen\nBob\n\n"
        "Diese E-Mail enthält vertrauliche Informationen. Sollten Sie diese E-Mail irrtümlich "
        "erhalten haben, benachrichtigen Sie bitte dringend den Absender.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "disclaimer-fr",
        "sender",
        "Bonjour,\n\nC'est réglé, merci.\n\nBob\n\nCe message et toutes les pièces jointes sont "
        "confidentiels et établis à l'intention exclusive de ses destinataires. Si vous avez "
        "reçu ce message par erreur, merci de le détruire et d'en avertir immédiatement "
        "l'expéditeur, c'est urgent.",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "disclaimer-es",
        "sender",
        "Hola,\n\nSigo esperando la factura corregida.\n\nBob\n\nEste mensaje y sus adjuntos "
        "son confidenciales. Si usted no es el destinatario, por favor avise urgente al "
        "remitente y bórrelo.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "disclaimer-nl",
        "sender",
        "Hoi,\n\nIs al geregeld, bedankt!\n\nBob\n\nDit bericht is uitsluitend bestemd voor de "
        "geadresseerde. Indien u dit bericht onterecht heeft ontvangen, wordt u verzocht de "
        "afzender met spoed te informeren en het bericht te verwijderen.",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "disclaimer-third-party-en",
        "third_party",
        "Hi Bob,\n\nI'll forward this to the right team.\n\nMarco\n\n" + DISCLAIMER_EN,
        None,
    ),
    # -----------------------------------------------------------------------------------------
    # 3. Verb forms of the resolution words.
    Case(
        "verb-resolvio-es",
        "sender",
        "Hola Dana,\n\nCarol ya me lo resolvió esta mañana, ¡gracias!\n\nBob",
        "resolved",
        "delegate",
        "sender_says_resolved",
    ),
    Case(
        "verb-se-soluciono-es",
        "sender",
        "Buenas, al final se solucionó solo. Gracias igualmente.\n\n" + AUTO_REPLY_QUOTE,
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-arregle-es",
        "sender",
        "Ya lo arreglé, era un problema de permisos.",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-gestern-geloest-de",
        "sender",
        "Hallo Dana,\n\nAna hat es gestern gelöst, danke.\n\nBob",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-klappt-de",
        "sender",
        "Hat geklappt, es funktioniert jetzt wieder. Danke!",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-resolu-depuis-fr",
        "sender",
        "Bonjour,\n\nc'est résolu depuis hier, Carol m'a aidé.\n\nBob",
        "resolved",
        "delegate",
        "sender_says_resolved",
    ),
    Case(
        "verb-reussi-fr",
        "sender",
        "J'ai réussi à régler le problème tout seul, merci quand même.",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-heeft-opgelost-nl",
        "sender",
        "Hoi Dana,\n\nJan heeft het opgelost, dus niet meer nodig.\n\nGroet,\nBob",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-gelukt-nl",
        "sender",
        "Het is gelukt, bedankt voor de tip!",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-got-resolved-en",
        "sender",
        "Hi Dana, it got resolved over the weekend, no action needed.\n\nBob",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-we-solved-en",
        "sender",
        "We solved it by rotating the API key. Thanks anyway!",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "verb-works-now-en",
        "sender",
        "Update: it works now, someone on Mastodon pointed me to the right setting.",
        "resolved",
        "network",
        "sender_says_resolved",
    ),
    # -----------------------------------------------------------------------------------------
    # 4. Languages beyond the shipped five.
    Case(
        "lang-it",
        "sender",
        "Ciao Dana, risolto, grazie!\n\nBob",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "lang-it-not",
        "sender",
        "Purtroppo non è ancora risolto.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "lang-pt",
        "sender",
        "Olá, já está resolvido. Obrigado!",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case("lang-pt-not", "sender", "Ainda não foi resolvido.", "open", None, "sender_still_open"),
    Case(
        "lang-sv",
        "sender",
        "Hej! Det är löst nu, tack.\n\nBob",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case("lang-sv-not", "sender", "Hej, det är inte löst än.", "open", None, "sender_still_open"),
    Case(
        "lang-da",
        "sender",
        "Hej Dana, problemet er løst. Tak!",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "lang-no-not",
        "sender",
        "Saken er dessverre ikke løst ennå.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "lang-pl",
        "sender",
        "Dzień dobry, sprawa już rozwiązana, dziękuję.",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "lang-pl-not", "sender", "Niestety nadal nie rozwiązane.", "open", None, "sender_still_open"
    ),
    Case(
        "lang-cs",
        "sender",
        "Dobrý den, vyřešeno, děkuji.",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case("lang-cs-not", "sender", "Zatím nevyřešeno.", "open", None, "sender_still_open"),
    # -----------------------------------------------------------------------------------------
    # 5. Still open vs urgent: flagged means urgent only.
    Case(
        "still-waiting-en",
        "sender",
        "Hi,\n\nStill waiting on this one.\n\nBob\n\n" + AUTO_REPLY_QUOTE,
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "still-urgent-en",
        "sender",
        "Hi, I still need the report and it's urgent now - the audit is tomorrow.",
        "open",
        None,
        "sender_still_open",
        True,
    ),
    Case(
        "warte-de",
        "sender",
        "Hallo, ich warte immer noch auf Rückmeldung.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "eilig-de",
        "sender",
        "Es ist leider eilig, bitte melden Sie sich.",
        "open",
        None,
        "sender_still_open",
        True,
    ),
    Case(
        "attends-fr",
        "sender",
        "J'attends toujours votre réponse.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "des-que-possible-fr",
        "sender",
        "Merci de me répondre dès que possible, c'est bloquant.",
        "open",
        None,
        "sender_still_open",
        True,
    ),
    Case("sigo-es", "sender", "Sigo esperando respuesta.", "open", None, "sender_still_open"),
    Case(
        "cuanto-antes-es",
        "sender",
        "Lo necesito cuanto antes, por favor.",
        "open",
        None,
        "sender_still_open",
        True,
    ),
    Case(
        "nog-steeds-nl",
        "sender",
        "Ik wacht nog steeds op een antwoord.",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "spoed-nl",
        "sender",
        "Graag zo snel mogelijk, het heeft spoed.",
        "open",
        None,
        "sender_still_open",
        True,
    ),
    Case(
        "not-urgent-en",
        "sender",
        "Not urgent, but I still need it at some point.",
        "open",
        None,
        "sender_still_open",
    ),
    # -----------------------------------------------------------------------------------------
    # Negations.
    Case(
        "not-yet-en",
        "sender",
        "Hi Dana, this is not resolved yet.\n\nBob",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "noch-nicht-de", "sender", "Das ist noch nicht erledigt.", "open", None, "sender_still_open"
    ),
    Case(
        "pas-encore-fr", "sender", "Ce n'est pas encore résolu.", "open", None, "sender_still_open"
    ),
    Case("todavia-no-es", "sender", "Todavía no está resuelto.", "open", None, "sender_still_open"),
    Case("nog-niet-nl", "sender", "Het is nog niet opgelost.", "open", None, "sender_still_open"),
    # -----------------------------------------------------------------------------------------
    # Quoted auto-replies, Outlook blocks, Gmail attribution lines.
    Case(
        "auto-reply-quoted-resolved-en",
        "sender",
        "Never mind, Carol sorted it out for me. Thanks!\n\n" + AUTO_REPLY_QUOTE,
        "resolved",
        "delegate",
        "sender_says_resolved",
    ),
    Case(
        "auto-reply-quoted-nothing-en",
        "sender",
        "Thanks, enjoy your holiday!\n\n" + AUTO_REPLY_QUOTE,
        None,
    ),
    Case(
        "outlook-block-en",
        "sender",
        "Hi,\n\nThanks, that fixed it!\n\nBob\n\n"
        + OUTLOOK_HEADER_EN
        + "Hi Bob, please send me the invoice number, it's urgent for us to check.\n",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    Case(
        "outlook-block-de",
        "sender",
        "Hallo Carol,\n\nnoch nicht erledigt, die Abbuchung ist immer noch da.\n\nBob\n\n"
        "Von: Carol Jones <carol@example.com>\nGesendet: Dienstag, 4. Juni 2024 11:02\n"
        "An: Bob Miller <bob@client.example>\nBetreff: AW: Doppelte Abbuchung\n\n"
        "Hallo Bob, das ist erledigt.\n",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "gmail-attribution-fr",
        "sender",
        "Pas encore résolu malheureusement.\n\nLe mar. 4 juin 2024 à 11:02, Carol Jones "
        "<carol@example.com> a écrit :\n> Bonjour, c'est résolu de notre côté.\n",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "gmail-attribution-nl",
        "sender",
        "Nog niet opgelost helaas.\n\nOp di 4 jun. 2024 om 11:02 schreef Carol Jones "
        "<carol@example.com>:\n> Het is opgelost.\n",
        "open",
        None,
        "sender_still_open",
    ),
    Case(
        "gmail-attribution-es",
        "sender",
        "¡Resuelto! Muchas gracias.\n\nEl mar, 4 jun 2024 a las 11:02, Carol Jones "
        "(<carol@example.com>) escribió:\n> ¿Sigue siendo urgente?\n",
        "resolved",
        "sender",
        "sender_says_resolved",
    ),
    # -----------------------------------------------------------------------------------------
    # 6. HTML-only mail.
    Case(
        "html-gmail-resolved",
        "sender",
        '<div dir="ltr"><div>Hi Dana,</div><div><br></div><div>never mind, '
        "@ana@hachyderm.io answered it on Mastodon.</div><div><br></div>"
        '<span class="gmail_signature_prefix">-- </span><br><div dir="ltr" '
        'class="gmail_signature">Bob Miller<br>Client Corp</div></div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, 3 Jun 2024 at '
        "09:14, Dana Owner &lt;dana@corp.example&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        "<div>I'm out of the office. For anything <b>urgent</b>, contact Carol.</div>"
        "</blockquote></div>",
        "resolved",
        "network",
        "sender_says_resolved",
        html=True,
    ),
    Case(
        "html-outlook-still-open",
        "sender",
        "<html><head><style>p.MsoNormal{margin:0}</style></head><body>"
        '<div class="WordSection1"><p class="MsoNormal">Hi Dana,</p>'
        '<p class="MsoNormal">&nbsp;</p><p class="MsoNormal">I still haven&#8217;t received '
        'the refund.</p><p class="MsoNormal">&nbsp;</p><p class="MsoNormal">Bob</p></div>'
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Carol Jones '
        "&lt;carol@example.com&gt;<br><b>Sent:</b> Tuesday, June 4, 2024<br><b>To:</b> Bob"
        "<br><b>Subject:</b> RE: refund</font></div><div>Resolved: the refund was sent.</div>"
        "</body></html>",
        "open",
        None,
        "sender_still_open",
        html=True,
    ),
    Case(
        "html-signature-disclaimer",
        "sender",
        "<p>Hallo Dana,</p><p>hat sich erledigt, danke!</p>"
        '<div id="Signature"><p>Bob Miller<br>Client GmbH</p><p style="font-size:8pt">'
        "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige "
        "Adressat sind, informieren Sie bitte dringend den Absender.</p></div>",
        "resolved",
        "sender",
        "sender_says_resolved",
        html=True,
    ),
    Case(
        "html-disclaimer-no-class",
        "sender",
        "<div>Bonjour,</div><div>J'attends toujours le remboursement.</div><div>Bob</div>"
        '<div style="color:#999;font-size:9px">Ce message et toutes les pièces jointes sont '
        "confidentiels. Si vous n'êtes pas le destinataire, merci de prévenir l'expéditeur "
        "en urgence.</div>",
        "open",
        None,
        "sender_still_open",
        html=True,
    ),
    Case(
        "html-apple-quote",
        "sender",
        '<html><body><div>Todavía no está resuelto.</div><div><br><blockquote type="cite">'
        "<div>El 4 jun 2024, a las 11:02, Carol Jones escribió:</div><div>Ya está resuelto, "
        "Bob.</div></blockquote></div></body></html>",
        "open",
        None,
        "sender_still_open",
        html=True,
    ),
    Case(
        "html-delegate-question",
        "delegate",
        "<div>Hoi Bob,</div><div><br></div><div>Welk factuurnummer gaat het om?</div>"
        "<div><br></div><div>Groeten,<br>Carol</div>",
        "open",
        None,
        "delegate_engaged",
        html=True,
    ),
    Case(
        "html-third-party-answer",
        "third_party",
        '<p>Hi Bob,</p><p>You can download it from the <a href="https://portal.example/'
        'invoices">invoices page</a>; the PDF is under &quot;History&quot;.</p><p>Marco</p>',
        "resolved",
        "network",
        "network_answered",
        html=True,
    ),
]
