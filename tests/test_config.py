"""config.yaml: the shipped file loads, and mistakes are named with file and line."""

import time
from pathlib import Path

import pytest

from monitor.config.load import load_config, parse_duration_s
from monitor.errors import ConfigError
from monitor.model import FollowUpPolicy, Priority
from monitor.settings import FetchSettings, StorySettings

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_watches_the_seed_feeds_and_writes_to_the_outbox_folder():
    config = load_config(ROOT / "config.yaml")
    assert {feed.id for feed in config.feeds} == {"seed-fr", "wire-en"}
    assert config.store_path == ROOT / "var" / "monitor.db"
    alerts, daily = config.subscriptions
    assert alerts.immediate is Priority.HIGH and alerts.schedule is None
    assert daily.schedule == "0 8 * * *" and daily.timezone == "Europe/Paris"
    assert {channel.kind for sub in config.subscriptions for channel in sub.channels} == {"folder"}


def test_unknown_key_is_named_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "feeds:\n  - id: a\n    url: a.xml\n    evry: 5m\nsubscriptions: []\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 4
    assert str(caught.value) == f"{path}:4: feeds['a'].evry: unknown key (did you mean 'every'?)"


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "feeds:\n  - id: a\n    url: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == str(path)
    assert caught.value.line is not None and caught.value.line >= 3


def test_secrets_come_from_the_environment(tmp_path):
    path = write(
        tmp_path,
        "smtp:\n  host: mail.example.org\n  password: ${SMTP_PASSWORD}\n",
    )
    config = load_config(path, environ={"SMTP_PASSWORD": "s3cret"})
    assert config.smtp is not None and config.smtp.password == "s3cret"
    with pytest.raises(
        ConfigError,
        match=r":3: secret 'SMTP_PASSWORD' is not set in the environment "
        r"\(needed by smtp.password\)",
    ):
        load_config(path, environ={})


def test_password_file_is_read_relative_to_the_config(tmp_path):
    (tmp_path / "smtp.secret").write_text("from-file\n")
    path = write(tmp_path, "smtp:\n  host: h\n  password_file: smtp.secret\n")
    config = load_config(path, environ={})
    assert config.smtp is not None and config.smtp.password == "from-file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "subscriptions:\n  - id: s\n    timezone: Mars/Olympus\n    immediate: high\n"
            "    to: {folder: out}\n",
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            "subscriptions:\n  - id: s\n    to: {folder: out}\n",
            "set 'schedule' (a cron digest), 'immediate', or both",
        ),
        (
            "subscriptions:\n  - id: s\n    immediate: high\n"
            "    to: {folder: out, email: [a@b.c]}\n",
            "exactly one of folder, email, webhook, apprise",
        ),
        ("feeds:\n  - {id: a, url: a.xml}\n  - {id: a, url: b.xml}\n", "feed id 'a' is used twice"),
        ("feeds:\n  - {id: a, url: a.xml, every: soon}\n", "'soon' is not a duration"),
        ("fetch:\n  max_interval: soon\n", "'soon' is not a duration"),
    ],
)
def test_cross_field_mistakes_are_explained(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert message in str(caught.value)
    assert caught.value.line is not None


def test_fetch_settings_are_read_into_one_settings_object(tmp_path):
    path = write(tmp_path, "fetch:\n  timeout_s: 3\n  max_per_host: 4\n  max_interval: 2h\n")
    assert load_config(path).fetch == FetchSettings(
        timeout_s=3.0, max_per_host=4, max_interval_s=7200.0
    )
    assert load_config(write(tmp_path, "feeds: []\n")).fetch == FetchSettings()


def test_story_settings_are_read_into_the_settings_the_scheme_takes(tmp_path):
    assert load_config(write(tmp_path, "feeds: []\n")).stories == StorySettings()
    path = write(
        tmp_path,
        "stories:\n  window: 2d\n  threshold: 0.3\n  feed_rarity: 0\n  body_tokens: 100\n"
        "  weights: {title: 2}\n",
    )
    assert load_config(path).stories == StorySettings(
        window_s=172800.0, threshold=0.3, feed_rarity_power=0.0, body_tokens=100, title_weight=2.0
    )


@pytest.mark.parametrize(
    ("stories", "line", "said"),
    [
        ("{window: 10m}", 2, "stories.window: a story window of '10m' is out of range: use 1h"),
        ("{window: soon}", 2, "'soon' is not a duration"),
        ("{threshold: 0}", 2, "stories.threshold: should be more than 0"),
        ("{threshold: 1.5}", 2, "stories.threshold: should be at most 1"),
        ("{threshold: 0.7}", 2, "unnamed_threshold (0.6) is below threshold (0.7)"),
        ("{weights: {title: 0, summary: 0, body: 0}}", 2, "every field weighs 0"),
        ("{treshold: 0.3}", 2, "treshold"),
    ],
)
def test_a_wrong_story_setting_is_named_with_its_line_and_what_to_write(
    tmp_path, stories, line, said
):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"feeds: []\nstories: {stories}\n"))
    assert caught.value.line == line
    assert said in str(caught.value)


def test_missing_file_says_how_to_fix_it(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_durations():
    assert parse_duration_s("90s") == 90
    assert parse_duration_s("5m") == 300
    assert parse_duration_s("2h") == 7200
    assert parse_duration_s(45) == 45


def documented_keys(section: str) -> set[str]:
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {line.split("`")[1] for line in body.splitlines() if line.startswith("| `")}


@pytest.mark.parametrize(
    ("section", "spec"),
    [
        ("Top level", "ConfigSpec"),
        ("`feeds[]`", "FeedSpec"),
        ("`subscriptions[]`", "SubscriptionSpec"),
        ("`subscriptions[].follow_up`", "FollowUpSpec"),
        ("`smtp`", "SmtpSpec"),
        ("`fetch`", "FetchSpec"),
        ("`nlp`", "NlpSpec"),
        ("`delivery`", "DeliverySpec"),
        ("`stories`", "StoriesSpec"),
        ("`stories.weights`", "StoryWeightsSpec"),
        ("`health`", "HealthSpec"),
        ("`web`", "WebSpec"),
    ],
)
def test_every_setting_is_documented_and_every_documented_setting_exists(section, spec):
    from monitor.config import schema as config_module
    from monitor.config import story_spec

    model = getattr(config_module, spec, None) or getattr(story_spec, spec)
    keys = {field.alias or name for name, field in model.model_fields.items()}
    assert documented_keys(section) == keys


def test_a_bad_schedule_is_named_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "subscriptions:\n  - id: s\n    schedule: '0 25 * * *'\n    to: {folder: out}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 3
    assert "hour" in str(caught.value)


def follow_up_config(tmp_path: Path, follow_up: str) -> Path:
    return write(
        tmp_path,
        "subscriptions:\n  - id: s\n    immediate: high\n    to: {folder: out}\n"
        f"    follow_up: {follow_up}\n",
    )


def test_follow_ups_are_off_unless_asked_for_and_read_as_asked(tmp_path):
    plain = write(tmp_path, "subscriptions:\n  - id: s\n    immediate: high\n    to: {folder: o}\n")
    assert load_config(plain).subscriptions[0].follow_up is None
    (sub,) = load_config(follow_up_config(tmp_path, "{outlets: 3}")).subscriptions
    assert sub.follow_up == FollowUpPolicy(outlets=3, new_actor=False)
    (sub,) = load_config(follow_up_config(tmp_path, "{new_actor: true}")).subscriptions
    assert sub.follow_up == FollowUpPolicy(outlets=None, new_actor=True)


@pytest.mark.parametrize(
    ("follow_up", "said"),
    [
        ("{}", "set 'outlets' (how many new outlets, e.g. 3), 'new_actor: true', or both"),
        ("{outlets: 0}", "follow_up.outlets: should be at least 1"),
        ("{outlets: three}", "should be a whole number, got 'three'"),
        ("{outlet: 3}", "outlet"),
        ("{new_actor: maybe}", "should be true or false, got 'maybe'"),
    ],
)
def test_a_wrong_follow_up_is_named_with_its_line_and_what_to_write(tmp_path, follow_up, said):
    with pytest.raises(ConfigError) as caught:
        load_config(follow_up_config(tmp_path, follow_up))
    assert caught.value.line == 5
    assert "follow_up" in str(caught.value) and said in str(caught.value)


SCHEDULES = [
    "0 8 * * *",
    "0 8 * * 1-5",
    "*/15 9-17 * * mon-fri",
    "0 8 10 * mon",
    "0 0 29 2 *",
    "every 30m",
    "every 4h",
    "EVERY 1d",
    "0 25 * * *",
    "61 * * * *",
    "0 8 * * funday",
    "0 8 * *",
    "@daily",
    "0 8 * * * *",
    "0 8 31 2 *",
    "*/0 * * * *",
    "every 10s",
    "every 0m",
    "every",
    "every 5 weeks",
]


@pytest.mark.parametrize("expression", SCHEDULES)
def test_the_config_accepts_exactly_the_schedules_the_scheduler_reads(tmp_path, expression):
    # A schedule the config accepts must run, and one it refuses must be one the scheduler
    # refuses, with the same message.
    from monitor.schedule import parse_schedule

    text = f"subscriptions:\n  - id: s\n    schedule: '{expression}'\n    to: {{folder: out}}\n"
    try:
        parse_schedule(expression, "Europe/Paris")
    except ValueError as exc:
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, text))
        assert caught.value.line == 3
        assert str(exc) in str(caught.value)
    else:
        assert load_config(write(tmp_path, text)).subscriptions[0].schedule == expression


def test_a_channel_reaches_a_private_address_only_when_the_operator_says_so(tmp_path):
    path = write(
        tmp_path,
        "feeds: [{id: f, url: 'https://example.org/rss'}]\n"
        "subscriptions:\n"
        "  - id: s\n    immediate: high\n    to:\n"
        "      - {webhook: {url: 'http://10.0.0.5/hook'}}\n"
        "      - {webhook: {url: 'http://10.0.0.6/hook', allow_private: true}}\n"
        "      - {apprise: ['json://10.0.0.7/notify']}\n"
        "      - {apprise: {urls: ['json://10.0.0.8/notify'], allow_private: true}}\n",
    )
    (subscription,) = load_config(path).subscriptions
    assert [channel.allow_private for channel in subscription.channels] == [
        False,
        True,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://host\\\\@evil.example/feed", "a backslash"),
        ("https://a@b@evil.example/feed", "more than one '@'"),
        ('"https://host/feed\\t"', "contains a tab"),
        ('"https://host/feed\\r"', "contains a carriage return (CR)"),
        ("https://host/r?u=https://user:pass@evil.example/", "credentials"),
        ("gopher://host/feed", "unsupported URL scheme 'gopher'"),
    ],
)
def test_a_feed_url_parsers_disagree_on_is_refused_at_load_naming_the_feed(tmp_path, url, problem):
    path = write(tmp_path, f"feeds:\n  - id: ok\n    url: a.xml\n  - id: wire\n    url: {url}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 5
    assert "feeds['wire'].url: invalid url: " in str(caught.value)
    assert problem in str(caught.value)
    assert "pass@" not in str(caught.value)  # the message never repeats a credential


def test_a_webhook_url_parsers_disagree_on_is_refused_at_load(tmp_path):
    path = write(
        tmp_path,
        "subscriptions:\n  - id: s\n    to:\n      webhook:\n"
        "        url: https://hooks.example\\\\@evil.example/in\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "invalid webhook url: a backslash" in str(caught.value)


BILLION_LAUGHS = "\n".join(
    ["x-lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"x-lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    + ["feeds: []", ""]
)


def test_an_alias_bomb_config_is_refused_quickly_naming_the_file(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    elapsed_s = time.perf_counter() - started
    assert str(caught.value) == (
        f"{path}: too many values once aliases are expanded (more than 2000000): "
        "write the lists out instead of nesting '*' aliases"
    )
    assert elapsed_s < 1.0  # measured ~0.01 s; walking the 10**9 values would never end


def test_a_few_aliases_in_the_config_are_fine(tmp_path):
    path = write(
        tmp_path,
        "feeds:\n  - &wire {id: a, url: a.xml, tags: &tags [wire, fr]}\n"
        "  - {id: b, url: b.xml, tags: *tags}\n",
    )
    assert [feed.tags for feed in load_config(path).feeds] == [("wire", "fr"), ("wire", "fr")]


def test_a_config_over_sixteen_mebibytes_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path, "feeds: []\n" + ("# " + "x" * 1000 + "\n") * 17_000)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: file is larger than 16 MiB"
    assert time.perf_counter() - started < 1.0


def test_a_config_with_ten_thousand_feeds_loads(tmp_path):
    # A large desk's list: each feed with its id, URL, cadence, language, tags and a comment.
    feeds = "".join(
        f"  # outlet {number}\n  - id: outlet-{number}\n"
        f"    url: https://news{number % 500}.example/rss/section-{number}.xml\n"
        f"    every: 10m\n    language: fr\n    tags: [regional, wire]\n"
        for number in range(10_000)
    )
    path = write(tmp_path, "feeds:\n" + feeds)
    config = load_config(path)
    assert len(config.feeds) == 10_000
    assert config.feeds[-1].id == "outlet-9999"
