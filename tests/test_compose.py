"""What a subscription receives: its rules, one entry per story, ordered, bounded."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.deliver.compose import (
    collapse_stories,
    compose_digest,
    delivery_id,
    rule_ids_for,
)
from monitor.model import Article, Clause, Match, Priority, Rule, RuleSet, Subscription, Term
from monitor.targets import FolderTarget

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
FOLDER = FolderTarget(folder="out")


def article(key: str, feed_id: str, story: str, hours_ago: float) -> Article:
    return Article(
        key=key,
        feed_id=feed_id,
        url=f"https://news.example/{key}",
        guid=key,
        title=f"title {key}",
        summary="",
        body="",
        published_at=NOW - timedelta(hours=hours_ago),
        fetched_at=NOW,
        language="fr",
        content_hash=key,
        story_id=story,
    )


def match(key: str, priority: Priority, score: float) -> Match:
    return Match("r", "Rule", key, priority, score, ())


def rule(rule_id: str, tags: tuple[str, ...] = ()) -> Rule:
    return Rule(rule_id, rule_id, Clause("all", (Term("x"),)), tags=tags)


def test_rules_are_selected_by_id_tag_or_star():
    rules = RuleSet((rule("a", ("security",)), rule("b"), rule("c", ("sport",))))
    pick = lambda *wanted: rule_ids_for(rules, Subscription("s", wanted, (FOLDER,)))  # noqa: E731
    assert pick("*") == {"a", "b", "c"}
    assert pick("b", "security") == {"a", "b"}
    assert pick("nothing") == set()


def test_copies_of_a_story_collapse_under_the_earliest_with_also_in():
    found = [
        (article("copy", "wire", "s1", 1), [match("copy", Priority.HIGH, 2)]),
        (article("orig", "courrier", "s1", 3), [match("orig", Priority.HIGH, 3)]),
        (article("other", "wire", "s2", 2), [match("other", Priority.NORMAL, 9)]),
    ]
    titles = {"wire": "Wire", "courrier": "Le Courrier de Rabat"}
    entries = collapse_stories(found, titles)
    assert [(e.article.key, e.feed_title, e.also_in) for e in entries] == [
        ("orig", "Le Courrier de Rabat", ("Wire",)),
        ("other", "Wire", ()),
    ]


def test_a_story_shows_once_with_each_other_outlet_linked_and_every_rule_any_copy_matched():
    actor_rule = Match("actors", "Actors", "late", Priority.NORMAL, 1.0, ())
    found = [
        (article("late", "sud", "s1", 1), [match("late", Priority.HIGH, 1), actor_rule]),
        (article("lead", "courrier", "s1", 5), [match("lead", Priority.HIGH, 3)]),
        (article("again", "sud", "s1", 0), [match("again", Priority.HIGH, 1)]),
        (article("wire", "wire", "s1", 2), [match("wire", Priority.HIGH, 2)]),
    ]
    titles = {"wire": "Wire", "courrier": "Le Courrier", "sud": "Sud Presse"}
    (entry,) = collapse_stories(found, titles)
    assert entry.article.key == "lead"  # the earliest report leads
    assert [(c.outlet, c.url) for c in entry.copies] == [
        ("Sud Presse", "https://news.example/late"),  # an outlet once, by its first copy
        ("Wire", "https://news.example/wire"),
    ]
    assert [(m.rule_id, m.article_key) for m in entry.matches] == [
        ("r", "lead"),  # the lead's own match of a rule several copies matched
        ("actors", "late"),  # a rule only a later copy matched
    ]


def test_on_a_publication_time_tie_the_copy_fetched_first_leads():
    first, second = article("first", "a", "s", 1), article("second", "b", "s", 1)
    second = replace(second, fetched_at=first.fetched_at - timedelta(minutes=5))
    found = [(first, [match("first", Priority.HIGH, 1)]), (second, [])]
    assert collapse_stories(found, {})[0].article.key == "second"


def test_entries_are_ordered_by_priority_then_score_then_recency():
    found = [
        (article("low-new", "f", "1", 0), [match("low-new", Priority.LOW, 9)]),
        (article("high-old", "f", "2", 9), [match("high-old", Priority.HIGH, 1)]),
        (article("high-new", "f", "3", 1), [match("high-new", Priority.HIGH, 1)]),
        (article("high-best", "f", "4", 5), [match("high-best", Priority.HIGH, 5)]),
    ]
    keys = [e.article.key for e in collapse_stories(found, {})]
    assert keys == ["high-best", "high-new", "high-old", "low-new"]


def test_a_digest_is_bounded_and_only_digests_carry_feed_health():
    subscription = Subscription("s", ("*",), (FOLDER,), max_items=2, title="Desk")
    found = [
        (article(f"k{i}", "f", f"s{i}", i), [match(f"k{i}", Priority.LOW, 1)]) for i in range(5)
    ]
    digest = compose_digest(
        subscription, "digest", found, feed_titles={}, feed_problems=["feed 'x': down"], now=NOW
    )
    assert len(digest.entries) == 2 and digest.title == "Desk"
    assert digest.feed_problems == ("feed 'x': down",)
    alert = compose_digest(
        subscription, "immediate", found, feed_titles={}, feed_problems=["x"], now=NOW
    )
    assert alert.feed_problems == ()


def test_delivery_ids_are_stable_and_distinct():
    first = delivery_id("s", "digest", 0, ["b", "a"])
    assert first == delivery_id("s", "digest", 0, ["a", "b"])
    assert first != delivery_id("s", "digest", 1, ["a", "b"])
    assert first != delivery_id("s", "immediate", 0, ["a", "b"])
    assert delivery_id("s", "digest", 0, [], NOW) != delivery_id(
        "s", "digest", 0, [], NOW + timedelta(days=1)
    )
