"""The package table of DESIGN.md ("Layout"), enforced on every module of `monitor/`.

- Imports run one way: cli → app → pipeline → stages → base. Stages never import each
  other; `config` and `rules` sit beside the stages and import only the base.
- From outside a package, only the package itself (its `__init__.py`) is imported: the
  modules inside are private to it.
- Each third-party library stays in the one module that adapts it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"

# Single modules every part may import (they import only each other).
BASE = {
    "model",
    "cron",
    "targets",
    "errors",
    "logs",
    "metrics",
    "text",
    "settings",
    "netguard",
    "urls",
    "yamldoc",
}
STAGES = {"ingest", "nlp", "match", "schedule", "store", "deliver", "stories", "trends"}
BESIDE = {"config", "rules"}
# What each part may import, beyond the base and itself.
ALLOWED: dict[str, set[str]] = {
    **{name: set() for name in BASE | STAGES | BESIDE},
    "pipeline": STAGES | BESIDE,
    "web": {"pipeline"} | STAGES | BESIDE,
    "app": {"pipeline", "web"} | STAGES | BESIDE,
    "cli": {"app"} | BESIDE,
}
# Each third-party library and the only modules that may import it.
ADAPTERS: dict[str, set[str]] = {
    "httpx": {
        "monitor.ingest.fetch",
        "monitor.netguard",
        "monitor.deliver.channels.webhook",
    },
    "httpcore": {"monitor.netguard"},
    "feedparser": {"monitor.ingest.parse"},
    "spacy": {"monitor.nlp.engine"},
    "jinja2": {"monitor.deliver.render", "monitor.deliver.sandbox", "monitor.web.templates"},
    "markupsafe": {"monitor.deliver.render", "monitor.deliver.sandbox"},
    "css_inline": {"monitor.deliver.render"},
    "babel": {"monitor.deliver.i18n"},
    "nh3": {"monitor.deliver.sanitize"},
    "apprise": {"monitor.deliver.channels.apprise"},
    "sqlite3": {"monitor.store.db", "monitor.store.sqlite_db"},
    "psycopg": {"monitor.store.postgres_db"},
    "apscheduler": {"monitor.app.service"},
    "starlette": {
        "monitor.web.app",
        "monitor.web.feedback",
        "monitor.web.pages",
        "monitor.web.search",
        "monitor.web.preview",
        "monitor.web.security",
        "monitor.web.server",
    },
    "uvicorn": {"monitor.web.server"},
    "prometheus_client": {"monitor.metrics"},
    "pydantic": {
        "monitor.config.load",
        "monitor.config.problems",
        "monitor.config.schema",
        "monitor.config.story_spec",
    },
    "ruamel": {
        "monitor.yamldoc",
        "monitor.config.load",
        "monitor.config.edit",
    },
    # PyYAML's libyaml reader: rule files, thousands at a time (see yamldoc.parse_yaml_lines).
    "yaml": {"monitor.yamldoc"},
    "smtplib": {"monitor.deliver.channels.email"},
    "aiosmtplib": {"monitor.deliver.channels.email"},
    "trafilatura": {"monitor.ingest.extract"},
    "croniter": {"monitor.cron"},
    "charset_normalizer": {"monitor.pipeline.replay"},
    "ftfy": {"monitor.ingest.mojibake"},
    "py3langid": {"monitor.ingest.language"},
    "numpy": {"monitor.ingest.fingerprint"},
}


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    """'monitor.deliver.channels.email' → 'deliver'; 'monitor.model' → 'model'."""
    return module.split(".")[1] if module.count(".") else module


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def wrong_imports(name: str, imported: set[str]) -> set[str]:
    """The project imports of module `name` that break the package table."""
    me = part_of(name)
    wrong = set()
    for module in imported:
        if module == "monitor" or not module.startswith("monitor."):
            continue
        other = part_of(module)
        if other == me:
            continue
        if other not in BASE and other not in ALLOWED[me]:
            wrong.add(module)
        elif other not in BASE and module != f"monitor.{other}":
            wrong.add(module)  # reached past the package's public face
    return wrong


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_project_imports_follow_the_package_table(path):
    name = module_name(path)
    if name == "monitor":
        return
    assert part_of(name) in ALLOWED, f"{name} is not placed in the package table of this test"
    wrong = wrong_imports(name, imports_of(path))
    assert not wrong, f"{name} imports {sorted(wrong)} against the package table in DESIGN.md"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_third_party_libraries_stay_in_their_adapter(path):
    name = module_name(path)
    for module in imports_of(path):
        library = module.split(".")[0]
        owners = ADAPTERS.get(library)
        assert owners is None or name in owners, f"{name} imports {library}; only {owners} may"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("monitor.match.evaluate", "monitor.store"),  # a stage importing another stage
        ("monitor.config.load", "monitor.schedule"),  # config beside the stages
        ("monitor.pipeline.ingest", "monitor.store.sqlite"),  # past a package's public face
        ("monitor.cli.main", "monitor.pipeline"),  # cli skipping the app layer
        ("monitor.ingest.fetch", "monitor.app"),  # upwards
    ],
)
def test_the_table_refuses_what_breaks_it(importer, imported):
    assert wrong_imports(importer, {imported}) == {imported}


def test_the_table_allows_what_the_design_draws():
    assert not wrong_imports("monitor.pipeline.ingest", {"monitor.store", "monitor.model"})
    assert not wrong_imports("monitor.deliver.outbox", {"monitor.deliver.channels.email"})
    assert not wrong_imports("monitor.app.wiring", {"monitor.pipeline", "monitor.nlp"})
