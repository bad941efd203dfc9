"""The report in every shipped language (``ooo report --lang de``): every format, the catalogs
themselves, plurals, dates in the owner's time zone, and the errors for a language ooo lacks.

The demo's week (``ooo demo``) is the data; its senders wrote in English, so the "no English
word left" checks take out everything a sender wrote before they look.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

import ooo.demo
from ooo.cli import main
from ooo.config import Config
from ooo.core.tracking import ServerPeriod
from ooo.core.wording import ENGLISH, full_time, human_duration, long_time, plain, short_time
from ooo.errors import ConfigError, UserError
from ooo.locale import DOMAIN, HERE, LANGUAGES, catalog_path, configured, language, normalise
from ooo.locale.extract import template
from ooo.report import FORMATS, Report, build_report, render
from ooo.report.chart import RIGHT, WIDTH, legend
from ooo.store import Store
from tests.support.configs import GOOD, write_config
from tests.support.helpers import tracked
from tests.unit.report.test_network_evidence import hostile_post, post
from tests.unit.report.test_report import END, START, T0, inquiry, mixed, report, signal

BERLIN = ZoneInfo("Europe/Berlin")
OTHERS = [code for code in LANGUAGES if code != "en"]

# Words of ooo's English wording that no other shipped language writes. (Not "open", Dutch;
# "messages"/"question"/"urgent", French; "in", "per", "VIP", every language.)
ENGLISH_WORDS = (  # noqa: SIM905 (a list of words reads better as one string)
    "the away while nothing since inquiry inquiries resolved still returned sender delegate "
    "network answered report received subject evidence after question reply replies you your "
    "by none yet days hours minutes stacked shaded weekends made times said helped flagged "
    "counted reason story last event summary someone marked thread reopened arrived "
    "mon tue wed thu fri sat sun feb mar apr may jun jul aug sep oct nov dec"
).split()
NOT_ENGLISH_IN = {"fr": {"messages", "question", "mar"}, "es": {"mar"}, "nl": {"dec"}}


# --------------------------------------------------------------------------- the data


@pytest.fixture(scope="module")
def demo_report() -> Report:
    """The report ``ooo demo`` prints at the end of its week (the demo builds it; this keeps
    a copy)."""
    made: list[Report] = []
    stores: list[Store] = []
    build = ooo.demo.build_owner_report

    def keep(cfg: Config, store: Store, at: datetime | None = None) -> Report:
        made.append(build(cfg, store, at))
        return made[-1]

    def store(path: str) -> Store:  # the demo's store, closed here when the week is over
        stores.append(Store(path))
        return stores[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ooo.demo, "build_owner_report", keep)
        mp.setattr(ooo.demo, "Store", store)
        try:
            ooo.demo.run_demo(out=lambda _line: None, show_reply=False)
        finally:
            for opened in stores:
                opened.close()
    assert len(made) == 1
    return made[0]


def everything() -> Report:
    """Every sentence the report can say at least once: each outcome, an urgent VIP, a
    reopened inquiry, the delegate on it, a signal the server's checks refused, the mail
    server in ooo's place, posts on the networks, a report during the window."""
    inquiries = [
        inquiry("OOO-AAAAAA", T0, name="Zoë Ångström", subject="Überweisung für März – 5 €"),
        inquiry("OOO-BBBBBB", T0 + timedelta(hours=1), subject="Access?", audience="vip"),
        inquiry("OOO-CCCCCC", T0 + timedelta(days=1), subject="Review", replied=False),
        inquiry("OOO-DDDDDD", T0 + timedelta(days=2), subject="Lunch"),
        inquiry("OOO-EEEEEE", T0 + timedelta(days=2, hours=1), subject="Budget"),
        replace(inquiry("OOO-FFFFFF", T0 + timedelta(days=2, hours=2)), answered_by_server=True),
        inquiry("OOO-GGGGGG", T0 + timedelta(days=3), subject="Contract"),
        inquiry("OOO-HHHHHH", T0 + timedelta(days=3, hours=1), subject="Rota"),
    ]
    signals = [
        signal("OOO-BBBBBB", T0 + timedelta(hours=3), "open", evidence="asap", flagged=True),
        signal("OOO-CCCCCC", T0 + timedelta(days=1, hours=1), "resolved", "owner"),
        signal("OOO-CCCCCC", T0 + timedelta(days=1, hours=2), "reopened"),
        signal(
            "OOO-DDDDDD",
            T0 + timedelta(days=2, minutes=20),
            "open",
            rule="delegate_engaged",
            author="carol@example.com",
        ),
        replace(
            signal("OOO-EEEEEE", T0 + timedelta(days=2, hours=2), "resolved", "sender"),
            unverified="dmarc=fail",
        ),
        signal(
            "OOO-GGGGGG",
            T0 + timedelta(days=3, hours=2),
            "resolved",
            "sender",
            evidence="Sorted",
            helper="Dana",
        ),
        post(T0 + timedelta(days=3, hours=2), ref="OOO-HHHHHH"),
        post(
            T0 + timedelta(days=3, hours=3),
            "open",
            None,
            rule="sender_still_open",
            ref="OOO-HHHHHH",
            flagged=True,
        ),
        post(T0 + timedelta(days=3, hours=4), "open", None, rule="x", ref="OOO-HHHHHH"),
        hostile_post("OOO-DDDDDD", T0 + timedelta(days=2, hours=1)),
    ]
    periods = [
        ServerPeriod(
            T0 + timedelta(days=2), T0 + timedelta(days=2, hours=5), "ooo's lease ran out"
        ),
        ServerPeriod(T0 + timedelta(days=4), None, "the computer went to sleep"),
    ]
    return build_report(
        inquiries,
        signals,
        {"mailing_list": 12, "robot_sender": 1},
        owner_name="Łukasz Żółw",
        timezone=BERLIN,
        window_start=START,
        window_end=END,
        at=T0 + timedelta(days=5),
        server_periods=periods,
    )


def sender_text(r: Report) -> list[str]:
    """Everything in a report that a sender, a post or the owner's config wrote (longest
    first, so that a longer one goes before a shorter one inside it)."""
    found = {r.owner_name, r.timezone.key}
    for v in r.inquiries:
        found |= {v.ref, v.subject, v.from_name, v.sender, v.evidence or "", v.helper or ""}
        if v.answer:
            found |= {v.answer.helper or "", v.answer.link or ""}
        for e in v.story:
            words = plain(e.evidence)
            found |= {words, words[:139], e.author or "", e.helper or "", e.link or ""}
            found |= {e.unverified or "", e.rule}
    found |= {"Mastodon", "Bluesky", "Matrix"}
    return sorted((s for s in found if s), key=len, reverse=True)


def our_words(r: Report, fmt: str, lang: str) -> str:
    """The report in ``fmt`` and ``lang`` as plain text, less everything :func:`sender_text`
    (the words the report itself says; JSON's and CSV's keys and codes are not words)."""
    page = render(r, fmt, language=lang)  # type: ignore[arg-type]
    if fmt == "html":
        page = re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)
        page = html.unescape(page)
    elif fmt == "markdown":
        page = re.sub(r"\\(.)", r"\1", page)
    elif fmt == "json":
        data = json.loads(page)
        page = "\n".join(
            [v["last_event"] for v in data["inquiries"]]
            + [s["text"] for v in data["inquiries"] for s in v.get("story", [])]
        )
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(page)))
        page = "\n".join(f"{row['time_to_resolve']} {row['last_event']}" for row in rows)
    for text in sender_text(r):
        page = page.replace(text, " ").replace(text.lstrip("@"), " ")
    return page


def english_left(text: str, lang: str) -> list[str]:
    words = set(re.findall(r"[^\W\d_]+", text.lower()))
    return sorted(words & (set(ENGLISH_WORDS) - NOT_ENGLISH_IN.get(lang, set())))


# --------------------------------------------------------------------------- every format


@pytest.mark.parametrize("lang", OTHERS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_of_the_demo_report_is_in_the_language(
    demo_report: Report, fmt: str, lang: str
) -> None:
    """The demo's report in each format and language has none of ooo's English words left
    (what the senders wrote aside) and no placeholder left unfilled."""
    words = our_words(demo_report, fmt, lang)
    assert english_left(words, lang) == []
    assert "%(" not in words


@pytest.mark.parametrize("lang", OTHERS)
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_every_sentence_the_report_can_say_is_in_the_language(fmt: str, lang: str) -> None:
    """A report that says every kind of sentence once (server periods, a refused signal, the
    delegate on it, posts, a report before the return) has no English word of ooo's left."""
    r = everything()
    words = our_words(r, fmt, lang)
    assert english_left(words, lang) == []
    assert "%(" not in words
    assert "Łukasz Żółw" in render(r, fmt, language=lang)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_says_its_language(lang: str) -> None:
    """The HTML page's ``lang`` attribute is the report's language."""
    page = render(mixed(), "html", language=lang)
    assert f'<html lang="{lang}">' in page
    assert page.count("<html") == 1


@pytest.mark.parametrize("lang", LANGUAGES)
def test_non_ascii_text_comes_through_in_every_format(lang: str) -> None:
    """Names and subjects in other scripts and with accents are shown as written, in every
    format and language (JSON keeps them unescaped)."""
    r = everything()
    for fmt in FORMATS:
        out = render(r, fmt, language=lang)
        if fmt == "markdown":
            out = re.sub(r"\\(.)", r"\1", out)
        assert "Zoë Ångström" in out, fmt
        assert "Überweisung für März – 5 €" in out, fmt


def test_english_is_the_default_and_the_same_however_it_is_named() -> None:
    """No language, "en", "en-GB" and the English object give the same bytes."""
    r = everything()
    for fmt in FORMATS:
        plain = render(r, fmt)
        assert plain == render(r, fmt, language="en") == render(r, fmt, language="en-GB")
        assert plain == render(r, fmt, language=ENGLISH)


def test_json_and_csv_keep_their_keys_and_codes() -> None:
    """JSON's keys and codes and CSV's header, codes and yes/no are the same in every
    language; JSON says which language its sentences are in (not in English, as before)."""

    def keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: keys(v) for k, v in value.items() if k != "language"}
        if isinstance(value, list):
            return [keys(v) for v in value]
        return None

    r = everything()
    english = json.loads(render(r, "json"))
    assert "language" not in english
    english_csv = list(csv.reader(io.StringIO(render(r, "csv"))))
    codes = [0, 1, 2, 3, 4, 9, 10]  # ref, status, flagged, vip, audience, replied, resolved_by
    for lang in OTHERS:
        other = json.loads(render(r, "json", language=lang))
        assert other["language"] == lang
        assert keys(other) == keys(english)
        assert [v["status"] for v in other["inquiries"]] == [
            v["status"] for v in english["inquiries"]
        ]
        rows = list(csv.reader(io.StringIO(render(r, "csv", language=lang))))
        assert rows[0] == english_csv[0]
        assert [[row[i] for i in codes] for row in rows] == [
            [row[i] for i in codes] for row in english_csv
        ]


# --------------------------------------------------------------------------- the words


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", ["0 messages", "1 message", "2 messages", "5 messages"]),
        ("de", ["0 Nachrichten", "1 Nachricht", "2 Nachrichten", "5 Nachrichten"]),
        ("fr", ["0 message", "1 message", "2 messages", "5 messages"]),  # 0 is singular
        ("es", ["0 mensajes", "1 mensaje", "2 mensajes", "5 mensajes"]),
        ("nl", ["0 berichten", "1 bericht", "2 berichten", "5 berichten"]),
    ],
)
def test_counts_take_the_languages_plural(lang: str, expected: list[str]) -> None:
    """0, 1, 2 and 5 messages not answered, each in its language's plural form (French says
    "0 message"); a million takes French's and Spanish's third form ("de")."""
    for n, words in zip((0, 1, 2, 5), expected, strict=True):
        heading = render(report([], [], {"mailing_list": n} if n else {}), "text", language=lang)
        if n:
            assert f"\n{words} " in heading, heading
        assert human_duration(timedelta(seconds=n), style="rough", lang=language(lang))
    big = render(report([], [], {"mailing_list": 1_000_000}), "text", language=lang)
    assert {
        "en": "\n1000000 messages ",
        "de": "\n1.000.000 Nachrichten ",
        "fr": "\n1\u202f000\u202f000 de messages ",
        "es": "\n1.000.000 de mensajes ",
        "nl": "\n1.000.000 berichten ",
    }[lang] in big


@pytest.mark.parametrize(
    ("lang", "inquiries", "seconds"),
    [
        ("en", ["1 inquiry", "2 inquiries", "5 inquiries"], ["0 seconds", "1 second"]),
        ("de", ["1 Anfrage", "2 Anfragen", "5 Anfragen"], ["0 Sekunden", "1 Sekunde"]),
        ("fr", ["1 demande", "2 demandes", "5 demandes"], ["0 seconde", "1 seconde"]),
        ("es", ["1 consulta", "2 consultas", "5 consultas"], ["0 segundos", "1 segundo"]),
        ("nl", ["1 vraag", "2 vragen", "5 vragen"], ["0 seconden", "1 seconde"]),
    ],
)
def test_the_headline_and_durations_count_right(
    lang: str, inquiries: list[str], seconds: list[str]
) -> None:
    """The headline counts 1, 2 and 5 inquiries in the language's forms; no inquiry at all is
    a sentence of its own; rough durations say 0 and 1 second as the language does."""
    for n, words in zip((1, 2, 5), inquiries, strict=True):
        made = [inquiry(f"OOO-{i:06d}", T0 + timedelta(hours=i)) for i in range(n)]
        text = render(report(made), "text", language=lang)
        assert f"\n{words} " in text, text
    assert "%(" not in render(report([]), "text", language=lang)
    said = [
        human_duration(timedelta(seconds=s), style="rough", lang=language(lang)) for s in (0, 1)
    ]
    assert said == seconds


def test_times_are_in_the_owners_zone_and_the_language() -> None:
    """23:30 UTC on 5 Jan is Wednesday 6 Jan 00:30 in Berlin, said as each language says a
    date (CLDR through Babel): weekday and month names, order, the hour's padding."""
    moment = datetime(2027, 1, 5, 23, 30, tzinfo=UTC)
    said = {
        code: (
            short_time(moment, BERLIN, language(code)),
            long_time(moment, BERLIN, language(code)),
            full_time(moment, BERLIN, language(code)),
        )
        for code in LANGUAGES
    }
    assert said == {
        "en": ("6 Jan 00:30", "Wed 6 Jan 00:30", "Wed 6 Jan 2027 00:30"),
        "de": ("6. Jan. 00:30", "Mi., 6. Jan. 00:30", "Mi., 6. Jan. 2027 00:30"),
        "fr": ("6 janv. 00:30", "mer. 6 janv. 00:30", "mer. 6 janv. 2027 00:30"),
        "es": ("6 ene 0:30", "mié, 6 ene 0:30", "mié, 6 ene 2027 0:30"),
        "nl": ("6 jan 00:30", "wo 6 jan 00:30", "wo 6 jan 2027 00:30"),
    }


def test_a_german_report_reads_as_german() -> None:
    """A few whole sentences of the German report, as a native speaker would write them."""
    text = render(everything(), "text", language="de")
    assert text.startswith("Abwesenheitsbericht für Łukasz Żółw\nAbwesend Mo., 4. Jan. 08:00")
    assert "; Stand: Sa., 9. Jan. 2027 10:00" in text
    assert "8 Anfragen während Ihrer Abwesenheit.\n" in text
    assert "\n1 bisher erledigt: 1 vom Absender.\n" in text
    assert "\n7 noch offen, 2 als dringend markiert.\n" in text
    assert "Der Absender meldete, dass es dringend ist: „asap“" in text
    assert "13 Nachrichten nicht beantwortet, nach Grund gezählt:" in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_text_reports_labels_line_up(lang: str) -> None:
    """Whatever the language, the details of an inquiry start in one column."""
    text = render(everything(), "text", language=lang)
    labelled = [line for line in text.splitlines() if re.match(r"  \S[^:]*:\s", line)]
    columns = {len(line) - len(line[2:].split(":", 1)[1].lstrip()) for line in labelled}
    assert len(labelled) > 10
    assert len(columns) == 1, labelled


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_charts_legend_fits_in_every_language(lang: str) -> None:
    """The legend's five labels stay inside the chart, however long the language's words."""
    swatches = legend(language(lang))
    last = swatches[-1]
    assert last.label_x + 8.8 * len(last.label) <= WIDTH - RIGHT
    assert [s.x for s in swatches] == sorted(s.x for s in swatches)


# --------------------------------------------------------------------------- the catalogs


def _catalogs() -> Iterator[tuple[str, Path]]:
    for code in OTHERS:
        yield code, catalog_path(code)


def _ids(messages: object) -> set[object]:
    return {m.id for m in messages if m.id}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("code", "path"), list(_catalogs()))
def test_each_catalog_translates_every_message_cleanly(code: str, path: Path) -> None:
    """Each .po translates every message the code and the page template say, none fuzzy or
    empty; its plural rule is CLDR's for the language; and Babel's checks (placeholders the
    same as the English, the right number of plural forms) find nothing."""
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=code, domain=DOMAIN)
    missing = _ids(template()) - _ids(catalog)
    assert not missing, f"run python -m ooo.locale.extract and translate in {path}: {missing}"
    plural = get_plural(code)
    assert catalog.num_plurals == plural.num_plurals
    assert catalog.plural_expr == plural.plural_expr
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert not message.fuzzy and all(strings), message.id
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == []


def test_the_template_is_what_the_code_says() -> None:
    """ooo/locale/report.pot has every message extracted today (``python -m
    ooo.locale.extract`` writes it again)."""
    with (HERE / f"{DOMAIN}.pot").open("rb") as fp:
        missing = _ids(template()) - _ids(read_po(fp))
    assert not missing, f"run python -m ooo.locale.extract: {missing}"


def test_a_broken_catalog_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog that cannot be read, or is not a .po file, is a UserError naming the file;
    nothing is half-loaded."""
    import ooo.locale

    broken = tmp_path / "report.po"
    broken.write_text('msgid "a"\nnot a po file\n', encoding="utf-8")
    monkeypatch.setattr(ooo.locale, "catalog_path", lambda code: broken)
    with pytest.raises(UserError, match=re.escape(str(broken))):
        ooo.locale._load.__wrapped__("de")
    monkeypatch.setattr(ooo.locale, "catalog_path", lambda code: tmp_path / "missing.po")
    with pytest.raises(UserError, match=r"missing\.po"):
        ooo.locale._load.__wrapped__("de")


# --------------------------------------------------------------------------- choosing one


def test_an_unknown_language_is_an_error_listing_the_shipped_ones() -> None:
    """render() refuses a language the report is not written in, naming the ones it is."""
    with pytest.raises(UserError) as caught:
        render(mixed(), "text", language="xx")
    assert "'xx'" in caught.value.message
    for code in LANGUAGES:
        assert f"{code} (" in caught.value.message
    assert normalise("de_DE") == normalise("DE-at") == "de"


def test_ooo_report_lang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ooo report --lang de`` writes the German report; ``--lang xx`` is a usage error (exit
    2) that lists the shipped languages, before anything is read."""
    path = write_config(tmp_path)
    assert main(["-c", str(path), "report", "--lang", "xx"]) == 2
    err = capsys.readouterr().err
    assert "--lang xx" in err and "de (Deutsch)" in err and "nl (Nederlands)" in err
    (tmp_path / "state").mkdir()
    tracked(Store(tmp_path / "state" / "state.db")).close()
    assert main(["-c", str(path), "report", "--lang", "de"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "Abwesenheitsbericht für Bob Example\n"
        "Abwesend So., 20. Dez. 2026 00:00 – Di., 5. Jan. 2027 09:00 (Europe/Berlin)\n"
    )
    assert main(["-c", str(path), "report", "--lang", "fr", "--format", "html"]) == 0
    assert '<html lang="fr">' in capsys.readouterr().out


def test_the_configured_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --lang the report is in ``[report] language``; an unknown one there is a config
    error naming the file, the line and the shipped languages."""
    path = write_config(tmp_path, GOOD + '\n[report]\nlanguage = "es"\n')
    (tmp_path / "state").mkdir()
    tracked(Store(tmp_path / "state" / "state.db")).close()
    assert main(["-c", str(path), "report"]) == 0
    assert capsys.readouterr().out.startswith("Informe de ausencia de Bob Example\n")
    assert main(["-c", str(path), "report", "--lang", "nl"]) == 0
    assert capsys.readouterr().out.startswith("Afwezigheidsrapport voor Bob Example\n")

    from ooo.config import load, loads

    bad = write_config(tmp_path, GOOD + '\n[report]\nlanguage = "klingon"\n')
    with pytest.raises(ConfigError) as caught:
        load(bad)
    problem = caught.value.render()
    assert f"{bad}:" in problem and "report.language" in problem and "fr (français)" in problem
    assert configured(loads(GOOD, Path("c.toml"))) == "en"
    assert configured(loads(GOOD + '[report]\nlanguage = "de-CH"\n', Path("c.toml"))) == "de"


def test_the_language_defaults_to_the_first_reply_language_the_report_has() -> None:
    """No ``[report] language``: the first of ``[reply] languages`` that the report is written
    in (an owner's own reply language it lacks is skipped), else English."""

    def config(*languages: str) -> Config:
        reply = SimpleNamespace(languages=list(languages))
        return SimpleNamespace(reply=reply, report=SimpleNamespace(language=None))  # type: ignore[return-value]

    assert configured(config("it", "nl", "en")) == "nl"
    assert configured(config("it")) == "en"


def test_the_reports_in_the_state_dir_speak_the_configured_language(tmp_path: Path) -> None:
    """When the window ends, report.html and report.json in the state dir are in ``[report]
    language`` too."""
    from ooo.app import write_reports
    from ooo.config import load

    cfg = load(write_config(tmp_path, GOOD + '\n[report]\nlanguage = "nl"\n'))
    (tmp_path / "state").mkdir()
    with tracked(Store(tmp_path / "state" / "state.db")) as store:
        html_path, json_path = write_reports(cfg, store)
    assert '<html lang="nl">' in html_path.read_text(encoding="utf-8")
    assert "Terwijl je weg was" in html_path.read_text(encoding="utf-8")
    assert json.loads(json_path.read_text(encoding="utf-8"))["language"] == "nl"
