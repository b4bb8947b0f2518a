"""config: public face."""

from monitor.config.edit import add_feeds
from monitor.config.load import Config, load_config
from monitor.config.opml import read_opml, write_opml
from monitor.config.schema import parse_duration_s

__all__ = [
    "Config",
    "add_feeds",
    "load_config",
    "parse_duration_s",
    "read_opml",
    "write_opml",
]
