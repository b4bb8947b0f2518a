"""urls.py: the one spelling check config, fetch and webhooks apply to every URL."""

import pytest

from monitor.urls import feed_url_problem, web_url_problem


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
