"""The shared text primitives: one folding, one truncation, one line, one language code."""

import pytest

from monitor.text import fold, language_code, one_line, truncate


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Sécurité", "securite"),
        ("DGSN-DGST", "dgsn-dgst"),
        ("Straße", "strasse"),  # case folding, not lower(): the German sharp s
        ("ŒUVRE ﬁnale", "œuvre finale"),  # compatibility ligatures decompose
        ("Ünïcödé", "unicode"),
    ],
)
def test_fold_is_case_and_accent_insensitive(text, folded):
    assert fold(text) == folded


def test_truncation_cuts_between_words():
    assert truncate("short", 10) == "short"
    assert truncate("aaaa bbbb cccc", 7) == "aaaa"
    assert truncate("aaaa bbbb cccc", 9) == "aaaa bbbb"
    assert truncate("x" * 300, 120) == "x" * 120  # no space near the limit: cut anyway


def test_a_marker_counts_within_the_limit():
    assert truncate("Les JO 2024 approchent vite", 15, marker="…") == "Les JO 2024…"
    assert len(truncate("a" * 50, 20, marker="…")) == 20
    assert truncate("JO", 15, marker="…") == "JO"


def test_one_line_drops_control_characters_and_breaks():
    assert one_line("Les JO\n2024\t approchent\x00") == "Les JO 2024 approchent"
    assert one_line("déjà propre") == "déjà propre"


@pytest.mark.parametrize(
    ("tag", "code"),
    [("fr-FR", "fr"), ("fr_FR", "fr"), ("FR", "fr"), ("fre", "fr"), ("ara", "ar"), ("en", "en")],
)
def test_language_code_reads_feed_language_tags(tag, code):
    assert language_code(tag) == code


@pytest.mark.parametrize("tag", [None, "", "français", "123"])
def test_language_code_refuses_what_is_no_tag(tag):
    assert language_code(tag) is None
