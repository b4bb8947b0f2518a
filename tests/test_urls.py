"""urls.py: the one spelling check config, fetch and webhooks apply to every URL."""

import pytest

from monitor.urls import (
    feed_url_problem,
    web_url_problem,
    with_credentials_of,
    without_credentials,
)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://host\\@evil.example/feed", "a backslash at position 12"),
        ("https://host/a\\b", "a backslash"),
        ("https://a@b@evil.example/", "more than one '@'"),
        ("https://@host/", "an empty user name"),
        ("https://host/r?to=https://user:pass@evil.example/", "credentials ('scheme://user@')"),
        ("https://host/r/http:%2F%2Fuser:pass@evil.example/", "credentials ('scheme://user@')"),
        ("https://host/\tfeed", "a tab at position 13"),
        ("https://host/feed\r\nX-Injected: 1", "a carriage return (CR)"),
        ("https://host/feed\n", "a line feed (LF)"),
        ("https://ho\x00st/", "control character U+0000"),
        ("https://host/\x85", "control character U+0085"),
        (" https://host/feed", "starts or ends with a space"),
        ("ftp://host/feed.xml", "unsupported URL scheme 'ftp'"),
        ("javascript:alert(1)", "unsupported URL scheme 'javascript'"),
        ("https:/host/feed", "no '//' after the scheme"),
        ("https:///feed", "no host name"),
        ("https://%65vil.example/", "invalid host name '%65vil.example'"),
        ("https://host:99999/", "invalid port"),
        ("https://[::1/", "invalid port or bracketed address"),
    ],
)
def test_hostile_urls_are_refused_with_the_reason(url, fragment):
    problem = web_url_problem(url)
    assert problem is not None and fragment in problem
    assert feed_url_problem(url) == problem


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/feed.xml",
        "http://user:pass@example.org:8080/feed",  # credentials belong in the userinfo
        "https://user%40corp:p%40ss@example.org/feed",
        "https://mastodon.example/@desk.rss",  # '@' in a path is common and harmless
        "https://example.org/search?author=desk@example.org&q=a b",
        "https://[2001:db8::1]:8443/feed",
        "HTTPS://EXAMPLE.ORG/",
    ],
)
def test_ordinary_urls_pass(url):
    assert web_url_problem(url) is None


@pytest.mark.parametrize(
    "url", ["seeds/feeds/seed-fr.xml", "C:\\feeds\\x.xml", "file:///srv/feeds/x.xml", "a:b/x.xml"]
)
def test_local_feed_paths_keep_their_backslashes(url):
    assert feed_url_problem(url) is None


def test_a_local_path_with_a_control_character_is_refused():
    problem = feed_url_problem("seeds/feed\n.xml")
    assert problem is not None and "a line feed (LF)" in problem


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://reader:pw@news.example/feed", "https://news.example/feed"),
        ("https://reader@news.example:8443/a?b=c", "https://news.example:8443/a?b=c"),
        ("https://news.example/@desk.rss", "https://news.example/@desk.rss"),
        ("seeds/feeds/seed-fr.xml", "seeds/feeds/seed-fr.xml"),
    ],
)
def test_stored_urls_lose_their_credentials(url, stored):
    assert without_credentials(url) == stored


@pytest.mark.parametrize(
    ("moved_to", "feed_url", "polled"),
    [
        # Same server: the feed's credentials follow it to the new path.
        (
            "https://news.example/new",
            "https://r:pw@news.example/old",
            "https://r:pw@news.example/new",
        ),
        (
            "https://NEWS.example/new",
            "https://r:pw@news.example/old",
            "https://r:pw@NEWS.example/new",
        ),
        # Another host, port or scheme: they never travel there.
        ("https://other.example/new", "https://r:pw@news.example/old", "https://other.example/new"),
        (
            "https://news.example:8443/new",
            "https://r:pw@news.example/old",
            "https://news.example:8443/new",
        ),
        ("http://news.example/new", "https://r:pw@news.example/old", "http://news.example/new"),
        # No credentials to give, or the new URL has its own.
        ("https://news.example/new", "https://news.example/old", "https://news.example/new"),
        (
            "https://x:y@news.example/new",
            "https://r:pw@news.example/old",
            "https://x:y@news.example/new",
        ),
    ],
)
def test_credentials_follow_a_feed_only_on_its_own_server(moved_to, feed_url, polled):
    assert with_credentials_of(moved_to, feed_url) == polled
