"""The words :mod:`ooo.core.resolve` looks for, by language: data, kept apart from the rules.

Each pattern is compiled once, case-insensitive, and is safe on hostile text: no nested
unbounded repetition, every gap bounded. English, German, French, Spanish and Dutch are the
shipped languages (resolution, still-open, urgency, holding replies, questions back,
disclaimers); Italian, Portuguese, Swedish, Danish/Norwegian, Polish and Czech have the plain
resolution words and their negations only.
"""

from __future__ import annotations

import re


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def alternation(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)


# ---------------------------------------------------------------------------------------------
# new_text: where the writer's own words end

ATTRIBUTION_START = re.compile(r"(?:on|am|le|el|op|den|em|il|dnia|dne)\s", re.IGNORECASE)
ATTRIBUTION_VERB = re.compile(
    r"(?:\bwrote|\bschrieb\b[^:]{0,150}|\ba\s+[ée]crit|\bescribi[óo]|\bschreef\b[^:]{0,150}"
    r"|\bheeft\b[^:]{0,150}\bgeschreven|\bskrev\b[^:]{0,150}|\bescreveu|\bha\s+scritto"
    r"|\bnapisał\(a\)|\bnapsal\(a\))\s*:\s*$",
    re.IGNORECASE,
)
FORWARD_MARKER = re.compile(
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
HEADER_FROM = re.compile(r"\*?(?:from|von|de|van|da|od|från|fra)\s?\*?:", re.IGNORECASE)
HEADER_NEXT = re.compile(
    r"\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|enviado"
    r"|fecha|para|asunto|verzonden|aan|onderwerp|inviato|oggetto|a)\s?\*?:",
    re.IGNORECASE,
)
SIGNATURE = re.compile(
    r"--\s*$|(?:sent\s+from\s+my|get\s+outlook\s+for|gesendet\s+von\s+meinem"
    r"|von\s+meinem\s+\S+\s+gesendet|envoyé\s+de\s+mon|enviado\s+desde\s+mi"
    r"|verzonden\s+(?:vanaf|met)\s+mijn|verstuurd\s+vanaf\s+mijn)\b",
    re.IGNORECASE,
)
_MAIL = r"(?:e-?mail|mail|message|communication|transmission)"
_ATTACHMENTS_EN = (
    r"(?:\s+(?:and|including)\s+(?:any|all)\s+(?:of\s+its\s+)?(?:attachments?|files?|documents?)"
    r"(?:\s+(?:to|transmitted\s+with|attached\s+to)\s+it)?)?"
)
DISCLAIMER = alternation(
    # English
    r"\b(?:this|the\s+information\s+(?:contained\s+)?in\s+this)\s+"
    + _MAIL
    + _ATTACHMENTS_EN
    + r",?\s+(?:is|are|may\s+be|may\s+contain|contains?)\s+(?:\w+\s+){0,2}?"
    r"(?:confidential|privileged|proprietary|intended\s+(?:solely|only|exclusively))",
    r"\bif\s+you\s+(?:are\s+not\s+the\s+(?:intended|named|addressee)"
    r"|have\s+received\s+this\s+(?:" + _MAIL + r"\s+)?(?:in\s+error|by\s+mistake))",
    r"\b(?:confidentiality|legal|privacy)\s+(?:notice|note|statement|disclaimer)\b",
    r"^\s*\**\s*disclaimer\b",
    r"\bplease\s+consider\s+the\s+environment\s+before\s+printing",
    # German
    r"\b(?:diese|die\s+vorliegende)\s+(?:e-?mail|nachricht|mail)(?:\s+und\s+(?:alle|etwaige"
    r"|eventuelle|ihre|deren|ihre\s+etwaigen)\s+anh(?:ä|ae)nge)?\s+(?:enth(?:ä|ae)lt|enthalten"
    r"|ist|sind|kann|könnte|beinhaltet)\s+(?:\w+\s+){0,2}?"
    r"(?:vertraulich|rechtlich\s+geschützt|ausschließlich\s+für|nur\s+für)",
    r"\b(?:wenn|falls|sollten)\s+sie\s+(?:nicht\s+der\s+(?:richtige|beabsichtigte|vorgesehene)"
    r"\s+(?:adressat|empfänger)|diese\s+(?:e-?mail|nachricht|mail)\s+(?:irrtümlich"
    r"|fälschlicherweise|versehentlich|irrtuemlich))",
    r"\b(?:vertraulichkeitshinweis|haftungsausschluss|rechtlicher\s+hinweis)\b",
    # French
    r"\bce\s+(?:message|courriel|e-?mail|mail)(?:\s+et\s+(?:toutes\s+)?(?:les|ses)\s+"
    r"(?:pièces\s+jointes|fichiers\s+joints|annexes))?\s+(?:est|sont|peut|peuvent|contient"
    r"|contiennent)\s+(?:\w+\s+){0,2}?(?:confidentiel|strictement|établi|destiné|protégé)",
    r"\bsi\s+vous\s+(?:n'(?:ê|e)tes\s+pas\s+(?:le|la|l'un\s+des|un\s+des)\s+destinataire"
    r"|avez\s+reçu\s+ce\s+(?:message|courriel|e-?mail|mail)\s+par\s+erreur)",
    r"\bavis\s+de\s+confidentialit[ée]|\bavertissement\s+(?:de\s+confidentialit[ée]|légal)",
    # Spanish
    r"\b(?:este|el\s+presente)\s+(?:mensaje|correo(?:\s+electr[óo]nico)?|e-?mail)\b"
    r"[^.\n]{0,120}?\bconfidencial",
    r"\bsi\s+(?:usted\s+)?(?:no\s+es\s+(?:el|la|un)\s+destinatari[oa]"
    r"|ha\s+recibido\s+este\s+(?:mensaje|correo)\s+por\s+error)",
    r"\baviso\s+(?:de\s+confidencialidad|legal)\b",
    # Dutch
    r"\b(?:dit|deze)\s+(?:bericht|e-?mail(?:bericht)?|mail)(?:\s+en\s+(?:de|eventuele|alle)"
    r"\s+(?:bijlagen?|bijgevoegde\s+bestanden))?\s+(?:is|zijn|kan|bevat)\s+(?:\w+\s+){0,2}?"
    r"(?:uitsluitend\s+bestemd|alleen\s+bestemd|vertrouwelijk|bestemd)",
    r"\b(?:indien|als)\s+u\s+(?:niet\s+de\s+(?:beoogde\s+)?(?:geadresseerde|ontvanger)"
    r"|dit\s+(?:bericht|e-?mail)\s+(?:per\s+abuis|ten\s+onrechte|onterecht|abusievelijk"
    r"|per\s+vergissing))",
    # Italian, Portuguese
    r"\b(?:questo|il\s+presente)\s+(?:messaggio|e-?mail)\b[^.\n]{0,120}?\briservat",
    r"\b(?:esta|a\s+presente)\s+(?:mensagem|e-?mail)\b[^.\n]{0,120}?\bconfidencia",
)

# Every DISCLAIMER match contains one of these (lower case): a cheap test before the regex.
DISCLAIMER_KEYS = (
    "confiden", "privileged", "proprietary", "intended", "named", "addressee", "in error",
    "by mistake", "legal", "privacy", "disclaimer", "environment", "vertraulich", "geschützt",
    "ausschließlich", "nur für", "adressat", "empfänger", "irrtümlich", "irrtuemlich",
    "fälschlicherweise", "versehentlich", "haftungsausschluss", "rechtlicher", "strictement",
    "établi", "destiné", "protégé", "destinat", "par erreur", "avertissement", "por error",
    "aviso", "bestemd", "vertrouwelijk", "geadresseerde", "ontvanger", "per abuis", "onrechte",
    "onterecht", "abusievelijk", "vergissing", "riservat",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# What a sender says

RESOLVED = alternation(
    # English
    r"\bresolved\b",
    r"\bnever\s*-?\s*mind\b",
    r"\bfigured\s+(?:(?:it|this|that)\s+)?out\b",
    r"\bworked\s+it\s+out\b",
    # "sorted" and "fixed" alone are too common ("a sorted list", "a fixed price"): they count
    # only in the contexts resolve._in_context accepts, so that a negation before them stays
    # visible.
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
    r"\b(?:it|this|that|everything|which)(?:'s|\s+is)?\s+(?:now\s+)?work(?:s|ing)\s+"
    r"(?:now|again)\b",
    r"\b(?:been|got|was|is|it's|all)\s+taken\s+care\s+of\b",
    # German
    r"\berledigt\b",
    r"\bgel(?:ö|oe)st\b",
    r"\bl(?:ö|oe)ste\b",
    r"\bhab(?:e|'s|s)?(?:\s+(?:es|ich|die\s+lösung|die\s+antwort))?\s+gefunden\b",
    r"\bpasst\s+schon\b",
    r"\bnicht\s+mehr\s+(?:nötig|noetig|notwendig|erforderlich)\b",
    r"\bbrauche?\s+(?:(?:es|das|ihn|sie|hilfe)\s+)?nicht\s+mehr\b",
    r"\bbrauch(?:e|en)?\s+(?:ich|wir)\s+(?:(?:es|das|ihn|sie|die|den)\s+)?(?:jetzt\s+|nun\s+)?"
    r"nicht\s+mehr\b",
    r"\b(?:ist|sind|hat\s+sich|alles|wurde|wurden|schon|bereits)\s+"
    r"(?:(?:inzwischen|mittlerweile|schon|bereits|jetzt|nun|auch)\s+)?geklärt\b",
    r"\b(?:hat\s+sich|ist)\s+(?:(?:inzwischen|mittlerweile|schon|bereits|damit)\s+)?erübrigt\b",
    r"\bgeklappt\b",
    r"\bhinbekommen\b",
    r"\b(?:klappt|funktioniert|geht)\s+(?:jetzt|nun|wieder|jetzt\s+wieder)\b"
    r"(?!\s+(?:noch\s+)?nicht\b)",
    r"\bkonnten?\s+(?:es|das|das\s+problem|ihn|sie)\s+(?:selbst\s+|doch\s+|schon\s+)?l(?:ö|oe)sen\b",
    # French
    r"\br[ée]solue?s?\b",
    r"\bréglée?s?\b|\bc'est\s+regl[ée]\b",
    r"\blaisse[zr]?\s+tomber\b",
    r"\bj'ai\s+trouv[ée]\b",
    r"\bplus\s+besoin\b",
    r"\bj'ai\s+(?:pu|réussi\s+à)\s+(?:le\s+|la\s+|les\s+|l')?"
    r"(?:résoudre|régler|corriger|réparer|trouver|faire\s+(?:marcher|fonctionner))\b",
    r"\bça\s+(?:marche|fonctionne)\s+(?:maintenant|à\s+nouveau|de\s+nouveau)\b",
    r"\bc'est\s+bon\b(?!\s+(?:de|à|pour|si|que)\b)",
    # Spanish
    r"\bresuelt[oa]s?\b",
    r"\bya\s+est[áa]\b",
    r"\bolv[íi]d(?:alo|elo|enlo|ate)\b",
    r"\blo\s+(?:he\s+solucionado|he\s+resuelto|solucion[ée]|resolv[íi])\b",
    r"\bresolv(?:[íi]|i[óo]|imos|ieron|iste)\b",
    r"\bsolucion(?:é|ó|amos|aron|aste)\b",  # not "soluciono" (present), "solucione"
    r"\bsolucionad[oa]s?\b",
    r"\barregl(?:é|ó|amos|aron|ad[oa]s?)\b",
    r"\bya\s+funciona\b|\bfunciona\s+(?:ya|ahora|de\s+nuevo|otra\s+vez)\b",
    r"\bya\s+no\s+(?:hace\s+falta|lo\s+necesito|necesito|es\s+necesario)\b",
    # Dutch
    r"\bopgelost\b",
    r"\bloste\b",
    r"\blaat\s+maar\b",
    r"\bgeregeld\b",
    r"\bniet\s+meer\s+nodig\b",
    r"\bgevonden\b",
    r"\bgelukt\b",
    r"\bgefikst\b",
    r"\bwerkt\s+(?:nu|weer|nu\s+weer)\b(?!\s+(?:nog\s+)?niet\b)",
    r"\b(?:is|alles)\s+(?:weer\s+)?in\s+orde\b",
    # Italian
    r"\brisolt[oaie]\b",
    r"\bsistemat[oaie]\b",
    r"\bnon\s+(?:mi\s+)?serve\s+più\b",
    r"\bfunziona\s+(?:ora|adesso|di\s+nuovo)\b",
    # Portuguese ("resolvi", "resolveu"; "solucionado" is above)
    r"\bresolvid[oa]s?\b",
    r"\bresolv(?:eu|emos|eram)\b",
    # Swedish ("löst", not German "löst das ...": present tense, a different word)
    r"\blöst\b(?!\s+(?:das|die|dies|es|nicht|nichts|sich|kein|keine|ein|eine|unser|mein)\b)",
    r"\bfixat\b",
    # Danish, Norwegian
    r"\bløst\b",
    r"\bfikset\b",
    # Polish
    r"\brozwiązan[eyao]\b|\brozwiązał(?:em|am|a|o|y|i|iśmy)?\b",
    r"\bzałatwion[eyao]\b",
    # Czech
    r"\bvyřešen[oaéýi]?\b|\bvyřešil[aiy]?\b",
    r"\bvyřízen[oaéý]?\b",
)

STILL_OPEN = alternation(
    # English
    r"\bstill\s+(?:need|needs|needed|require|requires|waiting|open|not|no|unresolved|broken"
    r"|stuck|pending|an?\s+(?:issue|problem)|(?:do|does|did|is|are|has|have|can)n't)\b",
    r"\bany\s+(?:update|updates|news|progress)\b",
    r"\bunresolved\b|\bungel(?:ö|oe)st\b|\bsin\s+resolver\b|\bonopgelost\b",
    # Unresolved in one word, in languages where the negation is a prefix.
    r"\bnevyřešen[oaéýi]?\b|\bnierozwiązan[eyao]\b|\birrisolt[oaie]\b|\bolöst\b|\buløst\b",
    # German
    r"\bbrauche?\s+(?:(?:es|das|ihn|sie|hilfe|eine\s+antwort)\s+)?noch\b",
    r"\bimmer\s+noch\b",
    r"\bnoch\s+offen\b",
    r"\bwarte\s+(?:immer\s+)?noch\b",
    # French
    r"\btoujours\s+(?:besoin|pas|en\s+attente|rien)\b",
    r"\bj'attends\s+toujours\b",
    # Spanish
    r"\btodav[íi]a\s+(?:lo\s+)?necesito\b",
    r"\ba[úu]n\s+(?:lo\s+)?necesito\b",
    r"\bsigo\s+esperando\b",
    r"\bsigue\s+sin\b",
    # Dutch
    r"\bnog\s+steeds\b",
    r"\bnog\s+altijd\b",
    r"\bheb\s+(?:\w+\s+){0,2}nog\s+(?:\w+\s+){0,2}nodig\b",
)

URGENT = alternation(
    # English
    r"\burgent(?:ly)?\b",
    r"\basap\b|\ba\.s\.a\.p\b",
    r"\bas\s+soon\s+as\s+(?:possible|you\s+can)\b",
    r"\btime[-\s]sensitive\b|\b(?:high|top)\s+priority\b",
    # German
    r"\bdringend\b|\beilig\b|\beilt\b(?!\s+nicht)|\bumgehend\b|\bschnellstmöglich\b",
    r"\bso\s+(?:schnell|bald)\s+wie\s+möglich\b",
    # French, Spanish, Italian, Portuguese
    r"\burgente?s?\b|\ben\s+urgence\b|\bcon\s+urgen(?:cia|za)\b|\bcom\s+urgência\b",
    r"\bdès\s+que\s+possible\b|\bau\s+plus\s+(?:vite|tôt)\b",
    r"\bcuanto\s+antes\b|\blo\s+(?:antes|más\s+pronto)\s+posible\b",
    r"\bal\s+più\s+presto\b|\bprima\s+possibile\b",
    r"\bo\s+(?:mais\s+rápido\s+possível|quanto\s+antes)\b",
    # Dutch
    r"\bspoed\b|\bhaast\b|\bz\.s\.m\b",
    r"\bzo\s+(?:snel|spoedig)\s+mogelijk\b",
)

NEGATORS = words(
    "not never cannot nothing nobody neither nor nicht nie niemals nichts pas jamais rien "
    "nunca sin tampoco nada niet nooit niets niks no non geen kein keine ne "
    "não nao nem inte ej icke ikke ikkje aldrig aldri není nebylo nebyl nebyla nikdy"
)
# "No worries, it's sorted" is not a negation: these words only negate a verb, not a noun.
NOUN_NEGATORS = words("no non geen kein keine")
BENIGN_AFTER_NO = words(
    "worries worry problem problems problemo rush stress biggie probleem zorgen punt "
    "sorge sorgen stress souci soucis problème problema problemas prisa pasa"
)
# Words that sit between a negation and what it negates ("not resolved yet", "n'est pas
# encore résolu", "non è ancora risolto"): skipped when looking for the negation.
NEGATION_FILLER = words(
    "yet still already really fully completely entirely quite been being "
    "noch schon wirklich ganz leider gar "
    "encore toujours vraiment complètement été malheureusement "
    "todavía todavia aún aun del todo sido desafortunadamente "
    "nog al helemaal echt helaas "
    "ancora stato stata purtroppo ainda foi infelizmente "
    "än ännu helt tyvärr ennå endnu dessverre desværre "
    "jeszcze nadal wcale niestety ještě zatím bohužel to"
)
HYPOTHETICAL = words("if whether once unless wenn falls ob sobald si lorsque cuando zodra indien")
CLAUSE_BREAK = re.compile(r"[,;:.!?()\n]")
WORD = re.compile(r"[\w']+")
# The reply template asks: "reply with the word RESOLVED" - someone pasting it back is not
# saying anything.
INSTRUCTION = re.compile(
    r"(?:reply|answer|respond|write)\s+with(?:\s+the\s+word)?\s*[\"'“«]?\s*$"
    r"|\bthe\s+word\s*[\"'“«]?\s*$",
    re.IGNORECASE,
)

# Words before "sorted"/"fixed" that make it a statement about the inquiry ("it's sorted",
# "got it fixed", "isn't sorted"), and words after it ("sorted it out", "fixed now").
CONTEXT_BEFORE = words(
    "all it's its is isn't was wasn't been are aren't now everything's finally completely "
    "totally not already got get getting"
)
CONTEXT_OBJECT = words("it this that everything")
CONTEXT_AFTER = words("it this that out now already")
NOT_CONTEXT_AFTER = words(
    "by in on alphabetically ascending descending list lists array order price rate term date"
)

# ---------------------------------------------------------------------------------------------
# What a delegate or a third party says

HOLDING = alternation(
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
    r"\b(?:schaue?|prüfe|kläre|melde|kümmere)\s+ich\b",
    # French
    r"\bje\s+(?:regarde|vais\s+regarder|vérifie|vais\s+vérifier|m'en\s+occupe)\b",
    r"\bje\s+(?:regarderai|vérifierai|m'en\s+occuperai|reviendrai|vous\s+recontacterai"
    r"|te\s+recontacterai)\b",
    r"\bje\s+reviens\s+vers\b",
    # Spanish
    r"\blo\s+(?:miro|reviso|veo|compruebo)\b",
    r"\b(?:te|le|os|les)\s+(?:digo\s+algo|respondo|contesto|aviso)\b",
    r"\bme\s+pongo\s+con\s+ello\b",
    # Dutch
    r"\bik\s+kijk\s+er\s*naar\b|\bkijk\s+ik\s+er\s*naar\b",
    r"\bik\s+kom\s+er(?:op)?\s+(?:op\s+)?terug\b",
    r"\bik\s+laat\s+(?:het\s+)?(?:je|u)\s+(?:het\s+)?weten\b",
    r"\bik\s+zoek\s+het\s+uit\b|\bzoek\s+ik\s+het\s+uit\b",
)
# Who is answering, not the answer: "I'm covering for Dana while she is away".
TAKING_OVER = alternation(
    r"\bi(?:'m|\s+am)\s+(?:covering|standing\s+in|filling\s+in|stepping\s+in)\b",
    r"\b(?:asked\s+me\s+to\s+(?:take\s+(?:a\s+look|over|care)|look|help|handle|reply|answer)"
    r"|forwarded\s+(?:me\s+)?your\s+(?:e-?mail|message|question))\b",
    r"\bich\s+vertrete\b|\bin\s+vertretung\b|\bhat\s+mir\s+(?:ihre|deine)\s+(?:anfrage|mail"
    r"|e-mail|nachricht)\s+weitergeleitet\b",
    r"\bje\s+remplace\b|\ben\s+l'absence\s+de\b|\bje\s+prends\s+le\s+relais\b",
    r"\b(?:estoy\s+)?(?:sustituyendo|cubriendo|reemplazando)\s+a\b|\ben\s+ausencia\s+de\b",
    r"\bik\s+vervang\b|\bin\s+afwezigheid\s+van\b",
)
# A request for information in the imperative ("please send me", "schicken Sie mir"); a
# sentence ending in "?" is a question without this.
ASK = alternation(
    # English
    r"\b(?:send|forward|mail|email|give|tell|show)\s+(?:me|us)\b",
    r"\blet\s+(?:me|us)\s+know\s+(?!if\b|in\s+case\b|when\b|should\b)",
    r"\bplease\s+(?:provide|confirm|clarify|specify|describe|attach|explain|share)\b",
    r"\bi(?:'ll|\s+will|'d|\s+would)?\s+need\s+(?:the|your|a|an|some|more|to\s+know|to\s+see)\b",
    # German
    r"\b(?:schick|schicke|schicken|senden|sende|gib|geben|sag|sagen|nenn|nennen|teilen|leite"
    r"|leiten|mail|mailen)(?:\s+sie)?\s+(?:mir|uns)\b",
    r"\bbitte\s+um\b|\bgib\s+mir\s+bescheid\b|\bgeben\s+sie\s+mir\s+bescheid\b",
    r"\bich\s+(?:bräuchte|benötige|brauche)\s+(?:noch\s+)?(?:die|den|das|ihre|deine|eine|einen"
    r"|mehr|weitere)\b",
    # French
    r"\b(?:envoie|envoyez|transmets|transmettez|donne|donnez|dis|dites|indique|indiquez"
    r"|précise|précisez|confirme|confirmez)[-\s](?:moi|nous)\b",
    r"\bm'envoyer\b|\bme\s+(?:dire|transmettre|donner|préciser|confirmer|faire\s+parvenir"
    r"|communiquer|renvoyer)\b|\bnous\s+(?:dire|transmettre|envoyer|communiquer)\b",
    r"\bmerci\s+de\s+(?:bien\s+vouloir\s+)?(?:me|nous|m')",
    r"\bj'(?:ai|aurais)\s+besoin\s+(?:de\s+(?:votre|ton|ta|vos|tes|la|le|l')|du|des|d')",
    # Spanish
    r"\b(?:env[íi]a|m[áa]nda|p[áa]sa|ind[íi]ca|conf[íi]rma|d[íi])(?:me|nos)\b",
    r"\b(?:env[íi]e|m[áa]nde|p[áa]se|ind[íi]que|conf[íi]rme|d[íi]ga)(?:me|nos)\b",
    r"\b(?:me|nos)\s+(?:puedes|podr[íi]as|puede|podr[íi]a)\s+(?:enviar|mandar|pasar|decir"
    r"|indicar|confirmar)\b",
    r"\bnecesito\s+(?:el|la|los|las|tu|su|sus|tus|m[áa]s|que\s+me)\b",
    # Dutch
    r"\b(?:stuur|stuurt|mail|geef|vertel)\s+(?:me|mij|ons)\b",
    r"\blaat\s+(?:me|mij|ons)\s+(?:even\s+)?weten\b(?!\s+als\b)",
    r"\bik\s+heb\s+(?:\w+\s+){1,3}nodig\b",
    r"\bgraag\s+(?:het|de|je|jouw|uw|een)\b",
)
# Politeness around a request: "..., please", "..., por favor".
POLITE = re.compile(
    r"(?:please|pls|thanks|thank\s+you|por\s+favor|gracias|bitte|danke|s'il\s+(?:te|vous)\s+pla[îi]t"
    r"|svp|merci|alsjeblieft|alstublieft|aub|graag|bedankt)",
    re.IGNORECASE,
)
# A question that is an answer: "Have you tried clearing the cache?"
SUGGESTION = alternation(
    r"\b(?:try|tried|trying|versucht|probiert|probier|probieren|essay[ée]|essayer|essayez"
    r"|probado|probar|prueba|intentado|intentar|geprobeerd|proberen|probeer|provato|provare"
    r"|tentou|tentar)\b",
)
# A closing line that asks nothing: "Let me know if you need anything else."
CLOSER = alternation(
    r"^\s*(?:please\s+)?(?:let\s+me\s+know\s+if|feel\s+free|don't\s+hesitate|do\s+not\s+hesitate"
    r"|hope\s+(?:this|that)\s+helps|anything\s+else)",
    r"^\s*(?:bei\s+(?:weiteren\s+)?fragen|melde\s+dich(?:\s+gern)?,?\s+(?:falls|wenn)"
    r"|gib\s+bescheid,?\s+(?:falls|wenn))",
    r"^\s*(?:n'h[ée]sitez\s+pas|n'h[ée]site\s+pas)",
    r"^\s*(?:no\s+dudes|cualquier\s+(?:cosa|duda))",
    r"^\s*(?:laat\s+(?:het\s+)?(?:maar\s+)?weten\s+als|mocht\s+je)",
)
PLEASANTRY = re.compile(
    r"(?:hi|hello|hey|dear|hallo|liebe[rs]?|guten\s+tag|moin|bonjour|salut|coucou|hola"
    r"|buenos\s+d[íi]as|buenas|hoi|beste|goedemorgen|goedemiddag|thanks?|thank\s+you|cheers"
    r"|best|regards|kind\s+regards|many\s+thanks|danke|vielen\s+dank|grüße|gruß|viele\s+grüße"
    r"|merci|cordialement|bien\s+à\s+vous|gracias|saludos|un\s+saludo|bedankt|groeten"
    r"|met\s+vriendelijke\s+groet)\b",
    re.IGNORECASE,
)
PLEASANTRY_TAIL = words(
    "for again so very all everyone everybody in advance a lot much pour für por voor de du und and"
)
# A line that closes the message ("Best,", "Viele Grüße", "Un saludo, Carol"): what follows is
# the signature.
SIGN_OFF = re.compile(
    r"(?:best(?:\s+regards|\s+wishes)?|kind\s+regards|warm\s+regards|regards|cheers|thanks"
    r"|thank\s+you|many\s+thanks|thx|br|mfg|(?:viele|beste|liebe|freundliche)\s+grüße|grüße"
    r"|gruß|lg|vg|mit\s+freundlichen\s+grüßen|cordialement|bien\s+(?:à\s+vous|cordialement)"
    r"|bonne\s+journée|merci|saludos(?:\s+cordiales)?|un\s+saludo|atentamente|gracias"
    r"|groeten|groet|met\s+vriendelijke\s+groet(?:en)?|hartelijke\s+groet(?:en)?|mvg"
    r"|distinti\s+saluti|cordiali\s+saluti|saluti|atenciosamente|mvh"
    r"|med\s+vänlig\s+hälsning|pozdrawiam|s\s+pozdravem)[\s,.!]*",
    re.IGNORECASE,
)

# ---------------------------------------------------------------------------------------------
# Who helped

NETWORK_PLACE = (
    r"mastodon|the\s+fediverse|fediverse|bluesky|bsky|linkedin|slack|teams|discord|matrix"
    r"|twitter|x\.com|threads|stack\s*overflow|reddit|github|(?:the|your|our)\s+forum|forum"
    r"|(?:my|your|the)\s+network"
)
NETWORK_PHRASE = alternation(
    r"\b(?:(?:someone|somebody|people|folks|a\s+(?:kind\s+)?(?:person|stranger|user|member|reader)"
    r"|jemand|leute|quelqu'un|des\s+gens|alguien|iemand|mensen)\s+)?"
    r"(?:on|from|in|at|via|over|auf|über|bei|im|sur|de|dans|en|desde|op|van|uit)\s+"
    r"(?:" + NETWORK_PLACE + r")\b",
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
HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_][\w.-]{0,60}(?:@[\w-]{1,63}(?:\.[\w-]{1,63})+)?")
GREETING_BEFORE = re.compile(
    r"(?:hi|hello|hey|dear|hallo|liebe[rs]?|bonjour|salut|hola|hoi|beste|cc|an|to)[\s,:]*$",
    re.IGNORECASE,
)
SELF = re.compile(
    r"\b(?:myself|on\s+my\s+own|selbst|moi-même|tout\s+seul|yo\s+mism[oa]|zelf)\b", re.IGNORECASE
)
_NAME = r"(@[\w.@-]{2,80}|[^\W\d_][\w'-]{1,40}(?:\s+[^\W\d_][\w'-]{1,40})?)"
# Small words between a helper's name and the verb: "Carol ya me lo resolvió", "Ana hat es
# gestern gelöst".
_HELPER_FILLER = (
    r"(?:(?:ya|me|lo|la|le|nos|already|just|finally|has|have|had|schon|mir|uns|es|das|hat"
    r"|gestern|heute|yesterday|today|heeft|het|al|gisteren|vandaag|hoy|ayer|m'a|l'a|nous)\s+)"
)
NAMED_HELPER = alternation(
    r"\b(?:thanks\s+to|thank\s+you\s+to|with\s+(?:the\s+)?help\s+(?:of|from)|help\s+from"
    r"|dank(?:\s+an)?|dankzij|mit\s+hilfe\s+von|grâce\s+à|gracias\s+a|met\s+hulp\s+van)\s+" + _NAME,
    _NAME + r"\s+(?:helped|answered|(?:sorted|solved|fixed|resolved|figured)\s+(?:it|this|that)"
    r"|hat\s+(?:mir\s+)?geholfen|a\s+aidé|m'a\s+aidé|me\s+ayudó|heeft\s+(?:me\s+)?geholpen"
    r"|hat\s+(?:es|das)\s+gelöst|l'a\s+résolu|lo\s+resolvió|heeft\s+het\s+opgelost)\b",
    _NAME + r"\s+" + _HELPER_FILLER + r"{1,3}(?:helped|answered|sorted|solved|fixed|resolved"
    r"|geholfen|gelöst|erledigt|aidé|résolu|réglé|ayudó|resolvió|solucionó|arregló|geholpen"
    r"|opgelost|geregeld)\b",
)
NOT_NAMES = words(
    "i it we he she they this that someone somebody who which what you your my our the "
    "everything nothing one people folks ich es wir er sie das jemand je il elle on nous "
    "ça yo él ella alguien ik het wij hij zij iemand finally eventually also and but so "
    "then just a an me yesterday today gestern heute hoy ayer gisteren vandaag"
)
