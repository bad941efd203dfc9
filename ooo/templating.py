"""Templates as files: the owner's template directory first, then the shipped defaults.

The reply templates (``reply.txt.j2``, ``reply.html.j2`` and any other base name a route or
audience picks) are rendered by Jinja2 in a sandbox, with autoescaping for HTML, undefined
variables as errors, and each file read once (a broken edit reaches a running daemon only
through a reload that renders it first, see ooo.daemon). The pure composer (ooo.core.compose)
sees only the ``render(name, context)`` method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

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

    def check(self, context: dict[str, Any], bases: tuple[str, ...] = ("reply",)) -> list[str]:
        """Render every template once with sample values (what `ooo check` does)."""
        names = [f"{base}.{ext}.j2" for base in dict.fromkeys(bases) for ext in ("txt", "html")]
        for name in names:
            self.render(name, context)
        return names
