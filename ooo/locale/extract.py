"""``python -m ooo.locale.extract``: the report's messages, taken from the code and the page
template with Babel, written to ``ooo/locale/report.pot``; each language's ``report.po`` gets
the new ones (empty, or fuzzy when Babel finds a close old one) for a translator, and loses
those the code no longer says. A tool for whoever changes the report's words, not run by ooo.

The messages are the first arguments of ``gettext``/``_``/``N_``, the two of
``ngettext``/``Nn_``/``Language.count`` and the second of the page's ``_around`` in
:mod:`ooo.core.wording` and ``ooo/report/``; in :mod:`ooo.core.itip`, :mod:`ooo.core.digest`,
:mod:`ooo.core.compose` and :mod:`ooo.core.social` (the words of an invitation's answer, of
the delegates' digest, of the note on a forward to the delegate and of a room notice, which
share the catalogs); the ``_()`` calls of
``templates/report.html.j2``, and the descriptions of the reasons a message was not answered
(:data:`ooo.core.policy.DESCRIPTIONS`), which the report shows.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from ooo.core.policy import DESCRIPTIONS
from ooo.locale import DOMAIN, HERE, LANGUAGES, catalog_path

PACKAGE = HERE.parent
#: Where the report's words are, by how to read them.
PYTHON = (
    "core/wording.py",
    "core/compose.py",
    "core/itip.py",
    "core/digest.py",
    "core/social.py",
    "report/*.py",
)
TEMPLATES = ("report.html.j2",)
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "gettext": None,
    "_": None,
    "N_": None,
    "ngettext": (1, 2),
    "Nn_": (1, 2),
    "count": (2, 3),
    "_around": (2,),  # ooo.report.htmlreport: the words around a row's value
}
HEADER = "The words of ooo's post-vacation report (ooo report --lang)."


def _template_dir() -> Path:
    """The shipped templates: at the top of a checkout, inside the package once installed."""
    for folder in (PACKAGE.parent / "templates", PACKAGE / "templates"):
        if (folder / TEMPLATES[0]).is_file():
            return folder
    raise FileNotFoundError(f"no {TEMPLATES[0]} next to {PACKAGE}")


Message = tuple[str | tuple[str, ...], str]  # the message (a pair with a plural), where


def messages() -> Iterator[Message]:
    """Every message of the report, with the file and line it comes from, in source order."""
    for pattern in PYTHON:
        for path in sorted(PACKAGE.glob(pattern)):
            where = path.relative_to(PACKAGE.parent).as_posix()
            for line, message, _comments, _context in extract_from_file(
                "python", path, keywords=KEYWORDS
            ):
                yield message, f"{where}:{line}"
    folder = _template_dir()
    for name in TEMPLATES:
        for line, message, _comments, _context in extract_from_file(
            "jinja2.ext:babel_extract", folder / name, keywords=KEYWORDS
        ):
            yield message, f"templates/{name}:{line}"
    for reason, text in DESCRIPTIONS.items():
        yield text, f"ooo/core/policy.py:{reason.name}"


def template() -> Catalog:
    """The messages as a catalog template (``report.pot``)."""
    catalog = Catalog(
        domain=DOMAIN, project="ooo", header_comment=f"# {HEADER}", fuzzy=False, charset="utf-8"
    )
    for message, where in messages():
        path, _, line = where.rpartition(":")
        flags = ("python-format",) if "%(" in "".join(_text(message)) else ()
        catalog.add(message, locations=[(path, int(line) if line.isdigit() else 0)], flags=flags)
    return catalog


def _text(message: object) -> tuple[str, ...]:
    """A message's text (both forms of one with a plural), or nothing."""
    if isinstance(message, str):
        return (message,)
    return tuple(message) if isinstance(message, (tuple, list)) else ()


def write(catalog: Catalog, path: Path) -> None:
    with path.open("wb") as fp:
        write_po(fp, catalog, width=100, omit_header=False, include_previous=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    pot = template()
    write(pot, HERE / f"{DOMAIN}.pot")
    print(f"wrote {HERE / f'{DOMAIN}.pot'}: {len(pot)} messages")
    for code in LANGUAGES[1:]:
        path = catalog_path(code)
        with path.open("rb") as fp:
            catalog = read_po(fp, locale=code, domain=DOMAIN)
        catalog.update(pot, no_fuzzy_matching=False)
        write(catalog, path)
        missing = sum(
            bool(m.id and (m.fuzzy or not all(_text(m.string) or ("",)))) for m in catalog
        )
        print(f"updated {path}: {missing} to translate")


if __name__ == "__main__":
    main()
