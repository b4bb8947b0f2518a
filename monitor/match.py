"""Explainable matching: compiled rules x annotated article -> `Match`es with their `Hit`s.

Pure: no spaCy, no I/O, no clock. The cost of one article must not grow with the number of
rules: every term and alias is indexed by its first word at compile time, one walk over the
article's words finds all of them, and only the rules with a hit (or that need none) are run.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from monitor.model import (
    FIELDS,
    Actor,
    ActorRef,
    AnnotatedField,
    Annotations,
    Article,
    Clause,
    Hit,
    Match,
    Rule,
    RuleSet,
    Term,
)

SNIPPET_CHARS = 300
_FIELD_ORDER = {name: index for index, name in enumerate(FIELDS)}
# A rule hitting "France" fifty times does not explain itself better with fifty hits.
MAX_HITS_PER_WANTED = 5

# A word: letters and digits (with their combining accents); "-", "/", "_" and the rest split.
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f\u0610-\u061a\u064b-\u065f])+")
# French elided articles and pronouns glued to the next word: l'Olympique, d'Hammouchi, qu'il.
_ELISION = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)
# Punctuation that joins the parts of one name (DGSN-DGST, DGSN / DGST) rather than separating
# phrases: a pattern may run across these but not across a comma, a full stop or a bracket.
_JOINERS = frozenset("-‐‑–/_&·'’+")


# --- compiled form ---------------------------------------------------------------------

# Turns a term's text into a pattern id (None when the text has no words).
_Interner = Callable[[str, bool], int | None]


@dataclass(frozen=True, slots=True)
class _Pattern:
    """The words of one term or alias, as the text walk compares them."""

    words: tuple[str, ...]
    is_exact: bool


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A leaf of a rule: one term, or one actor with all its aliases."""

    label: str
    actor_id: str | None
    pattern_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Node:
    op: str  # "any" | "all" | "none"
    children: tuple[_Node | _Wanted, ...]


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    scoped: _Node  # what `near` applies to: the rule's `all` without its top-level `none`s
    excluded: tuple[_Node, ...]  # top-level `none`s: checked over the whole article
    evidence: tuple[_Wanted, ...]  # leaves outside any `none`: what hits explain


class CompiledRules:
    """A rule set turned into a first-word index over every term and alias. Opaque."""

    __slots__ = (
        "_always",
        "_by_first_exact",
        "_by_first_word",
        "_patterns",
        "_rules",
        "_rules_by_pattern",
    )

    def __init__(self, rules: RuleSet) -> None:
        self._patterns: list[_Pattern] = []
        self._by_first_word: dict[str, list[int]] = defaultdict(list)
        self._by_first_exact: dict[str, list[int]] = defaultdict(list)
        pattern_ids: dict[_Pattern, int] = {}
        rules_by_pattern: dict[int, set[int]] = defaultdict(set)
        self._rules: list[_CompiledRule] = []
        actors = {actor.id: actor for actor in rules.actors}
        for rule_index, rule in enumerate(rules.rules):
            compiled = _compile_rule(rule, actors, functools.partial(self._intern, pattern_ids))
            self._rules.append(compiled)
            for wanted in _leaves(compiled.scoped, *compiled.excluded):
                for pattern_id in wanted.pattern_ids:
                    rules_by_pattern[pattern_id].add(rule_index)
        self._rules_by_pattern = {key: tuple(sorted(ids)) for key, ids in rules_by_pattern.items()}
        # Rules such as `none: [x]` alone match articles where no pattern occurs at all.
        self._always = tuple(i for i, rule in enumerate(self._rules) if _is_always_candidate(rule))

    def _intern(self, pattern_ids: dict[_Pattern, int], text: str, is_exact: bool) -> int | None:
        words = _term_words(text, is_exact=is_exact)
        if not words:
            return None
        pattern = _Pattern(words, is_exact)
        if pattern not in pattern_ids:
            pattern_ids[pattern] = len(self._patterns)
            self._patterns.append(pattern)
            index = self._by_first_exact if is_exact else self._by_first_word
            index[words[0]].append(pattern_ids[pattern])
        return pattern_ids[pattern]


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Build the matcher for `rules`; do it once per rule set, not per article."""
    return CompiledRules(rules)


def _compile_rule(rule: Rule, actors: dict[str, Actor], intern: _Interner) -> _CompiledRule:
    scoped: list[_Node | _Wanted] = []
    excluded: list[_Node] = []
    for item in rule.clause.items:
        compiled = _compile_item(item, actors, intern)
        if isinstance(compiled, _Node) and compiled.op == "none":
            excluded.append(compiled)
        else:
            scoped.append(compiled)
    scoped_node = _Node(op=rule.clause.op, children=tuple(scoped))
    evidence = tuple(dict.fromkeys(_evidence(scoped_node)))  # a term named twice explains once
    return _CompiledRule(rule, scoped_node, tuple(excluded), evidence)


def _compile_item(
    item: Term | ActorRef | Clause, actors: dict[str, Actor], intern: _Interner
) -> _Node | _Wanted:
    if isinstance(item, Clause):
        return _Node(item.op, tuple(_compile_item(child, actors, intern) for child in item.items))
    if isinstance(item, Term):
        pattern_id = intern(item.text, item.is_exact)
        return _Wanted(item.text, None, () if pattern_id is None else (pattern_id,))
    actor = actors.get(item.actor_id)
    if actor is None:  # rules.py refuses undefined actors; a hand-built RuleSet may not
        return _Wanted(item.actor_id, item.actor_id, ())
    ids = (intern(alias, False) for alias in dict.fromkeys((actor.name, *actor.aliases)))
    return _Wanted(actor.name, actor.id, tuple(i for i in ids if i is not None))


def _leaves(*nodes: _Node | _Wanted) -> Iterator[_Wanted]:
    for node in nodes:
        if isinstance(node, _Wanted):
            yield node
        else:
            yield from _leaves(*node.children)


def _evidence(node: _Node | _Wanted) -> Iterator[_Wanted]:
    if isinstance(node, _Wanted):
        yield node
    elif node.op != "none":
        for child in node.children:
            yield from _evidence(child)


# --- words -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65_536)
def _fold(text: str) -> str:
    """Lower case, accents stripped; the same folding as nlp.py's Token.folded."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _term_words(text: str, *, is_exact: bool) -> tuple[str, ...]:
    words: list[str] = []
    for chunk in text.split():
        chunk = _ELISION.sub("", chunk)
        words.extend(_WORD.findall(chunk if is_exact else _fold(chunk)))
    return tuple(words)


@dataclass(frozen=True, slots=True)
class _Word:
    """One word of the article's text stream: a token, or a piece of one (DGSN-DGST)."""

    raw: str
    folded: str
    lemma: str
    start: int
    end: int
    sentence: int
    is_joined: bool  # may continue a phrase started on the previous word


def _field_words(annotated: AnnotatedField) -> list[_Word]:
    words: list[_Word] = []
    is_joined = False
    previous_sentence = -1
    for token in annotated.tokens:
        if token.sentence != previous_sentence:
            is_joined, previous_sentence = False, token.sentence
        offset = _ELISION.match(token.text)
        pieces = list(_WORD.finditer(token.text, offset.end() if offset else 0))
        if not pieces:
            # Elisions and joiners keep a phrase going; any other punctuation ends it.
            is_joined = is_joined and (offset is not None or set(token.text) <= _JOINERS)
            continue
        lemmas = _WORD.findall(_ELISION.sub("", token.lemma))
        for index, piece in enumerate(pieces):
            folded = _fold(piece.group())
            lemma = _fold(lemmas[index]) if len(lemmas) == len(pieces) else folded
            start = token.start + piece.start()
            end = token.start + piece.end()
            words.append(_Word(piece.group(), folded, lemma, start, end, token.sentence, is_joined))
            is_joined = True
    return words


def _word_matches(pattern_word: str, word: _Word, *, is_exact: bool) -> bool:
    if is_exact:
        return pattern_word == word.raw
    return pattern_word in (word.folded, word.lemma)


# --- finding every pattern in one walk -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spot:
    """Where one pattern was found."""

    field: str
    first_word: int
    start: int
    end: int
    sentence: int


def _find_patterns(compiled: CompiledRules, notes: Annotations) -> dict[int, list[_Spot]]:
    found: dict[int, list[_Spot]] = defaultdict(list)
    patterns = compiled._patterns
    for annotated in notes.fields:
        words = _field_words(annotated)
        for position, word in enumerate(words):
            candidates = compiled._by_first_word.get(word.folded, [])
            if word.lemma != word.folded:
                candidates = candidates + compiled._by_first_word.get(word.lemma, [])
            candidates = candidates + compiled._by_first_exact.get(word.raw, [])
            for pattern_id in dict.fromkeys(candidates):
                end = _pattern_end(patterns[pattern_id], words, position)
                if end is not None:
                    last = words[end - 1]
                    spot = _Spot(annotated.name, position, word.start, last.end, word.sentence)
                    found[pattern_id].append(spot)
    return found


def _pattern_end(pattern: _Pattern, words: list[_Word], position: int) -> int | None:
    """The word index after `pattern` if it occurs at `position`, else None."""
    end = position + len(pattern.words)
    if end > len(words):
        return None
    for offset, pattern_word in enumerate(pattern.words):
        word = words[position + offset]
        if offset and not word.is_joined:
            return None
        if not _word_matches(pattern_word, word, is_exact=pattern.is_exact):
            return None
    return end


# --- evaluating the candidate rules ------------------------------------------------------


def evaluate(article: Article, notes: Annotations, compiled: CompiledRules) -> list[Match]:
    """The rules `article` matches, best first (priority, then score), each with its hits."""
    found = _find_patterns(compiled, notes)
    candidates = set(compiled._always)
    for pattern_id in found:
        candidates.update(compiled._rules_by_pattern.get(pattern_id, ()))
    language = _primary_language(article.language) or _primary_language(notes.language)
    matches = []
    for index in sorted(candidates):
        rule = compiled._rules[index]
        if not _passes_filters(rule.rule, article.feed_id, language):
            continue
        match = _evaluate_rule(rule, article.key, notes, found)
        if match is not None:
            matches.append(match)
    matches.sort(key=lambda match: (-match.priority, -match.score, match.rule_id))
    return matches


def _primary_language(language: str | None) -> str | None:
    if not language:
        return None
    return language.replace("_", "-").split("-", 1)[0].strip().lower() or None


def _passes_filters(rule: Rule, feed_id: str, language: str | None) -> bool:
    if rule.sources and feed_id not in rule.sources:
        return False
    if rule.languages:
        wanted = {_primary_language(code) for code in rule.languages}
        return language in wanted
    return True


_Present = Callable[[_Wanted], bool]
_InScope = Callable[[_Spot], bool]


def _holds(node: _Node | _Wanted, is_present: _Present) -> bool:
    if isinstance(node, _Wanted):
        return is_present(node)
    if node.op == "any":
        return any(_holds(child, is_present) for child in node.children)
    if node.op == "none":
        return not any(_holds(child, is_present) for child in node.children)
    return all(_holds(child, is_present) for child in node.children)


def _is_always_candidate(rule: _CompiledRule) -> bool:
    """True for rules that can match an article where none of their patterns occur."""

    def is_absent(_: _Wanted) -> bool:
        return False

    return _holds(rule.scoped, is_absent) and all(_holds(n, is_absent) for n in rule.excluded)


def _evaluate_rule(
    rule: _CompiledRule, article_key: str, notes: Annotations, found: dict[int, list[_Spot]]
) -> Match | None:
    fields = set(rule.rule.fields)
    spots: dict[_Wanted, list[_Spot]] = {}
    for wanted in _leaves(rule.scoped, *rule.excluded):
        spots[wanted] = _without_overlaps(
            s for p in wanted.pattern_ids for s in found.get(p, ()) if s.field in fields
        )
    if not all(_holds(node, lambda wanted: bool(spots[wanted])) for node in rule.excluded):
        return None
    in_scope = _satisfying_scope(rule, spots)
    if in_scope is None:
        return None
    hits = tuple(_hits(rule, spots, in_scope, notes))
    return Match(
        rule_id=rule.rule.id,
        rule_name=rule.rule.name,
        article_key=article_key,
        priority=rule.rule.priority,
        score=float(len({(hit.wanted, hit.actor_id) for hit in hits})),
        hits=hits,
    )


def _without_overlaps(spots: Iterable[_Spot]) -> list[_Spot]:
    """Text order; where aliases overlap ('Abdellatif Hammouchi', 'Hammouchi') keep the longest."""
    kept: list[_Spot] = []
    for spot in sorted(spots, key=lambda s: (_FIELD_ORDER.get(s.field, 99), s.start, -s.end)):
        if kept and kept[-1].field == spot.field and spot.start < kept[-1].end:
            continue
        kept.append(spot)
    return kept


def _satisfying_scope(rule: _CompiledRule, spots: dict[_Wanted, list[_Spot]]) -> _InScope | None:
    """A test for the spots inside the places where the rule holds, or None if it holds nowhere."""
    evidence = [spot for wanted in rule.evidence for spot in spots[wanted]]
    near = rule.rule.near
    if near is None or not evidence:
        scopes: list[_InScope] = [lambda spot: True]
    elif near == "sentence":
        places = dict.fromkeys((spot.field, spot.sentence) for spot in evidence)
        scopes = [_sentence_scope(field, sentence) for field, sentence in places]
    else:
        scopes = [_window_scope(spot, int(near)) for spot in evidence]
    holding = [scope for scope in scopes if _holds(rule.scoped, _present_in(spots, scope))]
    if not holding:
        return None
    return lambda spot: any(in_scope(spot) for in_scope in holding)


def _present_in(spots: dict[_Wanted, list[_Spot]], in_scope: _InScope) -> _Present:
    return lambda wanted: any(in_scope(spot) for spot in spots[wanted])


def _sentence_scope(field: str, sentence: int) -> _InScope:
    return lambda spot: spot.field == field and spot.sentence == sentence


def _window_scope(anchor: _Spot, words: int) -> _InScope:
    # `near: N`: every wanted item starts at most N words after the first one.
    first, last = anchor.first_word, anchor.first_word + words
    return lambda spot: spot.field == anchor.field and first <= spot.first_word <= last


def _hits(
    rule: _CompiledRule,
    spots: dict[_Wanted, list[_Spot]],
    in_scope: _InScope,
    notes: Annotations,
) -> Iterator[Hit]:
    seen: set[tuple[str, str | None, str, int]] = set()
    for wanted in rule.evidence:
        kept = 0
        for spot in spots[wanted]:
            key = (wanted.label, wanted.actor_id, spot.field, spot.start)
            if kept == MAX_HITS_PER_WANTED or key in seen or not in_scope(spot):
                continue
            seen.add(key)
            kept += 1
            yield _hit(wanted, spot, notes)


def _hit(wanted: _Wanted, spot: _Spot, notes: Annotations) -> Hit:
    annotated = notes.field(spot.field)
    text = annotated.text if annotated is not None else ""
    sentences = annotated.sentences if annotated is not None else ()
    return Hit(
        wanted=wanted.label,
        matched=text[spot.start : spot.end],
        field=spot.field,
        start=spot.start,
        end=spot.end,
        snippet=_snippet(text, sentences, spot),
        actor_id=wanted.actor_id,
    )


def _snippet(text: str, sentences: tuple[tuple[int, int], ...], spot: _Spot) -> str:
    """The sentence around the hit, cut to about SNIPPET_CHARS around it when longer."""
    start, end = sentences[spot.sentence] if spot.sentence < len(sentences) else (0, len(text))
    if end - start > SNIPPET_CHARS:
        middle = (spot.start + spot.end) // 2
        cut_start = max(start, min(middle - SNIPPET_CHARS // 2, end - SNIPPET_CHARS))
        cut_end = min(end, cut_start + SNIPPET_CHARS)
        # Cut between words, never inside the hit itself.
        cut_start = _next_space(text, cut_start, limit=spot.start)
        cut_end = _previous_space(text, cut_end, limit=spot.end)
        prefix = "…" if cut_start > start else ""
        suffix = "…" if cut_end < end else ""
        start, end = cut_start, cut_end
        return prefix + " ".join(text[start:end].split()) + suffix
    return " ".join(text[start:end].split())


def _next_space(text: str, index: int, *, limit: int) -> int:
    space = text.find(" ", index, limit)
    return index if space < 0 else space + 1


def _previous_space(text: str, index: int, *, limit: int) -> int:
    space = text.rfind(" ", limit, index)
    return index if space < 0 else space
