"""Render benchmark: what each step of turning a digest into an email costs, by digest size.

    python -m bench.render [--quick]

Steps: the view (grouping, snippets), the shipped templates in the bounded sandbox, the same
templates in a plain Jinja2 sandbox (to price the time and size guards), CSS inlining,
allow-list sanitising, the whole `Renderer.render`, and the two webhook bodies. Digests are
synthetic (seed-article sentences, two rules, every third article under both).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import css_inline
import jinja2
from jinja2.sandbox import SandboxedEnvironment

from bench.report import measured, record
from monitor.deliver.payload import build_payload, build_slack_payload
from monitor.deliver.render import Renderer, install_language
from monitor.deliver.sandbox import BoundedEnvironment
from monitor.deliver.sanitize import clean_document
from monitor.deliver.view import build_view
from monitor.model import Article, Digest, DigestEntry, Hit, Match, Priority

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
SEED = ROOT / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt"
NOW = datetime(2024, 7, 26, 6, 0, tzinfo=UTC)
SIZES = (10, 200, 1000)
QUICK_SIZES = (10, 200)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller digests, fewer rounds")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    rounds = 5 if args.quick else 15
    print(f"{rounds} rounds: median (min-max); ratio of medians against plain Jinja2\n")
    print(f"{'articles':>8}  {'step':<28} {'median ms':>10} {'min':>8} {'max':>8} {'ratio':>7}")
    for size in sizes:
        digest = make_digest(size)
        steps = _steps(digest)
        timings = {name: _samples_ms(step, rounds) for name, step in steps.items()}
        base = statistics.median(timings["templates, plain sandbox"])
        for name, samples in timings.items():
            ms = statistics.median(samples)
            print(
                f"{size:>8}  {name:<28} {ms:>10.2f} {min(samples):>8.2f} {max(samples):>8.2f} "
                f"{ms / base:>6.2f}x"
            )
        record(
            measured(
                "render", f"{size} articles: whole render", timings["Renderer.render (all)"], "ms"
            )
        )
        html_kb = len(Renderer(TEMPLATES).render(digest).html.encode()) / 1024
        print(f"{size:>8}  {'(HTML size, KiB)':<28} {html_kb:>9.0f}\n")


def _steps(digest: Digest) -> dict[str, Callable[[], object]]:
    loader = jinja2.FileSystemLoader(str(TEMPLATES))
    bounded_html = BoundedEnvironment(loader, autoescape=True)
    bounded_text = BoundedEnvironment(loader, autoescape=False)
    plain_html = _plain(loader, autoescape=True)
    plain_text = _plain(loader, autoescape=False)
    for env in (bounded_html, bounded_text, plain_html, plain_text):
        install_language(env, digest.language)
    view = build_view(digest)
    document = bounded_html.render_bounded("digest.html.j2", digest=view)
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False)
    inlined = inliner.inline(document)
    renderer = Renderer(TEMPLATES)
    return {
        "view": lambda: build_view(digest),
        "templates, plain sandbox": lambda: (
            plain_html.get_template("digest.html.j2").render(digest=view),
            plain_text.get_template("digest.txt.j2").render(digest=view),
        ),
        "templates, bounded sandbox": lambda: (
            bounded_html.render_bounded("digest.html.j2", digest=view),
            bounded_text.render_bounded("digest.txt.j2", digest=view),
        ),
        "css inlining": lambda: inliner.inline(document),
        "allow-list sanitising": lambda: clean_document(inlined, title=view.subject),
        "Renderer.render (all)": lambda: renderer.render(digest),
        "webhook JSON": lambda: build_payload(digest),
        "slack body": lambda: build_slack_payload(digest),
    }


def _plain(loader: jinja2.BaseLoader, *, autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )


def _samples_ms(step: Callable[[], object], rounds: int) -> list[float]:
    step()  # warm caches (compiled templates)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def make_digest(size: int) -> Digest:
    """`size` articles with sentences from the seed; every third one matches both rules."""
    sentences = [line.strip() for line in SEED.read_text("utf-8").splitlines() if len(line) > 80]
    entries = []
    for index in range(size):
        summary = sentences[index % len(sentences)]
        article = Article(
            key=f"a{index}",
            feed_id=f"feed-{index % 7}",
            url=f"https://news.example/{index}",
            guid=None,
            title=f"Article {index}: " + summary[:70],
            summary=summary,
            body="",
            published_at=NOW - timedelta(minutes=index),
            fetched_at=NOW,
            language="fr",
            content_hash=str(index),
        )
        words = [word for word in summary.split() if len(word) > 6][:3] or [summary.split()[0]]
        hits = tuple(_hit(summary, word) for word in words)
        matches = [Match("security", "Security", article.key, Priority.HIGH, 2.0, hits)]
        if index % 3 == 0:
            matches.append(
                Match("cooperation", "Cooperation", article.key, Priority.NORMAL, 1.0, hits)
            )
        entries.append(DigestEntry(article, tuple(matches), feed_title=f"Outlet {index % 7}"))
    return Digest("desk", "digest", NOW, "Europe/Paris", tuple(entries), title="Daily digest")


def _hit(summary: str, word: str) -> Hit:
    start = summary.index(word)
    return Hit(word, word, "summary", start, start + len(word), summary)


if __name__ == "__main__":
    main()
