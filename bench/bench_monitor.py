"""The beat monitor: time from a known beat's death (kill -9) to both faces, the window's
badge and the tray icon, showing it stopped; against the same panel with its death
watch switched off, where only the full scan on the refresh timer notices.

Measured in a worker (`qtworker`) that holds a real `Panel` with its window and tray
(offscreen) on a project whose beat is the fake `celery` (harness.FAKE_CELERY), started
each time through the window's Start button, as a person does. Its idle CPU cost with a
beat running is a row of the tray benchmark (`bench_tray.py`), which idles under X."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import Row, Timing, rounds, spread_phases, timed_row
from qtworker import fake_beat_panel, run_worker, wait, worker_main

SHOWN_P95_MAX_MS = 2000.0
REFRESH_S = 30  # the panel's default refresh interval
WATCH, TIMER = "watch", "timer"


def _death_times(folder: Path, quick: bool) -> dict[str, Any]:
    """In the worker: start the fake beat from the window, kill -9 it, time until the
    window and the tray both show it stopped; with the death watch on and off."""
    from beat_panel.control.states import Action

    runs = {WATCH: 5, TIMER: 2} if quick else {WATCH: 20, TIMER: 6}
    out: dict[str, Any] = {case: {"shown": [], "ok": []} for case in runs}
    phases = spread_phases(runs[TIMER], REFRESH_S * 1000)  # remaining ms at each kill
    with fake_beat_panel(folder, refresh_seconds=REFRESH_S) as panel:
        monitor, runner = panel.monitor, panel.runner
        window, tray = panel.show_window(), panel.add_tray()
        ended: list[int] = []  # pids the death watch reported
        monitor.watch.ended.connect(ended.append)

        def settled() -> bool:
            return monitor.in_flight is None and not monitor.checking and not runner.busy

        def faces(badge: str, key: str) -> bool:
            return window.badge.text() == badge and tray.state_key == key

        wait(lambda: monitor.status is not None and settled(), what="the first status check")
        for case in rounds(list(runs), runs):
            if case == TIMER:  # the death watch switched off: it never watches a pid
                monitor.watch.watch = lambda beats: None
                monitor.watch.clear()
            elif "watch" in vars(monitor.watch):
                del monitor.watch.watch
            started: list[Any] = []

            def finished(result: Any, _origin: Any, s: list[Any] = started) -> None:
                s.append(result)

            monitor.action_finished.connect(finished)
            window.buttons[Action.START].click()
            wait(lambda s=started: bool(s) and settled(), what="beat to start")
            monitor.action_finished.disconnect(finished)
            if not started[0].success:
                raise RuntimeError(f"the fake beat did not start: {started[0].message}")
            (pid,) = started[0].new_pids
            wait(lambda: faces("✓ Active", "running") and settled(),
                 what="both faces to show beat running")
            if case == WATCH:
                wait(lambda p=pid: monitor.watch.pids == [p], what="the watch on beat")
            else:  # wait for this run's point of the refresh cycle
                remaining = phases.pop()
                if monitor.timer.remainingTime() < remaining:
                    wait(lambda r=remaining: monitor.timer.remainingTime() > r,
                         timeout=REFRESH_S + 10, what="the next refresh cycle")
                wait(lambda r=remaining: monitor.timer.remainingTime() <= r,
                     timeout=REFRESH_S + 10, what="the phase to kill at")
            ended.clear()
            start = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            wait(lambda: faces("⚠ Stopped", "stopped"), timeout=2 * REFRESH_S + 10,
                 what="both faces to show beat stopped")
            out[case]["shown"].append((time.perf_counter() - start) * 1000)
            wait(settled, what="the check and the history after the death")
            watched = ended == [pid] if case == WATCH else ended == []
            out[case]["ok"].append(watched and not monitor.running)
    return out


def run(quick: bool) -> list[Row]:
    print(f"monitor: kill -9 of a known beat until the window and the tray show it, with "
          f"the death watch and without it ({REFRESH_S} s refresh; about "
          f"{'1' if quick else '3'} min)…", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bp-bench-") as name:
        out = run_worker("bench_monitor", "death", Path(name), quick)
    base = Timing(out[TIMER]["shown"], out[TIMER]["ok"])
    shown = Timing(out[WATCH]["shown"], out[WATCH]["ok"])
    base_exact, exact = all(base.results), all(shown.results)
    return [
        timed_row("monitor: death shown, refresh timer only (baseline)", base, None,
                  exact=base_exact, note=f"death watch off; kills spread over the "
                                         f"{REFRESH_S} s refresh cycle"),
        timed_row("monitor: kill -9 → window and tray show it", shown, base,
                  f"p95 ≤ {SHOWN_P95_MAX_MS:g} ms",
                  passed=shown.p95_ms <= SHOWN_P95_MAX_MS and exact, exact=exact,
                  note=f"pidfd death watch; max {max(shown.times_ms):.0f} ms"),
    ]


if __name__ == "__main__":
    sys.exit(worker_main({"death": _death_times}))
