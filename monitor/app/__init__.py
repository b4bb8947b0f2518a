"""The daemon and its composition root: wiring the concrete stages from a `Config`, the
service (dispatcher, jobs, reloads, signals), status, the store lock and the health endpoint.
"""

from monitor.app.service import Service, utc_now
from monitor.app.status import collect_status, format_status
from monitor.app.wiring import (
    StartRules,
    build_annotator,
    build_fetcher,
    build_parts,
    channel_errors,
    rules_for_start,
    template_errors,
)

# The CLI reaches the pipeline's one-shot commands, and the start-up check of the XML
# parser feeds go through, via the app layer.
from monitor.ingest import expat_problem
from monitor.pipeline import replay_files, replay_paths, test_rule

__all__ = [
    "Service",
    "StartRules",
    "build_annotator",
    "build_fetcher",
    "build_parts",
    "channel_errors",
    "collect_status",
    "expat_problem",
    "format_status",
    "replay_files",
    "replay_paths",
    "rules_for_start",
    "template_errors",
    "test_rule",
    "utc_now",
]
