"""The spaCy stage: articles in, `Annotations` (sentences, folded tokens, lemmas, entities) out.

spaCy stays inside this module: a `Doc` never leaves it. fr_core_news_sm is loaded once, lazily;
languages without a model get a blank pipeline with a rule-based sentencizer. It does not match
rules and does no I/O beyond loading the model.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from monitor.model import FIELDS, AnnotatedField, Annotations, Article, Entity, Token

# Languages with a trained pipeline; every other language gets `spacy.blank`.
MODELS: dict[str, str] = {"fr": "fr_core_news_sm"}
# Only sentence boundaries, lemmas and entities are used: the parser is the slowest component
# and `senter` gives the boundaries at a fraction of its cost (see DESIGN.md, "Measured").
EXCLUDED_COMPONENTS = ("parser",)


@dataclass(frozen=True, slots=True)
class _FieldJob:
    """One field text waiting for the pipeline, and where its result goes."""

    article_index: int
    name: str
    text: str


class Annotator:
    """Annotate articles with one shared spaCy pipeline per language, loaded on first use."""

    def __init__(
        self, *, max_chars: int = 20_000, batch_size: int = 8, default_language: str = "fr"
    ) -> None:
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.default_language = _primary_language(default_language) or "fr"
        self._pipelines: dict[str, Language] = {}
        self._lock = threading.RLock()

    def annotate(self, articles: Sequence[Article]) -> list[Annotations]:
        """Annotate `articles` in batches; the result is in the same order."""
        languages = [self._language_of(article) for article in articles]
        fields: list[list[AnnotatedField]] = [[] for _ in articles]
        for language in dict.fromkeys(languages):
            jobs = [
                _FieldJob(index, name, text)
                for index, article in enumerate(articles)
                if languages[index] == language
                for name in FIELDS
                if (text := article.field_text(name)[: self.max_chars]).strip()
            ]
            for job, annotated in zip(jobs, self._run(language, jobs), strict=True):
                fields[job.article_index].append(annotated)
        return [
            Annotations(article_key=article.key, language=language, fields=tuple(found))
            for article, language, found in zip(articles, languages, fields, strict=True)
        ]

    def annotate_text(self, text: str, *, language: str = "fr", key: str = "text") -> Annotations:
        """Annotate a bare text as one 'body' field (for `monitor test-rule --text`)."""
        language = _primary_language(language) or self.default_language
        text = text[: self.max_chars]
        jobs = [_FieldJob(0, "body", text)] if text.strip() else []
        return Annotations(
            article_key=key, language=language, fields=tuple(self._run(language, jobs))
        )

    def _language_of(self, article: Article) -> str:
        return _primary_language(article.language) or self.default_language

    def _run(self, language: str, jobs: list[_FieldJob]) -> list[AnnotatedField]:
        if not jobs:
            return []
        # One pipeline serves one batch at a time: memory zones must not interleave, and threads
        # gain little on CPU-bound spaCy anyway (scale out with processes, DESIGN.md "Measured").
        with self._lock:
            nlp = self._pipeline(language)
            # The string store grows with every new word it sees; a memory zone frees what
            # these documents added once they are converted (spaCy >= 3.8).
            with nlp.memory_zone():
                docs = nlp.pipe((job.text for job in jobs), batch_size=self.batch_size)
                return [_annotated_field(job.name, d) for job, d in zip(jobs, docs, strict=True)]

    def _pipeline(self, language: str) -> Language:
        with self._lock:
            nlp = self._pipelines.get(language)
            if nlp is None:
                nlp = _load_pipeline(language)
                self._pipelines[language] = nlp
            return nlp


def _load_pipeline(language: str) -> Language:
    model = MODELS.get(language)
    if model is not None:
        nlp = spacy.load(model, exclude=list(EXCLUDED_COMPONENTS))
        # Without the parser, sentence boundaries stay unset unless senter runs.
        nlp.enable_pipe("senter")
        return nlp
    try:
        nlp = spacy.blank(language)
    except ImportError:
        nlp = spacy.blank("xx")  # spaCy's multi-language tokenizer for unknown codes
    nlp.add_pipe("sentencizer")
    return nlp


def _primary_language(language: str | None) -> str | None:
    """'fr-FR' -> 'fr'; None or '' -> None."""
    if not language:
        return None
    primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary or None


def _fold(text: str) -> str:
    """Lower case with accents stripped: 'Sécurité' -> 'securite'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _annotated_field(name: str, doc: Doc) -> AnnotatedField:
    sentences: list[tuple[int, int]] = []
    tokens: list[Token] = []
    for sentence in doc.sents:
        span = _trimmed_span(doc.text, sentence.start_char, sentence.end_char)
        if span is None:
            continue  # whitespace between paragraphs, which senter may count as a sentence
        sentences.append(span)
        tokens.extend(_tokens(sentence, len(sentences) - 1))
    entities = tuple(
        Entity(text=ent.text, label=ent.label_, start=ent.start_char, end=ent.end_char)
        for ent in doc.ents
    )
    return AnnotatedField(
        name=name,
        text=doc.text,
        tokens=tuple(tokens),
        sentences=tuple(sentences),
        entities=entities,
    )


def _tokens(sentence: Iterable[spacy.tokens.Token], sentence_index: int) -> Iterable[Token]:
    for token in sentence:
        if token.is_space:
            continue
        folded = _fold(token.text)
        yield Token(
            text=token.text,
            start=token.idx,
            end=token.idx + len(token.text),
            sentence=sentence_index,
            folded=folded,
            lemma=_fold(token.lemma_) or folded,
            is_space_after=bool(token.whitespace_),
        )


def _trimmed_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
