"""Where the stages meet: ingest (poll one feed), analyse (queue → nlp → match → store) and
deliver (due → compose → outbox), plus replays and `test-rule`. Holds no clients of its own.
"""

from monitor.pipeline.analyse import ArticleAnnotator
from monitor.pipeline.deliver import DeliverReport
from monitor.pipeline.ingest import PollReport
from monitor.pipeline.pipeline import Pipeline
from monitor.pipeline.replay import replay_files, replay_paths
from monitor.pipeline.rule_test import test_rule

__all__ = [
    "ArticleAnnotator",
    "DeliverReport",
    "Pipeline",
    "PollReport",
    "replay_files",
    "replay_paths",
    "test_rule",
]
