"""The scaling benchmark (bench/scaling.py): the CPU it reads from /proc includes processes
that already ended (a PostgreSQL backend, an NLP worker), and its verdict on CPU per article
is taken over each run's whole span against the 10% limit."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace

from bench import scaling
from bench.scaling import Statement, Window


def test_a_tree_s_cpu_keeps_what_its_ended_children_spent():
    before = scaling.tree_cpu_s(os.getpid())
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)  # reaped when run() returns
    assert scaling.tree_cpu_s(os.getpid()) - before >= 0.45


def test_a_live_child_s_cpu_is_counted_while_it_runs():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nwhile time.process_time() < 0.5: pass\ntime.sleep(30)"]
    )
    try:
        deadline = time.monotonic() + 20
        while scaling.tree_cpu_s(child.pid) < 0.45 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scaling.tree_cpu_s(child.pid) >= 0.45
        assert scaling.tree_cpu_s(os.getpid()) >= scaling.tree_cpu_s(child.pid)
    finally:
        child.kill()
        child.wait()


def window(daemons: int, matched: int, daemon_cpu_s: float, database_cpu_s: float) -> Window:
    release = Statement(scaling._RELEASE_FEED + " = $1 AND lease_owner = $2", 50, 5.0)
    return Window(daemons, 60, 120, matched, 0, daemon_cpu_s, database_cpu_s, (release,))


def test_cpu_per_article_is_judged_over_the_whole_run_not_a_window():
    plan = scaling.QUICK
    first = [window(1, 60, 6, 1.2), window(1, 60, 6, 1.2)]
    # A batch committed in the first window: per window the figure swings (72 and 360 ms),
    # over the run it is 120 ms, as with one daemon.
    grown = [window(3, 100, 6, 1.2), window(3, 20, 6, 1.2)]
    rows = {row.metric: row for row in scaling.results(plan, {1: first, 3: grown})}
    assert rows[scaling.HEADLINE].median == 1.0 and rows[scaling.HEADLINE].met
    assert (
        "100.0 + 20.00 = 120.0"
        in rows["1 daemon: CPU ms/article over the run, daemons + database"].value
    )
    worse = [window(3, 120, 14, 2)]  # 133 ms an article: more than 10% over 120
    rows = {row.metric: row for row in scaling.results(plan, {1: first, 3: worse})}
    assert rows[scaling.HEADLINE].met is False
    capacity = rows["database capacity at one server core"]
    # 2 s of database CPU for 120 articles: 16.7 ms each, 5.2 million a day at one core.
    assert capacity.median is not None and round(capacity.median / 1e6, 1) == 5.2
    assert "0.4 polls an article" in capacity.value


def test_what_idle_daemons_cost_is_reported_and_taken_out_of_the_growth():
    plan = replace(scaling.QUICK, rate=2.0, fixed=True)  # 2 articles a second in all
    one = [window(1, 120, 12, 2.4)]  # 120 ms an article
    three = [window(3, 120, 16, 2.4)]  # 153 ms: over the limit
    idle = {
        1: Window(1, 60, 0, 0, 0, 0.6, 0.0, ()),
        3: Window(3, 60, 0, 0, 0, 4.2, 0.4, ()),
    }
    rows = {row.metric: row for row in scaling.results(plan, {1: one, 3: three}, idle)}
    assert rows[scaling.HEADLINE].met is False
    assert rows["3 daemons, idle: CPU ms a second"].value == (
        "daemons 70.0 (23.3 each) + database 6.7: 38.3 ms an article at 2/s"
    )
    # Without the CPU the daemons spend doing nothing, an article costs the same: 115 ms.
    net = rows["CPU per article net of idle CPU, 3 daemons / 1 daemon"]
    assert net.value == "1.00 (115.0 -> 115.0 ms)"


def test_a_rate_per_daemon_publishes_and_expects_three_times_as_much_from_three_daemons():
    plan = scaling.QUICK  # 1.5 articles a second per daemon
    assert [plan.published_rate(count) for count in (1, 2, 3)] == [1.5, 3.0, 4.5]
    one = [window(1, 90, 9, 1.8)]  # 1.5 a second, 120 ms an article
    three = [Window(3, 60, 270, 240, 0, 24, 4.8, ())]  # 4.0 a second: under 95% of 4.5
    idle = {1: Window(1, 60, 0, 0, 0, 0.6, 0.0, ()), 3: Window(3, 60, 0, 0, 0, 4.2, 0.4, ())}
    rows = {row.metric: row for row in scaling.results(plan, {1: one, 3: three}, idle)}
    assert rows["1 daemon: matched/s (the verdict: over the run)"].met
    kept = rows["3 daemons: matched/s (the verdict: over the run)"]
    assert kept.target == ">= 4.275" and kept.met is False
    assert rows["3 daemons, idle: CPU ms a second"].value.endswith("17.0 ms an article at 4.5/s")
    assert rows[scaling.HEADLINE].bench.startswith("scaling (1,000 rules, 1.5/s per daemon")
    fixed = replace(plan, fixed=True)
    assert [fixed.published_rate(count) for count in (1, 3)] == [1.5, 1.5]
    rows = {row.metric: row for row in scaling.results(fixed, {1: one, 3: three}, idle)}
    assert rows["3 daemons: matched/s (the verdict: over the run)"].met


def test_the_daemons_cpu_per_article_is_split_into_main_process_stages_and_workers():
    stages = (("parse", 1.2), ("store", 0.6), ("nlp", 0.0), ("match", 1.8), ("deliver", 2.4))
    measured_window = replace(window(1, 120, 18, 2.4), main_cpu_s=7.2, stage_cpu_s=stages)
    runs = {1: [measured_window], 3: [window(3, 120, 18, 2.4)]}
    rows = {row.metric: row for row in scaling.results(scaling.QUICK, runs)}
    # 150 ms an article: 60 in the main process (10 + 5 + 15 + 20 by stage, 10 besides), 90
    # in the NLP worker.
    assert rows["1 daemon: CPU ms/article of the daemons, by part"].value == (
        "main processes 60.0 (parse 10.0, store 5.0, nlp 0.0, match 15.0, deliver 20.0, "
        "other 10.0); NLP worker processes 90.0"
    )


def test_each_daemons_analysed_articles_are_read_from_its_own_metrics():
    """The warm-up waits for the slowest daemon: counts stay per daemon, and a daemon that
    analysed nothing yet (no sample of the counter) counts 0."""
    bodies = {
        "/a/metrics": b"# TYPE monitor_articles_matched_total counter\n"
        b"monitor_articles_matched_total 301.0\nmonitor_articles_ingested_total 400.0\n",
        "/b/metrics": b"monitor_articles_ingested_total 7.0\n",
    }

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert scaling.matched_by_daemon([f"{base}/a/metrics", f"{base}/b/metrics"]) == [301, 0]
    finally:
        server.shutdown()
        server.server_close()
