"""The `monitor` command: argparse and exit codes only, one file per command group."""

from monitor.cli.main import main

__all__ = ["main"]
