"""config.yaml and the environment → one frozen `Config`, validated once at start-up.

Also checks the names config.yaml and the rules use for each other, reads and writes OPML
feed lists and adds feeds to config.yaml keeping its comments.
Imports only the base; no other package reads the file or the environment for settings.
"""

from monitor.config.duration import parse_duration_s
from monitor.config.edit import add_feeds
from monitor.config.load import Config, load_config
from monitor.config.opml import read_opml, write_opml
from monitor.config.references import reference_problems
from monitor.config.schema import new_webhook_secret

__all__ = [
    "Config",
    "add_feeds",
    "load_config",
    "new_webhook_secret",
    "parse_duration_s",
    "read_opml",
    "reference_problems",
    "write_opml",
]
