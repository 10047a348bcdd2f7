"""Health check vs a bare `celery inspect ping`, with a real Redis and two real workers;
then the answer time with that Redis hung (SIGSTOP); then, in a window with a real beat
on that project (a Qt worker), the event loop's longest stall while "Check now" checks
health with the broker up and hung, against the same timer idle for as long."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    REDIS_SERVER,
    Row,
    Spawned,
    Timing,
    environ,
    measure,
    start_redis,
    timed_row,
    wait_for,
    xdg_dirs,
)
from qtworker import panel_on, run_worker, wait, worker_main

APP = "benchhealth"
WORKERS = ("bench1", "bench2")
REFRESH_MAX_RATIO = 1.5
HUNG_MAX_MS = 3000.0
STALL_MAX_MS = 16.0
ENTRIES = 20  # in the window's schedule: each gets a "Will run?" answer per check

APP_SOURCE = """
from celery import Celery

app = Celery("benchhealth", broker={broker!r})
app.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True,
                timezone="UTC")


@app.task
def noop():
    return None
"""


def _celery() -> str:
    found = Path(sys.executable).with_name("celery")
    return str(found) if found.exists() else "celery"


def _start_worker(spawned: Spawned, folder: Path, name: str) -> None:
    log = folder / f"{name}.log"
    with open(log, "wb") as out:
        proc = spawned.popen([sys.executable, "-m", "celery", "-A", APP, "worker",
                              "--pool=solo", "-n", f"{name}@%h", "--without-mingle",
                              "--without-gossip", "-l", "INFO"],
                             cwd=folder, stdout=out, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"worker {name} exited: {log.read_text()[-2000:]}")
        return " ready." in log.read_text()

    wait_for(ready, timeout=60, what=f"worker {name}")


def run(quick: bool) -> list[Row]:
    runs, hung_runs = (5, 3) if quick else (15, 8)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        stack.enter_context(environ(**xdg_dirs(tmp)))
        spawned = Spawned()
        stack.callback(spawned.close)
        if not os.path.exists(REDIS_SERVER):
            print(f"health: {REDIS_SERVER} is not installed; skipped", file=sys.stderr)
            return []

        from beat_panel.config import load_file
        from beat_panel.health import HealthChecker

        print("health: starting redis-server and two workers…", file=sys.stderr)
        redis, port = start_redis(spawned, tmp)
        stack.callback(lambda: _continue(redis.pid))
        (tmp / f"{APP}.py").write_text(APP_SOURCE.format(broker=f"redis://127.0.0.1:{port}/0"))
        (tmp / "beat-panel.toml").write_text(
            f'[beat]\napp = "{APP}"\nworkdir = "."\ncommand = ["{_celery()}"]\n')
        for name in WORKERS:
            _start_worker(spawned, tmp, name)
        config = load_file(tmp / "beat-panel.toml")
        checker = HealthChecker(config)  # one per panel: its cache stays warm

        def inspect_ping() -> bool:
            done = subprocess.run([_celery(), "-A", APP, "inspect", "ping"], cwd=tmp,
                                  capture_output=True, text=True, timeout=60, check=False)
            return done.returncode == 0 and all(f"{n}@" in done.stdout for n in WORKERS)

        def refresh(make: Callable[[], HealthChecker]) -> Callable[[], bool]:
            def call() -> bool:
                health = make().check()
                names = sorted(w.name.split("@")[0] for w in health.workers.workers)
                return (health.broker.ok and names == sorted(WORKERS)
                        and all(w.queues == ("celery",) for w in health.workers.workers))
            return call

        def cli_health() -> dict:
            done = subprocess.run([sys.executable, "-m", "beat_panel", "--config",
                                   str(tmp / "beat-panel.toml"), "health", "--json"],
                                  capture_output=True, text=True, timeout=60, check=False)
            return json.loads(done.stdout) if done.returncode == 0 else {}

        baseline = "health: celery inspect ping (baseline)"
        cases = {
            baseline: (inspect_ping, runs),
            "health: refresh, 2 workers": (refresh(lambda: checker), runs),
            "health: first check, no cache": (refresh(lambda: HealthChecker(config)), runs),
        }
        print("health: measuring with the broker up…", file=sys.stderr)
        timings = measure(cases, warmup=1)

        print("health: measuring with the broker hung (SIGSTOP)…", file=sys.stderr)
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            hung = measure({
                "in": (lambda: checker.check(), hung_runs),
                "cli": (cli_health, hung_runs),
            }, warmup=0)
        finally:
            _continue(redis.pid)

        print("health: the window's stalls while it checks health, broker up and hung…",
              file=sys.stderr)
        _write_schedule(tmp)
        with environ(BENCH_HEALTH_CONFIG=str(tmp / "beat-panel.toml"),
                     BENCH_HEALTH_REDIS_PID=str(redis.pid)):
            stalls = run_worker("bench_health", "stalls", tmp, quick)

    base = timings.pop(baseline)
    rows = [timed_row(baseline, base, None, exact=all(base.results))]
    refresh_timing = timings["health: refresh, 2 workers"]
    ratio = refresh_timing.median_ms / base.median_ms
    exact = all(refresh_timing.results)
    rows.append(timed_row("health: refresh, 2 workers", refresh_timing, base,
                          f"≤ {REFRESH_MAX_RATIO:g}×",
                          passed=ratio <= REFRESH_MAX_RATIO and exact, exact=exact))
    first = timings["health: first check, no cache"]
    rows.append(timed_row("health: first check, no cache", first, base,
                          exact=all(first.results), note="information"))

    checks = hung["in"]
    unreachable = all(not h.broker.ok and "no answer" in (h.broker.error or "")
                      for h in checks.results)
    worst = max(checks.times_ms)
    rows.append(Row("health: broker hung, check()", checks.median_ms, checks.p95_ms,
                    len(checks.times_ms), None, f"all ≤ {HUNG_MAX_MS / 1000:g} s",
                    passed=worst <= HUNG_MAX_MS and unreachable, exact=unreachable,
                    note=f"slowest {worst / 1000:.2f} s"))
    cli = hung["cli"]
    cli_ok = all(r.get("broker", {}).get("ok") is False for r in cli.results)
    worst_cli = max(cli.times_ms)
    rows.append(Row("health: broker hung, beat-panel health", cli.median_ms, cli.p95_ms,
                    len(cli.times_ms), None, f"all ≤ {HUNG_MAX_MS / 1000:g} s",
                    passed=worst_cli <= HUNG_MAX_MS and cli_ok, exact=cli_ok,
                    note=f"slowest {worst_cli / 1000:.2f} s, Python start included"))
    return rows + _stall_rows(stalls)


def _write_schedule(tmp: Path) -> None:
    """A schedule for the window's beat: ENTRIES entries, none due during the run."""
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.store import ScheduleStore

    with (tmp / "beat-panel.toml").open("a") as fh:
        fh.write('pidfile = "beat.pid"\nlogfile = "beat.log"\n\n'
                 '[schedule]\nfile = "schedule.json"\n')
    ScheduleStore(tmp / "schedule.json").save(Document(tuple(
        Entry(f"entry-{n:02d}", f"{APP}.noop", Interval(1, "hours"))
        for n in range(ENTRIES))), None)


def _stall_times(folder: Path, quick: bool) -> dict[str, Any]:
    """In the worker: a window on the project with its beat running; rounds of "Check
    now" until the health answer has landed and every job it set off is done, with the
    broker up, then hung (SIGSTOP, continued at the end); each followed by idle time as
    long, the baseline."""
    from bench_stalls import Ticks

    from beat_panel.config import load_file
    from beat_panel.control.states import Action

    rounds = 3 if quick else 8
    redis_pid = int(os.environ["BENCH_HEALTH_REDIS_PID"])
    config = load_file(Path(os.environ["BENCH_HEALTH_CONFIG"]))
    out: dict[str, Any] = {key: {"stall": [], "took": [], "ok": []}
                           for key in ("idle", "up", "hung")}
    with panel_on(config, refresh_seconds=3600) as panel:
        monitor, runner = panel.monitor, panel.runner

        def settled() -> bool:
            return monitor.in_flight is None and not monitor.checking and not runner.busy

        window = panel.show_window()
        window.resize(1100, 680)
        wait(lambda: monitor.health is not None and settled(), what="the first health check")
        window.buttons[Action.START].click()  # a real beat, on the panel's schedule
        wait(lambda: monitor.running and settled(), what="beat to start")
        ticks = Ticks()
        ticks.timer.start()
        try:
            for key in ("up", "hung"):
                if key == "hung":
                    os.kill(redis_pid, signal.SIGSTOP)
                for _ in range(rounds):
                    seen: list[Any] = []
                    monitor.health_changed.connect(seen.append)
                    stall, took = ticks.span(window.header.check_now.click,
                                             lambda s=seen: bool(s) and settled(),
                                             "a health check")
                    monitor.health_changed.disconnect(seen.append)
                    right = seen[-1].broker.ok is (key == "up") and monitor.running
                    for name, value in (("stall", stall), ("took", took), ("ok", right)):
                        out[key][name].append(value)
                    until = time.perf_counter() + took / 1000
                    idle = ticks.span(lambda: None, lambda u=until: time.perf_counter() >= u,
                                      "idle time")
                    for name, value in (("stall", idle[0]), ("took", idle[1]), ("ok", True)):
                        out["idle"][name].append(value)
        finally:
            ticks.timer.stop()
            _continue(redis_pid)
    return out


def _stall_rows(out: dict[str, Any]) -> list[Row]:
    def timing(key: str) -> Timing[float]:
        return Timing(out[key]["stall"], out[key]["took"])

    base = timing("idle")
    rows = [timed_row("window: stall, idle (baseline)", base, None,
                      note="idle as long as each health check")]
    for key, name in (("up", "window: stall, Check now + health, broker up"),
                      ("hung", "window: stall, Check now + health, broker hung")):
        t = timing(key)
        exact = all(out[key]["ok"])
        worst = max(t.times_ms)
        answer = max(out[key]["took"])
        # The p95 of each check's longest stall, as bench_stalls judges a status refresh.
        passed = t.p95_ms <= STALL_MAX_MS and exact
        if key == "hung":
            passed = passed and answer <= HUNG_MAX_MS
        rows.append(timed_row(name, t, base, f"p95 ≤ {STALL_MAX_MS:g} ms"
                              + (f", answer ≤ {HUNG_MAX_MS / 1000:g} s" if key == "hung"
                                 else ""),
                              passed=passed, exact=exact,
                              note=f"max {worst:.1f} ms; answer in ≤ {answer / 1000:.2f} s"))
    return rows


def _continue(pid: int) -> None:
    """SIGCONT a redis-server this benchmark stopped (before it is killed)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


if __name__ == "__main__":
    sys.exit(worker_main({"stalls": _stall_times}))
