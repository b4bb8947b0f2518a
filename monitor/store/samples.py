"""SQL for the presearch's word counts: the texts of the most recently stored articles.

Reads only; what the texts are counted into is the match stage's business (`match.frequency`).
"""

from __future__ import annotations

from monitor.store.db import Database


class SampleTables(Database):
    """Recent article texts, newest first."""

    def recent_article_texts(self, limit: int) -> list[str]:
        """Title, summary and body of the `limit` articles stored last, one string each."""
        rows = self._query(
            "SELECT title, summary, body FROM articles "
            f"ORDER BY {self.dialect.newest_articles} LIMIT ?",
            (limit,),
        )
        return [f"{row['title']}\n{row['summary']}\n{row['body']}" for row in rows]
