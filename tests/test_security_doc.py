"""docs/security.md names, for each threat, the tests that prove monitor resists it: every
test it names must exist, in the file it names, so the page cannot promise a proof that was
renamed or deleted."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "security.md"
# "`tests/test_x.py`: `test_a`, `test_b`" up to the next file or the end of the list item.
CITED_FILE = re.compile(r"`(tests/test_\w+\.py)`")
CITED_TEST = re.compile(r"`(test_\w+)`")


def cited_tests() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    cited: dict[str, set[str]] = {}
    for item in re.split(r"\n(?=- |## )", text):
        pieces = CITED_FILE.split(item)
        # pieces: [before, file1, after1, file2, after2, ...]
        for path, after in zip(pieces[1::2], pieces[2::2], strict=True):
            cited.setdefault(path, set()).update(CITED_TEST.findall(after))
    return cited


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_security_page_cites_exists_where_it_says():
    cited = cited_tests()
    assert sum(len(names) for names in cited.values()) >= 60  # the page really cites them
    missing = {
        path: sorted(names - defined_tests(ROOT / path))
        for path, names in cited.items()
        if not (ROOT / path).is_file() or names - defined_tests(ROOT / path)
    }
    assert missing == {}


def test_every_threat_section_cites_a_test():
    sections = re.split(r"\n## ", DOC.read_text(encoding="utf-8"))[1:]
    assert len(sections) >= 10
    uncited = [s.splitlines()[0] for s in sections if not CITED_FILE.search(s)]
    assert uncited == []
