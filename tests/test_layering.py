"""Imports run one way (cli → service → pipeline → stages → model/errors), and each
third-party library stays inside the module whose job it serves (DESIGN.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"

BASE = {"monitor.model", "monitor.errors", "monitor.logs"}
STAGES = {
    "monitor.config",
    "monitor.rules",
    "monitor.fetch",
    "monitor.parse",
    "monitor.normalize",
    "monitor.extract",
    "monitor.nlp",
    "monitor.match",
    "monitor.explain",
    "monitor.schedule",
    "monitor.cadence",
    "monitor.opml",
    "monitor.store",
    "monitor.render",
    "monitor.digest_view",
    "monitor.highlight",
    "monitor.clause_text",
    "monitor.payload",
    "monitor.sanitize",
    "monitor.template_sandbox",
    "monitor.outbox",
    "monitor.compose",
    "monitor.metrics",
    "monitor.channels",
    "monitor.channels.mime",
    "monitor.channels.folder",
    "monitor.channels.email",
    "monitor.channels.webhook",
    "monitor.channels.apprise",
}
# What each module may import from the project, beyond the base layer.
ALLOWED: dict[str, set[str]] = {
    "monitor.model": set(),
    "monitor.errors": set(),
    "monitor.logs": set(),
    "monitor.normalize": set(),
    "monitor.wordstream": set(),
    "monitor.fuzzy": set(),
    "monitor.patterns": {"monitor.fuzzy", "monitor.wordstream"},
    "monitor.ruleplan": {"monitor.patterns"},
    "monitor.evidence": {"monitor.patterns", "monitor.ruleplan"},
    "monitor.match": {"monitor.evidence", "monitor.patterns", "monitor.ruleplan"},
    "monitor.explain": {"monitor.match"},
    "monitor.schedule": set(),
    "monitor.compose": set(),
    "monitor.config": {"monitor.schedule"},
    "monitor.rulefile": set(),
    "monitor.actors": {"monitor.rulefile", "monitor.wordstream"},
    "monitor.ruleitems": {"monitor.rulefile", "monitor.wordstream"},
    "monitor.rules": {"monitor.actors", "monitor.rulefile", "monitor.ruleitems"},
    "monitor.fetch": {"monitor.netguard"},
    "monitor.netguard": set(),
    "monitor.cadence": set(),
    "monitor.opml": set(),
    "monitor.parse": set(),
    "monitor.extract": {"monitor.fetch"},
    "monitor.nlp": {"monitor.normalize", "monitor.wordstream"},
    "monitor.store": set(),
    "monitor.metrics": set(),
    "monitor.health": set(),
    "monitor.lock": set(),
    "monitor.reload": set(),
    "monitor.render": {
        "monitor.digest_view",
        "monitor.payload",
        "monitor.sanitize",
        "monitor.template_sandbox",
    },
    "monitor.digest_view": {"monitor.highlight"},
    "monitor.highlight": set(),
    "monitor.clause_text": set(),
    "monitor.payload": {"monitor.digest_view", "monitor.highlight"},
    "monitor.sanitize": set(),
    "monitor.template_sandbox": set(),
    "monitor.channels": {
        "monitor.channels.folder",
        "monitor.channels.email",
        "monitor.channels.webhook",
        "monitor.channels.apprise",
    },
    "monitor.channels.mime": set(),
    "monitor.channels.folder": {"monitor.channels.mime"},
    "monitor.channels.email": {"monitor.channels.mime"},
    "monitor.channels.webhook": set(),
    "monitor.channels.apprise": set(),
    "monitor.outbox": {"monitor.store", "monitor.channels"},
    "monitor.poller": STAGES,
    "monitor.pipeline": STAGES | {"monitor.poller"},
    "monitor.wiring": STAGES | {"monitor.pipeline"},
    "monitor.replay": STAGES | {"monitor.pipeline"},
    "monitor.rule_test": STAGES
    | {"monitor.pipeline", "monitor.poller", "monitor.explain", "monitor.replay"},
    "monitor.status": {
        "monitor.compose",
        "monitor.config",
        "monitor.pipeline",
        "monitor.schedule",
        "monitor.store",
    },
    "monitor.service": {
        "monitor.poller",
        "monitor.config",
        "monitor.rules",
        "monitor.pipeline",
        "monitor.schedule",
        "monitor.wiring",
        "monitor.status",
        "monitor.metrics",
        "monitor.health",
        "monitor.lock",
        "monitor.reload",
    },
    "monitor.cli_base": {"monitor.config", "monitor.rules"},
    "monitor.cli_delivery": {
        "monitor.cli_base",
        "monitor.config",
        "monitor.service",
        "monitor.wiring",
    },
    "monitor.config_edit": {"monitor.config"},
    "monitor.cli_feeds": {
        "monitor.cli_base",
        "monitor.config",
        "monitor.config_edit",
        "monitor.opml",
    },
    "monitor.cli_rules": {
        "monitor.cli_base",
        "monitor.config",
        "monitor.rule_test",
        "monitor.service",
        "monitor.wiring",
    },
    "monitor.cli": {
        "monitor.cli_rules",
        "monitor.cli_base",
        "monitor.cli_delivery",
        "monitor.cli_feeds",
        "monitor.config",
        "monitor.rules",
        "monitor.pipeline",
        "monitor.service",
        "monitor.wiring",
        "monitor.status",
        "monitor.replay",
    },
}
# Each third-party library and the only modules that may import it.
ADAPTERS: dict[str, set[str]] = {
    "httpx": {"monitor.fetch", "monitor.netguard", "monitor.channels.webhook"},
    "httpcore": {"monitor.netguard"},
    "feedparser": {"monitor.parse"},
    "spacy": {"monitor.nlp"},
    "jinja2": {"monitor.render", "monitor.template_sandbox"},
    "markupsafe": {"monitor.render", "monitor.template_sandbox"},
    "css_inline": {"monitor.render"},
    "nh3": {"monitor.sanitize"},
    "apprise": {"monitor.channels.apprise"},
    "sqlite3": {"monitor.store"},
    "apscheduler": {"monitor.service"},
    "prometheus_client": {"monitor.metrics"},
    "pydantic": {"monitor.config"},
    "ruamel": {
        "monitor.config",
        "monitor.config_edit",
        "monitor.rules",
        "monitor.rulefile",
        "monitor.ruleitems",
        "monitor.actors",
    },
    "smtplib": {"monitor.channels.email"},
    "trafilatura": {"monitor.extract"},
}


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_project_imports_follow_the_data_flow(path):
    name = module_name(path)
    if name == "monitor":
        return
    assert name in ALLOWED, f"{name} is not placed in the layering table of this test"
    project = {module for module in imports_of(path) if module.startswith("monitor")}
    wrong = project - BASE - ALLOWED[name] - {name}
    assert not wrong, f"{name} imports {sorted(wrong)} against the direction in DESIGN.md"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_third_party_libraries_stay_in_their_adapter(path):
    name = module_name(path)
    for module in imports_of(path):
        library = module.split(".")[0]
        owners = ADAPTERS.get(library)
        assert owners is None or name in owners, f"{name} imports {library}; only {owners} may"


def test_the_table_knows_a_module_that_breaks_it(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from monitor.store import Store\nimport httpx\n")
    assert "monitor.store" in imports_of(bad) - BASE - ALLOWED["monitor.match"]
    assert "monitor.match" not in ADAPTERS["httpx"]
