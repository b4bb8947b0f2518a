"""The NLP stage: articles in, `Annotations` (sentences, folded tokens, lemmas, entities) out.

`Annotator` annotates in-process or in a pool of worker processes that share one copy of the
model; `engine` is the spaCy adapter (a `Doc` never leaves it). No rules, no I/O beyond
loading the models.
"""

from monitor.nlp.annotator import Annotator, text_article
from monitor.nlp.engine import (
    ENTITY_COMPONENTS,
    EXCLUDED_COMPONENTS,
    HARD_BREAKS_COMPONENT,
    MODELS,
    load_pipeline,
)

__all__ = [
    "ENTITY_COMPONENTS",
    "EXCLUDED_COMPONENTS",
    "HARD_BREAKS_COMPONENT",
    "MODELS",
    "Annotator",
    "load_pipeline",
    "text_article",
]
