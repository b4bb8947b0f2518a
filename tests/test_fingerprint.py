"""fingerprint.py: MinHash signatures, the band keys that find near-duplicates, the pick."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.ingest.fingerprint import (
    BANDS,
    NEAR_DUPLICATE_SIMILARITY,
    SIGNATURE_VALUES,
    NearDuplicates,
    band_keys,
    content_fingerprint,
    pick_story,
    similarity,
    text_signature,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt"
CORPUS = ROOT.parent / "shared" / "corpus" / "fr-feeds"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _seed_article() -> tuple[str, str]:
    title, _, body = SEED.read_text(encoding="utf-8").strip().partition("\n")
    return title, body


def _seed_and_copy() -> tuple[str, str, str, str]:
    """The seed article and a republished copy with a new title and one sentence rewritten."""
    title, body = _seed_article()
    sentence = (
        "Nouvelle occasion de marquer le début du réchauffement des relations "
        "franco-marocaines après les tensions liées notamment au Sahara et à la question des visas."
    )
    assert sentence in body
    copy_title = "Le réchauffement des relations entre la France et le Maroc se confirme"
    copy_body = body.replace(
        sentence,
        "C'est une nouvelle étape dans le rapprochement entre les deux capitales, "
        "après des mois de brouille autour du Sahara et des visas.",
    )
    return title, body, copy_title, copy_body


def shares_a_band(one: bytes, other: bytes) -> bool:
    return bool(set(band_keys(one)) & set(band_keys(other)))


def test_republished_copy_is_a_near_duplicate() -> None:
    title, body, copy_title, copy_body = _seed_and_copy()

    original = text_signature(f"{title} {body}")
    copy = text_signature(f"{copy_title} {copy_body}")

    assert similarity(original, copy) >= NEAR_DUPLICATE_SIMILARITY
    assert shares_a_band(original, copy)
    assert pick_story(copy, [(original, "seed", T0)]) == "seed"


def test_different_article_on_the_same_topic_is_far() -> None:
    title, body = _seed_article()
    other = (
        "JO 2024 : la France renforce sa coopération sécuritaire avec ses partenaires européens. "
        "À quelques mois des Jeux olympiques de Paris, le ministère de l'Intérieur a annoncé un "
        "renforcement de la coopération avec les services de police européens. Des policiers "
        "venus d'Espagne, d'Allemagne et d'Italie participeront à la sécurisation des sites "
        "olympiques. Le préfet de police a précisé que plus de quarante-cinq mille agents "
        "seraient mobilisés chaque jour pendant la cérémonie d'ouverture sur la Seine. Les "
        "services de renseignement surveillent de près les menaces terroristes, tandis que la "
        "direction générale de la sécurité intérieure multiplie les échanges avec ses homologues "
        "étrangers, dont le Maroc."
    )

    original, far = text_signature(f"{title} {body}"), text_signature(other)

    assert similarity(original, far) < NEAR_DUPLICATE_SIMILARITY / 4
    assert not shares_a_band(original, far)
    assert pick_story(far, [(original, "seed", T0)]) is None


def test_signature_ignores_case_accents_and_markup_spacing() -> None:
    assert text_signature("Sécurité  des JO") == text_signature("securite des jo")
    assert text_signature("") == b""
    assert len(text_signature("un mot")) == 2 * SIGNATURE_VALUES
    assert content_fingerprint("Sécurité  des JO") == content_fingerprint("securite des jo")
    assert content_fingerprint("") == 0


def test_similarity_estimates_the_share_of_common_shingles() -> None:
    rng = random.Random(3)
    vocabulary = [f"mot{n}" for n in range(5000)]
    words = rng.sample(vocabulary, 400)
    for kept in (100, 200, 300):
        # The first `kept` + 2 words in common: `kept` shared 3-shingles of 398 + 398 - kept.
        other = words[: kept + 2] + rng.sample(vocabulary, 398 - kept)
        exact = kept / (2 * 398 - kept)
        estimate = similarity(text_signature(" ".join(words)), text_signature(" ".join(other)))
        assert abs(estimate - exact) < 0.1, (kept, exact, estimate)


# --- the band keys -------------------------------------------------------------------


def test_every_article_is_indexed_under_one_key_per_band() -> None:
    keys = band_keys(text_signature("Un article comme un autre, publié ce matin à Paris."))
    assert len(keys) == BANDS
    assert all(-(2**31) <= key < 2**31 for key in keys)  # fits SQLite's 4-byte integers
    assert band_keys(b"") == ()


def _corpus_texts() -> list[str]:
    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is not beside the repository ({CORPUS})")
    texts = []
    item = re.compile(r"<item>.*?<title>(.*?)</title>.*?<description>(.*?)</description>", re.S)
    tags = re.compile(r"<[^>]+>|<!\[CDATA\[|\]\]>")
    for path in sorted(CORPUS.glob("*.xml"))[:20]:
        for title, description in item.findall(path.read_text(encoding="utf-8")):
            texts.append(tags.sub(" ", f"{title} {description}"))
    return sorted(set(texts))


def test_lightly_edited_copies_of_real_items_share_a_band_and_join() -> None:
    rng = random.Random(11)
    texts = [text for text in _corpus_texts() if len(text.split()) >= 30]
    joined = 0
    for text in texts:
        words = text.split()
        # A wire copy as another outlet runs it: a word changed, a tag added at the end.
        edited = list(words)
        edited[rng.randrange(len(edited))] = "modifié"
        copy = " ".join([*edited, "(avec AFP)"])
        original, signed = text_signature(text), text_signature(copy)
        joined += (
            shares_a_band(original, signed) and pick_story(signed, [(original, "s", T0)]) == "s"
        )
    assert joined >= 0.99 * len(texts), (joined, len(texts))


def test_unrelated_real_items_rarely_share_a_band() -> None:
    signatures = [text_signature(text) for text in _corpus_texts()]
    owners: dict[int, set[int]] = {}
    for number, signature in enumerate(signatures):
        for key in band_keys(signature):
            owners.setdefault(key, set()).add(number)
    pairs = {
        (low, high)
        for group in owners.values()
        for low in group
        for high in group
        if low < high and similarity(signatures[low], signatures[high]) < 0.2
    }
    # The unrelated candidates a lookup reads: what the store's cost grows with.
    assert len(pairs) / len(signatures) < 0.01, len(pairs)


# --- the pick ------------------------------------------------------------------------


def _variant(base: bytes, changed: int) -> bytes:
    values = bytearray(base)
    for position in range(changed):
        values[2 * position] ^= 0xFF
    return bytes(values)


BASE = text_signature(" ".join(f"mot{n}" for n in range(200)))


def test_the_most_similar_story_wins() -> None:
    candidates = [
        (_variant(BASE, 40), "far", T0),
        (_variant(BASE, 5), "near", T0 + timedelta(hours=1)),
        (_variant(BASE, 20), "middle", T0 - timedelta(hours=1)),
    ]
    assert pick_story(BASE, candidates) == "near"


def test_ties_go_to_the_oldest_story() -> None:
    candidates = [
        (_variant(BASE, 5), "newer", T0 + timedelta(hours=1)),
        (_variant(BASE, 5), "older", T0),
        (_variant(BASE, 5), "newest", T0 + timedelta(hours=2)),
    ]
    assert pick_story(BASE, candidates) == "older"


def test_nothing_below_the_threshold_joins() -> None:
    edge = int(SIGNATURE_VALUES * (1 - NEAR_DUPLICATE_SIMILARITY))
    assert similarity(BASE, _variant(BASE, edge)) >= NEAR_DUPLICATE_SIMILARITY
    assert pick_story(BASE, [(_variant(BASE, edge), "edge", T0)]) == "edge"
    assert pick_story(BASE, [(_variant(BASE, edge + 1), "too-far", T0)]) is None
    assert pick_story(BASE, []) is None


def test_text_without_words_never_joins() -> None:
    assert pick_story(b"", [(b"", "empty", T0)]) is None
    assert pick_story(BASE, [(b"", "empty", T0)]) is None


def test_near_duplicates_is_the_scheme_as_one_object() -> None:
    scheme = NearDuplicates()
    assert scheme.band_keys(BASE) == band_keys(BASE)
    assert scheme.pick_story(BASE, [(BASE, "s", T0)]) == "s"
