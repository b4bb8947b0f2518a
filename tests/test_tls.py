"""TLS for feeds fails closed: an untrusted CA, an expired certificate and a host name mismatch
are each a `tls_error`, against a real TLS server on 127.0.0.1 with a local CA (trustme).
A feed's own `ca_file` is the only way to trust another CA; nothing turns verification off."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from monitor.config.load import load_config
from monitor.errors import FetchError
from monitor.ingest import Fetcher
from monitor.model import Feed, FetchResult
from monitor.settings import FetchSettings

NOW = dt.datetime(2026, 10, 21, 7, 0, tzinfo=dt.UTC)
BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_tls(certificate: trustme.LeafCert) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def good_port(ca: trustme.CA) -> Iterator[int]:
    yield from serve_tls(ca.issue_cert("127.0.0.1", "news.test"))


@pytest.fixture(scope="module")
def expired_port(ca: trustme.CA) -> Iterator[int]:
    expired = ca.issue_cert("127.0.0.1", not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    yield from serve_tls(expired)


@pytest.fixture(scope="module")
def other_host_port(ca: trustme.CA) -> Iterator[int]:
    yield from serve_tls(ca.issue_cert("elsewhere.test"))


def fetch(url: str, *, ca_file: Path | None = None) -> FetchResult:
    feed = Feed(id="f", url=url, allow_private=True, ca_file=str(ca_file) if ca_file else None)

    async def run() -> FetchResult:
        async with Fetcher(FetchSettings(host_spacing_s=0), base_dir=Path(".")) as fetcher:
            return await fetcher.fetch(feed, None, NOW)

    return asyncio.run(run())


def fetch_error(url: str, **kwargs: Path) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **kwargs)
    return caught.value


def test_a_certificate_from_an_unknown_ca_is_refused(good_port):
    error = fetch_error(f"https://127.0.0.1:{good_port}/feed")

    assert "tls_error: certificate refused" in str(error)
    assert "unable to get local issuer certificate" in str(error)
    assert "set ca_file on the feed" in str(error)


def test_the_feed_s_ca_file_trusts_its_private_ca(good_port, ca_file):
    assert fetch(f"https://127.0.0.1:{good_port}/feed", ca_file=ca_file).body == BODY


def test_an_expired_certificate_is_refused_even_from_a_trusted_ca(expired_port, ca_file):
    error = fetch_error(f"https://127.0.0.1:{expired_port}/feed", ca_file=ca_file)

    assert "tls_error: certificate refused (certificate has expired)" in str(error)


def test_a_certificate_for_another_host_is_refused_even_from_a_trusted_ca(other_host_port, ca_file):
    error = fetch_error(f"https://127.0.0.1:{other_host_port}/feed", ca_file=ca_file)

    assert "tls_error: certificate refused" in str(error)
    assert "mismatch" in str(error).lower()


def test_a_feed_s_ca_file_is_not_trusted_for_other_feeds(good_port, ca_file):
    feeds = [
        Feed(
            id="own",
            url=f"https://127.0.0.1:{good_port}/a",
            allow_private=True,
            ca_file=str(ca_file),
        ),
        Feed(id="other", url=f"https://127.0.0.1:{good_port}/b", allow_private=True),
    ]

    async def run() -> list[FetchResult | BaseException]:
        async with Fetcher(FetchSettings(host_spacing_s=0), base_dir=Path(".")) as fetcher:
            return [await _outcome(fetcher, feed) for feed in feeds]

    own, other = asyncio.run(run())
    assert isinstance(own, FetchResult)
    assert isinstance(other, FetchError) and "tls_error" in str(other)


async def _outcome(fetcher: Fetcher, feed: Feed) -> FetchResult | BaseException:
    try:
        return await fetcher.fetch(feed, None, NOW)
    except FetchError as exc:
        return exc


def test_ca_file_is_read_relative_to_the_config_and_verification_cannot_be_turned_off(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "feeds: [{id: f, url: 'https://127.0.0.1/rss', ca_file: certs/ca.pem}]\n"
        "subscriptions: [{id: s, immediate: high, to: {folder: out}}]\n",
        encoding="utf-8",
    )
    (feed,) = load_config(tmp_path / "config.yaml").feeds
    assert feed.ca_file == str((tmp_path / "certs" / "ca.pem").resolve())
    from monitor.config import schema

    names = {name for spec in (schema.FeedSpec, schema.FetchSpec) for name in spec.model_fields}
    assert not {name for name in names if "verify" in name or "insecure" in name}


def test_an_unreadable_ca_file_is_named(good_port, tmp_path):
    error = fetch_error(f"https://127.0.0.1:{good_port}/feed", ca_file=tmp_path / "missing.pem")

    assert f"cannot load ca_file '{tmp_path / 'missing.pem'}'" in str(error)
