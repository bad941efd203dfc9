"""The report's languages: English, written in the code (:mod:`ooo.core.wording`), and German,
French, Spanish and Dutch from the gettext catalogs beside this module. An invitation's
answer (:mod:`ooo.core.itip`), the delegates' digest (:mod:`ooo.core.digest`), the note on
a forward to the delegate (:mod:`ooo.core.compose`) and a room notice
(:mod:`ooo.core.social`) take their words from the same catalogs.

Each catalog is a standard ``.po`` file (``<code>/LC_MESSAGES/report.po``, the messages of
``report.pot``), read with Babel when a report first needs the language and compiled in memory
(no build step, nothing written). Dates, weekdays, months and numbers come from Babel's CLDR
data for the language, plurals from the catalog's ``Plural-Forms`` (CLDR's rule: French and
Spanish have a third form for millions). A language is built here, in the shell, and handed to
the pure wording functions as a :class:`ooo.core.wording.Language`.

``python -m ooo.locale.extract`` writes ``report.pot`` from the code and the page template
again, and adds new messages to every catalog for a translator.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ooo.core.wording import ENGLISH, Language
from ooo.errors import UserError

if TYPE_CHECKING:
    from babel import Locale

    from ooo.config import Config

#: The report's languages, English first (the default).
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "nl")
#: Each language's name in its own words.
NAMES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "français",
    "es": "español",
    "nl": "Nederlands",
}
DOMAIN = "report"
HERE = Path(__file__).resolve().parent


def catalog_path(code: str) -> Path:
    """Where the catalog of a language is: ``ooo/locale/de/LC_MESSAGES/report.po``."""
    return HERE / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def shipped() -> str:
    """``en (English), de (Deutsch), ...`` for an error message."""
    return ", ".join(f"{code} ({NAMES[code]})" for code in LANGUAGES)


def normalise(code: str) -> str:
    """A language as the report knows it: ``de-AT``, ``de_DE`` and ``DE`` are ``de``.

    Raises ValueError naming the shipped languages when the report does not speak it.
    """
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    if primary not in LANGUAGES:
        raise ValueError(f"the report is not written in {code!r}; it is in {shipped()}")
    return primary


def language(code: str | Language) -> Language:
    """The report's language named ``code`` (``de``, ``de-AT``...), ready for the wording
    functions. An unknown one is a :class:`ooo.errors.UserError` listing the shipped ones."""
    if isinstance(code, Language):
        return code
    try:
        primary = normalise(code)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return ENGLISH if primary == "en" else _load(primary)


def configured(cfg: Config) -> str:
    """The report's language for a config: ``[report] language``; else the first of
    ``[reply] languages`` that the report is written in; else English."""
    if cfg.report.language:
        return normalise(cfg.report.language)
    for code in getattr(cfg.reply, "languages", None) or ():
        try:
            return normalise(str(code))
        except ValueError:
            continue  # the owner's own reply templates in a language the report lacks
    return "en"


@cache
def _load(code: str) -> Language:
    from babel import Locale
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po

    path = catalog_path(code)
    try:
        with path.open("rb") as fp:
            catalog = read_po(fp, locale=code, domain=DOMAIN, abort_invalid=True)
    except OSError as exc:
        raise UserError(
            f"cannot read the {NAMES[code]} catalog {path}: {exc.strerror or exc}",
            advice="reinstall ooo, or choose another language",
        ) from exc
    except PoFileError as exc:
        raise UserError(f"the {NAMES[code]} catalog {path} is broken: {exc}") from exc
    mo = io.BytesIO()
    write_mo(mo, catalog)  # fuzzy messages stay out: their English is shown instead
    mo.seek(0)
    return CatalogLanguage(code, gettext.GNUTranslations(mo), Locale.parse(code))


class CatalogLanguage(Language):
    """A language from its gettext catalog (words, plural rule) and CLDR (dates, numbers)."""

    def __init__(self, code: str, translations: gettext.GNUTranslations, locale: Locale) -> None:
        self.code = code
        self.name = NAMES.get(code, code)
        self.translations = translations
        self.locale = locale
        skeletons = locale.datetime_skeletons
        # The patterns of the locale's own skeletons: "Mo., 4. Jan." (E, d. MMM) in German.
        self._day = str(skeletons["MMMd"])
        self._weekday = str(skeletons["MMMEd"])
        self._full = str(skeletons["yMMMEd"])
        self._time = str(skeletons["Hm"])
        # A report says the same few days, clock times and counts on thousands of rows: each is
        # formatted by Babel once.
        self._said: dict[tuple[object, ...], str] = {}

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def number(self, n: int) -> str:
        key = ("n", n)
        if key not in self._said:
            from babel.numbers import format_decimal

            self._said[key] = format_decimal(n, locale=self.locale)
        return self._said[key]

    def _format(self, day: date, pattern: str) -> str:
        key = (day, pattern)
        if key not in self._said:
            from babel.dates import format_date

            self._said[key] = format_date(day, pattern, locale=self.locale)
        return self._said[key]

    def _at(self, local: datetime, pattern: str) -> str:
        """The date by ``pattern``, then the time: both as the owner's clock shows them."""
        key = (local.hour, local.minute)
        if key not in self._said:
            from babel.dates import format_time

            self._said[key] = format_time(local.time(), self._time, locale=self.locale)
        return f"{self._format(local.date(), pattern)} {self._said[key]}"

    def short_time(self, local: datetime) -> str:
        return self._at(local, self._day)

    def long_time(self, local: datetime) -> str:
        return self._at(local, self._weekday)

    def full_time(self, local: datetime) -> str:
        return self._at(local, self._full)

    def day_label(self, day: date) -> str:
        return self._format(day, self._weekday)

    def full_day(self, day: date) -> str:
        return self._format(day, self._full)

    def spelled_day(self, day: date) -> str:
        return self._format(day, "full")  # CLDR's full date: "Dienstag, 5. Januar 2027"

    def month(self, day: date) -> str:
        from babel.dates import get_month_names

        return str(get_month_names("abbreviated", "stand-alone", self.locale)[day.month])
