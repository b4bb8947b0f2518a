"""Render a Digest into a Message: subject, plain text, mail-ready HTML and the webhook body.

Owns the templates folder: which template renders which kind, in which bounded sandbox with
which language's catalog (one pair of environments per language), and the HTML finishing
(CSS inlined with css-inline, then the allow-list of `sanitize`). Feed text only ever
reaches templates as variables, never as template source. Must not send anything, read the
store or read the clock.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import css_inline
import jinja2

from monitor.deliver.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_number, translations
from monitor.deliver.payload import WEBHOOK_SCHEMA, build_body
from monitor.deliver.sandbox import (
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TIMEOUT_S,
    BoundedEnvironment,
    RenderLimitError,
)
from monitor.deliver.sanitize import clean_document
from monitor.deliver.spikeview import with_spike_and_trends
from monitor.deliver.view import DigestView, build_view
from monitor.errors import ConfigError
from monitor.model import (
    Article,
    Developing,
    Digest,
    DigestEntry,
    Hit,
    Match,
    Message,
    Priority,
    RuleTrend,
    SpikeAlert,
    SpikeStory,
    StoryCopy,
)

__all__ = ["TEMPLATE_NAMES", "WEBHOOK_SCHEMA", "Renderer", "RendererBySubscription"]

TEMPLATE_NAMES: tuple[str, ...] = (
    "digest.html.j2",
    "digest.txt.j2",
    "alert.html.j2",
    "alert.txt.j2",
    "spike.html.j2",
    "spike.txt.j2",
)
# The templates each kind of message renders with: a follow-up is an alert of stories
# already sent.
_PREFIXES = {"immediate": "alert", "developing": "alert", "digest": "digest", "spike": "spike"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Template:
    name: str
    is_html: bool


def install_language(env: jinja2.Environment, language: str) -> None:
    """Make `_`, `{% trans %}` and the `number` filter of `env` speak `language`.

    `env` must carry the `jinja2.ext.i18n` extension. Newstyle gettext: translated strings are
    escaped like any other value, and a missing placeholder is an error instead of a silent
    '%(name)s' in the message.
    """
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    env.filters["number"] = partial(format_number, language=language)


class Renderer:
    """Renders digests with the templates of one folder, within time and size budgets."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        fallback_dir: Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        # A subscription's own folder may override only some templates: the rest come
        # from `fallback_dir` (the configured `templates`).
        self._folders = [templates_dir, *([fallback_dir] if fallback_dir else [])]
        self._loader = jinja2.FileSystemLoader([str(folder) for folder in self._folders])
        self._timeout_s = timeout_s
        self._max_output_chars = max_output_chars
        # (language, is_html) → its environment: the catalog is installed per environment,
        # so two subscriptions in two languages never share one mid-render.
        self._envs: dict[tuple[str, bool], BoundedEnvironment] = {}
        # Never fetch a <link> stylesheet: rendering must not reach the network.
        self._inliner = css_inline.CSSInliner(
            load_remote_stylesheets=False, keep_style_tags=False, keep_link_tags=False
        )

    def render(self, digest: Digest, *, payload_format: str = "standard") -> Message:
        """Render subject, text, HTML and webhook body; raise ConfigError on a bad template.

        `payload_format` is the webhook body: 'standard' (monitor.digest/1) or 'slack'.
        """
        view = with_spike_and_trends(build_view(digest), digest)
        prefix = _PREFIXES[digest.kind]
        try:
            payload = build_body(digest, payload_format)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return Message(
            subject=view.subject,
            text=self._render(_Template(f"{prefix}.txt.j2", is_html=False), view),
            html=self._finish_html(
                self._render(_Template(f"{prefix}.html.j2", is_html=True), view), view
            ),
            payload=payload,
            language=view.language,
        )

    def template_errors(self) -> list[str]:
        """One 'path:line: problem' per template that is missing, invalid or fails to render."""
        errors: list[str] = []
        for name in TEMPLATE_NAMES:
            try:
                self._env(name.endswith(".html.j2")).get_template(name)
            except jinja2.TemplateNotFound:
                errors.append(f"{self._display_path(name)}: missing template")
            except jinja2.TemplateSyntaxError as exc:
                path = self._display_path(exc.name or name)
                errors.append(f"{path}:{exc.lineno}: {exc.message}")
        if errors:
            return errors
        # Undefined variables only show up when rendering, so try every template once, in
        # every language (a `{% trans %}` placeholder is checked against its catalog).
        for language in LANGUAGES:
            for kind in ("immediate", "digest", "developing", "spike"):
                try:
                    self.render(_sample_digest(kind, language))
                except ConfigError as exc:
                    if str(exc) not in errors:
                        errors.append(str(exc))
        return errors

    def _env(self, is_html: bool, language: str = DEFAULT_LANGUAGE) -> BoundedEnvironment:
        env = self._envs.get((language, is_html))
        if env is None:
            # Autoescape is chosen per environment, explicitly: HTML templates escape every
            # variable, plain-text templates escape none (text/plain has nothing to escape).
            env = BoundedEnvironment(
                self._loader,
                autoescape=is_html,
                timeout_s=self._timeout_s,
                max_output_chars=self._max_output_chars,
            )
            install_language(env, language)
            self._envs[(language, is_html)] = env
        return env

    def _render(self, template: _Template, view: DigestView) -> str:
        env = self._env(template.is_html, view.language)
        try:
            return env.render_bounded(template.name, digest=view)
        except jinja2.TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else template.name
            raise ConfigError("missing template", path=self._display_path(missing)) from exc
        except jinja2.TemplateSyntaxError as exc:
            path = self._display_path(exc.name or template.name)
            raise ConfigError(exc.message or "syntax error", path=path, line=exc.lineno) from exc
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise self._runtime_error(exc, template.name) from exc
        except RecursionError as exc:
            raise self._runtime_error(
                exc, template.name, "a macro calls itself without end"
            ) from exc

    def _runtime_error(self, exc: BaseException, name: str, reason: str = "") -> ConfigError:
        """'cannot render: …' located at the innermost template line of the traceback."""
        template, line = _template_frame(exc.__traceback__, default=name)
        what = "too big or too slow" if isinstance(exc, RenderLimitError) else "cannot render"
        return ConfigError(f"{what}: {reason or exc}", path=self._display_path(template), line=line)

    def _finish_html(self, document: str, view: DigestView) -> str:
        try:
            inlined = self._inliner.inline(document)
        except (css_inline.InlineError, ValueError) as exc:
            name = f"{_PREFIXES[view.kind]}.html.j2"
            raise ConfigError(f"invalid CSS: {exc}", path=self._display_path(name)) from exc
        return clean_document(inlined, title=view.subject)

    def _display_path(self, name: str | None) -> str:
        for folder in self._folders:
            if (folder / (name or "?")).exists():
                return str(folder / (name or "?"))
        return str(self._folders[0] / (name or "?"))


def _template_frame(tb: types.TracebackType | None, *, default: str) -> tuple[str, int | None]:
    """The innermost template file and line in a Jinja2-rewritten traceback."""
    found: tuple[str, int | None] = (default, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (Path(filename).name, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _sample_digest(kind: str, language: str = DEFAULT_LANGUAGE) -> Digest:
    """A small digest that exercises every template branch, for template_errors()."""
    moment = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    title = "Sécurité des JO 2024 : dispositif renforcé"
    summary = "La sécurité des JO 2024 mobilise les services de renseignement."
    article = Article(
        key="sample",
        feed_id="sample-feed",
        url="https://example.org/article",
        guid=None,
        title=title,
        summary=summary,
        body="",
        published_at=moment,
        fetched_at=moment,
        language="fr",
        content_hash="0",
    )
    hits = (
        Hit("sécurité", "sécurité", "summary", 3, 11, summary),
        Hit("Abdellatif Hammouchi", "Hammouchi", "title", 0, 0, title, actor_id="hammouchi"),
    )
    match = Match("sample-rule", "Sample rule", "sample", Priority.HIGH, 1.0, hits)
    other = Match("other-rule", "Other rule", "sample", Priority.LOW, 0.5, hits[:1])
    copy = StoryCopy("Other feed", "https://example.net/copy", moment)
    entry = DigestEntry(
        article, (match, other), "Sample feed", also_in=("Other feed",), copies=(copy,)
    )
    return Digest(
        subscription_id="sample",
        kind=kind,
        created_at=moment,
        timezone="Europe/Paris",
        entries=() if kind == "developing" else (entry,),
        title="Sample",
        feed_problems=("sample-feed: server error (503 status code)",),
        rule_clauses=(("sample-rule", "sécurité and (JO 2024 or Paris 2024)"),),
        language=language,
        developing=(replace(entry, developing=Developing(4, ("Other feed",), ("Hammouchi",))),),
        spike=_sample_spike(article, moment) if kind == "spike" else None,
        trends=(_sample_trend(),) if kind == "digest" else (),
    )


def _sample_spike(article: Article, moment: datetime) -> SpikeAlert:
    story = SpikeStory(article.key, article.title, article.url, article.feed_id, moment, 3)
    return SpikeAlert("sample", "sample-rule", "Sample rule", moment, 3600, 34, 9, 3, 2, (story,))


def _sample_trend() -> RuleTrend:
    days = tuple((f"2024-07-{day:02d}", day % 4, day == 26) for day in range(20, 27))
    return RuleTrend("sample-rule", "Sample rule", days)


class RendererBySubscription:
    """Renders each digest with its subscription's own templates, or the default ones."""

    def __init__(self, default: Renderer, overrides: Mapping[str, Renderer]) -> None:
        self._default = default
        self._overrides = dict(overrides)

    def render(self, digest: Digest, *, payload_format: str = "standard") -> Message:
        chosen = self._overrides.get(digest.subscription_id, self._default)
        return chosen.render(digest, payload_format=payload_format)

    def template_errors(self) -> list[str]:
        errors = self._default.template_errors()
        for renderer in self._overrides.values():
            errors += [error for error in renderer.template_errors() if error not in errors]
        return errors
