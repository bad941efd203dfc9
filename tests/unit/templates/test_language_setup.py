"""Reply languages as the owner sets them up: the config keys and their mistakes, the owner's
own templates and their fallback order, bilingual replies, the date filters, `ooo check` in
every language, `ooo preview`'s explanation and the server's text in the default language."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ooo.app import check_templates, engine_settings
from ooo.config import Config
from ooo.core.compose import compose_reply
from ooo.core.parse import parse
from ooo.core.policy import Decision, Reason
from ooo.core.routing import route
from ooo.errors import ConfigError
from ooo.handoff.reply import server_reply
from ooo.templating import Renderer
from tests.support.cli import ooo
from tests.support.configs import GOOD, write_config
from tests.support.helpers import INSIDE, OWNER
from tests.support.routing import config

GERMAN = (
    "Hallo Bob,\n\nkönnten Sie mir bitte sagen, bis wann die Unterlagen für das Projekt "
    "vorliegen? Wir möchten die Planung noch vor Jahresende abschließen.\n\nViele Grüße\nAnna\n"
)


def reply_to(cfg: Config, sender: str, body: str, renderer: Renderer | None = None) -> EmailMessage:
    msg = parse(
        "1",
        f"From: Anna <{sender}>\r\nTo: {OWNER}\r\nSubject: Frage\r\n\r\n".encode(),
        body.encode(),
    )
    out = compose_reply(
        msg,
        Decision(Reason.REPLY, owner_address=OWNER, recipient=sender),
        engine_settings(cfg).reply,
        renderer or Renderer(cfg.templates.dir),
        message_id="<r1@example.com>",
        now=INSIDE,
        routing=route(msg, sender, cfg),
        ref="OOO-7K3Q9M",
    )
    parsed = email.message_from_bytes(out.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(parsed: EmailMessage) -> tuple[str, str]:
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config(text)
    return "\n".join(caught.value.problems)


# -- the config ----------------------------------------------------------------------------


def test_the_default_is_english_only() -> None:
    """Without `languages`, replies are English, no detector is built and lingua is not even
    imported (checked in a fresh interpreter)."""
    cfg = config()
    assert cfg.reply.languages == ["en"] and cfg.reply.bilingual == []
    assert engine_settings(cfg).reply.detect is None
    code = (
        "import sys\n"
        "from ooo.app import engine_settings\n"
        "from tests.support.routing import config\n"
        "engine_settings(config())\n"
        "print('lingua' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('[reply]\nlanguages = ["en", "xx"]', 'reply.languages[1]: unknown language code "xx"'),
        (
            '[reply]\nlanguages = ["german"]',
            "reply.languages[0]: expected a two-letter language code",
        ),
        ("[reply]\nlanguages = []", "reply.languages: name at least one language"),
        ('[reply]\nlanguages = ["de", "de"]', "reply.languages: a language is named twice"),
        (
            '[reply]\nlanguages = ["en", "it"]',
            'reply.languages: "it" has no templates: reply.it.txt.j2 is not among the shipped',
        ),
        (
            '[reply]\nlanguages = ["en", "de"]\nbilingual = ["en", "fr"]',
            'reply.bilingual: "fr" is not one of reply.languages',
        ),
        ('[reply]\nbilingual = ["en", "en"]', "reply.bilingual: expected two different languages"),
        (
            '[reply]\nlanguages = ["en", "de"]\n[[route]]\nfrom = ["example.fr"]\nlanguage = "fr"',
            'route[0].language = "fr" is not one of reply.languages',
        ),
    ],
)
def test_mistakes_name_the_key(section: str, expected: str) -> None:
    """An unknown code, a language without templates, a bilingual pair or a route's language
    that is not a reply language: a config error naming the key (and the missing file)."""
    assert expected in problems("\n" + section + "\n")


def test_the_owners_folder_can_add_a_language(tmp_path: Path) -> None:
    """reply.it.txt.j2 and reply.it.html.j2 in [templates] dir make "it" a reply language;
    with only one of them, the error names the folder and the missing file."""
    (tmp_path / "reply.it.txt.j2").write_text("Ciao! Torno {{ back_on }}.\n")
    section = f'\n[templates]\ndir = "{tmp_path}"\n[reply]\nlanguages = ["en", "it"]\n'
    assert f"reply.it.html.j2 is neither in {tmp_path} nor among" in problems(section)
    (tmp_path / "reply.it.html.j2").write_text("<p>Ciao! Torno {{ back_on }}.</p>\n")
    cfg = config(section + '[[route]]\nfrom = ["example.it"]\nlanguage = "it"\n')
    text, html = parts(reply_to(cfg, "marco@example.it", "Ciao"))
    assert text == "Ciao! Torno martedì 5 gennaio 2027.\n"
    assert "Torno martedì 5 gennaio 2027" in html


# -- templates: the owner's, and the fallback order -------------------------------------------


def test_a_translated_audience_template_wins(tmp_path: Path) -> None:
    """A VIP writing German gets vip.de.*; a VIP writing English gets vip.* (untagged is
    English); with no vip.fr.*, a French VIP gets the shipped French reply."""
    for name, words in (
        ("vip.de", "Sehr geehrte VIP, ab {{ back_on }} bin ich zurück."),
        ("vip", "Dear VIP, back on {{ back_on }}."),
    ):
        (tmp_path / f"{name}.txt.j2").write_text(words + "\n")
        (tmp_path / f"{name}.html.j2").write_text(f"<p>{words}</p>\n")
    cfg = config(
        f'\n[templates]\ndir = "{tmp_path}"\n[reply]\nlanguages = ["en", "de", "fr"]\n'
        '[audiences]\nvip = ["example.org"]\n[reply.vip]\ntemplate = "vip"\n'
    )
    assert parts(reply_to(cfg, "a@example.org", GERMAN))[0] == (
        "Sehr geehrte VIP, ab Dienstag, 5. Januar 2027 bin ich zurück.\n"
    )
    english = "Hello Bob, could you tell me when the project documents will be ready? Thanks."
    assert parts(reply_to(cfg, "a@example.org", english))[0] == (
        "Dear VIP, back on Tuesday 5 January 2027.\n"
    )
    french = "Bonjour Bob, pourriez-vous me dire quand les documents du projet seront prêts ?"
    text, _ = parts(reply_to(cfg, "a@example.org", french))
    assert text.startswith("Bonjour Anna,") and "Votre message fera partie des premiers" in text


def test_check_renders_every_language(tmp_path: Path) -> None:
    """`ooo check` renders the templates of every reply language, as the fallback picks them,
    and a broken translation is found before the first reply."""
    cfg = config('\n[reply]\nlanguages = ["en", "de", "fr", "es", "nl"]\n')
    names = check_templates(cfg, Renderer())
    for code in ("de", "fr", "es", "nl"):
        assert f"reply.{code}.txt.j2" in names and f"reply.{code}.html.j2" in names
    (tmp_path / "reply.de.txt.j2").write_text("Zurück am {{ back_on }\n")
    with pytest.raises(Exception, match=r"reply\.de\.txt\.j2:1"):
        check_templates(cfg, Renderer(tmp_path))


# -- bilingual ---------------------------------------------------------------------------------


def test_a_bilingual_reply_carries_both_languages_cleanly() -> None:
    """With bilingual = [en, de], a German sender gets German first, then English under a
    rule; the German signature delimiter is dropped so the English is not hidden; the HTML is
    one page with a <div lang> per language; Content-Language names both."""
    cfg = config('\n[reply]\nlanguages = ["en", "de"]\nbilingual = ["en", "de"]\n')
    parsed = reply_to(cfg, "anna@example.org", GERMAN)
    assert parsed["Content-Language"] == "de, en"
    text, html = parts(parsed)
    german, _, english = text.partition("\n\n──────── English ────────\n\n")
    assert german.startswith("Guten Tag Anna,") and english.startswith("Hello Anna,")
    assert "\n-- \n" not in german and "\n-- \n" in english
    assert "Dies ist eine automatische Antwort" in german
    assert html.count("<html") == 1 and html.count("<body") == 1 and html.count("</body>") == 1
    assert html.index('<div lang="de">') < html.index("English</p>") < html.index('<div lang="en">')
    assert '<html lang="de">' in html
    # An English writer gets English first.
    english_first = parts(reply_to(cfg, "anna@example.org", "Hello Bob, when are the docs ready?"))
    assert (
        english_first[0].startswith("Hello Anna,")
        and "──────── Deutsch ────────" in english_first[0]
    )


# -- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "date", "datetime_", "time"),
    [
        ("de", "5. Januar 2027", "05.01.2027, 09:00:00", "09:00"),
        ("fr", "5 janvier 2027", "5 janv. 2027, 09:00:00", "09:00"),
        ("es", "5 de enero de 2027", "5 ene 2027, 9:00:00", "9:00"),
        ("nl", "5 januari 2027", "5 jan 2027, 09:00:00", "09:00"),
    ],
)
def test_date_filters_speak_the_language_in_the_owners_zone(
    language: str, date: str, datetime_: str, time: str
) -> None:
    """format_date, format_datetime and format_time write the reply's language, in the
    owner's time zone (08:00 UTC is 09:00 in Berlin)."""
    env = Renderer().env
    moment = datetime(2027, 1, 5, 8, 0, tzinfo=ZoneInfo("UTC"))
    out = env.from_string(
        "{{ m|format_date }}|{{ m|format_datetime }}|{{ m|format_time }}|"
        '{{ m|format_date("EEEE") }}'
    ).render(m=moment, language=language, timezone="Europe/Berlin")
    got = out.split("|")
    assert got[:3] == [date, datetime_, time]
    assert got[3].lower() in {"dienstag", "mardi", "martes", "dinsdag"}


# -- preview and the handoff ---------------------------------------------------------------


def test_preview_says_which_language_and_why(tmp_path: Path) -> None:
    """`ooo preview` names the language and the reason: the sender's language with its
    confidence, or the country domain."""
    path = write_config(tmp_path, GOOD + '\n[reply]\nlanguages = ["en", "de", "fr"]\n')
    eml = tmp_path / "m.eml"
    eml.write_text(
        "From: Anna <anna@example.org>\nTo: bob@example.com\nSubject: Frage\n"
        "Message-ID: <q@example.org>\n\n" + GERMAN
    )
    done = ooo("preview", "-c", str(path), "--eml", str(eml))
    assert done.returncode == 0, done.stderr
    assert "language: de (the sender wrote in German, confidence 1.00)" in done.stdout
    assert "Content-Language: de" in done.stdout and "Guten Tag Anna," in done.stdout
    short = ooo("preview", "-c", str(path), "--from", "x@example.fr", "--subject", "Ok")
    assert "language: fr (the sender's domain ends in .fr)" in short.stdout


def test_the_server_speaks_the_default_language() -> None:
    """The handoff's text is in the first reply language, whatever senders write in."""
    cfg = config('\n[reply]\nlanguages = ["de", "en"]\n')
    served = server_reply(cfg, Renderer())
    assert served.external is not None and served.external.startswith("Guten Tag,")
    assert "Dienstag, 5. Januar 2027" in served.external
    both = server_reply(
        config('\n[reply]\nlanguages = ["de", "en"]\nbilingual = ["en", "de"]\n'), Renderer()
    )
    assert both.external is not None
    assert both.external.startswith("Guten Tag,") and "──────── English ────────" in both.external
