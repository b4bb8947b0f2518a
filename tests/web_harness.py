"""The workspace as the tests use it: the seed project after a real `monitor run --once`,
and the real web app served by uvicorn on a loopback port in a thread of its own."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app.wiring import build_web_server, rules_for_start
from monitor.config import load_config
from monitor.store import Store
from tests.conftest import ROOT, run_cli, use_store

# Wednesday after the seed's newest article: fixed, so "last 30 days" holds the seed.
NOW = datetime(2023, 6, 14, 12, 0, tzinfo=UTC)

# An article whose text is hostile markup; it matches the Morocco-France rule (DGST, Maroc).
HOSTILE_ITEM = """
    <item>
      <title>La DGST et le Maroc &amp;lt;script&amp;gt;alert("title")&amp;lt;/script&amp;gt;</title>
      <link>https://lecourrier-rabat.example/securite/2023/06/13/hostile</link>
      <guid isPermaLink="false">lcr-hostile-1</guid>
      <pubDate>Tue, 13 Jun 2023 07:00:00 +0100</pubDate>
      <description><![CDATA[<p>La DGST coopère avec la France au Maroc.</p>]]></description>
    </item>
"""


def seed_project(folder: Path, *, hostile: bool = True, store: str | None = None) -> Path:
    """The shipped project in `folder`, its store filled by a real `monitor run --once`; the
    store is `store` (a store URL, e.g. the `store_url` fixture's) or the shipped SQLite file."""
    shutil.copy(ROOT / "config.yaml", folder / "config.yaml")
    for name in ("rules", "templates", "seeds"):
        shutil.copytree(ROOT / name, folder / name)
    if store is not None:
        use_store(folder, store)
    if hostile:
        feed = folder / "seeds" / "feeds" / "seed-fr.xml"
        text = feed.read_text(encoding="utf-8")
        feed.write_text(text.replace("<item>", HOSTILE_ITEM + "\n    <item>", 1), "utf-8")
    result = run_cli(folder, "run", "--once")
    assert result.returncode == 0, result.stderr
    return folder


class ServedWorkspace:
    """The project's workspace on 127.0.0.1 (a free port), as `monitor web` serves it."""

    def __init__(
        self, project: Path, *, token: str | None = None, now: datetime = NOW, **web: object
    ) -> None:
        environ = {"MONITOR_WEB_TOKEN": token} if token else {}
        config = load_config(project / "config.yaml", environ, require_secrets=False)
        assert config.web is not None
        config = replace(config, web=replace(config.web, **web))  # type: ignore[arg-type]
        rules = rules_for_start(config).rules
        self.store = Store(config.store.url)
        self.server = build_web_server(
            lambda: config, self.store, lambda: rules, clock=lambda: now, listen=("127.0.0.1", 0)
        )
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(20), "the web server did not start"
        self.base = self.server.url

    def _run(self) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            await self.server.start()
            self._ready.set()
            await self._stop.wait()
            await self.server.close()

        self._loop.run_until_complete(serve())

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        self._loop.close()
        self.store.close()


@contextmanager
def served(project: Path, **options: object) -> Iterator[ServedWorkspace]:
    workspace = ServedWorkspace(project, **options)  # type: ignore[arg-type]
    try:
        yield workspace
    finally:
        workspace.close()


def project_store(project: Path) -> Store:
    """The store the project's config.yaml names, opened (the caller closes it)."""
    config = load_config(project / "config.yaml", {}, require_secrets=False)
    return Store(config.store.url)


def module_store(request: pytest.FixtureRequest) -> str | None:
    """For a module-scoped fixture parametrised over "sqlite" and "postgresql": None (the
    shipped SQLite file) or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return None
    databases = request.getfixturevalue("pg_databases")
    return str(databases.server.socket_url(databases.create()))
