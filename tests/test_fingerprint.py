"""fingerprint.py: SimHash fingerprints, the band index that finds near-duplicates, the pick."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.ingest.fingerprint import (
    BANDS,
    NEAR_DUPLICATE_BITS,
    NearDuplicates,
    band_keys,
    content_fingerprint,
    pick_story,
    probe_keys,
)

SEED = Path(__file__).resolve().parent.parent / "seeds" / "raw" / "000_1cc6efedb35eb3c5.txt"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def is_found(stored: int, new: int) -> bool:
    """Whether a lookup for `new` reads a band key `stored` was indexed under."""
    return any(
        key in probes for key, probes in zip(band_keys(stored), probe_keys(new), strict=True)
    )


def flip(fingerprint: int, bits: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), bits):
        fingerprint ^= 1 << bit
    return fingerprint


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


def test_republished_copy_is_a_near_duplicate() -> None:
    title, body, copy_title, copy_body = _seed_and_copy()

    original = content_fingerprint(f"{title} {body}")
    copy = content_fingerprint(f"{copy_title} {copy_body}")

    assert distance(original, copy) <= NEAR_DUPLICATE_BITS


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

    far = distance(content_fingerprint(f"{title} {body}"), content_fingerprint(other))

    assert far > 2 * NEAR_DUPLICATE_BITS


def test_fingerprint_ignores_case_accents_and_markup_spacing() -> None:
    assert content_fingerprint("Sécurité  des JO") == content_fingerprint("securite des jo")
    assert content_fingerprint("") == 0
    assert 0 < content_fingerprint("un mot") < 2**64


# --- the band index ------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(NEAR_DUPLICATE_BITS + 1))
def test_every_fingerprint_within_the_threshold_is_found_by_the_index(bits: int) -> None:
    rng = random.Random(bits)
    for _ in range(3000):
        stored = rng.getrandbits(64) or 1
        new = flip(stored, bits, rng)
        assert new == 0 or is_found(stored, new), f"{stored:064b} vs {new:064b}"


def test_the_worst_case_spread_is_found_too() -> None:
    # Ten differing bits spread as evenly as they can be over the bands (3, 3, 2, 2).
    stored = 0x0123_4567_89AB_CDEF
    new = stored ^ (0b111 << 48) ^ (0b111 << 32) ^ (0b11 << 16) ^ 0b11
    assert distance(stored, new) == NEAR_DUPLICATE_BITS
    assert is_found(stored, new)


def test_a_lookup_reads_few_keys_and_few_unrelated_articles() -> None:
    probes = probe_keys(0x0123_4567_89AB_CDEF)
    assert len(probes) == BANDS
    assert sum(len(keys) for keys in probes) == 4 * (1 + 16 + 120)
    rng = random.Random(7)
    unrelated = [rng.getrandbits(64) for _ in range(20_000)]
    found = sum(is_found(other, 0x0123_4567_89AB_CDEF) for other in unrelated)
    assert found < 20_000 * 0.02  # about 0.8%: the index, not a scan


def test_the_seed_copy_is_found_by_the_index() -> None:
    title, body, copy_title, copy_body = _seed_and_copy()
    original = content_fingerprint(f"{title} {body}")
    copy = content_fingerprint(f"{copy_title} {copy_body}")
    assert is_found(original, copy)
    assert pick_story(copy, [(original, "seed", T0)]) == "seed"


def test_text_without_words_is_not_indexed() -> None:
    assert band_keys(0) == ()
    assert probe_keys(0) == ()


# --- the pick ------------------------------------------------------------------------


def test_the_nearest_story_wins() -> None:
    new = 0xFFFF_0000_FFFF_0000
    candidates = [
        (new ^ 0b1111111, "seven-bits", T0),
        (new ^ 0b11, "two-bits", T0 + timedelta(hours=1)),
        (new ^ 0b111, "three-bits", T0 - timedelta(hours=1)),
    ]
    assert pick_story(new, candidates) == "two-bits"


def test_ties_go_to_the_oldest_story() -> None:
    new = 0xFFFF_0000_FFFF_0000
    candidates = [
        (new ^ 0b11, "newer", T0 + timedelta(hours=1)),
        (new ^ 0b101, "older", T0),
        (new ^ 0b110, "newest", T0 + timedelta(hours=2)),
    ]
    assert pick_story(new, candidates) == "older"


def test_nothing_beyond_the_threshold_joins() -> None:
    new = 0xFFFF_0000_FFFF_0000
    edge = (1 << NEAR_DUPLICATE_BITS) - 1
    assert pick_story(new, [(new ^ edge, "edge", T0)]) == "edge"
    assert pick_story(new, [(new ^ (edge << 1 | 1), "too-far", T0)]) is None
    assert pick_story(new, []) is None


def test_fingerprints_of_text_without_words_never_join() -> None:
    assert pick_story(0, [(0, "empty", T0)]) is None
    assert pick_story(0b1, [(0, "empty", T0)]) is None


def test_near_duplicates_is_the_scheme_as_one_object() -> None:
    scheme = NearDuplicates()
    fingerprint = 0x0123_4567_89AB_CDEF
    assert scheme.band_keys(fingerprint) == band_keys(fingerprint)
    assert scheme.probe_keys(fingerprint) == probe_keys(fingerprint)
    assert scheme.pick_story(fingerprint, [(fingerprint, "s", T0)]) == "s"
