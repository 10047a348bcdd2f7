"""The schedule in Redis: listing 10,000 entries with the panel's store (pipelined) against
a plain redis-py HGETALL loop over the same keys; and the time from a save in the panel to
the first send by a stock RedBeat beat (`--max-interval 1`) in a venv of its own."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from harness import (
    REDIS_SERVER,
    Row,
    Spawned,
    Timing,
    measure,
    start_redis,
    timed_row,
    wait_for,
)

ENTRIES = 10_000
LIST_MAX_MS = 500.0
SEND_MAX_MS = 2000.0
VENV = Path(__file__).resolve().parents[1] / ".venv" / "redbeat-venv"  # as the tests build it
REDBEAT = "celery-redbeat==2.4.2"

APP = """\
from celery import Celery

URL = {url!r}
app = Celery("benchrb", broker=URL)
app.conf.update(redbeat_redis_url=URL, timezone="UTC", task_ignore_result=True,
                broker_connection_retry_on_startup=True)


@app.task
def noop():
    return None
"""


def _redbeat_python() -> Path:
    import celery

    python = VENV / "bin" / "python"
    marker = VENV / f"ready-{celery.__version__}-{REDBEAT.split('==')[1]}"
    if not marker.exists():
        print("redbeat: building a venv with celery-redbeat…", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        f"celery[redis]=={celery.__version__}", REDBEAT], check=True)
        marker.write_text("")
    return python


def run(quick: bool) -> list[Row]:
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.model import Clocked
    from beat_panel.schedule.redbeat.store import RedisStore
    from beat_panel.schedule.redbeat.target import RedisTarget

    if not Path(REDIS_SERVER).exists():
        print(f"redbeat: {REDIS_SERVER} is not installed; skipped", file=sys.stderr)
        return []
    runs, sends = (5, 8) if quick else (15, 25)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        spawned = Spawned()
        stack.callback(spawned.close)
        _, port = start_redis(spawned, tmp)
        url = f"redis://127.0.0.1:{port}/0"
        target = RedisTarget(url, "list:")
        store = RedisStore(target)
        print(f"redbeat: writing {ENTRIES} entries…", file=sys.stderr)
        store.import_document(Document(tuple(
            Entry(f"entry-{n:05d}", "bench.noop", Interval(60 + n % 600))
            for n in range(ENTRIES))), {})
        keys = store.entry_keys()
        client = target.client()

        def plain_loop() -> int:
            return sum(1 for key in keys if client.hgetall(key))

        def panel_list() -> int:
            return len(RedisStore(target).load().document.entries)

        base_name = "redis: HGETALL loop, 10,000 keys (baseline)"
        timings = measure({base_name: (plain_loop, runs),
                           "redis: list 10,000 entries": (panel_list, runs)}, warmup=1)

        print("redbeat: a stock RedBeat beat, --max-interval 1…", file=sys.stderr)
        python = _redbeat_python()
        (tmp / "benchrb.py").write_text(APP.format(url=url))
        log = tmp / "beat.log"
        with open(log, "wb") as out:
            spawned.popen([str(python), "-m", "celery", "-A", "benchrb", "beat", "-S",
                           "redbeat.RedBeatScheduler", "--max-interval", "1", "-l", "INFO"],
                          cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: "Acquired lock" in log.read_text(errors="replace"), timeout=60,
                 what="the RedBeat beat to take its lock")
        beat_store = RedisStore(RedisTarget(url))
        took: list[float] = []
        for n in range(sends):
            name = f"now-{n}-{uuid.uuid4().hex[:4]}"
            at = datetime.now(timezone.utc).replace(microsecond=0)
            listing = beat_store.load()
            start = time.perf_counter()
            beat_store.save(listing.document.adding(
                Entry(name, "benchrb.noop", Clocked(at), one_off=True)), listing.document)
            pattern = re.compile(rf"Sending due task {re.escape(name)} ")
            wait_for(lambda p=pattern: bool(p.search(log.read_text(errors="replace"))),
                     timeout=30, what=f"the send of {name}")
            took.append((time.perf_counter() - start) * 1000)
            time.sleep(0.37 * (n % 3))  # saves fall at different points of the tick

    base = timings.pop(base_name)
    listed = timings["redis: list 10,000 entries"]
    exact = all(r == ENTRIES for r in listed.results)
    rows = [timed_row(base_name, base, None, exact=all(r == ENTRIES for r in base.results)),
            timed_row("redis: list 10,000 entries", listed, base, f"≤ {LIST_MAX_MS:g} ms",
                      passed=listed.median_ms <= LIST_MAX_MS and exact, exact=exact,
                      note="SCAN + pipelined HGETALL, each entry checked")]
    sent = Timing(took, [True] * len(took))
    rows.append(Row("redbeat: save → first send", sent.median_ms, sent.p95_ms, len(took),
                    None, f"p95 ≤ {SEND_MAX_MS / 1000:g} s", passed=sent.p95_ms <= SEND_MAX_MS,
                    note=f"stock RedBeat beat, --max-interval 1; slowest {max(took):.0f} ms"))
    return rows
