"""The schedule file: load and save of 10,000 entries, the beat plugin's per-tick cost, and
the time from a save to the running beat applying it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import (
    Row,
    Spawned,
    Timing,
    environ,
    measure,
    spread_phases,
    wait_for,
    xdg_dirs,
)

from beat_panel.schedule import Crontab, Document, Entry, Interval, Options
from beat_panel.schedule.beat_report import read_beat_report, report_path
from beat_panel.schedule.store import ScheduleStore

BIG_ENTRIES = 10_000
LOAD_MAX_MS = 300.0
SAVE_MAX_MS = 300.0

TICK_ENTRIES = 100
CHECK_MAX_MS = 0.1
STAT_BATCH = 1000  # calls per timed run: one stat() is too short to time on its own
TICK_BATCH = 100

APPLIED_P95_MAX_MS = 1000.0
POLL_S = 0.01
APPLY_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
TOGGLED = "weekly-report"  # a demo entry, switched on and off by each save

Summary = tuple[str | None, int]  # what a timed load or save call returns

CRON_EXPRESSIONS = ("*/5 * * * *", "0 * * * *", "30 2 * * mon-fri", "15 */6 1,15 * *")


def big_document(count: int) -> Document:
    """Half intervals, half crontabs; unique names, some args, kwargs, options, disabled."""
    crons = [Crontab.from_expression(e) for e in CRON_EXPRESSIONS]
    entries = []
    for i in range(count):
        spec = Interval(5 + i % 55, "minutes") if i % 2 == 0 else crons[i // 2 % len(crons)]
        entries.append(Entry(
            name=f"entry-{i:05d}", task=f"proj.tasks.job_{i % 50}", schedule=spec,
            args=(i, "x") if i % 3 == 0 else (), kwargs={"n": i} if i % 4 == 0 else {},
            options=Options(queue="reports") if i % 5 == 0 else Options(),
            enabled=i % 7 != 0,
        ))
    return Document(tuple(entries), timezone="UTC")


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 1 else f"{value:.2f} ms"


# ---------------------------------------------------------------------------
# 1. 10,000 entries: load and save, vs plain json
# ---------------------------------------------------------------------------


def _load_save_rows(tmp: Path, quick: bool) -> list[Row]:
    runs = 5 if quick else 20
    doc = big_document(BIG_ENTRIES)
    data = doc.to_json()
    store = ScheduleStore(tmp / "big" / "schedule.json")
    current = [store.save(doc, base_sha=None)]
    raw = tmp / "big" / "raw.json"
    raw.write_bytes(doc.dumps().encode("utf-8"))

    # The timed calls return small summaries, not the documents: holding 20 parsed copies
    # of 10,000 entries makes each full garbage collection take hundreds of ms, which
    # would land on whichever call happened to trigger it.
    saved_shas = {current[0].sha}

    def raw_load() -> Summary:
        return None, len(json.loads(raw.read_bytes())["entries"])

    def raw_save() -> Summary:  # the same text as a save, without checks, history or fsync
        raw.write_bytes((json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
        return None, 0

    def load() -> Summary:  # (sha, number of entries)
        loaded = store.load()
        return loaded.sha, len(loaded.document.entries)

    def save() -> Summary:  # (sha, revision)
        current[0] = store.save(current[0].document, current[0].sha)
        saved_shas.add(current[0].sha)
        return current[0].sha, current[0].document.revision

    base_load = "schedule: json.loads 10k (baseline)"
    base_save = "schedule: json.dumps+write 10k (baseline)"
    load_name, save_name = "schedule: load 10k entries", "schedule: save 10k entries"
    print(f"schedule: measuring load and save of {BIG_ENTRIES:,} entries "
          f"({store.path.stat().st_size / 1e6:.1f} MB)…", file=sys.stderr)
    timings = measure({
        base_load: (raw_load, runs), load_name: (load, runs),
        base_save: (raw_save, runs), save_name: (save, runs),
    }, warmup=1)

    # Exact: every load read a version some save wrote, with all entries; the saves made
    # consecutive revisions; and the last one reads back whole, entry for entry.
    final = store.load()
    final_ok = final.document.entries == doc.entries
    loads = timings[load_name].results
    load_exact = final_ok and len(loads) == runs and all(
        sha in saved_shas and count == BIG_ENTRIES for sha, count in loads)
    saves = timings[save_name].results
    revisions = [revision for _, revision in saves]
    save_exact = (
        final_ok and len(saves) == runs
        and revisions == list(range(revisions[0], revisions[0] + runs))
        and final.sha == saves[-1][0] and final.document.revision == revisions[-1]
    )

    rows = []
    for base, name, target, exact in ((base_load, load_name, LOAD_MAX_MS, load_exact),
                                      (base_save, save_name, SAVE_MAX_MS, save_exact)):
        b, t = timings[base], timings[name]
        rows.append(Row(base, b.median_ms, b.p95_ms, len(b.times_ms), ratio=1.0))
        rows.append(Row(name, t.median_ms, t.p95_ms, len(t.times_ms),
                        t.median_ms / b.median_ms, f"≤ {target:g} ms",
                        passed=t.median_ms <= target and exact, exact=exact))
    return rows


# ---------------------------------------------------------------------------
# 2. The plugin's per-tick cost on an unchanged file, vs one os.stat
# ---------------------------------------------------------------------------


def _batched(fn: Callable[[], object], calls: int) -> Callable[[], object]:
    def batch() -> object:
        result = None
        for _ in range(calls):
            result = fn()
        return result
    return batch


def _tick_rows(tmp: Path, quick: bool) -> list[Row]:
    import celery

    from beat_panel.plugin import PanelScheduler

    runs = 30 if quick else 100
    path = tmp / "tick" / "schedule.json"
    entries = tuple(Entry(f"job-{i:03d}", f"proj.tasks.job_{i % 10}",
                          Interval(1 + i % 12, "hours")) for i in range(TICK_ENTRIES))
    saved = ScheduleStore(path).save(Document(entries, timezone="UTC"), base_sha=None)

    app = celery.Celery("bench", broker="memory://")
    app.conf.beat_panel_schedule = str(path)
    sched = PanelScheduler(app=app, lazy=False)
    loaded_ok = sched._sha == saved.sha and len(sched.schedule) == TICK_ENTRIES
    key_before = sched._file_key
    state_before = report_path(path).stat().st_mtime_ns

    base = "plugin: os.stat (baseline)"
    check, tick = "plugin: per-tick file check", "plugin: full tick (info)"
    print("schedule: measuring the plugin's tick…", file=sys.stderr)
    timings: dict[str, Timing[object]] = measure({
        base: (_batched(lambda: os.stat(path), STAT_BATCH), runs),
        check: (_batched(sched._check_file, STAT_BATCH), runs),
        tick: (_batched(sched.tick, TICK_BATCH), runs),
    })
    # Exact: the file was never re-read and the state file never rewritten.
    untouched = (loaded_ok and sched._file_key == key_before and sched._sha == saved.sha
                 and report_path(path).stat().st_mtime_ns == state_before)
    nothing_sent = all(isinstance(d, float) and d > 0 for d in timings[tick].results)

    per_call = {base: STAT_BATCH, check: STAT_BATCH, tick: TICK_BATCH}
    b = timings[base]
    base_median = b.median_ms / STAT_BATCH
    rows = [Row(base, base_median, b.p95_ms / STAT_BATCH, len(b.times_ms), ratio=1.0,
                note=f"{_ms(base_median)} per call")]
    for name in (check, tick):
        t, calls = timings[name], per_call[name]
        median, p95 = t.median_ms / calls, t.p95_ms / calls
        exact = untouched and (name == check or nothing_sent)
        rows.append(Row(
            name, median, p95, len(t.times_ms), median / base_median,
            f"≤ {CHECK_MAX_MS:g} ms" if name == check else "—",
            passed=(median <= CHECK_MAX_MS and exact) if name == check else None,
            exact=exact, note=f"{_ms(median)} per call, p95 {_ms(p95)}",
        ))
    return rows


# ---------------------------------------------------------------------------
# 3. Save to applied in a running `celery beat`
# ---------------------------------------------------------------------------


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _applied_rows(tmp: Path, quick: bool) -> list[Row]:
    from beat_panel.demo import default_document
    from beat_panel.plugin import RELOAD_INTERVAL

    saves = 5 if quick else 20
    folder = tmp / "beat"
    folder.mkdir()
    path = folder / "schedule.json"
    store = ScheduleStore(path)
    current = store.save(default_document(), None)
    env = {**os.environ, **xdg_dirs(folder),
           "BEAT_PANEL_DEMO_DIR": str(folder / "demo-data"),
           "BEAT_PANEL_SCHEDULE": str(path)}
    celery_bin = Path(sys.executable).with_name("celery")
    argv = [str(celery_bin), "-A", "beat_panel.demo.app", "beat",
            "-S", "beat_panel.plugin:PanelScheduler", "--loglevel=INFO",
            f"--pidfile={folder / 'beat.pid'}"]
    log = folder / "beat.log"

    def applied(sha: str | None) -> Callable[[], bool]:
        def check() -> bool:
            state = read_beat_report(path)
            return state is not None and state.applied_sha == sha
        return check

    print("schedule: starting celery beat with the plugin…", file=sys.stderr)
    times: list[float] = []
    results: list[bool] = []
    with open(log, "wb") as out:
        spawned = Spawned()
        proc = spawned.popen(argv, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            first = applied(current.sha)

            def started() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"celery beat exited with {proc.returncode}:\n"
                                       f"{_tail(log)}")
                return first()

            wait_for(started, timeout=START_TIMEOUT_S, what="celery beat to apply the file")
            print(f"schedule: timing {saves} saves until the beat applies them…",
                  file=sys.stderr)
            # The beat applies a save at its next tick, so the wait is about a tick minus
            # the time since the last one: saving right after an apply would always wait
            # almost a full tick. Each save waits first for its own phase of the tick.
            for delay in spread_phases(saves, RELOAD_INTERVAL):
                time.sleep(delay)
                enabled = current.document.require(TOGGLED).enabled
                doc = current.document.enabling([TOGGLED], not enabled)
                start = time.perf_counter_ns()
                current = store.save(doc, current.sha)
                done = applied(current.sha)
                deadline = time.monotonic() + APPLY_TIMEOUT_S
                while not done() and time.monotonic() < deadline:
                    time.sleep(POLL_S)
                times.append((time.perf_counter_ns() - start) / 1e6)
                state = read_beat_report(path)
                results.append(state is not None and state.applied_sha == current.sha
                               and state.applied_revision == current.document.revision
                               and state.error is None and state.pid == proc.pid)
        finally:
            spawned.end(proc, timeout=STOP_TIMEOUT_S)  # SIGTERM: it syncs and exits

    timing = Timing(times, results)
    exact = all(results)
    reload_ms = RELOAD_INTERVAL * 1000
    return [Row(
        "beat: save → applied", timing.median_ms, timing.p95_ms, len(times),
        timing.p95_ms / reload_ms, f"p95 ≤ {APPLIED_P95_MAX_MS:g} ms",
        passed=timing.p95_ms <= APPLIED_P95_MAX_MS and exact, exact=exact,
        note=f"ratio: p95 / RELOAD_INTERVAL {RELOAD_INTERVAL:g} s; max {max(times):.0f} ms"
             + ("" if exact else f"; {results.count(False)} not applied"),
    )]


def run(quick: bool) -> list[Row]:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        stack.enter_context(environ(**xdg_dirs(tmp)))
        return [*_load_save_rows(tmp, quick), *_tick_rows(tmp, quick),
                *_applied_rows(tmp, quick)]
