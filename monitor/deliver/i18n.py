"""The message catalogs and the Babel adapter: translations, localised dates and numbers.

Owns `monitor/deliver/locale/`: each language's `.po` is read once per process and turned
into a `gettext.GNUTranslations`, so the catalog in the repository is the only source
(no compiled `.mo` to keep up to date; see docs/decisions.md). English is the source
language: its strings are the msgids themselves. Must not render templates or send anything.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_location
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "Words",
    "catalog_path",
    "clause_words",
    "format_number",
    "local_time",
    "translations",
    "words_for",
]

LANGUAGES: tuple[str, ...] = ("en", "fr")
DEFAULT_LANGUAGE = "en"
DOMAIN = "monitor"
LOCALE_DIR = Path(__file__).parent / "locale"
# One skeleton for every language: the weekday and month come from CLDR in the
# recipient's language, never from the server's system locale.
_DATE_PATTERN = "EEEE d MMMM y, HH:mm"
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "GMT"})


def catalog_path(language: str) -> Path:
    """Where the `.po` catalog of `language` lives in the package."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of `language`; the source strings themselves for English.

    Raises ValueError for a language monitor has no catalog for (the config refuses those).
    """
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"no message catalog for language '{language}' (expected one of en, fr)")
    with catalog_path(language).open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    # Fuzzy entries are guesses a translator has not confirmed: English is safer than them.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True, slots=True)
class Words:
    """The translation functions of one language, for code that words messages."""

    language: str
    gettext: Callable[[str], str]
    ngettext: Callable[[str, str, int], str]


def words_for(language: str) -> Words:
    """`gettext` and `ngettext` in `language`."""
    catalog = translations(language)
    return Words(language, catalog.gettext, catalog.ngettext)


def clause_words(language: str) -> Callable[[str], str]:
    """The `gettext` that words a rule's clause (`monitor.rules.rule_clauses`) in `language`."""
    return translations(language).gettext


def format_number(number: int | float, language: str) -> str:
    """'1 234' in French (narrow no-break space), '1,234' in English."""
    return format_decimal(number, locale=language)


def local_time(moment: datetime, zone: tzinfo, language: str = DEFAULT_LANGUAGE) -> str:
    """'mardi 1 décembre 2026, 08:00 (heure de Paris)': the moment in the recipient's zone."""
    words = words_for(language)
    shown = format_datetime(moment.astimezone(zone), _DATE_PATTERN, locale=language)
    name = getattr(zone, "key", None) or ("UTC" if zone is UTC else str(zone))
    if name in _UTC_NAMES:
        return words.gettext("%(time)s (UTC)") % {"time": shown}
    city = get_timezone_location(ZoneInfo(name), locale=language, return_city=True)
    return words.gettext("%(time)s (%(city)s time)") % {"time": shown, "city": city}
