"""The one interface every output of the report has (as coverage.py's ``report_core``).

A reporter turns a :class:`ooo.core.report.Report` into the text of one file. Each format is
one module (``textreport``, ``mdreport``, ``htmlreport``, ``jsonreport``, ``csvreport``) that
ends with its :class:`Reporter`, a record: the format's name, its file suffix and its render
function. ``ooo.report.render`` picks the reporter by name, so a new format adds a module
and one entry in ``ooo.report.REPORTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ooo.core.report import Report
from ooo.core.wording import Language

Format = Literal["text", "markdown", "html", "json", "csv"]
FORMATS: tuple[Format, ...] = get_args(Format)


@dataclass(frozen=True)
class Reporter:
    """One output format of the report."""

    format: Format
    """The name ``ooo report --format`` takes."""
    suffix: str
    """The file name ending of a written report (``.html``)."""
    render: Callable[[Report, Path | None, Language], str]
    """The whole file, ending with a newline, from the report, the owner's ``[templates]
    dir`` (a format drawn from a template looks there first, then at the shipped templates;
    the formats written by code do not use it) and the language of its words."""
