"""Synthetic press articles and rules from a small newsroom vocabulary, kept for the
benchmarks that still import them (bench.nlp, bench.feedserver).

Deterministic (seeded): French and English sentences built from the seed article, naming
people, organisations and places from a fixed pool of actors. Its vocabulary is a toy that
hides real costs (issue 10): measure matching and rules on bench.workload's real corpus
articles and desk-like rule sets instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from monitor.model import Actor, ActorRef, Article, Clause, Priority, Rule, RuleSet, Term

SEED = Path(__file__).resolve().parent.parent / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt"
NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

FIRST_NAMES = (
    "Abdellatif Nicolas Frédéric Amina Karim Sophie Julien Camille Youssef Fatima Laurent "
    "Claire Mehdi Nadia Olivier Leïla Thomas Inès Pierre Salma Marc Hélène Rachid Élodie "
    "Antoine Samira Hugo Zineb Mathieu Sarah John Emily Michael Laura David Anna James Olivia"
).split()
PLACES = (
    "Rabat Paris Casablanca Marseille Lyon Tanger Bruxelles Madrid Genève Alger Tunis Dakar "
    "Londres Berlin Rome Lisbonne Agadir Marrakech Fès Bordeaux Toulouse Nice Lille Strasbourg"
).split()
ORG_WORDS = (
    "Direction générale Agence nationale Office Conseil supérieur Autorité Commission "
    "Observatoire Institut Service central Bureau"
).split(" ")
NOUNS_FR = (
    "sécurité renseignement terrorisme coopération frontière migration police justice "
    "élection gouvernement ministre parlement réforme budget économie énergie gaz pétrole "
    "climat sécheresse agriculture santé hôpital vaccin école université transport port "
    "aéroport football stade tourisme commerce douane accord sommet visite crise enquête "
    "procès tribunal attentat menace cyberattaque données armée défense diplomatie ambassade "
    "visa sanction investissement banque inflation emploi grève syndicat entreprise usine "
    "pêche eau électricité autoroute chemin logement loyer retraite impôt dette monnaie "
    "exportation importation phosphate automobile aéronautique textile industrie innovation "
    "recherche culture cinéma musique festival presse journaliste média télévision radio "
    "réseau internet téléphone satellite frégate drone missile contrebande trafic drogue "
    "corruption blanchiment fraude incendie séisme inondation tempête récolte céréale blé "
    "olive vigne forêt désert littoral montagne quartier village prison détenu avocat juge "
    "procureur plainte verdict condamnation manifestation référendum coalition opposition "
    "mairie région département préfecture frontalier réfugié asile naturalisation consulat"
).split()
ADJECTIVES_FR = (
    "nationale internationale régionale économique politique militaire judiciaire "
    "diplomatique stratégique numérique énergétique sanitaire sécuritaire franco-marocaine "
    "européenne africaine bilatérale commune nouvelle importante maritime aérienne "
    "ferroviaire portuaire agricole industrielle financière fiscale sociale culturelle "
    "scientifique technologique environnementale climatique humanitaire migratoire "
    "frontalière territoriale locale municipale rurale urbaine côtière saharienne "
    "méditerranéenne atlantique clandestine illégale officielle historique exceptionnelle"
).split()
NOUNS_EN = (
    "security intelligence terrorism cooperation border migration police justice election "
    "government minister parliament reform budget economy energy gas oil climate drought "
    "health hospital school university transport port airport football stadium tourism "
    "trade customs agreement summit visit crisis investigation trial court attack threat "
    "fishing water electricity highway railway housing rent pension tax debt currency export "
    "import mining industry innovation research culture film music festival press media "
    "network satellite frigate drone missile smuggling trafficking corruption fraud wildfire "
    "earthquake flood storm harvest wheat forest desert coast prison lawyer judge prosecutor"
).split()
ADJECTIVES_EN = (
    "national international regional economic political military judicial diplomatic "
    "strategic digital sanitary joint new major maritime naval financial fiscal social "
    "cultural scientific environmental humanitarian coastal urban rural illegal official"
).split()
SYLLABLES = (
    "ben al el dur mor lam ber ka ri za ni tou vel mar sa li fa ou che ra bou ta ha mi "
    "do ge lu pi ro ve zi na ke lo mu sh ar ir es on"
).split()
VERBS_FR = (
    "a rencontré|a annoncé|a évoqué|a signé|a dénoncé|a présenté|a salué|a reçu|a critiqué"
).split("|")
VERBS_EN = "met|announced|discussed|signed|criticised|presented|welcomed|received".split("|")
ARABIC_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def actor_pool(count: int = 20_000, seed: int = 7) -> tuple[Actor, ...]:
    """People (with a surname alias, some in Arabic script), organisations and places."""
    rng = random.Random(seed)
    actors: list[Actor] = []
    for index in range(count):
        kind = rng.choices(("person", "org", "place"), weights=(6, 3, 1))[0]
        if kind == "person":
            first = rng.choice(FIRST_NAMES)
            last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
            name = f"{first} {last}"
            aliases = [last] if rng.random() < 0.5 else [name]
            if rng.random() < 0.2:
                aliases.append(" ".join(_arabic_word(rng) for _ in range(2)))
        elif kind == "org":
            acronym = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUV") for _ in range(rng.randint(3, 5)))
            name = acronym
            long_name = (
                f"{rng.choice(ORG_WORDS)} {rng.choice(NOUNS_FR)} {rng.choice(ADJECTIVES_FR)}"
            )
            aliases = [acronym, f"{long_name} {acronym.lower()}"]
        else:
            name = f"{rng.choice(PLACES)}-{rng.choice(NOUNS_FR)}-{index}"
            aliases = [name]
        actors.append(
            Actor(
                id=f"a{index}",
                name=name,
                kind=kind,
                aliases=tuple(aliases),
                require_entity=kind == "person" and rng.random() < 0.1,
                fuzzy=0.85 if kind == "person" and rng.random() < 0.02 else None,
            )
        )
    return tuple(actors)


def _arabic_word(rng: random.Random) -> str:
    return "".join(rng.choice(ARABIC_LETTERS) for _ in range(rng.randint(3, 7)))


def make_rules(count: int, actors: tuple[Actor, ...], seed: int = 11) -> RuleSet:
    """`count` rules in a mix of shapes: actors in context, phrases near each other, weights."""
    rng = random.Random(seed)
    rules = tuple(_rule(index, rng, actors) for index in range(count))
    used = {ref for rule in rules for ref in _actor_ids(rule.clause)}
    return RuleSet(rules=rules, actors=tuple(actor for actor in actors if actor.id in used))


def _rule(index: int, rng: random.Random, actors: tuple[Actor, ...]) -> Rule:
    shape = rng.choices(("actors", "phrases", "exact", "weighted"), weights=(40, 25, 20, 15))[0]
    near: str | int | None = None
    min_score = None
    if shape == "actors":
        picked = rng.sample(actors, rng.randint(1, 3))
        parts = [
            Clause("any", tuple(ActorRef(actor.id) for actor in picked)),
            Clause("any", tuple(Term(word) for word in rng.sample(NOUNS_FR + NOUNS_EN, 4))),
            Clause("none", (Term(rng.choice(NOUNS_FR)),)),
        ]
    elif shape == "phrases":
        parts = [
            Clause("any", tuple(Term(_phrase(rng)) for _ in range(rng.randint(1, 3)))),
            Clause("any", tuple(Term(word) for word in rng.sample(NOUNS_FR, 3))),
        ]
        near = "sentence"
    elif shape == "exact":
        acronym = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUV") for _ in range(3))
        parts = [Clause("any", (Term(_phrase(rng)), Term(acronym, is_exact=True)))]
    else:
        anchor = Clause("any", (Term(_phrase(rng)), Term(_phrase(rng))))
        scored = tuple(
            Term(word, weight=rng.choice((1.0, 2.0))) for word in rng.sample(NOUNS_FR, 3)
        )
        parts = [anchor, Clause("any", scored)]
        near, min_score = 12, 2.0
    return Rule(
        id=f"rule-{index}",
        name=f"Generated rule {index}",
        clause=Clause("all", tuple(parts)),
        priority=rng.choice(tuple(Priority)),
        languages=("fr", "en") if rng.random() < 0.5 else (),
        near=near,
        min_score=min_score,
    )


def _phrase(rng: random.Random, *, is_french: bool | None = None) -> str:
    if is_french is None:
        is_french = rng.random() < 0.7
    if is_french:
        return f"{rng.choice(NOUNS_FR)} {rng.choice(ADJECTIVES_FR)}"
    return f"{rng.choice(ADJECTIVES_EN)} {rng.choice(NOUNS_EN)}"


def _actor_ids(clause: Clause) -> list[str]:
    found = []
    for item in clause.items:
        if isinstance(item, Clause):
            found.extend(_actor_ids(item))
        elif isinstance(item, ActorRef):
            found.append(item.actor_id)
    return found


# --- articles ------------------------------------------------------------------------------


def make_articles(
    count: int,
    actors: tuple[Actor, ...],
    *,
    words: int = 500,
    seed: int = 3,
    french_share: float = 0.8,
) -> list[Article]:
    """`count` articles of about `words` words, `french_share` of them French (the rest
    English), each on two topics and naming four actors; French ones borrow seed sentences."""
    rng = random.Random(seed)
    seed_sentences = [s.strip() + "." for s in SEED.read_text(encoding="utf-8").split(". ")]
    articles = []
    for index in range(count):
        is_french = rng.random() < french_share
        named = rng.sample(actors, 4)
        topics = [_phrase(rng, is_french=is_french) for _ in range(2)]
        sentences: list[str] = []
        while sum(len(s.split()) for s in sentences) < words:
            if is_french and rng.random() < 0.3:
                sentences.append(rng.choice(seed_sentences))
            else:
                sentences.append(_sentence(rng, named, topics, is_french=is_french))
        articles.append(
            Article(
                key=f"article-{index}",
                feed_id=f"feed-{index % 7}",
                url=None,
                guid=None,
                title=_sentence(rng, named, topics, is_french=is_french).rstrip("."),
                summary="",
                body=" ".join(sentences),
                published_at=NOW,
                fetched_at=NOW,
                language="fr" if is_french else "en",
                content_hash=str(index),
            )
        )
    return articles


def _sentence(rng: random.Random, named: list[Actor], topics: list[str], *, is_french: bool) -> str:
    actor = rng.choice(named).aliases[0]
    other = rng.choice(named).name
    place, topic = rng.choice(PLACES), rng.choice(topics)
    if is_french:
        extra = ", ".join(rng.sample(NOUNS_FR, 3))
        return (
            f"{actor} {rng.choice(VERBS_FR)} {other} à {place} au sujet de la {topic}, "
            f"selon un communiqué qui évoque aussi {extra}."
        )
    extra = ", ".join(rng.sample(NOUNS_EN, 3))
    return (
        f"{actor} {rng.choice(VERBS_EN)} {other} in {place} about the {topic}, "
        f"a statement said, also mentioning {extra}."
    )
