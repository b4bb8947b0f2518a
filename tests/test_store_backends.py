"""What differs between the store's backends, and what must not: placeholders, text that
PostgreSQL refuses, opening by URL (and refusing a bad one), migrating once."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from monitor.errors import StoreError
from monitor.model import Article, Delivery, Message
from monitor.store import Store
from monitor.store.dialect import clean_text, pyformat
from monitor.store.schema import migrations
from monitor.targets import FolderTarget
from tests.articles import stored_article
from tests.conftest import raw_rows
from tests.pg_server import PASSWORD

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def article(key: str, **changes: object) -> Article:
    return stored_article(key, at=NOW, **changes)


class NoStories:
    def band_keys(self, signature: bytes) -> tuple[int, ...]:
        return ()

    def pick_story(self, signature, candidates) -> str | None:
        return None


def test_question_marks_become_placeholders_only_outside_quotes_and_comments():
    sql = "SELECT '?', \"a?\", ? FROM t -- why?\nWHERE x = 'it''s ?' AND y LIKE 'n:%' AND z = ?"
    assert pyformat(sql) == (
        "SELECT '?', \"a?\", %s FROM t -- why?\nWHERE x = 'it''s ?' AND y LIKE 'n:%%' AND z = %s"
    )


def test_nul_and_lone_surrogates_are_cleaned_and_nothing_else():
    assert clean_text("a\x00b") == "ab"
    assert clean_text("x\ud800y") == "x\ufffdy"
    text = "Sécurité des JO 2024 — « Paris » 🏅\t\n"
    assert clean_text(text) is text


def test_text_postgresql_refuses_is_stored_cleaned_the_same_on_both_backends(store_url):
    store = Store(store_url)
    try:
        feed_text = article("k\x00ey", title="JO\x00 2024", body="s\udce9curit\u00e9")
        added = store.add_articles([feed_text], NOW, linker=NoStories(), story_since=NOW)
        assert len(added) == 1
        # Looked up by the key as the feed spelled it, the article is the cleaned one.
        found = store.article("k\x00ey")
        assert found is not None
        assert (found.key, found.title, found.body) == ("key", "JO 2024", "s\ufffdcurité")
        assert store.known_keys(["k\x00ey"]) == {"key"}
        delivery = Delivery(
            id="d1",
            subscription_id="desk",
            channel=FolderTarget(folder="var/outbox"),
            message=Message("subject\x00", "text", "<p>h</p>", b"\x00{}"),
            article_keys=("key",),
            created_at=NOW,
        )
        store.enqueue([delivery], ["key"])
        store.mark_failed("d1", "smtp: 451 \x00busy", next_attempt_at=NOW + timedelta(minutes=1))
        saved = store.delivery("d1")
        assert saved is not None
        assert (saved.message.subject, saved.last_error) == ("subject", "smtp: 451 busy")
        assert saved.message.payload == b"\x00{}"  # bytes are kept as they are
    finally:
        store.close()
    assert raw_rows(store_url, "SELECT key, title FROM articles") == [("key", "JO 2024")]


def test_two_daemons_starting_on_a_new_database_migrate_it_once(pg_databases):
    url = pg_databases.server.socket_url(pg_databases.create(migrated=False))
    start = threading.Barrier(3)
    opened: list[Store] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            opened.append(Store(url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = [store.schema_version() for store in opened]
    for store in opened:
        store.close()
    assert failures == []
    assert versions == [len(migrations("postgresql"))] * 3
    [(version,)] = raw_rows(url, "SELECT value FROM meta WHERE key = 'schema_version'")
    assert int(version) == len(migrations("postgresql"))


def test_a_store_url_of_another_kind_is_refused():
    with pytest.raises(StoreError, match=r"unknown kind of store 'mysql'") as refused:
        Store("mysql://desk:hunter2@db.example/monitor")
    assert "db.example" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_an_unreachable_server_is_named_without_its_password():
    with pytest.raises(StoreError) as refused:
        Store("postgresql://desk:hunter2@127.0.0.1:1/monitor")
    message = str(refused.value)
    assert (
        "cannot connect to PostgreSQL database 'monitor' on 127.0.0.1:1 as user 'desk'" in message
    )
    assert "that the server is running" in message
    assert "hunter2" not in message


def test_a_wrong_password_and_a_missing_database_say_what_to_check(pg_server, monkeypatch):
    with pytest.raises(StoreError, match="password authentication failed") as wrong:
        Store(pg_server.tcp_url("postgres", password="not-the-password"))
    assert "not-the-password" not in str(wrong.value)
    assert "PGPASSWORD" in str(wrong.value)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with pytest.raises(StoreError, match="does not exist") as missing:
        Store(pg_server.tcp_url("no_such_db"))
    assert "no_such_db" in str(missing.value) and "createdb" in str(missing.value)


def test_the_password_can_come_from_the_environment(pg_url, pg_server, monkeypatch):
    database = pg_url.split("?")[0].rsplit("/", 1)[1]
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    store = Store(pg_server.tcp_url(database))
    try:
        assert store.schema_version() == len(migrations("postgresql"))
        assert store.is_writable() and store.quick_check() is None
    finally:
        store.close()


def test_a_statement_the_database_refuses_is_a_store_error_on_both_backends(store_url):
    store = Store(store_url)
    try:
        # SQLite: OperationalError; PostgreSQL: ProgrammingError (UndefinedColumn).
        with pytest.raises(StoreError, match=r"store: read from .* failed: .*no_such_column"):
            store._query("SELECT no_such_column FROM articles")
        # PostgreSQL: DataError (invalid input syntax); SQLite casts it quietly.
        if store_url.startswith("postgresql"):
            with pytest.raises(StoreError, match=r"read from .* failed: invalid input syntax"):
                store._query("SELECT CAST(? AS integer)", ("not a number",))
        # The connection is still usable after the refused statement.
        assert store._query("SELECT COUNT(*) FROM articles")[0][0] == 0
    finally:
        store.close()


def test_daemons_starting_together_each_save_the_rules_snapshot(pg_url):
    # Another daemon's start: it replaced the snapshot and has not committed yet.
    other = psycopg.connect(pg_url)
    other.execute("DELETE FROM rules_snapshot")
    other.execute(
        "INSERT INTO rules_snapshot VALUES ('desk.yaml', 'theirs', %s)", (NOW.isoformat(),)
    )
    store = Store(pg_url)
    failures: list[BaseException] = []

    def save() -> None:
        try:
            store.save_rules_snapshot({"desk.yaml": "ours"}, NOW)
        except BaseException as exc:
            failures.append(exc)

    saving = threading.Thread(target=save)
    try:
        saving.start()
        saving.join(timeout=1)
        assert saving.is_alive(), "the save waits for the other daemon's uncommitted rows"
        other.commit()
        saving.join(timeout=10)
        assert not failures, failures
        snapshot = store.rules_snapshot()
        assert snapshot is not None and dict(snapshot.files) == {"desk.yaml": "ours"}
    finally:
        other.close()
        store.close()
