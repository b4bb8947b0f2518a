"""One feed in, articles out: fetch (caps, hints, the address guard), parse (skimmed first,
so that only the entries not known yet are parsed whole), normalize
(mojibake repaired, language detected when undeclared), near-duplicate fingerprints and
full text. Never reads the store, never matches.
"""

from monitor.ingest.extract import extract_full_text, page_text
from monitor.ingest.fetch import Fetcher
from monitor.ingest.fingerprint import (
    NEAR_DUPLICATE_SIMILARITY,
    STORY_WINDOW,
    NearDuplicates,
    StoryCandidate,
    band_keys,
    content_fingerprint,
    pick_story,
    similarity,
    text_signature,
)
from monitor.ingest.language import detect_language
from monitor.ingest.mojibake import repair_mojibake
from monitor.ingest.normalize import entry_keys, normalize_entries, normalize_new_entries
from monitor.ingest.parse import expat_problem, parse_feed
from monitor.ingest.skim import Skim, skim_feed

__all__ = [
    "NEAR_DUPLICATE_SIMILARITY",
    "STORY_WINDOW",
    "Fetcher",
    "NearDuplicates",
    "Skim",
    "StoryCandidate",
    "band_keys",
    "content_fingerprint",
    "detect_language",
    "entry_keys",
    "expat_problem",
    "extract_full_text",
    "normalize_entries",
    "normalize_new_entries",
    "page_text",
    "parse_feed",
    "pick_story",
    "repair_mojibake",
    "similarity",
    "skim_feed",
    "text_signature",
]
