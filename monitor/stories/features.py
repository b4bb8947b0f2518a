"""What an article says about its event: weighted terms from its title and lead, the names
among them, and the few keys the store indexes it under.

Pure: reads the annotations the NLP stage made (lemmas always, entities when the entity gate
ran NER), never spaCy, the store or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.model import AnnotatedField, Annotations, Token
from monitor.settings import STORY_DEFAULTS, StorySettings
from monitor.text import fold

# A field's share of the event (`StorySettings` weights): the title names the event, the
# summary or lead tells it, and past the lead a body wanders (background, quotes), so only
# its first `body_tokens` count. `feed_rarity_power` discounts a term common in the article's
# own feed (1: by its in-feed rarity relative to a new term's; 0: not at all); both were
# measured with the threshold, docs/decisions.md.
# The terms a story keeps in its profile, and the keys an article or story is indexed under.
PROFILE_TERMS = 60
INDEX_KEYS = 8
_MIN_LETTERS = 3

# Function words and news filler that every article shares (French, then English): they would
# make all stories alike. Lemmas are folded, so this list is too.
STOP_WORDS = frozenset(
    """
    le la les un une des de du au aux ce cet cette ces se sa son ses leur leurs lui elle ils elles
    nous vous eux qui que quoi dont ou et mais donc car ni or pour par sur sous dans avec sans
    entre vers chez contre selon apres avant depuis pendant lors comme tout tous toute toutes
    autre autres meme plus moins tres trop peu bien aussi encore deja toujours jamais ici etre
    avoir faire dire pouvoir devoir vouloir aller venir voir mettre prendre donner falloir
    savoir passer rester devenir trouver etait sont ont est fait dit peut doit cela celui celle
    ceux leurs notre votre quel quelle quels quelles quand comment pourquoi combien alors ainsi
    afin lorsque puis non oui pas rien personne chaque plusieurs certain certains certaine
    premier premiere dernier derniere nouveau nouvelle nouveaux an ans annee annees jour jours
    fois heure heures mois semaine lundi mardi mercredi jeudi vendredi samedi dimanche janvier
    fevrier mars avril mai juin juillet aout septembre octobre novembre decembre hier demain
    aujourd hui soir matin nuit the and for with from that this are was were has have had will
    its their his her they them not but into over after about more than also been which who
    what when where said says one two new first last year years week day days lire aussi
    video direct suivez podcast images reportage decryptage entretien interview
    """.split()
)


@dataclass(frozen=True, slots=True)
class ArticleTerms:
    """The terms of one article with their field-weighted counts, and the names among them;
    what the store counts document frequencies on."""

    counts: tuple[tuple[str, float], ...]
    names: frozenset[str]

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(term for term, _ in self.counts)


@dataclass(frozen=True, slots=True)
class TermCounts:
    """How many of `articles` counted articles hold each term (absent: none)."""

    articles: int
    holding: Mapping[str, int]

    def rarity(self, term: str) -> float:
        """A smoothed inverse document frequency: log(1 + (N + 1) / (n + 1)); a term never
        seen (or the empty term) gets the largest value."""
        return math.log(1.0 + (self.articles + 1) / (self.holding.get(term, 0) + 1))


@dataclass(frozen=True, slots=True)
class EventFeatures:
    """One article's event vector: unit-length weighted terms, the names among them, and
    the keys (its heaviest terms, names first) that candidate stories are looked up by."""

    terms: tuple[tuple[str, float], ...]
    names: frozenset[str]
    keys: tuple[str, ...]


def article_terms(notes: Annotations, settings: StorySettings = STORY_DEFAULTS) -> ArticleTerms:
    """The terms of an annotated article and how often each occurs, field weights applied."""
    field_weights = {
        "title": settings.title_weight,
        "summary": settings.summary_weight,
        "body": settings.body_weight,
    }
    fields = [field for field in notes.fields if field.name in field_weights]
    names = _names(fields, notes)
    counts: dict[str, float] = {}
    for field in fields:
        weight = field_weights[field.name]
        tokens = field.tokens[: settings.body_tokens] if field.name == "body" else field.tokens
        for token in tokens:
            term = _term(token, names)
            if term is not None:
                counts[term] = counts.get(term, 0.0) + weight
    return ArticleTerms(
        counts=tuple(sorted(counts.items())), names=frozenset(names.intersection(counts))
    )


def event_features(
    found: ArticleTerms,
    everywhere: TermCounts,
    in_feed: TermCounts,
    settings: StorySettings = STORY_DEFAULTS,
) -> EventFeatures:
    """The event vector of an article's terms, each weighted by how rare it is among the
    articles counted so far (`everywhere`) and among those of the article's own feed
    (`in_feed`), where a show's presenter or a column's heading recur in every item."""
    weights = {
        term: (1.0 + math.log(count))
        * everywhere.rarity(term)
        * (in_feed.rarity(term) / in_feed.rarity("")) ** settings.feed_rarity_power
        for term, count in found.counts
    }
    terms = unit_vector(weights, PROFILE_TERMS)
    return EventFeatures(terms=terms, names=found.names, keys=index_keys(terms, found.names))


def unit_vector(weights: dict[str, float], size: int) -> tuple[tuple[str, float], ...]:
    """The `size` heaviest terms of `weights`, scaled to unit length, heaviest first (ties by
    term, so the same text always gives the same vector)."""
    kept = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:size]
    norm = math.sqrt(sum(weight * weight for _, weight in kept))
    if not norm:
        return ()
    return tuple((term, weight / norm) for term, weight in kept)


def index_keys(terms: Iterable[tuple[str, float]], names: Iterable[str]) -> tuple[str, ...]:
    """The INDEX_KEYS terms a story is filed under: its names first (rarer, and what another
    article on the same event is sure to repeat), then its heaviest other terms."""
    named = set(names)
    ordered = sorted(terms, key=lambda item: (item[0] not in named, -item[1], item[0]))
    return tuple(term for term, _ in ordered[:INDEX_KEYS])


def _term(token: Token, names: set[str]) -> str | None:
    if token.folded in names:
        return token.folded
    # Lemmas of capitalised words are unreliable (DESIGN.md, "Measured"): a name keeps its
    # folded form; every other word its lemma, so "négociations" meets "négocier".
    lemma = token.lemma or token.folded
    if len(lemma) < _MIN_LETTERS or not lemma.isalpha() or lemma in STOP_WORDS:
        return None
    return lemma


def _names(fields: list[AnnotatedField], notes: Annotations) -> set[str]:
    """Folded words written as names: capitalised inside a sentence (French capitalises
    little else, titles included), all-capital acronyms, and entity words when NER ran."""
    names: set[str] = set()
    for field in fields:
        previous_sentence = -1
        for token in field.tokens:
            is_first = token.sentence != previous_sentence
            previous_sentence = token.sentence
            text = token.text
            if not text[:1].isupper() or not text.isalpha():
                continue
            is_acronym = len(text) > 1 and text.isupper()
            if (is_acronym or not is_first) and _is_name_word(token.folded):
                names.add(token.folded)
        if notes.has_entities:
            for entity in field.entities:
                names.update(word for word in fold(entity.text).split() if _is_name_word(word))
    return names


def _is_name_word(word: str) -> bool:
    return len(word) >= 2 and word.isalpha() and word not in STOP_WORDS
