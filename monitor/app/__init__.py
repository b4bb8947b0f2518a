"""The daemon and its composition root: wiring the concrete stages from a `Config`, the
service (dispatcher, jobs, reloads, signals, the web server), status, the store lock, the
workspace without the daemon (`monitor web`, `monitor export`) and `monitor store copy`.
"""

from monitor.app.service import Service, utc_now
from monitor.app.status import collect_status, format_status
from monitor.app.storecopy import CopyReport, OnProgress, copy_between
from monitor.app.wiring import (
    StartRules,
    build_annotator,
    build_fetcher,
    build_parts,
    channel_errors,
    rules_for_start,
    store_errors,
    template_errors,
    web_errors,
)
from monitor.app.workspace import (
    export_feedback,
    export_matches,
    preview_archive,
    serve_workspace,
)

# The CLI reaches the pipeline's one-shot commands, the start-up check of the XML parser
# feeds go through and the export formats, via the app layer.
from monitor.ingest import expat_problem
from monitor.pipeline import preview_text, replay_files, replay_paths, test_rule
from monitor.web import EXPORT_COLUMNS, FORMATS

__all__ = [
    "EXPORT_COLUMNS",
    "FORMATS",
    "CopyReport",
    "OnProgress",
    "Service",
    "StartRules",
    "build_annotator",
    "build_fetcher",
    "build_parts",
    "channel_errors",
    "collect_status",
    "copy_between",
    "expat_problem",
    "export_feedback",
    "export_matches",
    "format_status",
    "preview_archive",
    "preview_text",
    "replay_files",
    "replay_paths",
    "rules_for_start",
    "serve_workspace",
    "store_errors",
    "template_errors",
    "test_rule",
    "utc_now",
    "web_errors",
]
