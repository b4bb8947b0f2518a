"""Which articles need the entity recognizer: those where an entity-requiring actor may occur.

NER is about half the analysis cost, and one `require_entity` actor among thousands of rules
used to turn it on for every article. The gate holds the aliases of the actors that rules
reference with `require_entity`; an article needs NER only when its folded text contains one.
The text test predicts; `missed` checks an annotation made without NER with the very patterns
the matcher uses, so a form the text test cannot foresee (a lemma, an Arabic or Cyrillic
variant) costs a second annotation, never a different verdict. Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from monitor.match.fuzzy import allowed_edits
from monitor.match.patterns import PatternIndex
from monitor.match.plan import ENTITY_LABELS
from monitor.model import FIELDS, Actor, ActorRef, Annotations, Article, Clause, RuleSet, Term
from monitor.text import fold, term_variants, term_words

# What the text test compares: folded text without spaces or punctuation, so "DGSN-DGST",
# "D.G.S.T." and "cyber attaque" meet "dgsndgst", "dgst" and "cyberattaque".
_NOT_LETTERS = re.compile(r"[\W_]+")
# Shorter pieces of a fuzzy word ("ham", "don") occur in most articles and would gate nothing.
MIN_PIECE_LETTERS = 5
# Stems of Cyrillic words carry this mark in patterns (text.py); it is never in an article.
_STEM_MARK = "~"
# A prefix tree of keys, one character per level; "" marks where a key ends.
_Trie = dict[str, "_Trie"]


class EntityGate:
    """The entity-requiring aliases of a rule set, as a text test and as matcher patterns."""

    __slots__ = ("_index", "_search", "is_always", "keys")

    def __init__(self, actors: Iterable[Actor]) -> None:
        self._index = PatternIndex()
        keys: set[str] = set()
        self.is_always = False
        for actor in actors:
            for name in dict.fromkeys((actor.name, *actor.aliases)):
                # The same call as the compiled rules make (plan.py), so `missed` finds what
                # the matcher would.
                self._index.add(name, fuzzy=actor.fuzzy)
                for key in _alias_keys(name, actor.fuzzy):
                    if key:
                        keys.add(key)
                    else:
                        self.is_always = True  # an alias with nothing to search for: be safe
        self.keys = frozenset(keys)
        self._search = _alternation(self.keys).search if self.keys else None

    @property
    def is_active(self) -> bool:
        """Whether some rule requires an entity at all: when False, NER never runs."""
        return self.is_always or self._search is not None

    def needs_entities(self, article: Article) -> bool:
        """Whether `article`'s text contains an alias of an entity-requiring actor."""
        if self.is_always:
            return True
        if self._search is None:
            return False
        text = "\n".join(article.field_text(name) for name in FIELDS)
        return self._search(_NOT_LETTERS.sub("", fold(text))) is not None

    def missed(self, notes: Annotations) -> bool:
        """Whether an annotation made without NER holds an entity-requiring alias after all."""
        return self._search is not None and bool(self._index.find(notes))


def entity_gate(rules: RuleSet) -> EntityGate:
    """The gate for the actors that some rule of `rules` references with `require_entity`."""
    actors = {actor.id: actor for actor in rules.actors}
    required: dict[str, Actor] = {}
    for rule in rules.rules:
        for ref in _actor_refs(rule.clause):
            actor = actors.get(ref.actor_id)
            if actor is None or not ENTITY_LABELS.get(actor.kind):
                continue  # no labels to check: the matcher ignores require_entity (plan.py)
            is_required = actor.require_entity if ref.require_entity is None else ref.require_entity
            if is_required:
                required[actor.id] = actor
    return EntityGate(required.values())


def _actor_refs(item: Term | ActorRef | Clause) -> Iterator[ActorRef]:
    if isinstance(item, ActorRef):
        yield item
    elif isinstance(item, Clause):
        for child in item.items:
            yield from _actor_refs(child)


def _alias_keys(name: str, fuzzy: float | None) -> Iterator[str]:
    """Strings of which an article holding `name` in any matched form contains at least one.

    One word per spelling suffices (all its words must be found): the longest, the most telling.
    A fuzzy word may be misspelt by up to k edits, which leave one of k + 1 pieces intact; where
    the pieces would be too short to tell anything, the word stands for itself and a misspelling
    is left to `EntityGate.missed`.
    """
    words = term_words(name, is_exact=False)
    for spelling in (words, *term_variants(words)):
        word = max(spelling, key=len).lstrip(_STEM_MARK)
        edits = allowed_edits(word, fuzzy) if fuzzy is not None else 0
        size = -(-len(word) // (edits + 1))
        if size < MIN_PIECE_LETTERS:
            size = len(word)
        for start in range(0, len(word), size):
            yield _NOT_LETTERS.sub("", word[start : start + size])


def _alternation(keys: Iterable[str]) -> re.Pattern[str]:
    """One regex over `keys`, nested by shared prefixes: a search costs one walk of the text.

    A flat alternation tries every key at every position; the nesting branches on each
    character, so the cost does not grow with the number of aliases.
    """
    trie: _Trie = {}
    for key in keys:
        node = trie
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile(_trie_pattern(trie))


def _trie_pattern(node: _Trie) -> str:
    if "" in node:
        return ""  # a key ends here: the shorter key suffices for a substring test
    branches = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items())]
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"
