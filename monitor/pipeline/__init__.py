"""Where the stages meet: ingest (poll one feed), analyse (queue → nlp → match → store) and
deliver (due → compose → outbox), plus replays, `test-rule` and the rule preview over the
archive. Holds no clients of its own.
"""

from monitor.pipeline.analyse import ArticleAnnotator
from monitor.pipeline.deliver import DeliverReport
from monitor.pipeline.ingest import PollReport
from monitor.pipeline.pipeline import Pipeline
from monitor.pipeline.preview import (
    DEFAULT_DAYS,
    PreviewDay,
    PreviewedMatch,
    PreviewedNearMiss,
    Previewer,
    PreviewLimits,
    PreviewReport,
)
from monitor.pipeline.preview_text import preview_text
from monitor.pipeline.replay import replay_files, replay_paths
from monitor.pipeline.rule_test import test_rule
from monitor.pipeline.spikes import TrendStore, rule_trends

__all__ = [
    "DEFAULT_DAYS",
    "ArticleAnnotator",
    "DeliverReport",
    "Pipeline",
    "PollReport",
    "PreviewDay",
    "PreviewLimits",
    "PreviewReport",
    "PreviewedMatch",
    "PreviewedNearMiss",
    "Previewer",
    "TrendStore",
    "preview_text",
    "replay_files",
    "replay_paths",
    "rule_trends",
    "test_rule",
]
