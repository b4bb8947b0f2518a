"""Archive search in the store: the query language, the full-text index kept in step with
inserts, retention and upgrades, and where the words fall (the offsets pages highlight).

Real parts, on both backends: a SQLite store in tmp_path (FTS5) and a database on a real
PostgreSQL server (tsvector, french stemming), filled the way the poller fills them
(add_articles), with articles from tests/articles.py and from the real French corpus.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.ingest import STORY_WINDOW, NearDuplicates, normalize_entries, parse_feed
from monitor.model import Article, Feed, FetchResult, Hit, Match, Priority
from monitor.store import ArticleSearch, SearchSyntaxError, Store, parse_search
from monitor.store.schema import migrations
from monitor.store.search import search_sql
from monitor.store.search_query import fold_word, folded_words, term_spans
from tests.articles import body_article
from tests.conftest import raw_rows

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fr-feeds"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="needs shared/corpus beside")


def article(key: str, body: str, *, days_ago: int = 0, **fields: object) -> Article:
    made = body_article(body, key=key, **fields)  # type: ignore[arg-type]
    when = NOW - timedelta(days=days_ago)
    # A hash of its own: the store drops a second article with the same content hash.
    return replace(made, content_hash=key, published_at=when, fetched_at=when)


def add(store: Store, articles: list[Article], now: datetime = NOW) -> list[Article]:
    return store.add_articles(
        articles, now, linker=NearDuplicates(), story_since=now - STORY_WINDOW
    )


def keys(store: Store, text: str, **filters: object) -> list[str]:
    search = ArticleSearch(parse_search(text), **filters)  # type: ignore[arg-type]
    return [found.article.key for found in store.search_articles(search, limit=50)]


def marked(text: str, query: str) -> list[str]:
    return [text[start:end] for start, end in term_spans(text, parse_search(query).wanted())]


@pytest.fixture
def store(store_url):
    opened = Store(store_url)
    add(
        opened,
        [
            article("jo", "La sécurité des JO 2024 inquiète la DGSI.", days_ago=1),
            article("apart", "Les JO de Paris auront lieu en 2024, dit la mairie.", days_ago=2),
            article(
                "tickets",
                "Sécurité et billetterie des JO 2024.",
                title="Billetterie",
                days_ago=3,
                language="en",
                feed_id="wire-en",
            ),
            article("rabat", "Abdellatif Hammouchi a reçu Nicolas Lerner à Rabat.", days_ago=4),
            article("dgst", "La DGST annonce une opération à Tanger.", days_ago=5),
        ],
    )
    yield opened
    opened.close()


# --- the query language ------------------------------------------------------------------


def test_accents_and_case_are_ignored_both_ways(store):
    assert keys(store, "securite") == ["jo", "tickets"]
    assert keys(store, "SÉCURITÉ") == ["jo", "tickets"]
    assert keys(store, "hammouchi") == ["rabat"]
    assert marked("La Sécurité, la SECURITE et la sécurité.", "securite") == [
        "Sécurité",
        "SECURITE",
        "sécurité",
    ]


def test_a_quoted_phrase_needs_its_words_side_by_side(store):
    assert keys(store, '"JO 2024"') == ["jo", "tickets"]
    assert sorted(keys(store, "JO 2024")) == ["apart", "jo", "tickets"]
    assert marked("Les JO de 2024 et les JO 2024.", '"JO 2024"') == ["JO 2024"]


def test_an_exclusion_removes_articles_and_or_joins_alternatives(store):
    assert keys(store, "securite -billetterie") == ["jo"]
    assert keys(store, "securite NOT billetterie") == ["jo"]
    assert keys(store, 'JO -"JO 2024"') == ["apart"]
    assert keys(store, "DGST OR Hammouchi") == ["rabat", "dgst"]
    # OR binds tighter than the implicit AND: (DGSI OR DGST) and annonce.
    assert keys(store, "DGSI OR DGST annonce") == ["dgst"]
    assert keys(store, "secu*") == ["jo", "tickets"]


def test_filters_narrow_by_feed_language_date_and_order_by_relevance(store):
    assert keys(store, "securite", feed_ids=("wire-en",)) == ["tickets"]
    assert keys(store, "securite", feed_ids=()) == []
    assert keys(store, "securite", language="fr") == ["jo"]
    assert keys(store, "JO", published_since=NOW - timedelta(days=2, hours=1)) == ["jo", "apart"]
    assert keys(store, "JO", published_before=NOW - timedelta(days=2, hours=1)) == ["tickets"]
    # Relevance: a title hit weighs more than the newer article's body hit.
    assert keys(store, "billetterie OR securite", order="relevance")[0] == "tickets"
    assert keys(store, "billetterie OR securite")[0] == "jo"


def test_the_matched_flag_and_the_rules_that_matched(store):
    hit = Hit("sécurité", "sécurité", "body", 3, 11, "La sécurité des JO 2024")
    match = Match("jo2024-security", "JO 2024 security", "jo", Priority.HIGH, 1.0, (hit,))
    store.save_matches(["jo"], [match], NOW)
    assert keys(store, "securite", is_matched=True) == ["jo"]
    assert keys(store, "securite", is_matched=False) == ["tickets"]
    (found, _) = store.search_articles(ArticleSearch(parse_search("securite")), limit=5)
    assert found.rules == (("jo2024-security", "JO 2024 security"),)


def test_count_and_offset_pages_cover_every_result_once(store):
    search = ArticleSearch(parse_search("la OR les OR des OR à"))
    assert store.count_search(search) == 5
    pages = [store.search_articles(search, limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(found.article.key for page in pages for found in page) == sorted(
        ["jo", "apart", "tickets", "rabat", "dgst"]
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('"JO 2024', "quotation mark before 'JO 2024' is not closed"),
        ("securite OR", "OR needs something to look for on each side"),
        ("OR securite", "OR needs something to look for on each side"),
        ("securite OR -billetterie", "OR cannot join an exclusion ('-billetterie')"),
        ("-billetterie", "say what to look for"),
        ("*** ()", "'*** ()' has nothing to look for"),
        ("mot " * 40, "at most 500 characters and 32 words or phrases"),
    ],
)
def test_a_query_that_cannot_run_says_why(text, says):
    with pytest.raises(SearchSyntaxError) as caught:
        parse_search(text)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(jo 2024)",
        "title:securite",
        "^securite",
        "jo AND",
        "NOT",
        "a*b*",
        "'); DROP TABLE articles; --",
        '""',
        "jo -",
        "{securite}",
        "col1:x + y",
        '\\"',
        '"AND" "NOT" jo',
        '"OR"',
    ],
)
def test_fts5_syntax_in_the_input_is_only_ever_words(store, text):
    # The user's text never reaches MATCH: either the query language refuses it with a
    # message, or every word goes in as a quoted FTS5 string and the search runs.
    try:
        search = ArticleSearch(parse_search(text))
    except SearchSyntaxError:
        return
    store.search_articles(search, limit=5)
    store.count_search(search)


def test_text_is_read_as_the_index_reads_it():
    # The highlighter's words are the index's: apostrophes and hyphens split, digits count.
    assert [fold_word(word) for word in ("Élysée", "DGSN", "Ça")] == ["elysee", "dgsn", "ca"]
    assert marked("L’armée de l'Élysée, JO-2024.", 'elysee "jo 2024" armee') == [
        "armée",
        "Élysée",
        "JO-2024",
    ]


# --- the index -----------------------------------------------------------------------------


def indexed(store: Store, word: str) -> int:
    """How many index rows hold `word`, read from the FTS5 table itself."""
    rows = store._query(
        "SELECT COUNT(*) AS n FROM article_search WHERE article_search MATCH ?", (f'"{word}"',)
    )
    return int(rows[0]["n"])


def test_retention_removes_purged_articles_from_the_index(store):
    store.save_matches(["rabat", "dgst"], [], NOW)
    is_fts5 = store.dialect.name == "sqlite"
    assert not is_fts5 or indexed(store, "hammouchi") == 1
    purged = store.purge_before(NOW + timedelta(seconds=1))
    assert purged == 2
    assert keys(store, "hammouchi") == [] and keys(store, "DGST") == []
    assert keys(store, "securite") == ["jo", "tickets"]
    if is_fts5:
        assert indexed(store, "hammouchi") == 0 and indexed(store, "tanger") == 0
        rows = store._query("SELECT COUNT(*) AS n FROM article_search_rows")
        assert rows[0]["n"] == 3
    else:
        rows = store._query("SELECT COUNT(*) AS n FROM article_search")
        assert rows[0]["n"] == 3


def test_postgresql_reindexes_an_article_when_its_text_changes_and_only_then(store, store_url):
    if store.dialect.name == "sqlite":
        pytest.skip("FTS5's triggers fire on changes of the text columns only (migration 0009)")

    def document_version() -> str:
        # xmin: the transaction that last wrote the document's row.
        rows = store._query("SELECT xmin::text AS version FROM article_search WHERE key = 'dgst'")
        return str(rows[0]["version"])

    stored = document_version()
    store.save_matches(["dgst"], [], NOW)
    raw_rows(store_url, "UPDATE articles SET lease_owner = 'a-daemon' WHERE key = 'dgst'")
    raw_rows(store_url, "UPDATE articles SET title = title, body = body WHERE key = 'dgst'")
    assert document_version() == stored
    raw_rows(store_url, "UPDATE articles SET title = 'Tanger, le port' WHERE key = 'dgst'")
    assert document_version() != stored


def test_an_edited_article_is_found_by_its_new_words_only(store, store_url):
    raw_rows(
        store_url, "UPDATE articles SET body = 'Le préfet parle de Marseille.' WHERE key = 'dgst'"
    )
    assert keys(store, "marseille") == ["dgst"] and keys(store, "tanger") == []


def test_the_search_reads_the_full_text_index_never_the_whole_table(store):
    search = ArticleSearch(
        parse_search("securite -billetterie"), language="fr", is_matched=False, order="date"
    )
    sql, params = search_sql(search, "a.*", store.dialect.full_text)
    if store.dialect.name == "sqlite":
        plan = [row["detail"] for row in store._query(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert plan[0].startswith("SCAN article_search VIRTUAL TABLE")
        assert not [step for step in plan[1:] if step.startswith("SCAN")], plan
        return
    with store._reading() as session:
        # Five rows are cheaper to scan: forbid it, so the plan shows the index is usable.
        session.execute("SET enable_seqscan = off")
        try:
            (row,) = session.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchall()
        finally:
            session.execute("RESET enable_seqscan")
    plan = json.dumps(row[0])
    assert '"Index Name": "article_search_document"' in plan, plan
    assert '"Seq Scan"' not in plan, plan


def test_postgresql_stems_french_words_and_marks_what_stemming_matched(store):
    if store.dialect.name == "sqlite":
        # FTS5's unicode61 keeps words as typed: a plural is another word.
        assert keys(store, "operations") == []
        return
    add(store, [article("pluriel", "Les attentats et les opérations de la DGSI.", days_ago=6)])
    assert keys(store, "operations") == ["dgst", "pluriel"]
    assert keys(store, "attentat") == ["pluriel"]
    (found,) = store.search_articles(ArticleSearch(parse_search('"attentat"')), limit=5)
    text = found.snippet.text
    assert [text[start:end] for start, end in found.snippet.spans] == ["attentats"]
    # A prefix reads the words as typed: "operat" is longer than the stem of "opérations".
    found = store.search_articles(ArticleSearch(parse_search("operat*")), limit=5)
    assert [
        [item.snippet.text[start:end] for start, end in item.snippet.spans] for item in found
    ] == [["opération"], ["opérations"]]


def test_an_upgraded_sqlite_store_indexes_the_articles_it_already_had(tmp_path):
    path = tmp_path / "monitor.db"
    # The database as the previous version left it: every migration before the search
    # index, with an article already stored.
    search_version = next(v for v, name, _ in migrations() if "article_search" in name)
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        for version, _, script in migrations():
            if version < search_version:
                raw.executescript(script)
        raw.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(search_version - 1),))
        raw.execute(
            "INSERT INTO articles (key, feed_id, title, summary, body, published_at, fetched_at,"
            " content_hash, fingerprint, story_id, stored_at) VALUES"
            " ('rabat', 'f', 'Rabat', '', 'Abdellatif Hammouchi à Rabat.', ?, ?, 'h', 0,"
            " 'rabat', ?)",
            (NOW.isoformat(),) * 3,
        )
    raw.close()
    reopened = Store(path)
    try:
        assert reopened.schema_version() == len(migrations())
        assert keys(reopened, "hammouchi") == ["rabat"]
        add(reopened, [article("later", "Hammouchi encore.")], NOW + timedelta(hours=1))
        assert sorted(keys(reopened, "hammouchi")) == ["later", "rabat"]
    finally:
        reopened.close()


def test_a_broken_index_read_is_a_store_error(tmp_path):
    store = Store(tmp_path / "monitor.db")
    store.close()
    raw = sqlite3.connect(store.path)
    with raw:
        raw.execute("DROP TABLE article_search")
    raw.close()
    store = Store(tmp_path / "monitor.db")
    with pytest.raises(StoreError, match="read from"):
        keys(store, "securite")
    store.close()


# --- the real corpus -------------------------------------------------------------------------


def corpus_articles(count: int) -> list[Article]:
    articles: list[Article] = []
    for path in sorted(CORPUS.glob("*.xml"))[:count]:
        result = FetchResult(path.stem, path.as_uri(), 200, path.read_bytes(), (), NOW)
        feed = Feed(id=path.stem, url=path.as_uri(), language="fr")
        articles += normalize_entries(parse_feed(result), feed, NOW, max_entries=20)
    return articles


@needs_corpus
def test_on_real_news_every_sqlite_result_shows_the_words_it_was_found_by(tmp_path):
    store = Store(tmp_path / "monitor.db")
    try:
        stored = add(store, corpus_articles(12))
        assert len(stored) > 100
        # The highlighter reads the words the index read: for every term the index holds
        # for an article, the article's own text has that word where term_spans looks.
        raw = sqlite3.connect(store.path)
        raw.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, article_search, row)")
        terms = [row[0] for row in raw.execute("SELECT term FROM temp.words ORDER BY doc DESC")]
        raw.close()
        for term in terms[:300:7]:
            search = ArticleSearch(parse_search(f'"{term}"'))
            total = store.count_search(search)
            found = store.search_articles(search, limit=total)
            assert len(found) == total > 0
            for result in found:
                text = (result.article.title, result.article.summary, result.article.body)
                assert any(term_spans(field, search.query.wanted()) for field in text), term
    finally:
        store.close()


@needs_corpus
def test_on_real_news_every_postgresql_result_shows_the_words_stemming_found(pg_url):
    store = Store(pg_url)
    try:
        stored = add(store, corpus_articles(12))
        assert len(stored) > 100
        # Singulars whose plurals the articles also use, as analysts type them: the index
        # finds both, and every result must show a word it was found by, plural or not.
        holding: dict[str, set[str]] = {}
        for item in stored:
            for word in folded_words(f"{item.title} {item.summary} {item.body}"):
                holding.setdefault(word, set()).add(item.key)
        singulars = sorted(
            (word[:-1] for word in holding if len(word) > 6 and word.endswith("s")),
            key=lambda word: (-len(holding.get(word + "s", ())), word),
        )
        singulars = [word for word in singulars if word in holding][:30]
        assert len(singulars) == 30
        widened = 0
        for word in singulars:
            search = ArticleSearch(parse_search(word))
            total = store.count_search(search)
            found = store.search_articles(search, limit=total)
            assert len(found) == total >= len(holding[word]), word
            widened += total > len(holding[word])
            for result in found:
                shown = (result.title_spans, result.snippet.spans)
                assert any(shown), (word, result.article.key)
        assert widened >= 20  # most found articles holding only the plural
    finally:
        store.close()
