"""Guess an article's language from its text, for entries and feeds that declare none.

Owns the detector (py3langid, whose model ships inside the package: nothing is downloaded)
and how sure it must be; the library stays in this module. Pure apart from loading the
model once per process.
"""

from __future__ import annotations

import threading

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Below this the guess is not an answer. On ../shared/corpus/fr-feeds (1,334 French items,
# title + summary) every guess above it is "fr"; the three below are bare names with no
# summary ("Justin Trudeau" 0.03 "eu", "Viktor Orban" 0.04 "lt", "Vladimir Poutine" 0.07),
# and the least sure right answer is 0.63. See docs/decisions.md#language-detection.
MIN_CONFIDENCE = 0.5
# langid.py scores byte n-grams: a headline and a summary decide; more only costs time.
_SAMPLE_CHARS = 1_000

_identifier: LanguageIdentifier | None = None
_loading = threading.Lock()


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`'s language, or None when the text does not say."""
    sample = text[:_SAMPLE_CHARS]
    if not any(char.isalpha() for char in sample):
        return None
    language, confidence = _loaded().classify(sample)
    return str(language) if confidence >= MIN_CONFIDENCE else None


def _loaded() -> LanguageIdentifier:
    global _identifier
    with _loading:
        if _identifier is None:
            # 0.5 s once per process; norm_probs makes the score a probability.
            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier
