"""Messages in the subscription's language: the French catalog, typography, dates, plurals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from monitor.config import load_config
from monitor.deliver import clause_words
from monitor.deliver.i18n import catalog_path, local_time
from monitor.deliver.payload import build_body
from monitor.deliver.render import Renderer
from monitor.errors import ConfigError
from monitor.ingest.normalize import html_to_text
from monitor.model import Digest, DigestEntry, Match, Priority
from monitor.rules.clause import describe_rule
from monitor.rules.load import load_rules
from tests.conftest import run_cli
from tests.test_render import hit_in, make_article, security_entry

ROOT = Path(__file__).resolve().parent.parent
NNBSP = "\u202f"  # the narrow no-break space of French typography
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def french_catalog():
    with catalog_path("fr").open("rb") as source:
        return read_po(source, locale="fr")


def extracted_msgids() -> set[str]:
    """What `pybabel extract -F babel.cfg` finds, run here on the working tree."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def msgstrs(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


# --- the catalog --------------------------------------------------------------------


def test_every_string_the_messages_show_has_a_french_translation():
    catalog = french_catalog()
    extracted = extracted_msgids()
    assert len(extracted) > 40  # the templates, the view and the clause are all scanned
    missing = [
        msgid
        for msgid in sorted(extracted)
        if catalog.get(msgid) is None
        or "fuzzy" in catalog.get(msgid).flags
        or not all(msgstrs(catalog.get(msgid)))
    ]
    assert missing == [], "run the pybabel commands in docs/delivery.md#languages"


def test_french_strings_follow_french_typography():
    bad = []
    for message in french_catalog():
        if not message.id:
            continue  # the header
        for text in msgstrs(message):
            shown = PLACEHOLDER.sub("X", text)
            # A narrow no-break space before : ; ? ! and inside « », never a plain space.
            if re.search(f"[^{NNBSP}][:;?!]", shown) or re.search(
                f"«[^{NNBSP}]|[^{NNBSP}]»", shown
            ):
                bad.append(text)
            if re.search('[“”"]', shown):
                bad.append(text)  # English quotation marks in French
    assert bad == []


def test_every_placeholder_survives_translation():
    for message in french_catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in msgstrs(message):
            assert set(PLACEHOLDER.findall(text)) == wanted, message.id


# --- what a French and an English reader see ------------------------------------------


def visible_text(html: str) -> str:
    """What a reader sees of the HTML: the text, not the tag names."""
    return html_to_text(html)


def digest_of(kind: str, entries, language: str, **extra) -> Digest:
    return Digest(
        subscription_id="security-desk",
        kind=kind,
        created_at=datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
        timezone="Europe/Paris",
        entries=tuple(entries),
        language=language,
        **extra,
    )


def three_entries() -> list[DigestEntry]:
    entries = [security_entry()]
    for number in (1, 2):
        article = make_article(
            f"dgst-{number}", f"La DGST démantèle la cellule n°{number}", "La sécurité à Tétouan."
        )
        hits = (hit_in(article, "summary", "sécurité", "sécurité"),)
        match = Match("morocco", "Morocco-France", article.key, Priority.NORMAL, 1.0, hits)
        entries.append(DigestEntry(article, (match,), feed_title="Le Courrier de Rabat"))
    return entries


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT / "templates")


@pytest.mark.parametrize("kind", ["digest", "immediate"])
def test_a_french_subscription_reads_french(renderer, kind):
    message = renderer.render(
        digest_of(kind, three_entries(), "fr", feed_problems=("seed-fr: erreur",))
    )
    assert message.language == "fr"
    assert '<html lang="fr">' in message.html
    for body in (message.text, message.html):
        assert "mardi 1 décembre 2026, 08:00 (heure de Paris)" in body  # 07:00 UTC
        assert "vendredi 26 juillet 2024, 09:30 (heure de Paris)" in body
        assert f"Aussi couvert par 1 média{NNBSP}:" in body
        assert "Wire (French service)" in body
        assert "3 articles" in body and "1 article" in body  # per message, per rule
    assert f"Pourquoi cet article{NNBSP}:" in message.html
    assert "Lire sur news.example.fr →" in message.html
    assert f"Pourquoi{NNBSP}: termes{NNBSP}: sécurité, JO 2024{NNBSP}; acteurs" in message.text
    assert f"«{NNBSP}Le dispositif de *sécurité*" in message.text  # the snippet, quoted
    assert "priorité haute" in message.text
    if kind == "immediate":
        assert f"ALERTE IMMÉDIATE{NNBSP}: JO 2024 security, Morocco-France" in message.text
        assert "Alerte immédiate" in message.html
    else:
        assert "Revue de presse" in message.html and "Dans cette revue" in message.html
        assert "État des flux" in message.html


def test_article_text_keeps_its_own_typography(renderer):
    # "Sécurité des Jeux : la coopération…" has a plain space before ':' as the outlet wrote it.
    message = renderer.render(digest_of("digest", [security_entry()], "fr"))
    assert "Sécurité des Jeux : la coopération franco-marocaine salue" in message.text
    assert "mobilise le renseignement ; Abdellatif" in message.text


def test_no_english_label_is_left_in_french_messages(renderer):
    catalog = french_catalog()
    for kind in ("digest", "immediate"):
        entries = three_entries()[1:]  # French titles and rule names only
        french = renderer.render(
            digest_of(kind, entries, "fr", title="Revue", feed_problems=("seed-fr: panne",))
        )
        english_left = []
        for message in catalog:
            if not message.id:
                continue
            for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
                translated = " ".join(msgstrs(message))
                for fragment in PLACEHOLDER.split(msgid):
                    words = fragment.strip(' ():;,.—→“”"+')
                    if len(words) < 3 or words in translated:
                        continue
                    pattern = rf"(?<![\w-]){re.escape(words)}(?![\w-])"
                    for body in (french.subject, french.text, visible_text(french.html)):
                        if re.search(pattern, body):
                            english_left.append((kind, words))
        assert english_left == []


def test_subject_counts_in_the_language_with_its_plural_forms(renderer):
    one = renderer.render(digest_of("immediate", [security_entry()], "fr"))
    three = renderer.render(digest_of("immediate", three_entries(), "fr"))
    assert one.subject == f"JO 2024 security{NNBSP}: 1 article"
    assert three.subject == f"JO 2024 security, Morocco-France{NNBSP}: 3 articles"
    # The subject and the banner name the same rules in the same order.
    assert ">JO 2024 security, Morocco-France</h1>" in three.html
    english = renderer.render(digest_of("immediate", three_entries(), "en"))
    assert english.subject == "JO 2024 security, Morocco-France: 3 articles"
    empty = renderer.render(digest_of("digest", [], "fr", title="Revue sécurité"))
    assert empty.subject == f"Revue sécurité{NNBSP}: aucun nouvel article"
    assert "Aucun nouvel article ne correspond à vos règles." in empty.html


def test_an_english_subscription_reads_english(renderer):
    message = renderer.render(digest_of("digest", three_entries(), "en"))
    assert '<html lang="en">' in message.html and message.language == "en"
    assert "Tuesday 1 December 2026, 08:00 (Paris time)" in message.text
    assert "Why it matched:" in message.html and "Read on news.example.fr →" in message.html
    assert NNBSP not in message.text.replace(NNBSP + "»", "")  # no French typography


def test_dates_outside_paris_name_their_zone():
    moment = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    from zoneinfo import ZoneInfo

    assert local_time(moment, ZoneInfo("America/New_York"), "fr") == (
        "mardi 1 décembre 2026, 08:00 (heure de New York)"
    )
    assert local_time(moment, UTC, "en") == "Tuesday 1 December 2026, 13:00 (UTC)"


def test_the_rule_is_said_in_french_words():
    rules = load_rules(ROOT / "rules")
    rule = rules.rule("jo2024-security")
    assert rule is not None
    said = describe_rule(rule, {}, gettext=clause_words("fr"))
    assert said.startswith(
        "(JO 2024 ou Jeux olympiques ou Paris 2024 ou Olympic Games +1 de plus) et ("
    )
    assert f", dans une même phrase{NNBSP}; sauf billetterie" in said
    assert " and " not in said and " or " not in said


# --- configuration ----------------------------------------------------------------------


def test_the_shipped_config_speaks_french_and_a_subscription_may_speak_english(project):
    config = project / "config.yaml"
    loaded = load_config(config)
    assert {sub.language for sub in loaded.subscriptions} == {"fr"}
    text = config.read_text(encoding="utf-8").replace(
        "    timezone: Europe/Paris\n", "    timezone: Europe/Paris\n    language: en\n", 1
    )
    config.write_text(text, encoding="utf-8")
    languages = {sub.id: sub.language for sub in load_config(config).subscriptions}
    assert languages == {"security-desk-alerts": "fr", "security-desk-daily": "en"}


def test_an_unknown_language_is_refused_with_its_place(project):
    config = project / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("language: fr", "language: de", 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "language" in str(caught.value) and "'fr'" in str(caught.value)


def test_a_french_and_an_english_digest_go_out_side_by_side(project):
    config = project / "config.yaml"
    english = (
        "  - id: desk-en\n"
        "    rules: [jo2024-security, morocco-france-security]\n"
        '    schedule: "0 8 * * *"\n'
        "    timezone: Europe/Paris\n"
        "    language: en\n"
        "    to: {folder: var/outbox}\n"
    )
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("\nsubscriptions:\n", "\nsubscriptions:\n" + english, 1))
    assert run_cli(project, "run", "--once").returncode == 0
    french = run_cli(project, "digest", "preview", "security-desk-daily", "--out", "fr.html")
    english_run = run_cli(project, "digest", "preview", "desk-en", "--out", "en.html")
    assert french.returncode == 0 and english_run.returncode == 0, french.stderr
    fr_html = (project / "fr.html").read_text(encoding="utf-8")
    en_html = (project / "en.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in fr_html and "Revue de presse" in fr_html
    assert f"Pourquoi cet article{NNBSP}:" in fr_html and "(heure de Paris)" in fr_html
    assert '<html lang="en">' in en_html and "Why it matched:" in en_html
    assert "(Paris time)" in en_html and "Revue de presse" not in en_html


@pytest.mark.parametrize(
    ("language", "header", "also", "priority"),
    [
        ("fr", f"Alerte{NNBSP}: Desk (3 articles)", f"aussi dans{NNBSP}: Wire", "(haute)"),
        ("en", "Alert: Desk (3 articles)", "also in: Wire", "(high)"),
    ],
)
def test_a_slack_alert_speaks_the_subscription_s_language(language, header, also, priority):
    digest = digest_of("immediate", three_entries(), language, title="Desk")
    body = json.loads(build_body(digest, "slack"))
    assert body["blocks"][0]["text"]["text"] == header
    assert also in body["text"] and priority in body["text"]
    day = "vendredi 26 juillet 2024" if language == "fr" else "Friday 26 July 2024"
    assert day in body["text"]
