"""Templates as files: the owner's template directory first, then the shipped defaults.

The reply templates (``reply.txt.j2``, ``reply.html.j2``, their languages ``reply.de.txt.j2``
..., and any other base name a route or audience picks) are rendered by Jinja2 in a sandbox,
with autoescaping for HTML, undefined variables as errors, and each file read once (a broken
edit reaches a running daemon only through a reload that renders it first, see ooo.daemon).
Dates, weekdays and times come out in the reply's language through Babel: the filters
``format_date``, ``format_datetime`` and ``format_time`` read the ``language`` and
``timezone`` of the context. The pure composer (ooo.core.compose) sees only the
:class:`ooo.core.compose.Render` methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.sandbox
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates

from ooo.core.language import template_candidates
from ooo.core.wording import ENGLISH
from ooo.errors import UserError
from ooo.resources import shipped

TEXT_TEMPLATE = "reply.txt.j2"
HTML_TEMPLATE = "reply.html.j2"


def default_template_dir() -> Path:
    """The shipped templates (see ooo.resources)."""
    found = shipped("templates")
    if found is not None and (found / TEXT_TEMPLATE).is_file():
        return found
    raise UserError(
        "the default reply templates are missing from this installation",
        advice="reinstall ooo (pip install --force-reinstall ooo)",
    )


class Renderer:
    """Loads templates once (the user's directory first, then the defaults) in a sandbox."""

    def __init__(self, user_dir: Path | None = None) -> None:
        dirs = [str(Path(user_dir).expanduser())] if user_dir else []
        dirs.append(str(default_template_dir()))
        self.dirs = dirs
        self.env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(dirs),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "html.j2"), default_for_string=False
            ),
            undefined=jinja2.StrictUndefined,
            # A template is read once: an edit on disk reaches a running daemon only through a
            # reload that renders it first (ooo.daemon), so a broken edit never goes out.
            auto_reload=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            format_date=_format_date, format_datetime=_format_datetime, format_time=_format_time
        )
        self._exists: dict[str, bool] = {}

    def exists(self, name: str) -> bool:
        """Whether template ``name`` is in the owner's folder or ours (asked once per name,
        like the templates themselves are read once)."""
        if name not in self._exists:
            try:
                self.env.get_template(name)
                self._exists[name] = True
            except jinja2.TemplateNotFound:
                self._exists[name] = False
            except jinja2.TemplateError:
                self._exists[name] = True  # there, but broken: render() says how
        return self._exists[name]

    def day(self, moment: datetime, language: str) -> str:
        """The day ``moment`` falls on (in its own time zone), as people write it in
        ``language``: "Tuesday 5 January 2027", "Dienstag, 5. Januar 2027"."""
        if language == "en":  # the wording replies have always had
            return ENGLISH.spelled_day(moment.date())
        return babel_dates.format_date(moment.date(), "full", locale=_locale(language))

    def language_name(self, language: str) -> str:
        """The language's name in itself: "Deutsch", "Français"."""
        name = _locale(language).get_display_name(_locale(language)) or language
        return name[:1].upper() + name[1:]

    def render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            searched = ", ".join(self.dirs)
            raise UserError(
                f"template {name} not found (looked in {searched})",
                advice="add the file to [templates] dir, or fix the template name in the config",
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise UserError(
                f"template {exc.filename or exc.name}:{exc.lineno}: {exc.message}",
                advice="fix the template; `ooo check` renders every template",
            ) from exc
        except jinja2.TemplateError as exc:
            raise UserError(
                f"template {name} failed to render: {exc}",
                advice="the variables a template can use are listed in templates/README.md",
            ) from exc

    def check(
        self,
        context: dict[str, Any],
        bases: tuple[str, ...] = ("reply",),
        languages: Sequence[str] = ("en",),
    ) -> list[str]:
        """Render every template once with sample values, in every language, as a reply would
        pick it (what `ooo check` does); returns the files rendered."""
        names: list[str] = []
        default = languages[0] if languages else "en"
        for language in dict.fromkeys(languages or ("en",)):
            localised = {**context, "language": language}
            if "away" in context:
                back_on = self.day(context["away"]["end"], language)
                localised["back_on"] = back_on
                localised["away"] = {**context["away"], "back_on": back_on}
            for base in dict.fromkeys(bases):
                for ext in ("txt", "html"):
                    candidates = template_candidates(base, language, default, ext)
                    name = next((n for n in candidates if self.exists(n)), candidates[0])
                    self.render(name, localised)
                    names.append(name)
        return list(dict.fromkeys(names))


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _zone(ctx: jinja2.runtime.Context) -> ZoneInfo | None:
    name = ctx.get("timezone")
    try:
        return ZoneInfo(str(name)) if name else None
    except (ValueError, KeyError):
        return None


def _local(ctx: jinja2.runtime.Context, value: Any) -> Any:
    """An aware datetime moved to the owner's time zone (a date or naive value as given)."""
    zone = _zone(ctx)
    if isinstance(value, datetime) and value.tzinfo is not None and zone is not None:
        return value.astimezone(zone)
    return value


@jinja2.pass_context
def _format_date(ctx: jinja2.runtime.Context, value: date | datetime, format: str = "long") -> str:
    """``{{ away.end|format_date("full") }}``: "Dienstag, 5. Januar 2027" in a German reply."""
    local = _local(ctx, value)
    day = local.date() if isinstance(local, datetime) else local
    return babel_dates.format_date(day, format, locale=_locale(str(ctx.get("language", "en"))))


@jinja2.pass_context
def _format_datetime(ctx: jinja2.runtime.Context, value: datetime, format: str = "medium") -> str:
    """``{{ away.end|format_datetime("long") }}``, in the owner's time zone."""
    return babel_dates.format_datetime(
        value,
        format,
        tzinfo=_zone(ctx),
        locale=_locale(str(ctx.get("language", "en"))),
    )


@jinja2.pass_context
def _format_time(ctx: jinja2.runtime.Context, value: datetime | time, format: str = "short") -> str:
    """``{{ away.end|format_time }}``: "09:00" in German, "9:00 AM" in English."""
    return babel_dates.format_time(
        value,
        format,
        tzinfo=_zone(ctx) if isinstance(value, datetime) else None,
        locale=_locale(str(ctx.get("language", "en"))),
    )
