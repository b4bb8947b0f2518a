"""End-to-end benchmark: the real daemon, a local news site, 10,000 rules, a webhook receiver.

    python -m bench.e2e [--quick] [--feeds 20] [--rate 15] [--rules 10000] [--seconds 90]

The feed server (a subprocess) publishes `rate` new articles per second across `feeds` RSS
feeds; `monitor run` (a subprocess) polls them every 10 s, analyses and matches every article
against the generated rules plus one catch-all rule of high priority, and sends an immediate
signed webhook per poll to a receiver in this process. After a warm-up, the run is measured
for `seconds`: sustained throughput, CPU per article by stage (from the daemon's own
/metrics), publication-to-webhook latency, and the daemon's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from bench.report import Result, format_table, record

ROOT = Path(__file__).resolve().parent.parent
POLL_EVERY_S = 10
# A Standard Webhooks secret (config refuses plain strings); the bench receiver ignores it.
BENCH_SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtb2YtMzItYnl0ZXM="
STAGES = ("parse", "store", "nlp", "match", "deliver")
REAL_WORDS = (
    "sécurité renseignement police frontière coopération accord économie énergie "
    "élections parlement tribunal enquête manifestation budget santé climat agriculture "
    "commerce football stade tourisme culture diplomatie ambassade sommet président "
    "ministre"
).split()


class Receiver:
    """A webhook endpoint that records when each article arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, float]] = []  # (received, published), seconds
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.time()
                for article in json.loads(body).get("articles", []):
                    published = parse_qs(urlparse(article.get("url") or "").query).get("pub")
                    if published:
                        receiver.arrivals.append((now, int(published[0]) / 1000))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_rules(folder: Path, count: int, seed: int = 7) -> None:
    """`count` generated rules (mostly terms no article contains) plus one catch-all."""
    folder.mkdir()
    rng = random.Random(seed)

    def term() -> str:
        if rng.random() < 0.03:
            return rng.choice(REAL_WORDS)
        return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(4))

    for number in range(count):
        first = ", ".join(term() for _ in range(rng.randint(1, 4)))
        second = ", ".join(term() for _ in range(rng.randint(1, 3)))
        near = "\n  near: sentence" if number % 3 == 0 else ""
        (folder / f"gen-{number:05d}.yaml").write_text(
            f"id: gen-{number:05d}\nname: Generated {number}\npriority: low\n"
            f"match:\n  all:\n    - any: [{first}]\n    - any: [{second}]{near}\n",
            encoding="utf-8",
        )
    (folder / "bench-all.yaml").write_text(
        "id: bench-all\nname: Every bench article\npriority: high\nmatch:\n  any: [veille]\n",
        encoding="utf-8",
    )


def write_config(folder: Path, feeds: int, port: int, hook: str, workers: int) -> Path:
    lines = ["store: var/monitor.db", "rules: rules", f"templates: {ROOT / 'templates'}"]
    lines += [f"nlp: {{workers: {workers}}}"]
    # Every bench feed lives on one loopback host; real feeds spread over many, so the
    # per-host politeness (2 at a time, 0.5 s apart) would measure the queue, not the daemon.
    lines += ["fetch: {max_per_host: 50, host_spacing_s: 0}"]
    lines += ["health: {listen: '127.0.0.1:0'}", "delivery: {check_every: 2s}", "feeds:"]
    for feed in range(feeds):
        lines += [
            f"  - id: bench-{feed}",
            f"    url: http://127.0.0.1:{port}/feed/{feed}.xml",
            f"    every: {POLL_EVERY_S}s",
            "    language: fr",
            "    allow_private: true",
        ]
    lines += [
        "subscriptions:",
        "  - id: bench",
        "    rules: [bench-all]",
        "    immediate: high",
        "    max_items: 5000",
        # The receiver is on loopback, which the address guard refuses unless told.
        f"    to: {{webhook: {{url: '{hook}', secret: '{BENCH_SECRET}', allow_private: true}}}}",
    ]
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (the daemon and its NLP worker processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            queue += [int(child) for child in task.read_text().split()]
    return found


def process_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the daemon's main process, and by its worker processes."""
    main = workers = 0
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        main, workers = (main + ticks, workers) if member == pid else (main, workers + ticks)
    tick_s = os.sysconf("SC_CLK_TCK")
    return main / tick_s, workers / tick_s


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of the daemon plus its workers (each process's own peak)."""
    total_kb = 0
    for member in process_tree(pid):
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{member}/status").read_text())
        total_kb += int(found.group(1)) if found else 0
    return total_kb / 1024


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("monitor_articles_ingested_total "):
            values["articles"] = float(line.split()[-1])
        found = re.match(r'monitor_stage_cpu_seconds_total\{stage="(\w+)"\} (\S+)', line)
        if found:
            values[f"cpu:{found.group(1)}"] = float(found.group(2))
    return values


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def run(
    quick: bool = False,
    *,
    feeds: int = 20,
    rate: float = 15.0,
    rules: int = 10_000,
    seconds: float = 90.0,
    workers: int = 1,
) -> list[Result]:
    if quick:
        seconds = min(seconds, 40.0)
    with tempfile.TemporaryDirectory(prefix="monitor-e2e-") as temp:
        folder = Path(temp)
        started = time.perf_counter()
        write_rules(folder / "rules", rules)
        print(f"generated {rules} rules in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        port_file = folder / "port"
        site = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.feedserver",
                "--feeds",
                str(feeds),
                "--rate",
                str(rate),
                "--port-file",
                str(port_file),
            ],
            cwd=ROOT,
        )
        receiver = Receiver()
        daemon = None
        try:
            wait_for(port_file.exists, 30, "the feed server")
            port = int(port_file.read_text().split()[0])
            config = write_config(folder, feeds, port, receiver.url, workers)
            log_path = folder / "daemon.log"
            with log_path.open("w") as log:
                daemon = subprocess.Popen(
                    [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
                    cwd=folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            wait_for(lambda: "health_url=" in log_path.read_text(), 600, "the daemon to start")
            health = re.search(r"health_url=(\S+)", log_path.read_text()).group(1)
            metrics_url = health.removesuffix("/healthz") + "/metrics"
            wait_for(lambda: receiver.arrivals, 300, "the first webhook")
            # Warm-up: the model is loaded and the rules compiled; the feeds' first polls
            # bring everything published while the daemon started (a backlog of up to 20
            # items per feed). Three poll intervals clear it: what follows is steady state.
            time.sleep(3 * POLL_EVERY_S)
            before, cpu_before, t0 = scrape(metrics_url), process_cpu_s(daemon.pid), time.time()
            time.sleep(seconds)
            after, cpu_after, t1 = scrape(metrics_url), process_cpu_s(daemon.pid), time.time()
            peak_mb = peak_rss_mb(daemon.pid)
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        finally:
            if daemon is not None and daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            site.terminate()
            site.wait()
            receiver.close()
    cpu_s = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
    return _results(before, after, cpu_s, t0, t1, receiver, peak_mb, rate, rules, workers)


def _results(
    before: dict[str, float],
    after: dict[str, float],
    cpu: tuple[float, float],
    t0: float,
    t1: float,
    receiver: Receiver,
    peak_mb: float,
    rate: float,
    rules: int,
    workers: int,
) -> list[Result]:
    duration = t1 - t0
    articles = after.get("articles", 0) - before.get("articles", 0)
    per_s = articles / duration
    latencies = sorted(r - p for r, p in receiver.arrivals if t0 <= r <= t1)
    stage_cpu = {s: after.get(f"cpu:{s}", 0) - before.get(f"cpu:{s}", 0) for s in STAGES}
    main_cpu_s, worker_cpu_s = cpu
    other = main_cpu_s - sum(stage_cpu.values())
    # With NLP workers, the analysis runs in their processes: count their CPU there.
    stage_cpu["nlp"] += worker_cpu_s
    cpu_s = main_cpu_s + worker_cpu_s
    name = f"e2e ({rules:,} rules, {workers} nlp worker{'s' if workers > 1 else ''})"
    rows = [
        Result(name, "published articles/s", f"{rate:.1f}"),
        Result(name, "ingested articles/s (sustained)", f"{per_s:.1f}", ">= 11.6", per_s >= 11.6),
        Result(
            name,
            "articles/day equivalent",
            f"{per_s * 86400:,.0f}",
            ">= 1,000,000",
            per_s * 86400 >= 1_000_000,
        ),
        Result(name, "daemon CPU share of 2 cores", f"{cpu_s / duration / 2:.0%}"),
    ]
    if articles:
        rows.append(Result(name, "CPU ms/article: total", f"{1000 * cpu_s / articles:.1f}"))
        for stage, seconds in sorted(stage_cpu.items(), key=lambda kv: -kv[1]):
            rows.append(
                Result(name, f"CPU ms/article: {stage}", f"{1000 * seconds / articles:.2f}")
            )
        rows.append(
            Result(
                name,
                "CPU ms/article: other (fetch, HTTP, scheduling)",
                f"{1000 * other / articles:.2f}",
            )
        )
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        target = POLL_EVERY_S + 2
        rows += [
            Result(name, "latency p50 (publication → webhook)", f"{p50:.2f} s"),
            Result(name, "latency p99", f"{p99:.2f} s", f"<= {target} s", p99 <= target),
        ]
    rows.append(Result(name, "peak RSS", f"{peak_mb:.0f} MB", "<= 500 MB", peak_mb <= 500))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter measured window")
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--workers", type=int, default=1, help="the daemon's nlp.workers")
    args = parser.parse_args()
    results = run(
        args.quick,
        feeds=args.feeds,
        rate=args.rate,
        rules=args.rules,
        seconds=args.seconds,
        workers=args.workers,
    )
    print(format_table(results))
    record(*results)


if __name__ == "__main__":
    main()
