"""The Jinja2 adapter of the workspace: the pages of `templates/web/` in one language.

Owns the environment: autoescape on for every template (stored article text is hostile),
undefined variables as errors, the configuration's catalog for `_` and `{% trans %}`.
Renders what it is given; never reads the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from monitor.deliver import format_number, translations
from monitor.errors import ConfigError

PAGE_NAMES = (
    "matches.html.j2",
    "rule.html.j2",
    "story.html.j2",
    "search.html.j2",
    "preview.html.j2",
    "login.html.j2",
    "error.html.j2",
    "atom_entry.html.j2",
)
STYLE_SHEET = "web.css"


class Pages:
    """Renders the workspace's templates from `folder` in `language`."""

    def __init__(self, folder: Path, language: str) -> None:
        self.folder = folder
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Newstyle gettext: translated strings are escaped like any value (see deliver).
        self._env.install_gettext_translations(  # type: ignore[attr-defined]
            translations(language), newstyle=True
        )
        self._env.filters["number"] = lambda value: format_number(value, language)
        self._env.globals["language"] = language

    def problems(self) -> list[str]:
        """'path:line: problem' for each page template missing or not compiling."""
        found: list[str] = []
        if not (self.folder / STYLE_SHEET).is_file():
            found.append(f"{self.folder / STYLE_SHEET}: missing")
        for name in PAGE_NAMES:
            try:
                self._env.get_template(name)
            except jinja2.TemplateNotFound:
                found.append(f"{self.folder / name}: missing template")
            except jinja2.TemplateSyntaxError as exc:
                found.append(f"{self.folder / (exc.name or name)}:{exc.lineno}: {exc.message}")
        return found

    def render(self, name: str, **context: Any) -> str:
        try:
            return self._env.get_template(name).render(**context)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"cannot render: {exc}", path=str(self.folder / name)) from exc

    def style_sheet(self) -> bytes:
        return (self.folder / STYLE_SHEET).read_bytes()
