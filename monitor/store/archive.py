"""Read-only SQL for the rule preview: the stored articles published since a time, matched
or not, newest first, a page at a time.

Never writes and never evaluates a rule: what a draft rule makes of them is the pipeline's
business (`pipeline/preview.py`). Portable SQL: `?` placeholders, ISO-8601 text compared
as text, a keyset on (published_at, key) rather than OFFSET.
"""

from __future__ import annotations

from datetime import datetime

from monitor.model import Article
from monitor.store.articles import article_of
from monitor.store.browse import PageCursor
from monitor.store.db import Database, iso


class ArchiveTables(Database):
    """The archive as the preview reads it."""

    def archive_page(
        self, since: datetime, *, limit: int, after: PageCursor | None = None
    ) -> list[Article]:
        """Up to `limit` articles published at or after `since`, newest first, after `after`."""
        where = ["published_at >= ?"]
        params: list[object] = [iso(since)]
        if after is not None:
            stamp = iso(after.published_at)
            where.append("(published_at < ? OR (published_at = ? AND key > ?))")
            params += [stamp, stamp, after.article_key]
        rows = self._query(
            "SELECT * FROM articles WHERE "
            + " AND ".join(where)
            + " ORDER BY published_at DESC, key LIMIT ?",
            (*params, limit),
        )
        return [article_of(row) for row in rows]
