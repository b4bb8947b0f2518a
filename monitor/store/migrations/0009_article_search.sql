-- Archive search: a full-text index over every stored article's title, summary and body,
-- matched or not (monitor/store/search.py reads it; see docs/web.md#archive-search).
-- unicode61 with remove_diacritics 2 folds case and accents, so "securite" finds "sécurité".
--
-- Contentless (content=''): the text stays only in `articles`; the index holds the terms.
-- Its rowid is `article_search_rows.id`, an explicit INTEGER PRIMARY KEY, because VACUUM
-- may renumber the implicit rowid of `articles` (whose key is text) and the index would then
-- point at other articles. SQLite-only: the PostgreSQL store keeps a tsvector instead.
CREATE TABLE article_search_rows (
    id INTEGER PRIMARY KEY,
    article_key TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE article_search USING fts5(
    title, summary, body, content = '', tokenize = 'unicode61 remove_diacritics 2'
);
-- Index the articles already stored.
INSERT INTO article_search_rows (article_key) SELECT key FROM articles ORDER BY stored_at, key;
INSERT INTO article_search (rowid, title, summary, body)
SELECT rows.id, articles.title, articles.summary, articles.body
FROM article_search_rows AS rows JOIN articles ON articles.key = rows.article_key;
-- Triggers keep the index in step with every write to `articles` (the poller's inserts,
-- retention's deletes), whichever code path makes it.
CREATE TRIGGER article_search_insert AFTER INSERT ON articles BEGIN
    INSERT INTO article_search_rows (article_key) VALUES (new.key);
    INSERT INTO article_search (rowid, title, summary, body)
    SELECT id, new.title, new.summary, new.body FROM article_search_rows
    WHERE article_key = new.key;
END;
-- A contentless index forgets a row only through the 'delete' command given the very text
-- it indexed, which the trigger has as `old`.
CREATE TRIGGER article_search_delete AFTER DELETE ON articles BEGIN
    INSERT INTO article_search (article_search, rowid, title, summary, body)
    SELECT 'delete', id, old.title, old.summary, old.body FROM article_search_rows
    WHERE article_key = old.key;
    DELETE FROM article_search_rows WHERE article_key = old.key;
END;
CREATE TRIGGER article_search_update AFTER UPDATE OF title, summary, body ON articles BEGIN
    INSERT INTO article_search (article_search, rowid, title, summary, body)
    SELECT 'delete', id, old.title, old.summary, old.body FROM article_search_rows
    WHERE article_key = old.key;
    INSERT INTO article_search (rowid, title, summary, body)
    SELECT id, new.title, new.summary, new.body FROM article_search_rows
    WHERE article_key = new.key;
END;
