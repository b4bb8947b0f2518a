"""One real spaCy annotator for the whole test session (the model loads in a second or two).

A test module wraps it in its own fixture:

    @pytest.fixture(scope="module")
    def annotator():
        return shared_annotator()
"""

import functools
from collections.abc import Mapping
from pathlib import Path

from monitor.model import RuleSet
from monitor.nlp import Annotator
from monitor.rules.load import load_rules


@functools.cache
def shared_annotator() -> Annotator:
    """The same in-process Annotator for every test module."""
    return Annotator()


def load_rule_texts(folder: Path, actors: str, rules: Mapping[str, str]) -> RuleSet:
    """Write `actors.yaml` and one file per rule (id and name added) into `folder`, then load."""
    (folder / "actors.yaml").write_text(actors, encoding="utf-8")
    for rule_id, text in rules.items():
        head = f"id: {rule_id}\nname: {rule_id} rule\n"
        (folder / f"{rule_id}.yaml").write_text(head + text.strip() + "\n", encoding="utf-8")
    return load_rules(folder)
