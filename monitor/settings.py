"""Settings objects the config builds and the adapters take directly. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass

# --- fetching ---


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """The `fetch:` section: limits for every fetch and the bounds on polling.

    The defaults here are the documented defaults; `config.load` refuses values
    out of range, so an adapter can use these fields as they are.
    """

    timeout_s: float = 10.0  # connect and each read
    deadline_s: float = 30.0  # one whole fetch, redirects included
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_entries: int = 200  # newest entries kept per poll of one feed
    max_concurrency: int = 50  # fetches in flight, all hosts together
    max_per_host: int = 2  # fetches in flight to one host
    host_spacing_s: float = 0.5  # least time between two request starts to one host
    max_interval_s: float = 6 * 3600.0  # the longest wait between polls (backoff ceiling)
    failing_after_s: float = 24 * 3600.0  # failing this long: reported in digests and status
