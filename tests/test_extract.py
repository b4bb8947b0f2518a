"""extract.py: full text of article pages served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor import netguard
from monitor.ingest.extract import extract_full_text
from monitor.ingest.fetch import Fetcher
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parse import parse_feed
from monitor.model import Feed, FetchResult
from monitor.settings import FetchSettings

NOW = datetime(2026, 10, 21, 7, 0, tzinfo=UTC)
PARAGRAPHS = [
    "Les services de renseignement marocains et français ont annoncé mardi à Rabat un "
    "renforcement de leur coopération en vue des Jeux olympiques de Paris, après plusieurs "
    "mois de discussions techniques entre les deux directions générales concernées.",
    "Selon un communiqué commun, des officiers de liaison seront détachés dans les centres "
    "de commandement pendant toute la durée des épreuves, et les échanges d'informations sur "
    "les menaces terroristes seront quotidiens jusqu'à la cérémonie de clôture.",
    "Cette annonce confirme le réchauffement des relations entre les deux pays, marqué ces "
    "dernières semaines par plusieurs visites ministérielles et la signature d'accords dans "
    "les domaines de la sécurité, de l'énergie et de l'éducation.",
]
ARTICLE_PAGE = f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Coopération sécuritaire</title></head>
<body>
<nav><a href="/">Accueil</a> | <a href="/monde">Monde</a> | <a href="/sport">Sport</a></nav>
<article>
<h1>JO 2024 : Rabat et Paris renforcent leur coopération</h1>
{"".join(f"<p>{paragraph}</p>" for paragraph in PARAGRAPHS)}
</article>
<aside>Lire aussi : les dix plus belles plages du Maroc</aside>
<footer>© Le Courrier 2026 — mentions légales — abonnez-vous à la lettre</footer>
</body></html>
""".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:
        routes = {
            "/article": (200, "text/html; charset=utf-8", ARTICLE_PAGE),
            "/report.pdf": (200, "application/pdf", b"%PDF-1.4 not html"),
            "/empty": (200, "text/html", b"<html><body></body></html>"),
            "/path-body": (200, "text/html", str(self.server.secret_page).encode()),
        }
        status, content_type, body = routes.get(self.path, (404, "text/html", b"<p>no</p>"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, secret_page: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret_page = secret_page
        self.connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_PageServer]:
    secret_page = tmp_path / "secret.html"
    secret_page.write_bytes(ARTICLE_PAGE.replace(b"renseignement", b"SECRET-ON-DISK"))
    page_server = _PageServer(secret_page)
    thread = threading.Thread(target=page_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield page_server
    page_server.shutdown()
    page_server.server_close()
    thread.join()


@pytest.fixture
def loopback_plays_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """No public server is reachable from a test: let 127.0.0.1 play one."""
    real_policy = netguard.is_public_address
    monkeypatch.setattr(
        netguard, "is_public_address", lambda text: text == "127.0.0.1" or real_policy(text)
    )


def extract(url: str, max_chars: int = 10_000) -> str | None:
    async def run() -> str | None:
        async with Fetcher(FetchSettings(host_spacing_s=0.0), base_dir=Path(".")) as fetcher:
            return await extract_full_text(fetcher, url, NOW, max_chars=max_chars)

    return asyncio.run(run())


@pytest.mark.usefixtures("loopback_plays_public")
def test_main_text_without_navigation_or_footer(server: _PageServer) -> None:
    text = extract(server.base_url + "/article")

    assert text is not None
    for paragraph in PARAGRAPHS:
        assert paragraph in text
    assert "Accueil" not in text
    assert "mentions légales" not in text


@pytest.mark.usefixtures("loopback_plays_public")
def test_text_is_cut_at_max_chars_on_a_word(server: _PageServer) -> None:
    full = extract(server.base_url + "/article")
    text = extract(server.base_url + "/article", max_chars=100)

    assert full is not None
    assert text is not None
    assert len(text) <= 100
    assert full.startswith(text)
    assert full[len(text)].isspace()


@pytest.mark.usefixtures("loopback_plays_public")
@pytest.mark.parametrize("path", ["/report.pdf", "/missing", "/empty"])
def test_pages_without_article_text_give_none(server: _PageServer, path: str) -> None:
    assert extract(server.base_url + path) is None


@pytest.mark.usefixtures("loopback_plays_public")
def test_body_naming_a_local_file_is_never_read(server: _PageServer) -> None:
    text = extract(server.base_url + "/path-body")

    assert text is None or "SECRET-ON-DISK" not in text


def test_feed_links_to_loopback_are_refused_with_full_text_on(server: _PageServer) -> None:
    feed = Feed(id="local", url=server.base_url + "/feed", full_text=True, allow_private=True)
    body = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
    <item><title>Un</title><link>{server.base_url}/article</link></item>
    <item><title>Deux</title><link>http://localhost:{server.server_address[1]}/article</link></item>
    <item><title>Trois</title><link>http://[::ffff:127.0.0.1]:{server.server_address[1]}/a</link></item>
    </channel></rss>""".encode()
    fetched = FetchResult(
        feed_id=feed.id, url=feed.url, status=200, body=body, headers=(), fetched_at=NOW
    )
    articles = normalize_entries(parse_feed(fetched), feed, NOW)
    connections_before = server.connections

    # The feed itself is the operator's (allow_private); the links inside it are not.
    texts = [extract(article.url) for article in articles if article.url]

    assert texts == [None, None, None]
    assert server.connections == connections_before
