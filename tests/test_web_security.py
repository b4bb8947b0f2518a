"""The workspace's security over real sockets: loopback unless a token is given, the token on
every request (bearer header or the login form's cookie), CSRF on POST, the Host check, the
headers every response carries; the daemon and `monitor web` refuse an open address."""

from __future__ import annotations

import re

import httpx
import pytest

from monitor.config import load_config
from monitor.web.security import CONTENT_SECURITY_POLICY
from tests.conftest import run_cli
from tests.web_harness import seed_project, served

TOKEN = "a-long-random-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return seed_project(tmp_path_factory.mktemp("websec"), hostile=False)


def test_every_response_carries_the_security_headers(seeded):
    with served(seeded) as site:
        for path in (
            "/",
            "/rules/jo2024-security",
            "/nope",
            "/api/matches?format=csv",
            "/feeds/rules/jo2024-security.atom",
            "/static/web.css",
        ):
            response = httpx.get(site.base + path, timeout=10)
            headers = response.headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert "default-src 'self'" in CONTENT_SECURITY_POLICY
            assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
            assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path
        page = httpx.get(site.base + "/", timeout=10).text
        # Nothing the policy would have to allow: no script, no inline style or handler.
        assert "<script" not in page and " style=" not in page
        assert not re.search(r"<[^>]+\son[a-z]+=", page)


def test_a_token_less_server_answers_only_to_loopback_names(seeded):
    with served(seeded) as site:
        assert httpx.get(site.base + "/", timeout=10).status_code == 200
        ok = httpx.get(site.base + "/", headers={"host": "localhost:9464"}, timeout=10)
        assert ok.status_code == 200
        # A page elsewhere that rebinds its name to 127.0.0.1 sends its own Host.
        rebound = httpx.get(site.base + "/", headers={"host": "evil.example:9464"}, timeout=10)
        assert rebound.status_code == 421


def test_with_a_token_every_request_needs_it(seeded):
    with served(seeded, token=TOKEN) as site:
        for path in ("/", "/api/matches", "/feeds/rules/jo2024-security.atom", "/stories/x"):
            refused = httpx.get(site.base + path, timeout=10)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"] == 'Bearer realm="monitor"'
            assert "2023" not in refused.text
        wrong = httpx.get(site.base + "/", headers={"authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        right = httpx.get(site.base + "/", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert right.status_code == 200 and "France and Morocco" in right.text
        # A browser is sent to the login form instead.
        browser = httpx.get(site.base + "/", headers={"accept": "text/html"}, timeout=10)
        assert browser.status_code == 303 and browser.headers["location"] == "/login"


def test_the_login_form_needs_its_csrf_token_then_sets_a_session_cookie(seeded):
    with (
        served(seeded, token=TOKEN) as site,
        httpx.Client(base_url=site.base, timeout=10) as client,
    ):
        form = client.get("/login")
        assert form.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        assert client.cookies["monitor_csrf"] == csrf

        # No CSRF token, a forged one, or one this server did not sign: refused.
        assert client.post("/login", data={"token": TOKEN}).status_code == 403
        forged = client.post("/login", data={"token": TOKEN, "csrf": "x.y"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        elsewhere = httpx.post(
            site.base + "/login",
            data={"token": TOKEN, "csrf": "abc.def"},
            cookies={"monitor_csrf": "abc.def"},
            timeout=10,
        )
        assert elsewhere.status_code == 403
        assert "monitor_session" not in client.cookies

        wrong = client.post("/login", data={"token": "not-it", "csrf": csrf})
        assert wrong.status_code == 403 and "monitor_session" not in client.cookies
        logged = client.post("/login", data={"token": TOKEN, "csrf": csrf})
        assert logged.status_code == 303
        cookie = logged.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert TOKEN not in cookie  # the cookie is derived from the token, never the token
        page = client.get("/", headers={"accept": "text/html"})
        assert page.status_code == 200 and "France and Morocco" in page.text


def test_an_open_address_without_a_token_is_refused_at_start(seeded):
    web = run_cli(seeded, "web", "--listen", "0.0.0.0:0")
    assert web.returncode == 1
    assert "'0.0.0.0:0' is reachable from other machines" in web.stderr
    assert "MONITOR_WEB_TOKEN" in web.stderr

    config = seeded / "config.yaml"
    original = config.read_text("utf-8")
    try:
        config.write_text(original + "\nweb: {listen: '0.0.0.0:9464'}\n", "utf-8")
        for command in ("run", "check"):
            refused = run_cli(seeded, command)
            assert refused.returncode == 1, command
            assert "'0.0.0.0:9464' is reachable from other machines" in refused.stderr
        short = load_config(config, {"MONITOR_WEB_TOKEN": "short"})
        assert short.web is not None and short.web.token == "short"
        assert "short" not in repr(short.web)
    finally:
        config.write_text(original, "utf-8")


def test_health_listen_is_still_read_as_web_listen(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("health: {listen: '127.0.0.1:9999'}\n", "utf-8")
    web = load_config(path).web
    assert web is not None and (web.host, web.port) == ("127.0.0.1", 9999)
    path.write_text("health: null\n", "utf-8")
    assert load_config(path).web is None
    path.write_text("web: {listen: '[::1]:8080', timezone: Europe/Paris}\n", "utf-8")
    web = load_config(path).web
    assert web is not None and (web.host, web.port, web.timezone) == ("::1", 8080, "Europe/Paris")
    path.write_text("web: {listen: '127.0.0.1:1'}\nhealth: {listen: '127.0.0.1:2'}\n", "utf-8")
    with pytest.raises(Exception, match="'health' is the old name of 'web'"):
        load_config(path)
