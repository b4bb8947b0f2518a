"""Benchmark polling rounds of 1,000 and 10,000 feeds through the daemon's own poll path.

    python -m bench.poll            # 1,000 and 10,000 feeds, 3 rounds each
    python -m bench.poll --quick    # 1,000 feeds only
    python -m bench.poll --profile  # one 10,000-feed round under cProfile (CPU time; its
                                    # overhead can push fetches past their 5 s deadline:
                                    # `--profile --sizes 1000` keeps the round realistic)
    python -m bench.poll --sizes 10000 --rounds 1   # one size, fewer rounds

What is timed is `Service.dispatch()` and the polls it starts, as `monitor run` wires them
(`app.build_parts`, `app.Service`): the dispatcher picks the due feeds from the states it
holds, and each poll goes through `pipeline.ingest` (the feed's state, `ingest.Fetcher` with
its conditional GET and host limits, the body-hash check, `ingest.parse_feed`, normalisation,
`Store.add_articles`, the state write with its rhythm and backoff, metrics, log lines) into a
real SQLite store in a temporary folder. Only the analysis the service kicks after a poll
that stored articles is left out (counted, not run): bench.nlp, bench.match and bench.e2e
time it.

The feeds are served by bench.feedserver in a subprocess, so the CPU seconds reported are
the polling process's alone. Out of every 1,000 feeds: 50 publish at every poll (200, a 20-item
window of real French news items with 2 new), 10 answer 200 with an unchanged body (the hash
check), 10 answer 500 and 2 never answer (the fetch timeout; both go through backoff), the
other 928 answer 304 to the ETag the store holds. Feeds spread over 100 host names (resolved
to 127.0.0.1) under the default per-host and total limits; politeness spacing is off, as it
only adds idle wall time. Between rounds the service's clock moves 7 hours, so every feed is
due again, backed-off ones included. Figures: median (min–max) over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import logging
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.feedserver import (
    HOSTS,
    NOT_MODIFIED,
    ROUND_S,
    SAME_BODY,
    poll_body,
    poll_etag,
    poll_kind,
)
from bench.report import Result, record
from monitor.app import Service, build_parts
from monitor.app.background import BackgroundJob
from monitor.config import Config, load_config
from monitor.ingest import Fetcher
from monitor.logs import configure_logging
from monitor.model import Annotations, Article, FeedState
from monitor.rules import load_rules

TARGET_CPU_S_AT_10K = 15.0
ROUNDS = 3
ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 10, 21, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RoundResult:
    feeds: int
    wall_s: float
    cpu_s: float
    server_cpu_s: float | None
    outcomes: dict[str, int]  # the daemon's poll counts by outcome (changed, unchanged, failed)
    stage_cpu_s: dict[str, float]  # the daemon's own CPU split (parse, store)
    new_articles: int
    analysis_kicks: int


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _NoAnnotator:
    """Never called: the analysis job is replaced; present because the wiring needs one."""

    def annotate(self, articles: Sequence[Article], *, with_entities: bool) -> list[Annotations]:
        raise AssertionError("bench.poll runs no analysis")


async def _resolve_to_loopback(host: str, port: int) -> Sequence[str]:
    return ["127.0.0.1"]


def _config(folder: Path, count: int, port: int) -> Config:
    """The config `monitor run` would load for `count` feeds.

    The feeds are written out from the one the loader read: a config.yaml listing 10,000
    feeds passes neither the loader's 1 MiB cap nor its 100,000-value cap.
    """
    lines = [
        f"store: {folder / 'monitor.db'}",
        f"rules: {ROOT / 'rules'}",
        f"templates: {ROOT / 'templates'}",
        "health: null",
        "fetch: {timeout_s: 2, deadline_s: 5, host_spacing_s: 0}",
        "subscriptions: []",
        "feeds:",
        f"  - {{id: f0, url: 'http://h0.bench:{port}/0', every: 5m, allow_private: true, "
        "language: fr}",
    ]
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config(path)
    [model] = config.feeds
    feeds = tuple(
        replace(model, id=f"f{n}", url=f"http://h{n % HOSTS}.bench:{port}/{n}")
        for n in range(count)
    )
    return replace(config, feeds=feeds)


def _steady_state(number: int, server_now_s: float) -> FeedState:
    """What the store holds for feed `number` after polls before the bench began."""
    kind = poll_kind(number)
    polled = NOW - timedelta(minutes=5)
    return FeedState(
        feed_id=f"f{number}",
        etag=poll_etag(number) if kind == NOT_MODIFIED else None,
        body_sha256=(
            hashlib.sha256(poll_body(number, 0, server_now_s)).hexdigest()
            if kind == SAME_BODY
            else None
        ),
        last_polled_at=polled,
        last_success_at=polled,
        next_poll_at=NOW,
    )


# The pipeline's registry: one with the service's in `monitor run`, its own here (parts passed in).
def _counter_values(service: Service, name: str, label: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in service.pipeline.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                values[sample.labels[label]] = sample.value
    return values


def _articles_stored(service: Service) -> float:
    registry = service.pipeline.metrics.registry
    return registry.get_sample_value("monitor_articles_ingested_total") or 0.0


def _process_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    """One daemon (service, store, fetcher) polling `count` feeds from the feed server."""

    def __init__(self, folder: Path, count: int, port: int, server_pid: int, server_now_s: float):
        self.count = count
        self.server_pid = server_pid
        config = _config(folder, count, port)
        rules = load_rules(config.rules_dir)
        fetcher = Fetcher(config.fetch, base_dir=config.base_dir, resolver=_resolve_to_loopback)
        parts = build_parts(config, rules, annotator=_NoAnnotator(), fetcher=fetcher)
        for number in range(count):
            parts.store.save_feed_state(_steady_state(number, server_now_s))
        self.clock = _Clock(NOW)
        self.service = Service(config, rules, parts=parts, clock=self.clock, strict=True)
        self.kicks = 0

        async def count_kick() -> None:
            self.kicks += 1

        # The poll path ends at the kick; analysis is another benchmark's subject.
        self.service._analysis = BackgroundJob("analyse", count_kick, is_stopping=lambda: False)
        self.rounds_done = 0

    async def round(self) -> RoundResult:
        """One dispatch with every feed due, and the polls it starts, to the last."""
        service = self.service
        self.clock.now = NOW + timedelta(seconds=self.rounds_done * ROUND_S)
        self.rounds_done += 1
        polls_before = _counter_values(service, "monitor_polls_total", "outcome")
        stage_before = _counter_values(service, "monitor_stage_cpu_seconds_total", "stage")
        kicks_before = self.kicks
        articles_before = _articles_stored(service)
        server_before = _process_cpu_s(self.server_pid)
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        await asyncio.gather(*service.dispatch())
        await asyncio.sleep(0)  # let the kicked (counting) analysis job run
        wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
        server_after = _process_cpu_s(self.server_pid)
        if service.crash is not None:
            raise service.crash
        polls = _counter_values(service, "monitor_polls_total", "outcome")
        stages = _counter_values(service, "monitor_stage_cpu_seconds_total", "stage")
        outcomes = {k: int(v - polls_before.get(k, 0)) for k, v in polls.items()}
        if sum(outcomes.values()) != self.count:
            raise SystemExit(f"bench.poll: {sum(outcomes.values())} of {self.count} feeds polled")
        return RoundResult(
            feeds=self.count,
            wall_s=wall_s,
            cpu_s=cpu_s,
            server_cpu_s=(
                server_after - server_before
                if server_before is not None and server_after is not None
                else None
            ),
            outcomes=outcomes,
            stage_cpu_s={k: v - stage_before.get(k, 0.0) for k, v in stages.items()},
            new_articles=int(_articles_stored(service) - articles_before),
            analysis_kicks=self.kicks - kicks_before,
        )

    async def close(self) -> None:
        await self.service.close()


def _median(values: Sequence[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f})"
    )


def _print_rounds(rounds: Sequence[RoundResult]) -> None:
    for number, result in enumerate(rounds, 1):
        stages = " ".join(f"{k} {v:.2f}" for k, v in sorted(_stages(result).items()))
        server = f"{result.server_cpu_s:.2f}" if result.server_cpu_s is not None else "n/a"
        polls = dict(sorted(result.outcomes.items()))
        print(
            f"  round {number}: cpu {result.cpu_s:.2f} s, wall {result.wall_s:.2f} s, "
            f"{result.feeds / result.wall_s:.0f} polls/s; polls {polls}, "
            f"{result.new_articles} new articles ({result.analysis_kicks} analysis kicks); "
            f"cpu s by stage: {stages}; feed server cpu {server} s"
        )


def _stages(result: RoundResult) -> dict[str, float]:
    """The daemon's stage CPU counters (parse includes normalisation), and what they miss:
    the fetch, the state read and write, dispatch, metrics and logging."""
    stages = dict(result.stage_cpu_s)
    stages["rest"] = result.cpu_s - sum(stages.values())
    return stages


def _summarise(size: int, rounds: Sequence[RoundResult]) -> list[Result]:
    cpu = [r.cpu_s for r in rounds]
    wall = [r.wall_s for r in rounds]
    rate = [r.feeds / r.wall_s for r in rounds]
    per_feed_ms = [1000 * r.cpu_s / r.feeds for r in rounds]
    print(
        f"{size:>6,} feeds: cpu s/round {_median(cpu)}, wall s {_median(wall)}, "
        f"polls/s {_median(rate, 0)}, cpu ms/poll {_median(per_feed_ms, 3)}"
    )
    for stage in sorted({k for r in rounds for k in _stages(r)}):
        print(f"        {stage} cpu s: {_median([_stages(r).get(stage, 0.0) for r in rounds])}")
    results = [
        Result("poll", f"{size:,} feeds: wall s per round", _median(wall)),
        Result("poll", f"{size:,} feeds: polls/s", _median(rate, 0)),
    ]
    if size == 10_000:
        median = statistics.median(cpu)
        results.append(
            Result(
                "poll",
                "10,000 feeds: CPU s of one core per round",
                _median(cpu),
                f"<= {TARGET_CPU_S_AT_10K:g}",
                median <= TARGET_CPU_S_AT_10K,
            )
        )
        verdict = "ok" if median <= TARGET_CPU_S_AT_10K else "MISSED"
        print(f"target: 10,000 feeds in <= {TARGET_CPU_S_AT_10K:g} cpu s: {median:.2f} s {verdict}")
    else:
        results.append(Result("poll", f"{size:,} feeds: CPU s per round", _median(cpu)))
    return results


async def _run_size(
    folder: Path,
    size: int,
    port: int,
    server_pid: int,
    server_now_s: float,
    profile: bool,
    rounds_wanted: int,
) -> list[Result]:
    bench = Bench(folder, size, port, server_pid, server_now_s)
    try:
        # The first round opens the connections and brings each changed feed's whole window.
        await bench.round()
        if profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not waits (fsync, sockets)
            profiler.enable()
            result = await bench.round()
            profiler.disable()
            _print_rounds([result])
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
            return []
        rounds = [await bench.round() for _ in range(rounds_wanted)]
    finally:
        await bench.close()
    _print_rounds(rounds)
    return _summarise(size, rounds)


def _start_server(folder: Path, server_now_s: float) -> tuple[subprocess.Popen[bytes], int]:
    port_file = folder / "port"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.feedserver",
            "--poll-round",
            "--now",
            str(server_now_s),
            "--port-file",
            str(port_file),
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("bench.poll: the feed server did not start")
        time.sleep(0.05)
    return server, int(port_file.read_text().split()[0])


def _run_sizes(sizes: Sequence[int], *, profile: bool, rounds: int) -> list[Result]:
    """Each size with its own feed server, daemon and store."""
    server_now_s = NOW.timestamp()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="monitor-poll-") as temp:
        for size in sizes:
            folder = Path(temp) / str(size)
            folder.mkdir()
            server, port = _start_server(folder, server_now_s)
            try:
                results += asyncio.run(
                    _run_size(folder, size, port, server.pid, server_now_s, profile, rounds)
                )
            finally:
                server.terminate()
                server.wait(timeout=10)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.poll", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1,000 feeds only")
    parser.add_argument("--profile", action="store_true", help="profile one 10,000-feed round")
    parser.add_argument("--sizes", type=int, nargs="*", help="feed counts (default 1,000 10,000)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds per size")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10_000] if args.profile else [1_000] if args.quick else [1_000, 10_000])
    # One INFO line per poll, formatted as `monitor run` writes them, into /dev/null.
    configure_logging()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        for handler in logging.getLogger("monitor").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sink)
        results = _run_sizes(sizes, profile=args.profile, rounds=args.rounds)
    if len(sizes) > 1:
        print(f"{args.rounds} rounds per size; each size has its own feed server, daemon and store")
    record(*results)


if __name__ == "__main__":
    main()
