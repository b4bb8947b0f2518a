"""The spaCy stage: articles in, `Annotations` (sentences, folded tokens, lemmas, entities) out.

spaCy stays inside this module: a `Doc` never leaves it. fr_core_news_sm is loaded once per
process, lazily, without the parser, and shared by every `Annotator` in that process; languages
without a model get a blank pipeline with a rule-based sentencizer. With `workers` > 1 the work
runs in a pool of processes, each loading the model once. It does not match rules and does no
I/O beyond loading the model.
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from monitor.model import FIELDS, AnnotatedField, Annotations, Article, Entity, Token
from monitor.settings import NlpSettings
from monitor.text import fold, language_code, truncate

# Languages with a trained pipeline; every other language gets `spacy.blank`.
MODELS: dict[str, str] = {"fr": "fr_core_news_sm"}
# Blank pipelines that still get lemmas, from the lookup tables of spacy-lookups-data ("attacks"
# -> "attack", "policemen" -> "policeman"): no English model is installable here.
LOOKUP_LEMMAS = frozenset({"en"})
# Only sentence boundaries, lemmas and entities are used: the parser is the slowest component
# and `senter` gives the boundaries at a fraction of its cost (see DESIGN.md, "Measured").
EXCLUDED_COMPONENTS = ("parser",)
# The entity recognizer runs only when a rule needs entity labels (`require_entity`).
ENTITY_COMPONENTS = ("ner",)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The loaded models are shared by every engine in the process, so one lock serialises their use:
# memory zones must not interleave, and threads gain little on CPU-bound spaCy anyway.
_PIPELINE_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True)
class _FieldJob:
    """One field text waiting for the pipeline, and where its result goes."""

    article_index: int
    name: str
    text: str


class Annotator:
    """Annotate articles with one spaCy pipeline per language, in-process or in a worker pool.

    Each call says whether the entity recognizer runs (the compiled rules know whether any
    rule needs entities). Call `close()` when done if `workers` > 1.
    """

    def __init__(
        self,
        *,
        max_chars: int = 20_000,
        batch_size: int = 8,
        default_language: str = "fr",
        workers: int = 1,
    ) -> None:
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.default_language = language_code(default_language) or "fr"
        self.workers = max(1, workers)
        self._engine = _Engine(max_chars, batch_size, self.default_language)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: NlpSettings) -> Annotator:
        """The annotator the `nlp:` section describes."""
        return cls(
            max_chars=settings.max_chars, batch_size=settings.batch_size, workers=settings.workers
        )

    def annotate(self, articles: Sequence[Article], *, with_entities: bool) -> list[Annotations]:
        """Annotate `articles` in batches; the result is in the same order.

        Entity recognition (about half the cost) runs only `with_entities`.
        """
        if not articles:
            return []
        if self.workers == 1:
            return self._engine.annotate(articles, with_entities)
        with self._lock:
            try:
                return self._annotate_in_pool(articles, with_entities)
            except BrokenProcessPool:
                # A worker died (killed, out of memory): start fresh ones and try once more.
                self._close_pool()
                return self._annotate_in_pool(articles, with_entities)

    def annotate_text(
        self, text: str, *, language: str = "fr", key: str = "text", with_entities: bool = True
    ) -> Annotations:
        """Annotate a bare text as one 'body' field (for `monitor test-rule --text`)."""
        language = language_code(language) or self.default_language
        article = text_article(text, language=language, key=key)
        return self.annotate([article], with_entities=with_entities)[0]

    def warm_up(self) -> None:
        """Load the default language's model now (in every worker), not on the first article."""
        if self.workers == 1:
            self._engine.pipeline(self.default_language)
            return
        with self._lock:
            # n tasks submitted at once start n workers, each loading the model in its initializer
            languages = [self.default_language] * self.workers
            list(self._started_pool().map(_load_in_worker, languages))

    def close(self) -> None:
        """Stop the worker processes, if any."""
        with self._lock:
            self._close_pool()

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _annotate_in_pool(
        self, articles: Sequence[Article], with_entities: bool
    ) -> list[Annotations]:
        pool = self._started_pool()
        # About four chunks per worker keep them all busy to the end even when one gets the
        # longer articles; a chunk of up to two batches still amortises the pickling round trip.
        size = max(1, min(-(-len(articles) // (4 * self.workers)), 2 * self.batch_size))
        chunks = [list(articles[start : start + size]) for start in range(0, len(articles), size)]
        entities = [with_entities] * len(chunks)
        results = pool.map(_annotate_in_worker, chunks, entities)
        return [notes for chunk in results for notes in chunk]

    def _started_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the daemon has threads (asyncio, APScheduler) that fork would copy
            # mid-flight; each worker imports spaCy and loads the model once in `_start_worker`.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.max_chars, self.batch_size, self.default_language),
            )
        return self._pool

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def text_article(text: str, *, language: str = "fr", key: str = "text") -> Article:
    """A bare text as an article with only a body, from no feed (for `monitor test-rule`)."""
    return Article(
        key=key,
        feed_id="",
        url=None,
        guid=None,
        title="",
        summary="",
        body=text,
        published_at=_EPOCH,
        fetched_at=_EPOCH,
        language=language,
        content_hash="",
    )


# --- the work, in whichever process runs it ------------------------------------------------


class _Engine:
    """One pipeline per language, loaded on first use; converts Docs to model types."""

    def __init__(self, max_chars: int, batch_size: int, default_language: str) -> None:
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.default_language = default_language
        self._pipelines: dict[str, Language] = {}
        self._lock = _PIPELINE_LOCK

    def annotate(self, articles: Sequence[Article], with_entities: bool) -> list[Annotations]:
        languages = [language_code(a.language) or self.default_language for a in articles]
        fields: list[list[AnnotatedField]] = [[] for _ in articles]
        has_entities: dict[str, bool] = {}
        for language in dict.fromkeys(languages):
            jobs = [
                _FieldJob(index, name, text)
                for index, article in enumerate(articles)
                if languages[index] == language
                for name in FIELDS
                if (text := truncate(article.field_text(name), self.max_chars)).strip()
            ]
            annotated, has_entities[language] = self._run(language, jobs, with_entities)
            for job, result in zip(jobs, annotated, strict=True):
                fields[job.article_index].append(result)
        return [
            Annotations(
                article_key=article.key,
                language=language,
                fields=tuple(found),
                has_entities=has_entities[language],
            )
            for article, language, found in zip(articles, languages, fields, strict=True)
        ]

    def pipeline(self, language: str) -> Language:
        with self._lock:
            nlp = self._pipelines.get(language)
            if nlp is None:
                nlp = load_pipeline(language)
                self._pipelines[language] = nlp
            return nlp

    def _run(
        self, language: str, jobs: list[_FieldJob], with_entities: bool
    ) -> tuple[list[AnnotatedField], bool]:
        # One pipeline serves one batch at a time (scale out with processes, DESIGN.md "Measured").
        with self._lock:
            nlp = self.pipeline(language)
            skipped = [] if with_entities else [n for n in ENTITY_COMPONENTS if n in nlp.pipe_names]
            has_entities = "ner" in nlp.pipe_names and not skipped
            if not jobs:
                return [], has_entities
            # The string store grows with every new word it sees; a memory zone frees what
            # these documents added once they are converted (spaCy >= 3.8).
            with nlp.memory_zone():
                texts = (job.text for job in jobs)
                docs = nlp.pipe(texts, batch_size=self.batch_size, disable=skipped)
                fields = [_annotated_field(job.name, d) for job, d in zip(jobs, docs, strict=True)]
            return fields, has_entities


_WORKER_ENGINE: _Engine | None = None


def _start_worker(max_chars: int, batch_size: int, default_language: str) -> None:
    global _WORKER_ENGINE  # one engine per worker process, built once by the pool initializer
    _WORKER_ENGINE = _Engine(max_chars, batch_size, default_language)
    _WORKER_ENGINE.pipeline(default_language)


def _annotate_in_worker(articles: list[Article], with_entities: bool) -> list[Annotations]:
    assert _WORKER_ENGINE is not None, "the pool initializer builds the engine"
    return _WORKER_ENGINE.annotate(articles, with_entities)


def _load_in_worker(language: str) -> bool:
    assert _WORKER_ENGINE is not None, "the pool initializer builds the engine"
    return bool(_WORKER_ENGINE.pipeline(language))


def load_pipeline(language: str) -> Language:
    """The spaCy pipeline monitor uses for `language`: the model (loaded once per process and
    shared), or a new blank one."""
    model = MODELS.get(language)
    if model is not None:
        return _load_model(model, EXCLUDED_COMPONENTS)
    try:
        nlp = spacy.blank(language)
    except ImportError:
        nlp = spacy.blank("xx")  # spaCy's multi-language tokenizer for unknown codes
    nlp.add_pipe("sentencizer")
    if language in LOOKUP_LEMMAS:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        # initialize() reads the table from the installed spacy-lookups-data: nothing downloaded.
        nlp.initialize()
    return nlp


@functools.cache
def _load_model(model: str, excluded: tuple[str, ...]) -> Language:
    # Loading takes about 3 s and 300 MB (DESIGN.md "Measured"): a process that builds several
    # annotators (the CLI called in-process by the tests, say) loads each model only once.
    nlp = spacy.load(model, exclude=list(excluded))
    # Without the parser, sentence boundaries stay unset unless senter runs.
    nlp.enable_pipe("senter")
    return nlp


def _annotated_field(name: str, doc: Doc) -> AnnotatedField:
    entities = tuple(
        Entity(text=ent.text, label=ent.label_, start=ent.start_char, end=ent.end_char)
        for ent in doc.ents
    )
    tokens, sentences = _tokens_and_sentences(doc)
    return AnnotatedField(
        name=name,
        text=doc.text,
        tokens=tokens,
        sentences=sentences,
        entities=entities,
    )


def _tokens_and_sentences(doc: Doc) -> tuple[tuple[Token, ...], tuple[tuple[int, int], ...]]:
    """Tokens and trimmed sentence spans in one pass over the Doc.

    `doc.sents` would be simpler but costs a third of the pipeline's own time: it scans every
    token once more to check that boundaries are set. Sentences holding only whitespace (which
    senter finds between paragraphs) are dropped, so spans never start or end with a space.
    """
    tokens: list[Token] = []
    sentences: list[tuple[int, int]] = []
    is_new_sentence = True
    for token in doc:
        if token.i and token.is_sent_start:
            is_new_sentence = True
        if token.is_space:
            continue
        text = token.text
        start = token.idx
        end = start + len(text)
        if is_new_sentence:
            sentences.append((start, end))
            is_new_sentence = False
        else:
            sentences[-1] = (sentences[-1][0], end)
        folded = fold(text)
        lemma = fold(token.lemma_) or folded
        tokens.append(
            Token(text, start, end, len(sentences) - 1, folded, lemma, bool(token.whitespace_))
        )
    return tuple(tokens), tuple(sentences)
