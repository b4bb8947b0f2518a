"""One way for tests to make an article from a bare text: the fields matching reads, and
fixed times and a placeholder hash that matching never looks at."""

from datetime import UTC, datetime

from monitor.model import Article

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)


def body_article(
    body: str,
    *,
    title: str = "",
    summary: str = "",
    language: str | None = "fr",
    feed_id: str = "seed-fr",
    key: str = "a1",
) -> Article:
    """An article with `body` (and `title`, `summary`) from `feed_id`, in `language`."""
    return Article(
        key=key,
        feed_id=feed_id,
        url=None,
        guid=None,
        title=title,
        summary=summary,
        body=body,
        published_at=NOW,
        fetched_at=NOW,
        language=language,
        content_hash="0",
    )


def stored_article(key: str, *, at: datetime, **changes: object) -> Article:
    """An article as the store tests save it: every field set from `key`, published and
    fetched `at`, with `changes` on top."""
    values: dict[str, object] = dict(
        key=key,
        feed_id="seed-fr",
        url=f"https://news.example/{key}",
        guid=key,
        title=f"title {key}",
        summary="summary",
        body="body",
        published_at=at,
        fetched_at=at,
        language="fr",
        content_hash=f"hash-{key}",
        fingerprint=0,
    )
    values.update(changes)
    return Article(**values)  # type: ignore[arg-type]
