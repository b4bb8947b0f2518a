"""What bench.e2e reads from outside the daemon: its /metrics and /proc (CPU and memory of the
daemon and its NLP workers), the webhooks it sends, and the raw spaCy ceiling it is compared
with.

The raw measure runs `nlp.pipe` in 2 spawned processes on the texts the daemon annotates (each
article's title, summary and body, truncated as `nlp.max_chars` does), with the pipeline
`monitor.nlp.load_pipeline` builds (the daemon's exclusions and hard-breaks component) and the
daemon's batch size; nothing is converted or matched. Each process is warmed up first.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from standardwebhooks import Webhook

from monitor.model import FIELDS, Article
from monitor.nlp import ENTITY_COMPONENTS
from monitor.settings import NlpSettings
from monitor.text import truncate

STAGES = ("parse", "store", "nlp", "match", "deliver")
RAW_PROCESSES = 2
SCRAPE_TIMEOUT_S = 60
STAGE_METRIC = re.compile(r'monitor_stage_cpu_seconds_total\{stage="(\w+)"\} (\S+)')


@dataclass(frozen=True, slots=True)
class Sample:
    """The daemon's counters at one moment (`at`: time.monotonic())."""

    at: float
    ingested: float
    matched: float
    stage_cpu: dict[str, float]
    main_cpu: float  # the daemon's own process, CPU seconds
    worker_cpu: float  # its child processes (the NLP workers)

    @property
    def backlog(self) -> float:
        """Articles stored and not analysed yet."""
        return self.ingested - self.matched


class Probe:
    """Samples the daemon `pid`: counters on demand, memory every second in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.metrics_url = ""
        self.peak_pss_mb = 0.0
        self._peak_rss_kb: dict[int, int] = {}
        self._stopped = threading.Event()
        threading.Thread(target=self._watch_memory, daemon=True).start()

    def sample(self) -> Sample | None:
        """The counters now, or None when /metrics does not answer within SCRAPE_TIMEOUT_S
        (the daemon's event loop is busy: matching runs on it)."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=SCRAPE_TIMEOUT_S) as reply:
                text = reply.read().decode()
        except (TimeoutError, OSError):
            return None
        values = {"ingested": 0.0, "matched": 0.0}
        stages = dict.fromkeys(STAGES, 0.0)
        for line in text.splitlines():
            if line.startswith("monitor_articles_ingested_total "):
                values["ingested"] = float(line.split()[-1])
            elif line.startswith("monitor_articles_matched_total "):
                values["matched"] = float(line.split()[-1])
            elif found := STAGE_METRIC.match(line):
                stages[found.group(1)] = float(found.group(2))
        main, workers = self._cpu()
        return Sample(
            time.monotonic(), values["ingested"], values["matched"], stages, main, workers
        )

    def memory(self) -> tuple[float, float]:
        """Peak RSS (each process's VmHWM, summed) and peak PSS (summed, sampled), in MB."""
        self._read_memory()
        return sum(self._peak_rss_kb.values()) / 1024, self.peak_pss_mb

    def stop(self) -> None:
        self._stopped.set()

    def _tree(self) -> list[int]:
        found, queue = [], [self.pid]
        while queue:
            current = queue.pop()
            found.append(current)
            for task in Path(f"/proc/{current}/task").glob("*/children"):
                queue += [int(child) for child in _read(task).split()]
        return found

    def _cpu(self) -> tuple[float, float]:
        main = workers = 0.0
        for member in self._tree():
            fields = _read(Path(f"/proc/{member}/stat")).rsplit(")", 1)[-1].split()
            if len(fields) < 13:
                continue
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            main, workers = (
                (main + seconds, workers) if member == self.pid else (main, workers + seconds)
            )
        return main, workers

    def _read_memory(self) -> None:
        pss_kb = 0
        for member in self._tree():
            if found := re.search(r"VmHWM:\s+(\d+) kB", _read(Path(f"/proc/{member}/status"))):
                self._peak_rss_kb[member] = max(self._peak_rss_kb.get(member, 0), int(found[1]))
            if found := re.search(
                r"^Pss:\s+(\d+) kB", _read(Path(f"/proc/{member}/smaps_rollup")), re.M
            ):
                pss_kb += int(found[1])
        self.peak_pss_mb = max(self.peak_pss_mb, pss_kb / 1024)

    def _watch_memory(self) -> None:
        while not self._stopped.wait(1.0):
            self._read_memory()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # the process ended between listing and reading
        return ""


class Receiver:
    """The subscription's webhook: when each article's alert arrived, and bad signatures
    (each request is checked with the `standardwebhooks` library, not the daemon's code)."""

    SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtb2YtMzItYnl0ZXM="

    def __init__(self) -> None:
        self.arrived: dict[str, tuple[float, float]] = {}  # link -> (received, published)
        self.bad_signatures = 0
        checker, receiver = Webhook(self.SECRET), self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.time()
                try:
                    checker.verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:
                    receiver.bad_signatures += 1
                for article in json.loads(body).get("articles", []):
                    link = article.get("url") or ""
                    published = parse_qs(urlparse(link).query).get("pub")
                    if published and link not in receiver.arrived:
                        receiver.arrived[link] = (now, int(published[0]) / 1000)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the raw spaCy ceiling -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """Articles a second over repeats, and CPU ms per article, with NER and without."""

    with_ner: list[float]
    with_ner_cpu_ms: list[float]
    without_ner: list[float]  # empty unless measured


_NLP = None


def _load() -> None:
    global _NLP  # one pipeline per raw worker process, loaded by the pool initializer
    from monitor.nlp import load_pipeline

    _NLP = load_pipeline("fr")


def _pipe(texts: list[str], with_entities: bool) -> float:
    assert _NLP is not None, "the pool initializer loads the pipeline"
    started = time.process_time()
    disable = [] if with_entities else list(ENTITY_COMPONENTS)
    for _ in _NLP.pipe(texts, batch_size=NlpSettings().batch_size, disable=disable):
        pass
    return time.process_time() - started


def _texts(articles: Sequence[Article]) -> list[str]:
    limit = NlpSettings().max_chars
    found = (truncate(article.field_text(name), limit) for article in articles for name in FIELDS)
    return [text for text in found if text.strip()]


def raw_nlp_rate(articles: Sequence[Article], *, repeats: int, without_ner: bool) -> Raw:
    """Raw `nlp.pipe` throughput on `articles`, split evenly over RAW_PROCESSES processes."""
    halves = [_texts(articles[part::RAW_PROCESSES]) for part in range(RAW_PROCESSES)]
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu_ms: list[float] = []
    context = multiprocessing.get_context("spawn")
    with context.Pool(RAW_PROCESSES, initializer=_load) as pool:
        pool.starmap(_pipe, [(half[:20], True) for half in halves], chunksize=1)
        for _ in range(repeats):
            for with_entities in (True, False) if without_ner else (True,):
                started = time.perf_counter()
                cpu = pool.starmap(_pipe, [(half, with_entities) for half in halves], chunksize=1)
                rates[with_entities].append(len(articles) / (time.perf_counter() - started))
                if with_entities:
                    cpu_ms.append(1000 * sum(cpu) / len(articles))
    print(
        f"  with NER {statistics.median(rates[True]):.1f} articles/s"
        + (f", without {statistics.median(rates[False]):.1f}" if rates[False] else ""),
        flush=True,
    )
    return Raw(rates[True], cpu_ms, rates[False])
