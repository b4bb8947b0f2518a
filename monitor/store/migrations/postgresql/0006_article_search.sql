-- PostgreSQL twin of the SQLite migration 0009_article_search: archive search over every
-- stored article's title, summary and body (monitor/store/fulltext.py reads it; see
-- docs/web.md#archive-search). Where SQLite keeps an FTS5 table, PostgreSQL keeps a GIN
-- index on an expression of the article's own columns: nothing to keep in step by hand, and
-- retention's deletes and `monitor store copy`'s inserts index themselves.
--
-- unaccent is a trusted extension (PostgreSQL 13+): the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;
-- French stemming ("attentats" finds "attentat") on unaccented words, and no stop words:
-- an analyst searches "La Poste" or "Les Républicains" as SQLite's index lets them.
CREATE TEXT SEARCH DICTIONARY monitor_french_stem (TEMPLATE = snowball, LANGUAGE = french);
CREATE TEXT SEARCH CONFIGURATION monitor_french (COPY = pg_catalog.french);
ALTER TEXT SEARCH CONFIGURATION monitor_french
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart WITH monitor_french_stem;
ALTER TEXT SEARCH CONFIGURATION monitor_french
    ALTER MAPPING FOR word, hword, hword_part WITH unaccent, monitor_french_stem;
-- The words as typed (folded, unstemmed), for a prefix: "operat*" must find "opérations",
-- whose stem 'oper' is shorter than the prefix.
CREATE TEXT SEARCH CONFIGURATION monitor_words (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION monitor_words
    ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple;
-- The document the index holds: the stems, then the words, each weighted title A,
-- summary B, body C (ts_rank's weights). The characters PostgreSQL's parser would join into
-- one token (JO-2024, example.com, 3.5, a@b, a/b, a+b, a_b) or read as markup (it skips a
-- <script> tag's content and &entities;, but the stored text is plain, so they are words)
-- become spaces first: words split as SQLite's unicode61 splits them, and a phrase means
-- the same on both stores.
-- Immutable, as an index expression must be; SET search_path FROM CURRENT pins where the
-- configurations are found, so a pg_restore (run with an empty search_path) can rebuild it.
CREATE FUNCTION monitor_search_document(title TEXT, summary TEXT, body TEXT) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path FROM CURRENT AS $$
    SELECT setweight(to_tsvector('monitor_french', translate(title, '-.@/+_<>&', '         ')), 'A')
        || setweight(to_tsvector('monitor_french', translate(summary, '-.@/+_<>&', '         ')), 'B')
        || setweight(to_tsvector('monitor_french', translate(body, '-.@/+_<>&', '         ')), 'C')
        || setweight(to_tsvector('monitor_words', translate(title, '-.@/+_<>&', '         ')), 'A')
        || setweight(to_tsvector('monitor_words', translate(summary, '-.@/+_<>&', '         ')), 'B')
        || setweight(to_tsvector('monitor_words', translate(body, '-.@/+_<>&', '         ')), 'C')
$$;
CREATE INDEX articles_search ON articles
    USING GIN (monitor_search_document(title, summary, body));
