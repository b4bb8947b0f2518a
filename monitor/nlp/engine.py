"""The spaCy adapter: one pipeline per language, and the conversion of Docs to `Annotations`.

spaCy stays inside this module: a `Doc` never leaves it. fr_core_news_sm is loaded once per
process, lazily, without the parser, and shared by every engine in that process; languages
without a model get a blank pipeline with a rule-based sentencizer. A line break in a field's
text (a paragraph, heading, list item or `<br>` once normalised) always ends a sentence. It
does not match rules, and does no I/O beyond loading the model.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from monitor.model import FIELDS, AnnotatedField, Annotations, Article, Entity, Token
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
# Runs before the sentence splitters, which keep the boundaries it sets (overwrite=False).
HARD_BREAKS_COMPONENT = "monitor_hard_breaks"
# What normalisation leaves between blocks, and what a plain text's lines end with.
_LINE_BREAK_CHARS = re.compile("[\n\r\u2028\u2029]")
# The loaded models are shared by every engine in the process, so one lock serialises their use:
# memory zones must not interleave, and threads gain little on CPU-bound spaCy anyway.
_PIPELINE_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True)
class _FieldJob:
    """One field text waiting for the pipeline, and where its result goes."""

    article_index: int
    name: str
    text: str


class Engine:
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
    nlp.add_pipe(HARD_BREAKS_COMPONENT)
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
    nlp.add_pipe(HARD_BREAKS_COMPONENT, before="senter")
    return nlp


@Language.component(HARD_BREAKS_COMPONENT)
def _start_sentences_after_line_breaks(doc: Doc) -> Doc:
    """Start a sentence at the first word after a line break.

    senter was trained on running text: it joins a heading, a list item or a paragraph without
    a final full stop to the next block, and a rule would claim a co-occurrence that no reader
    sees. spaCy makes every run of whitespace other than one space a token of its own, so a
    line break is always inside a space token.
    """
    is_after_break = False
    for token in doc:
        if token.is_space:
            is_after_break = is_after_break or bool(_LINE_BREAK_CHARS.search(token.text))
        elif is_after_break:
            token.is_sent_start = True
            is_after_break = False
    return doc


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
