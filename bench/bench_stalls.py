"""Event-loop stalls: the longest gap between the ticks of a 1 ms timer in the panel's
own process while the window runs a status refresh and a restart, against the same
timer while idle for as long.

Measured in a worker (`qtworker`) that holds a real `Panel` with its window on a project
whose beat is the fake `celery` (harness.FAKE_CELERY)."""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Row, Timing, timed_row
from qtworker import fake_beat_panel, pump, run_worker, wait, worker_main

STALL_MAX_MS = 16.0


class Ticks:
    """A 1 ms timer; `span` gives the longest gap between its ticks during an operation."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.stamps: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))

    def span(self, trigger: Callable[[], None], done: Callable[[], bool],
             what: str) -> tuple[float, float]:
        """(longest gap in ms, duration in ms) from `trigger()` until `done()`; the
        trigger's own time counts, as the start of the first gap."""
        pump(0.02)  # let the timer settle into its rhythm
        self.stamps.clear()
        start = time.perf_counter()
        trigger()
        wait(done, what=what)
        end = time.perf_counter()
        points = [start, *[t for t in self.stamps if start < t < end], end]
        longest = max(b - a for a, b in itertools.pairwise(points))
        return longest * 1000, (end - start) * 1000


def _stall_times(folder: Path, quick: bool) -> dict[str, Any]:
    """In the worker: idle / status refresh / restart rounds with a 1 ms timer running."""
    from beat_panel.control.states import Action

    rounds = 4 if quick else 12
    out: dict[str, Any] = {key: {"stall": [], "took": [], "ok": []}
                           for key in ("idle", "refresh", "restart")}

    def record(key: str, stall_took: tuple[float, float], ok: bool = True) -> None:
        out[key]["stall"].append(stall_took[0])
        out[key]["took"].append(stall_took[1])
        out[key]["ok"].append(ok)

    with fake_beat_panel(folder, refresh_seconds=3600) as panel:
        monitor, runner = panel.monitor, panel.runner

        def settled() -> bool:
            """Nothing in flight: no check, no action, no job (the history read too)."""
            return monitor.in_flight is None and not monitor.checking and not runner.busy

        def running_once() -> bool:
            return monitor.status is not None and len(monitor.status.pids) == 1

        window = panel.show_window()
        window.resize(1100, 680)
        wait(lambda: monitor.status is not None and settled(), what="the first status check")
        window.buttons[Action.START].click()  # the fake beat
        wait(lambda: monitor.running and settled(), what="the window to see the fake beat")
        ticks = Ticks()
        ticks.timer.start()
        try:
            for _ in range(rounds):
                changes: list[None] = []

                def changed(c: list[None] = changes) -> None:
                    c.append(None)

                monitor.changed.connect(changed)
                stall = ticks.span(window.header.check_now.click,
                                   lambda c=changes: bool(c) and settled(), "a status refresh")
                monitor.changed.disconnect(changed)
                record("refresh", stall, running_once())

                results: list[Any] = []

                def finished(result: Any, _origin: Any, r: list[Any] = results) -> None:
                    r.append(result)

                monitor.action_finished.connect(finished)
                stall = ticks.span(window.buttons[Action.RESTART].click,
                                   lambda r=results: bool(r) and settled(), "a restart")
                monitor.action_finished.disconnect(finished)
                record("restart", stall, results[0].success and running_once())

                # The baseline: idle for as long as that restart took.
                until = time.perf_counter() + stall[1] / 1000
                record("idle", ticks.span(lambda: None,
                                          lambda u=until: time.perf_counter() >= u, "idle time"))
        finally:
            ticks.timer.stop()
    return out


def run(quick: bool) -> list[Row]:
    print(f"stalls: idle / status refresh / restart, {4 if quick else 12} rounds with a "
          "1 ms timer…", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bp-bench-") as name:
        out = run_worker("bench_stalls", "stall", Path(name), quick)

    def timing(key: str) -> Timing[float]:
        return Timing(out[key]["stall"], out[key]["took"])

    def took(key: str) -> str:
        return f"op {statistics.median(out[key]['took']):.0f} ms"

    base = timing("idle")
    rows = [timed_row("window: stall, idle (baseline)", base, None,
                      note=f"idle as long as each restart; {took('idle')}")]
    for key, name in (("refresh", "window: stall, status refresh"),
                      ("restart", "window: stall, restart")):
        t = timing(key)
        exact = all(out[key]["ok"])
        rows.append(timed_row(name, t, base, f"p95 ≤ {STALL_MAX_MS:g} ms",
                              passed=t.p95_ms <= STALL_MAX_MS and exact, exact=exact,
                              note=f"{took(key)}; max {max(t.times_ms):.1f} ms"))
    return rows


if __name__ == "__main__":
    sys.exit(worker_main({"stall": _stall_times}))
