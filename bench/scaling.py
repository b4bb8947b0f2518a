"""Scaling benchmark: the end-to-end workload on one PostgreSQL database with 1, 2 and 3
daemons sharing the work by leases; throughput, CPU per article of the daemons and of the
database server, the database's share, and the capacity that share gives.

    python -m bench.scaling [--quick] [--rate 1.5] [--fixed-rate] [--rules 1000] [--feeds 100]

What runs: a throw-away PostgreSQL cluster (`tests/pg_server.py`'s `initdb` in a temporary
folder, as Debian's `postgres` user when root) with `pg_stat_statements` loaded; the
loopback newsroom of `bench.e2e` (100 feeds of ~500-word articles, every copy unique),
published at --rate articles a second per daemon running (with --fixed-rate, --rate in all,
whatever the count); `monitor run` processes with `bench.e2e`'s config (its --rules rules,
one webhook subscription) but the shared store and **one** NLP worker each: 3 daemons of 2
workers on 2 cores would measure contention, not scaling. A rate per daemon keeps each as
busy as the one alone, so what grows is what sharing costs (leases, claims, the database); a
fixed rate leaves three daemons idle two thirds of the time, and their timers and polls of
unchanged feeds are then spread over a third of the articles each. One database carries all
three runs (1, then 2, then 3 daemons), so a new run ingests no old articles.

Each run starts its daemons and warms each up on its first articles (--quick 150, else 300,
published at WARM_RATE): a fresh process spends about twice the steady CPU on its first
hundred articles while spaCy's and the text folding's caches fill, and three daemons sharing
a fixed rate would each be that much nearer its start. Then it lets them settle (--quick
15 s, else 30 s) at the rate and measures 3 consecutive windows of 60 s (--quick 30 s):
articles matched (the store's `matched_at`), CPU of every daemon's process tree and of the
cluster (the postmaster, its backends and background processes, each with its reaped
children's CPU, from /proc), and `pg_stat_statements` reset at each window's start. Figures
are medians of the 3 windows with min-max. The capacity is the database's CPU per article:
articles a day one server core carries at that cost, and the statement with the most
execution time is where it saturates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import psycopg

from bench.e2e import ROOT, wait_for, write_config
from bench.e2e_probe import SCRAPE_TIMEOUT_S, STAGE_METRIC, STAGES, Receiver
from bench.report import Result, format_table, measured, record
from bench.workload import write_rule_set
from tests.pg_server import BINARIES, PgServer, start_server, stop_server

DAEMON_COUNTS = (1, 2, 3)
DATABASE = "scaling"
# CPU per article may grow this much from 1 to 3 daemons (issue 15): leases cost, not work.
GROWTH_LIMIT = 1.10
SECONDS_PER_DAY = 86_400
TOP_STATEMENTS = 3
HEADLINE = "CPU per article, 3 daemons / 1 daemon"
# Published a second while the daemons warm up: more than one daemon sustains (the backlog
# drains before the windows), so three daemons warm up in about the time one does.
WARM_RATE = 8.0
_MATCHED_METRIC = "monitor_articles_matched_total "
# monitor.store.leases' release_feed, as pg_stat_statements normalizes it.
_RELEASE_FEED = "UPDATE feed_leases SET lease_owner = NULL, lease_until = NULL WHERE feed_id"


@dataclass(frozen=True, slots=True)
class Plan:
    rules: int
    rate: float  # articles published a second, per daemon unless `fixed`
    settle_s: float
    window_s: float
    windows: int
    warm_articles: int  # analysed by each daemon before the windows open
    fixed: bool = False  # `rate` is the total, whatever the daemon count

    def published_rate(self, daemons: int) -> float:
        """Articles published a second while `daemons` daemons run."""
        return self.rate if self.fixed else self.rate * daemons

    @property
    def label(self) -> str:
        return f"{self.rate:g}/s {'in all' if self.fixed else 'per daemon'}"


# 1.5 a second per daemon: 3 daemons of one NLP worker each on 2 cores sustain about 7.
FULL = Plan(1_000, 1.5, 30, 60, 3, 300)
QUICK = Plan(1_000, 1.5, 15, 30, 3, 150)


@dataclass(frozen=True, slots=True)
class Statement:
    """One normalized statement's share of the window: calls and execution time."""

    query: str
    calls: int
    exec_ms: float


@dataclass(frozen=True, slots=True)
class Window:
    """What one window measured with `daemons` daemons running."""

    daemons: int
    seconds: float
    published: int
    matched: int
    backlog_growth: int
    daemon_cpu_s: float
    database_cpu_s: float
    statements: tuple[Statement, ...]
    # The daemons' main processes alone (their NLP workers are the rest of daemon_cpu_s),
    # and the CPU their threads spent in each stage (`monitor_stage_cpu_seconds_total`).
    main_cpu_s: float = 0.0
    stage_cpu_s: tuple[tuple[str, float], ...] = ()

    @property
    def matched_per_s(self) -> float:
        return self.matched / self.seconds

    @property
    def daemon_ms(self) -> float:
        return 1000 * self.daemon_cpu_s / max(self.matched, 1)

    @property
    def database_ms(self) -> float:
        return 1000 * self.database_cpu_s / max(self.matched, 1)

    @property
    def total_ms(self) -> float:
        return self.daemon_ms + self.database_ms

    @property
    def polls(self) -> int:
        """Polls finished in the window: each ends by releasing its feed's lease."""
        return sum(s.calls for s in self.statements if s.query.startswith(_RELEASE_FEED))

    @property
    def database_ms_per_poll(self) -> float:
        return 1000 * self.database_cpu_s / max(self.polls, 1)

    @property
    def database_share(self) -> float:
        spent = self.daemon_cpu_s + self.database_cpu_s
        return self.database_cpu_s / spent if spent else 0.0


def whole_run(windows: list[Window]) -> Window:
    """The run's windows as one: analysis commits in batches, so a window's article count
    jumps by a batch where the run's total does not."""
    return Window(
        windows[0].daemons,
        sum(w.seconds for w in windows),
        sum(w.published for w in windows),
        sum(w.matched for w in windows),
        sum(w.backlog_growth for w in windows),
        sum(w.daemon_cpu_s for w in windows),
        sum(w.database_cpu_s for w in windows),
        tuple(statement for w in windows for statement in w.statements),
        sum(w.main_cpu_s for w in windows),
        tuple(
            (stage, sum(dict(w.stage_cpu_s).get(stage, 0.0) for w in windows)) for stage in STAGES
        ),
    )


def process_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` alone: not its children, live or reaped."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metrics_lines(url: str) -> list[str]:
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as reply:
        body: bytes = reply.read()
    return body.decode().splitlines()


def stage_cpu_s(metrics_urls: list[str]) -> dict[str, float]:
    """Each stage's CPU seconds so far, summed over the daemons' /metrics."""
    total = dict.fromkeys(STAGES, 0.0)
    for url in metrics_urls:
        for line in _metrics_lines(url):
            if (found := STAGE_METRIC.match(line)) and found.group(1) in total:
                total[found.group(1)] += float(found.group(2))
    return total


def matched_by_daemon(metrics_urls: list[str]) -> list[int]:
    """Articles each daemon has analysed since it started (`monitor_articles_matched`)."""
    counts = []
    for url in metrics_urls:
        found = [line for line in _metrics_lines(url) if line.startswith(_MATCHED_METRIC)]
        counts.append(int(float(found[0].split()[-1])) if found else 0)
    return counts


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants, each with its reaped children's."""
    total, queue, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while queue:
        current = queue.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[-1].split()
            children = [
                int(child)
                for task in Path(f"/proc/{current}/task").glob("*/children")
                for child in task.read_text().split()
            ]
        except OSError:  # it ended between listing and reading: its parent reaped its CPU
            continue
        # Fields 14-17 of proc(5), counted from after the command name: utime, stime,
        # cutime, cstime.
        total += sum(int(value) for value in stat[11:15]) / tick
        queue += children
    return total


class Cluster:
    """The PostgreSQL server: its CPU, the store's counts and pg_stat_statements."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        pid_file = server.folder / "data" / "postmaster.pid"
        self.postmaster = int(pid_file.read_text().split()[0])
        with server.admin() as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        self.url = server.socket_url(DATABASE)
        # One connection of the benchmark's own, kept open: a backend per query would cost
        # the server a fork inside the measured window.
        self.connection = psycopg.connect(self.url, autocommit=True)
        self.connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def cpu_s(self) -> float:
        return tree_cpu_s(self.postmaster)

    def counts(self) -> tuple[int, int]:
        """Articles matched, and articles waiting for analysis (0, 0 before the schema)."""
        try:
            row = self.connection.execute(
                "SELECT COUNT(matched_at), COUNT(*) FILTER (WHERE matched_at IS NULL "
                "AND quarantined_at IS NULL) FROM articles"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0, 0
        assert row is not None  # an aggregate always answers one row
        return int(row[0]), int(row[1])

    def reset_statements(self) -> None:
        self.connection.execute("SELECT pg_stat_statements_reset()")

    def statements(self) -> tuple[Statement, ...]:
        """The statements with the most execution time since the last reset, on the store."""
        rows = self.connection.execute(
            "SELECT query, calls, total_exec_time FROM pg_stat_statements "
            "JOIN pg_database ON pg_database.oid = dbid WHERE datname = %s "
            "AND query NOT LIKE '%%pg_stat_statements%%' ORDER BY total_exec_time DESC",
            (DATABASE,),
        ).fetchall()
        return tuple(Statement(" ".join(str(q).split()), int(c), float(ms)) for q, c, ms in rows)

    def close(self) -> None:
        self.connection.close()


class Newsroom:
    """bench.newsroom in a subprocess: its rate, and how much it has published."""

    def __init__(self, folder: Path, feeds: int) -> None:
        port_file = folder / "port"
        command = ["-m", "bench.newsroom", "--feeds", str(feeds), "--port-file", str(port_file)]
        self.process = subprocess.Popen([sys.executable, *command], cwd=ROOT)
        wait_for(port_file.exists, 300, "the newsroom")
        self.port = int(port_file.read_text())

    def set_rate(self, per_s: float) -> int:
        url = f"http://127.0.0.1:{self.port}/rate?per_s={per_s}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(json.loads(reply.read())["published"])

    def published(self) -> int:
        url = f"http://127.0.0.1:{self.port}/published"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(json.loads(reply.read())["published"])

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def start_daemons(folder: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """`count` daemons on folder's config, once each has logged that it started."""
    daemons, logs = [], []
    for number in range(count):
        log_path = folder / f"daemon-{count}-{number}.log"
        with log_path.open("wb") as log:
            daemons.append(
                subprocess.Popen(
                    [sys.executable, "-m", "monitor.cli", "run", "--config", "config.yaml"],
                    cwd=folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        logs.append(log_path)
    for log_path, daemon in zip(logs, daemons, strict=True):
        wait_for(partial(_started, log_path, daemon), 900, f"{log_path.name} to start")
        if daemon.poll() is not None:
            raise RuntimeError(f"{log_path.name}: the daemon exited: {log_path.read_text()}")
    return daemons


def metrics_url(log_path: Path) -> str:
    """The /metrics address a daemon logged at its start (beside its health URL)."""
    found = re.search(r"health_url=(\S+)", log_path.read_text("utf-8", "replace"))
    if found is None:
        raise RuntimeError(f"{log_path.name}: the daemon logged no health URL")
    return found.group(1).removesuffix("/healthz") + "/metrics"


def _started(log_path: Path, daemon: subprocess.Popen[bytes]) -> bool:
    """Whether the daemon logged its start, or ended (the caller says which)."""
    text = log_path.read_text("utf-8", "replace")
    return "service.started" in text or daemon.poll() is not None


def stop_daemons(daemons: list[subprocess.Popen[bytes]]) -> None:
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def measure_window(
    count: int,
    window_s: float,
    daemons: list[subprocess.Popen[bytes]],
    cluster: Cluster,
    newsroom: Newsroom,
    *,
    metrics_urls: list[str],
    label: str = "",
) -> Window:
    published, (matched, waiting) = newsroom.published(), cluster.counts()
    stages = stage_cpu_s(metrics_urls)
    cluster.reset_statements()
    started = time.monotonic()
    daemon_cpu, database_cpu = sum(tree_cpu_s(d.pid) for d in daemons), cluster.cpu_s()
    main_cpu = sum(process_cpu_s(d.pid) for d in daemons)
    time.sleep(window_s)
    daemon_cpu = sum(tree_cpu_s(d.pid) for d in daemons) - daemon_cpu
    database_cpu = cluster.cpu_s() - database_cpu
    main_cpu = sum(process_cpu_s(d.pid) for d in daemons) - main_cpu
    stages_after = stage_cpu_s(metrics_urls)
    seconds = time.monotonic() - started
    statements = cluster.statements()
    matched_after, waiting_after = cluster.counts()
    window = Window(
        count,
        seconds,
        newsroom.published() - published,
        matched_after - matched,
        waiting_after - waiting,
        daemon_cpu,
        database_cpu,
        statements,
        main_cpu,
        tuple((stage, stages_after[stage] - stages[stage]) for stage in STAGES),
    )
    print(
        f"  {count} daemon(s){' ' + label if label else ''}: {window.matched_per_s:5.2f}/s matched "
        f"(published {window.published / seconds:.2f}/s, backlog {window.backlog_growth:+d}); "
        f"CPU ms/article daemons {window.daemon_ms:6.1f}, database {window.database_ms:5.2f} "
        f"({100 * window.database_share:.1f}%); load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
        flush=True,
    )
    return window


def run(plan: Plan, feeds: int) -> tuple[dict[int, list[Window]], dict[int, Window]]:
    """Each daemon count's measured windows, and its idle window (nothing published)."""
    if not BINARIES:
        raise SystemExit("bench.scaling needs PostgreSQL (Debian: apt-get install postgresql)")
    server = start_server(settings="-c shared_preload_libraries=pg_stat_statements")
    receiver = Receiver()
    cluster: Cluster | None = None
    runs: dict[int, list[Window]] = {}
    idle: dict[int, Window] = {}
    with tempfile.TemporaryDirectory(prefix="monitor-scaling-") as temp:
        folder = Path(temp)
        newsroom = Newsroom(folder, feeds)
        try:
            cluster = Cluster(server)
            write_rule_set(folder, plan.rules)
            write_config(folder, feeds, newsroom.port, receiver.url, store=cluster.url, workers=1)
            for count in DAEMON_COUNTS:
                runs[count], idle[count] = _one_run(plan, count, folder, cluster, newsroom)
        finally:
            newsroom.close()
            receiver.close()
            if cluster is not None:
                cluster.close()
            stop_server(server)
    return runs, idle


def _one_run(
    plan: Plan, count: int, folder: Path, cluster: Cluster, newsroom: Newsroom
) -> tuple[list[Window], Window]:
    daemons = start_daemons(folder, count)
    urls = [metrics_url(folder / f"daemon-{count}-{number}.log") for number in range(count)]
    try:
        warm_up(plan, daemons, newsroom, urls)
        rate = plan.published_rate(count)
        newsroom.set_rate(rate)
        time.sleep(plan.settle_s)
        # A backlog left from the start (the first run ingests the feeds' first items) is
        # analysed before the windows open, so they measure the steady rate.
        wait_for(lambda: cluster.counts()[1] <= 2 * rate * 10, 600, "the backlog")
        windows = [
            measure_window(count, plan.window_s, daemons, cluster, newsroom, metrics_urls=urls)
            for _ in range(plan.windows)
        ]
        # Then what the daemons cost doing nothing (their timers, leases, dispatch, the
        # database's own): the part of CPU per article that grows with the daemons alone.
        newsroom.set_rate(0)
        wait_for(lambda: cluster.counts()[1] == 0, 600, "the backlog")
        time.sleep(plan.settle_s)
        return windows, measure_window(
            count, plan.window_s, daemons, cluster, newsroom, metrics_urls=urls, label="idle"
        )
    finally:
        newsroom.set_rate(0)
        stop_daemons(daemons)


def warm_up(
    plan: Plan, daemons: list[subprocess.Popen[bytes]], newsroom: Newsroom, urls: list[str]
) -> None:
    """Publish at WARM_RATE until every daemon has analysed plan.warm_articles; print what
    that cold start cost an article (the windows measure the warm daemons)."""
    started_cpu = sum(tree_cpu_s(d.pid) for d in daemons)
    started_at = time.monotonic()
    newsroom.set_rate(WARM_RATE)
    wait_for(
        lambda: min(matched_by_daemon(urls)) >= plan.warm_articles, 1800, "the daemons' warm-up"
    )
    newsroom.set_rate(0)
    analysed = sum(matched_by_daemon(urls))
    cpu_s = sum(tree_cpu_s(d.pid) for d in daemons) - started_cpu
    print(
        f"  {len(daemons)} daemon(s) warm-up: {analysed} articles in "
        f"{time.monotonic() - started_at:.0f} s, CPU ms/article daemons "
        f"{1000 * cpu_s / max(analysed, 1):.1f}",
        file=sys.stderr,
        flush=True,
    )


def results(
    plan: Plan, runs: dict[int, list[Window]], idle: dict[int, Window] | None = None
) -> list[Result]:
    name = f"scaling ({plan.rules:,} rules, {plan.label}, 1 nlp worker per daemon)"
    rows: list[Result] = []
    for count, windows in runs.items():
        label = f"{count} daemon{'s' if count > 1 else ''}"
        # Over the run: a window that closed before a batch committed is not a fall behind.
        floor = 0.95 * plan.published_rate(count)
        kept = whole_run(windows).matched_per_s >= floor
        rows += [
            measured(
                name,
                f"{label}: matched/s (the verdict: over the run)",
                [w.matched_per_s for w in windows],
                "/s",
                target=f">= {floor:g}",
                met=kept,
            ),
            measured(
                name,
                f"{label}: CPU ms/article, daemons",
                [w.daemon_ms for w in windows],
                "ms",
                digits=1,
            ),
            measured(
                name, f"{label}: CPU ms/article, database", [w.database_ms for w in windows], "ms"
            ),
            measured(name, f"{label}: polls/s", [w.polls / w.seconds for w in windows], "/s"),
            measured(
                name,
                f"{label}: CPU ms/poll, database (all its CPU over polls)",
                [w.database_ms_per_poll for w in windows],
                "ms",
            ),
            measured(
                name,
                f"{label}: database share of the CPU",
                [100 * w.database_share for w in windows],
                "%",
                digits=1,
            ),
        ]
        run = whole_run(windows)
        rows.append(_parts_row(name, label, run))
        rows.append(
            Result(
                name,
                f"{label}: CPU ms/article over the run, daemons + database",
                f"{run.daemon_ms:.1f} + {run.database_ms:.2f} = {run.total_ms:.1f} "
                f"({run.matched} articles, {run.seconds:.0f} s, "
                f"database {100 * run.database_share:.1f}%)",
                median=run.total_ms,
                unit="ms",
                runs=1,
            )
        )
    first, last = runs[DAEMON_COUNTS[0]], runs[DAEMON_COUNTS[-1]]
    # Over each run's whole span (see whole_run); the windows' spread is in the rows above.
    growth = whole_run(last).total_ms / whole_run(first).total_ms
    rows.append(
        Result(
            name,
            HEADLINE,
            f"{growth:.2f}",
            f"<= {GROWTH_LIMIT:.2f}",
            growth <= GROWTH_LIMIT,
            median=growth,
            unit="ratio",
            runs=len(last),
        )
    )
    if idle:
        rows += _idle_rows(name, plan, runs, idle)
    database_ms = whole_run(last).database_ms
    per_day = SECONDS_PER_DAY * 1000 / database_ms
    polls = whole_run(last).polls / max(whole_run(last).matched, 1)
    rows.append(
        Result(
            name,
            "database capacity at one server core",
            f"{per_day / 1e6:.2f} M articles/day (at {polls:.1f} polls an article)",
            median=per_day,
            unit="articles/day",
            runs=len(last),
        )
    )
    rows += _statement_rows(name, last)
    return rows


def _parts_row(name: str, label: str, run: Window) -> Result:
    """Where the daemons' CPU per article went over the run: their main processes by stage
    (the threads' own CPU; "other" is the event loop, timers and leases) and their NLP
    worker processes (none with one worker: it annotates in the main process, "nlp")."""
    per = {stage: 1000 * cpu / max(run.matched, 1) for stage, cpu in run.stage_cpu_s}
    main_ms = 1000 * run.main_cpu_s / max(run.matched, 1)
    other = main_ms - sum(per.values())
    stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in per.items())
    return Result(
        name,
        f"{label}: CPU ms/article of the daemons, by part",
        f"main processes {main_ms:.1f} ({stages}, other {other:.1f}); "
        f"NLP worker processes {run.daemon_ms - main_ms:.1f}",
    )


def _idle_rows(
    name: str, plan: Plan, runs: dict[int, list[Window]], idle: dict[int, Window]
) -> list[Result]:
    """What the daemons and the database cost with nothing published, a second and per
    article at the run's rate; and CPU per article without it, 3 daemons against 1."""
    rows: list[Result] = []
    for count, window in idle.items():
        daemons_ms_s = 1000 * window.daemon_cpu_s / window.seconds
        database_ms_s = 1000 * window.database_cpu_s / window.seconds
        rate = plan.published_rate(count)
        per_article = (daemons_ms_s + database_ms_s) / rate
        rows.append(
            Result(
                name,
                f"{count} daemon{'s' if count > 1 else ''}, idle: CPU ms a second",
                f"daemons {daemons_ms_s:.1f} ({daemons_ms_s / count:.1f} each) + database "
                f"{database_ms_s:.1f}: {per_article:.1f} ms an article at {rate:g}/s",
                median=daemons_ms_s + database_ms_s,
                unit="ms/s",
                runs=1,
            )
        )

    def net_ms(count: int) -> float:
        run, quiet = whole_run(runs[count]), idle[count]
        spent = run.daemon_cpu_s + run.database_cpu_s
        resting = (quiet.daemon_cpu_s + quiet.database_cpu_s) * run.seconds / quiet.seconds
        return 1000 * (spent - resting) / max(run.matched, 1)

    first, last = DAEMON_COUNTS[0], DAEMON_COUNTS[-1]
    if first in idle and last in idle:
        growth = net_ms(last) / net_ms(first)
        rows.append(
            Result(
                name,
                "CPU per article net of idle CPU, 3 daemons / 1 daemon",
                f"{growth:.2f} ({net_ms(first):.1f} -> {net_ms(last):.1f} ms)",
                median=growth,
                unit="ratio",
                runs=1,
            )
        )
    return rows


def _statement_rows(name: str, windows: list[Window]) -> list[Result]:
    """Where the database would saturate: the statements with the most execution time over
    the windows of the last run, with their share and calls per article."""
    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    for window in windows:
        for statement in window.statements:
            spent[statement.query] = spent.get(statement.query, 0.0) + statement.exec_ms
            calls[statement.query] = calls.get(statement.query, 0) + statement.calls
    total = sum(spent.values()) or 1.0
    articles = sum(w.matched for w in windows) or 1
    top = sorted(spent, key=spent.__getitem__, reverse=True)[:TOP_STATEMENTS]
    return [
        Result(
            name,
            f"statement #{rank}: {query[:70]}",
            f"{100 * spent[query] / total:.0f}% of exec time, "
            f"{calls[query] / articles:.2f} calls/article, "
            f"{spent[query] / articles:.3f} ms/article",
        )
        for rank, query in enumerate(top, 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows")
    parser.add_argument(
        "--rate", type=float, help="articles published a second per daemon (default 1.5)"
    )
    parser.add_argument(
        "--fixed-rate", action="store_true", help="--rate in all, whatever the daemon count"
    )
    parser.add_argument("--rules", type=int, help="rule count (default 1,000)")
    parser.add_argument("--feeds", type=int, default=100)
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    plan = replace(
        plan, rules=args.rules or plan.rules, rate=args.rate or plan.rate, fixed=args.fixed_rate
    )
    started = time.monotonic()
    print(f"load average at start: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    table = results(plan, *run(plan, args.feeds))
    print(format_table(table))
    load = os.getloadavg()
    print(
        f"(bench.scaling took {time.monotonic() - started:.0f} s; load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
        file=sys.stderr,
    )
    record(
        *[
            r
            for r in table
            if r.target or r.metric == HEADLINE or "capacity" in r.metric or "idle" in r.metric
        ]
    )


if __name__ == "__main__":
    main()
