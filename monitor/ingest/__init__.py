"""ingest: public face."""

from monitor.ingest.extract import extract_full_text, page_text
from monitor.ingest.fetch import Fetcher
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parse import parse_feed

__all__ = [
    "Fetcher",
    "extract_full_text",
    "normalize_entries",
    "page_text",
    "parse_feed",
]
