-- Archive search reads each article's document from a table of its own, kept by triggers,
-- instead of a GIN index on an expression of the article's columns (0006).
--
-- Why: PostgreSQL recomputes every index expression of a row it cannot update in place,
-- and each lease taken, attempt counted and match recorded on an article is such an update
-- (the columns are indexed). The expression is six to_tsvector calls over the whole body:
-- with three daemons, 16% of the database's time went to re-reading bodies that had not
-- changed (bench/scaling.py). Now the document is computed when an article is inserted or
-- its title, summary or body changes, and ts_rank reads it instead of computing it again
-- for every result. Retention's deletes take the document with the article; `monitor store
-- copy`'s inserts fire the trigger like any other.
CREATE TABLE article_search (
    key TEXT COLLATE "C" PRIMARY KEY REFERENCES articles (key) ON DELETE CASCADE,
    document tsvector NOT NULL
);
INSERT INTO article_search (key, document)
    SELECT key, monitor_search_document(title, summary, body) FROM articles;
CREATE INDEX article_search_document ON article_search USING GIN (document);
DROP INDEX articles_search;

CREATE FUNCTION monitor_index_article() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO article_search (key, document)
        VALUES (NEW.key, monitor_search_document(NEW.title, NEW.summary, NEW.body))
        ON CONFLICT (key) DO UPDATE SET document = excluded.document;
    RETURN NULL;
END
$$;
CREATE TRIGGER articles_search_on_insert AFTER INSERT ON articles
    FOR EACH ROW EXECUTE FUNCTION monitor_index_article();
-- Only when the text itself changed: an update naming these columns with the same values
-- leaves the document as it is.
CREATE TRIGGER articles_search_on_text AFTER UPDATE OF title, summary, body ON articles
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.summary IS DISTINCT FROM NEW.summary
          OR OLD.body IS DISTINCT FROM NEW.body)
    EXECUTE FUNCTION monitor_index_article();
