"""Watch rules written the way desks write them, from the real corpus's words and entities.

Words, phrases and acronyms are drawn at their document frequency in the corpus (so
"France", "gouvernement" or "sécurité" sit in many rules), actors are the corpus's named
entities; rules are written as YAML files, one per file, with their actors in actors.yaml.
Knows nothing of matching; it never reads the corpus itself (bench.vocabulary does).

The mix (`MIX`, checked by tests/test_bench_workload.py), over every 20 consecutive rules:

- shapes: 35% actor in context (1-3 actors + 3-6 words, a quarter of them `near: sentence`,
  30% with a `none` word), 20% topic phrases (1-3 phrases + 2-4 words, `near: sentence`, 40%
  with a nested `none` phrase), 10% proximity (words within `near: N` of an actor or word,
  N from 5 to 30), 20% weighted (3-5 weighted words, half with an actor, half with a nested
  `all`; `min_score` 2-4), 15% keyword lists (words, phrases, an `{exact: ACRONYM}` in 40%);
- 40.5% of rules nest a clause (`any`/`all`/`none` inside another): phrases and proximity
  always, the other shapes 15% of the time;
- `languages`: [fr] on 40%, [fr, en] on 10%; `sources` (1-3 corpus feed ids) on 10%;
  priority high 10%, low 20%, normal 70%;
- actors: PER, ORG and LOC entities, 1-4 aliases (the name, its spelling without accents,
  a person's surname, an organisation's acronym where the corpus uses it), drawn by how many
  items name them; `require_entity` on 10% of persons (every tenth by corpus frequency).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.vocabulary import ENTITY_KINDS, Counted, Vocabulary, acronym_of
from monitor.text import fold

SHAPES = {"actors": 7, "phrases": 4, "proximity": 2, "weighted": 4, "keywords": 3}
# How often the shapes that may nest a clause do (phrases and proximity always do).
NESTING = 0.15
MIX = {
    **{f"shape {name}": count / 20 for name, count in SHAPES.items()},
    "near: sentence": 7 / 20 * 0.25 + 4 / 20,
    "near: N": 2 / 20,
    "min_score": 4 / 20,
    "nested clause": 6 / 20 + NESTING * 14 / 20,
    "languages": 0.50,
    "sources": 0.10,
    "require_entity (persons)": 0.10,
}
_PLAIN = re.compile(r"[^\W\d_][\w’ -]*[\w’]|[^\W\d_]")
_YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n", "~"}

Node = str | int | float | bool | list["Node"] | dict[str, "Node"]


@dataclass(frozen=True, slots=True)
class GeneratedActor:
    id: str
    name: str
    kind: str
    aliases: tuple[str, ...]
    acronym: str | None
    require_entity: bool


class _Drawer:
    """Draws items at their corpus document frequency (cumulative weights, O(log n) a draw)."""

    def __init__(self, counted: Sequence[Counted]) -> None:
        self.items = [entry.text for entry in counted]
        self._cumulative = list(itertools.accumulate(entry.df for entry in counted))

    def draw(self, rng: random.Random, count: int) -> list[str]:
        picked: dict[str, None] = {}
        for _ in range(count * 4):
            point = rng.random() * self._cumulative[-1]
            picked[self.items[bisect.bisect_right(self._cumulative, point)]] = None
            if len(picked) == count:
                break
        return list(picked)


class RuleWriter:
    """Writes rule sets from one corpus's vocabulary and entities; deterministic by seed."""

    def __init__(
        self,
        words: Vocabulary,
        entities: dict[str, tuple[Counted, ...]],
        feed_ids: Sequence[str],
    ) -> None:
        self.actors = build_actors(entities, frozenset(a.text for a in words.acronyms))
        self._words = _Drawer(words.words)
        self._phrases = _Drawer(words.phrases)
        self._acronyms = _Drawer(words.acronyms)
        counts = {actor.id: df for actor, df in self.actors}
        self._by_id = {actor.id: actor for actor, _ in self.actors}
        self._actors = _Drawer([Counted(key, df) for key, df in counts.items()])
        self._feeds = list(feed_ids)

    def write(self, folder: Path, size: int, *, seed: int) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        for index in range(size):
            rule, actors = self.rule(index, seed)
            used.update(actors)
            (folder / f"{rule['id']}.yaml").write_text(_document(rule), encoding="utf-8")
        declared = [self._by_id[key] for key in sorted(used)]
        (folder / "actors.yaml").write_text(_actors_document(declared), encoding="utf-8")
        return folder

    def rule(self, index: int, seed: int) -> tuple[dict[str, Node], list[str]]:
        """Rule number `index` of set `seed` (the same in every size) and the actors it uses."""
        block = random.Random(f"{seed}:block:{index // 20}")
        slots = [name for name, count in SHAPES.items() for _ in range(count)]
        block.shuffle(slots)
        shape = slots[index % 20]
        rng = random.Random(f"{seed}:rule:{index}")
        draw = _Draws(self, rng)
        match, extra = getattr(self, f"_shape_{shape}")(draw)
        rule: dict[str, Node] = {"id": f"w{seed}-{index:06d}", "name": draw.name(shape)}
        priority = rng.random()
        if priority < 0.1:
            rule["priority"] = "high"
        elif priority < 0.3:
            rule["priority"] = "low"
        languages = rng.random()
        if languages < 0.4:
            rule["languages"] = ["fr"]
        elif languages < 0.5:
            rule["languages"] = ["fr", "en"]
        if rng.random() < 0.1:
            rule["sources"] = rng.sample(self._feeds, rng.randint(1, 3))
        rule["tags"] = [shape]
        rule.update(extra)
        rule["match"] = match
        return rule, draw.actors

    # Each shape returns the rule's `match` and any rule keys it needs (min_score).

    def _shape_actors(self, draw: _Draws) -> tuple[dict[str, Node], dict[str, Node]]:
        actors = draw.actor_ids(draw.rng.randint(1, 3))
        context: list[Node] = [*draw.words(draw.rng.randint(3, 6))]
        acronyms = [self._by_id[a].acronym for a in actors if self._by_id[a].acronym]
        context += [{"exact": acronym} for acronym in acronyms if acronym]
        match: dict[str, Node] = {"actors": {"any": list(actors)}, "any": context}
        if draw.nests():
            match["any"] = [*context[:-2], {"all": context[-2:]}]
        if draw.rng.random() < 0.3:
            match["none"] = draw.words(1)
        if draw.rng.random() < 0.25:
            match["near"] = "sentence"
        return match, {}

    def _shape_phrases(self, draw: _Draws) -> tuple[dict[str, Node], dict[str, Node]]:
        parts: list[Node] = [
            {"any": draw.phrases(draw.rng.randint(1, 3))},
            {"any": draw.words(draw.rng.randint(2, 4))},
        ]
        if draw.rng.random() < 0.4:
            parts.append({"none": draw.phrases(1)})
        return {"all": parts, "near": "sentence"}, {}

    def _shape_proximity(self, draw: _Draws) -> tuple[dict[str, Node], dict[str, Node]]:
        anchor: list[Node] = [{"actor": a} for a in draw.actor_ids(draw.rng.randint(1, 2))]
        anchor += draw.words(draw.rng.randint(1, 2))
        parts: list[Node] = [{"any": draw.words(draw.rng.randint(2, 4))}, {"any": anchor}]
        return {"all": parts, "near": draw.rng.choice((5, 8, 10, 15, 20, 30))}, {}

    def _shape_weighted(self, draw: _Draws) -> tuple[dict[str, Node], dict[str, Node]]:
        weights = [draw.rng.choice((1, 2, 3)) for _ in range(draw.rng.randint(3, 5))]
        words = draw.words(len(weights))
        items: list[Node] = [
            {"term": word, "weight": weight} for word, weight in zip(words, weights, strict=False)
        ]
        total = sum(weights[: len(words)])
        if draw.rng.random() < 0.5:
            items.append({"actor": draw.actor_ids(1)[0], "weight": 2})
            total += 2
        if draw.nests():
            items.append({"all": draw.words(2)})
            total += 2  # each of its words weighs 1 (docs/rules.md#weights-and-scores)
        # Reachable by construction: the loader refuses a min_score above the total weight.
        min_score = draw.rng.randint(2, max(2, min(4, total)))
        return {"any": items}, {"min_score": min_score}

    def _shape_keywords(self, draw: _Draws) -> tuple[dict[str, Node], dict[str, Node]]:
        items: list[Node] = [*draw.words(draw.rng.randint(2, 5))]
        items += draw.phrases(draw.rng.randint(0, 2))
        if draw.rng.random() < 0.4:
            items.append({"exact": self._acronyms.draw(draw.rng, 1)[0]})
        match: dict[str, Node] = {"any": items}
        if draw.nests():
            match["none"] = [{"all": draw.words(2)}]
        elif draw.rng.random() < 0.3:
            match["none"] = draw.words(1)
        return match, {}


class _Draws:
    """One rule's draws; remembers the actors it used for actors.yaml."""

    def __init__(self, writer: RuleWriter, rng: random.Random) -> None:
        self.writer = writer
        self.rng = rng
        self.actors: list[str] = []
        self._first: str | None = None

    def words(self, count: int) -> list[Node]:
        return list(self._noted(self.writer._words.draw(self.rng, count)))

    def phrases(self, count: int) -> list[Node]:
        return list(self._noted(self.writer._phrases.draw(self.rng, count))) if count else []

    def actor_ids(self, count: int) -> list[str]:
        picked = self.writer._actors.draw(self.rng, count)
        self._noted([self.writer._by_id[picked[0]].name])
        self.actors += picked
        return picked

    def _noted(self, drawn: list[str]) -> list[str]:
        self._first = self._first or drawn[0]
        return drawn

    def nests(self) -> bool:
        return self.rng.random() < NESTING

    def name(self, shape: str) -> str:
        """A desk's kind of name: what the rule is about, by the first thing it looks for."""
        return f"{shape.capitalize()}: {self._first}"


# --- actors --------------------------------------------------------------------------------


def build_actors(
    entities: dict[str, tuple[Counted, ...]], acronyms: frozenset[str]
) -> list[tuple[GeneratedActor, int]]:
    """One actor per entity name (a lone surname folds into the full name's actor), each with
    the number of corpus items naming it."""
    surnames = {
        fold(entity.text.split()[-1]): entity.text
        for entity in reversed(entities.get("PER", ()))
        if len(entity.text.split()) > 1
    }
    merged: dict[tuple[str, str], int] = {}
    for label, kind in ENTITY_KINDS.items():
        for entity in entities.get(label, ()):
            name = entity.text
            if kind == "person" and len(name.split()) == 1:
                name = surnames.get(fold(name), name)
            merged[(kind, name)] = merged.get((kind, name), 0) + entity.df
    ordered = sorted(merged.items(), key=lambda pair: (-pair[1], pair[0]))
    actors: list[tuple[GeneratedActor, int]] = []
    ids: set[str] = set()
    persons = 0
    for (kind, name), df in ordered:
        if any(fold(name) == fold(actor.name) for actor, _ in actors[-50:]):
            continue  # the same name under two labels: one actor
        actor_id = _unique_id(name, ids)
        acronym = acronym_of(name, acronyms) if kind == "org" and " " in name else None
        persons += kind == "person"
        actors.append(
            (
                GeneratedActor(
                    id=actor_id,
                    name=name,
                    kind=kind,
                    aliases=_aliases(name, kind, acronym),
                    acronym=acronym,
                    require_entity=kind == "person" and persons % 10 == 0,
                ),
                df,
            )
        )
    return actors


def _aliases(name: str, kind: str, acronym: str | None) -> tuple[str, ...]:
    aliases = [name]
    plain = "".join(
        char for char in unicodedata.normalize("NFD", name) if not unicodedata.combining(char)
    )
    if plain != name:
        aliases.append(plain)
    words = name.split()
    if kind == "person" and len(words) > 1 and len(words[-1]) >= 4:
        aliases.append(words[-1])
    if acronym:
        aliases.append(acronym)
    return tuple(aliases[:4])


def _unique_id(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", fold(name).lower()).strip("-") or "actor"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


# --- YAML ----------------------------------------------------------------------------------


def _document(rule: dict[str, Node]) -> str:
    return "\n".join(_mapping(rule, 0)) + "\n"


def _actors_document(actors: Sequence[GeneratedActor]) -> str:
    lines = ["# Actors the generated rules refer to: named entities of the corpus.", "actors:"]
    for actor in actors:
        entry: dict[str, Node] = {
            "id": actor.id,
            "name": actor.name,
            "type": actor.kind,
            "aliases": list(actor.aliases),
        }
        if actor.require_entity:
            entry["require_entity"] = True
        body = _mapping(entry, 4)
        lines += ["  - " + body[0].lstrip(), *body[1:]]
    return "\n".join(lines) + "\n"


def _mapping(mapping: dict[str, Node], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines += [f"{pad}{key}:", *_mapping(value, indent + 2)]
        elif isinstance(value, list) and not _is_flat(value):
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, dict) and not _is_flat([item]):
                    body = _mapping(item, indent + 4)
                    lines += [f"{pad}  - " + body[0].lstrip(), *body[1:]]
                else:
                    lines.append(f"{pad}  - {_flow(item)}")
        else:
            lines.append(f"{pad}{key}: {_flow(value)}")
    return lines


def _is_flat(items: list[Node]) -> bool:
    """Whether a list reads well on one line: scalars and one-level mappings of scalars."""
    flat = all(
        not isinstance(item, list | dict)
        or (isinstance(item, dict) and all(not isinstance(v, list | dict) for v in item.values()))
        for item in items
    )
    return flat and len(_flow(items)) <= 90


def _flow(value: Node) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)
