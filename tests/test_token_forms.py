"""How a rule term meets the words of real news: tokens, invisible characters, Arabic, Cyrillic.

One row per phenomenon (issue 11, items 4 and 5), each through the real path: the French spaCy
model annotates the text, the rule is compiled and evaluated. Negative controls sit beside the
rows they guard: a normal form that made everything match would fail them.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from monitor.ingest import normalize_entries
from monitor.match import compile_rules, evaluate
from monitor.model import Article, Feed, ParsedFeed, RawEntry, RuleSet
from monitor.text import INVISIBLE_CHARS, one_line
from tests.articles import body_article
from tests.fixtures_nlp import load_rule_texts, shared_annotator

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

ACTORS = """\
actors:
  - id: dgsn
    name: DGSN
    type: org
    aliases: [DGSN, المديرية العامة للأمن الوطني]
  - id: putin
    name: Vladimir Poutine
    type: person
    aliases: [Poutine, Путин]
  - id: zakharova
    name: Maria Zakharova
    type: person
    aliases: [Захарова]
  - id: lavrov
    name: Sergueï Lavrov
    type: person
    aliases: [Лавров]
"""

TERMS = {
    "jo": "JO 2024",
    "paris": "Paris 2024",
    "jo-glued": "JO2024",
    "dgst": "DGST",
    "dgst-dotted": "D.G.S.T.",
    "attentat": "attentat",
    "ete": "Jeux d'été",
    "cyberattaque": "cyberattaque",
    "cyber-space": "cyber attaque",
    "cyber-hyphen": "cyber-attaque",
    "securite": "sécurité",
    "mudiriya": "مديرية الأمن",  # "security directorate", without the article
    "ton": "طن",  # "ton": must not be found inside "وطن" (homeland)
    "hot": "حار",  # "hot": must not be found inside "بحار" (seas)
    "lahu": "له",  # "to him": must not be found inside "الله"
    "moscow": "Москва",
    "russia": "Россия",
    "zelensky": "Зеленский",
}
RULES = {rule_id: f'match: {{any: ["{term}"]}}' for rule_id, term in TERMS.items()}
RULES |= {
    "dgst-exact": "match: {any: [{exact: DGST}]}",
    "dgsn": "match: {actors: {any: [dgsn]}}",
    "putin": "match: {actors: {any: [putin]}}",
    "zakharova": "match: {actors: {any: [zakharova]}}",
    "lavrov": "match: {actors: {any: [lavrov]}}",
}

DGSN = "المديرية العامة للأمن الوطني"


@dataclass(frozen=True)
class Row:
    phenomenon: str
    rule: str
    text: str
    matched: str | None  # the words the hit points at; None: the rule must not match
    language: str = "fr"


ROWS = [
    # hashtags and letter-digit runs
    Row("hashtag", "paris", "Les supporters publient #Paris2024 sur les réseaux.", "Paris2024"),
    Row("letters glued to digits", "jo", "Les JO2024 approchent.", "JO2024"),
    Row("letters hyphenated to digits", "jo", "Le chantier JO-2024 avance.", "JO-2024"),
    Row("a glued term finds the spaced words", "jo-glued", "Les JO 2024 approchent.", "JO 2024"),
    Row("hashtag of a glued term", "jo-glued", "Vive #JO2024 !", "JO2024"),
    Row("not another year", "jo", "Les JO 2023 de la jeunesse sont finis.", None),
    Row("not another year, glued", "jo", "Les JO2023 de la jeunesse sont finis.", None),
    # dotted acronyms
    Row("dotted acronym", "dgst", "Un communiqué de la D.G.S.T. hier.", "D.G.S.T."),
    Row("dotted acronym, no final dot", "dgst", "La D.G.S.T a parlé.", "D.G.S.T"),
    Row("dotted term finds the acronym", "dgst-dotted", "La DGST a parlé.", "DGST"),
    Row("exact term finds the dotted acronym", "dgst-exact", "La D.G.S.T. a parlé.", "D.G.S.T."),
    Row("not a shorter acronym", "dgst", "La D.G.S. a parlé.", None),
    # apostrophe look-alikes: the elided word goes, so a phrase runs on through it
    Row("elision with U+02BC", "attentat", "Après lʼattentat, la ville se tait.", "attentat"),
    *(
        Row(
            f"elision inside a phrase, U+{ord(mark):04X}",
            "ete",
            f"Les Jeux d{mark}été.",
            f"Jeux d{mark}été",
        )
        for mark in "'’ʼ′`´‘"
    ),
    Row("a look-alike does not glue words", "attentat", "Le préattentat dʼhier.", None),
    # compounds
    Row(
        "glued term, hyphenated text",
        "cyberattaque",
        "Une cyber-attaque a visé la mairie.",
        "cyber-attaque",
    ),
    Row(
        "glued term, spaced text",
        "cyberattaque",
        "Une cyber attaque a visé la mairie.",
        "cyber attaque",
    ),
    Row(
        "glued term, hyphenated plural",
        "cyberattaque",
        "Des cyber-attaques ont eu lieu.",
        "cyber-attaques",
    ),
    Row(
        "spaced term, glued text",
        "cyber-space",
        "Une cyberattaque a visé la mairie.",
        "cyberattaque",
    ),
    Row(
        "hyphenated term, glued text",
        "cyber-hyphen",
        "Une cyberattaque a visé la mairie.",
        "cyberattaque",
    ),
    Row(
        "hyphenated term, spaced text",
        "cyber-hyphen",
        "Une cyber attaque a visé la mairie.",
        "cyber attaque",
    ),
    Row("not across a full stop", "cyberattaque", "Il parle de cyber. Attaque ensuite.", None),
    Row("not across a comma", "cyberattaque", "Le cyber, attaque le ministre.", None),
    # invisible characters inside words (no normalisation on this path: test-rule --text)
    Row("soft hyphen", "securite", "La sécu\u00adrité du métro.", "sécu\u00adrité"),
    Row("zero-width space", "securite", "La sé\u200bcurité du métro.", "sé\u200bcurité"),
    Row("zero-width joiner", "securite", "La sécu\u200drité du métro.", "sécu\u200drité"),
    Row("bidi embedding", "jo", "Les \u202bJO 2024\u202c approchent.", "JO 2024\u202c"),
    Row("zero-width space between letters and digits", "jo", "Les JO\u200b2024.", "JO\u200b2024"),
    # Arabic clitics, harakat and tatweel (sentences as the Moroccan press writes them)
    Row(
        "Arabic: li + al",
        "dgsn",
        "وجهت الحكومة الشكر للمديرية العامة للأمن الوطني على جهودها.",
        "للمديرية العامة للأمن الوطني",
    ),
    Row(
        "Arabic: wa + bi + al",
        "dgsn",
        "وبالمديرية العامة للأمن الوطني عقد اجتماع أمس.",
        "وبالمديرية العامة للأمن الوطني",
    ),
    Row(
        "Arabic: wa + al",
        "dgsn",
        "أعلنت الشرطة والمديرية العامة للأمن الوطني عن حملة.",
        "والمديرية العامة للأمن الوطني",
    ),
    Row(
        "Arabic: fa + al",
        "dgsn",
        "فالمديرية العامة للأمن الوطني أكدت الخبر.",
        "فالمديرية العامة للأمن الوطني",
    ),
    Row(
        "Arabic: ka + al",
        "dgsn",
        "تعمل الوكالة كالمديرية العامة للأمن الوطني تماما.",
        "كالمديرية العامة للأمن الوطني",
    ),
    Row(
        "Arabic: harakat",
        "dgsn",
        "أشاد الوزير بِالْمُدِيرِيَّةِ الْعَامَّةِ لِلْأَمْنِ الْوَطَنِيِّ أمس.",
        "بِالْمُدِيرِيَّةِ الْعَامَّةِ لِلْأَمْنِ الْوَطَنِيِّ",
    ),
    Row(
        "Arabic: tatweel",
        "dgsn",
        "وأشاد الوزير بالمـديرية العـامة للأمن الوطـني.",
        "بالمـديرية العـامة للأمن الوطـني",
    ),
    Row(
        "Arabic: as an Arabic article",
        "dgsn",
        "قال بيان للمديرية العامة للأمن الوطني إن...",
        "للمديرية العامة للأمن الوطني",
        language="ar",
    ),
    Row(
        "Arabic: bare preposition, long word",
        "mudiriya",
        "قدم المدير العام لمديرية الأمن تقريره.",
        "لمديرية الأمن",
    ),
    Row(
        "Arabic: a short word is not a prefix plus a word",
        "ton",
        "حب الوطن من الإيمان، وطن واحد لنا.",
        None,
    ),
    Row(
        "Arabic: a bare preposition needs a long word",
        "hot",
        "عبر المهاجرون البحار بحار هادئة.",
        None,
    ),
    Row("Arabic: the article needs a long word", "lahu", "قال إن الله غفور رحيم.", None),
    # Cyrillic case endings
    *(
        Row(f"Cyrillic: {form}", "putin", f"Песков рассказал о встрече с {form} вчера.", form)
        for form in ("Путин", "Путина", "Путину", "Путиным", "Путине", "Путином")
    ),
    Row(
        "Cyrillic: feminine surname", "zakharova", "Заявление Захаровой вызвало споры.", "Захаровой"
    ),
    Row("Cyrillic: noun in -a", "moscow", "Переговоры прошли в Москве.", "Москве"),
    Row("Cyrillic: adjectival surname", "zelensky", "Советник Зеленского заявил.", "Зеленского"),
    Row("Cyrillic: a surname ending in -ов", "lavrov", "Заявление Лаврова прозвучало.", "Лаврова"),
    Row(
        "Cyrillic: not another word with the stem", "lavrov", "Киево-Печерская лавра открыта.", None
    ),
    Row("Cyrillic: not a surname equal to the stem", "russia", "Тренер Росси доволен.", None),
    Row("Cyrillic: the genitive", "russia", "Президент России выступил.", "России"),
]


@pytest.fixture(scope="module")
def annotator():
    return shared_annotator()


@pytest.fixture(scope="module")
def test_rules(tmp_path_factory):
    return load_rule_texts(tmp_path_factory.mktemp("rules"), ACTORS, RULES)


def text_article(body: str, *, title: str = "", language: str = "fr") -> Article:
    return body_article(body, title=title, language=language, feed_id="demo")


def matched_words(annotator, rules: RuleSet, rule_id: str, article: Article) -> list[str] | None:
    """The words each hit of `rule_id` points at, or None when the rule does not match."""
    rule = rules.rule(rule_id)
    assert rule is not None
    one_rule = RuleSet(rules=(rule,), actors=rules.actors)
    notes = annotator.annotate([article], with_entities=False)[0]
    matches = evaluate(article, notes, compile_rules(one_rule))
    if not matches:
        return None
    return [hit.matched for hit in matches[0].hits]


@pytest.mark.parametrize("row", ROWS, ids=[row.phenomenon for row in ROWS])
def test_term_meets_the_words_of_the_text(annotator, test_rules, row):
    found = matched_words(
        annotator, test_rules, row.rule, text_article(row.text, language=row.language)
    )
    if row.matched is None:
        assert found is None
    else:
        assert found == [row.matched]


def test_invisible_characters_are_gone_from_feed_articles(annotator, test_rules):
    """A feed writes them as entities: they are decoded after the markup, and dropped then."""
    entry = RawEntry(
        guid="1",
        link="https://news.example.org/a",
        title="La sécu&shy;rité du métro",
        summary_html="<p>La s&eacute;&#8203;curit&eacute; des &#x202B;gares&#x202C;.</p>",
        content_html="",
        published_at=NOW,
        language="fr",
    )
    parsed = ParsedFeed(title="Demo", link=None, language="fr", entries=(entry,))
    [article] = normalize_entries(parsed, Feed(id="demo", url="https://news.example.org/feed"), NOW)
    assert (article.title, article.summary) == ("La sécurité du métro", "La sécurité des gares.")
    assert matched_words(annotator, test_rules, "securite", article) == ["sécurité", "sécurité"]


@pytest.mark.parametrize("char", INVISIBLE_CHARS)
def test_a_title_keeps_its_word_whole_around_an_invisible_character(char):
    assert one_line(f"La sécu{char}rité\u00a0du\nmétro") == "La sécurité du métro"
