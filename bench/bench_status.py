"""Status check vs naive pgrep, with 1,000 extra idle processes on the machine."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness import FAKE_APP, Row, Spawned, environ, measure, start_fake_beat, xdg_dirs

IDLE_PROCESSES = 1000
PGREP = ["pgrep", "-f", "celery.*beat"]
FAST_PATH_MAX_MS = 1.0
SCAN_MAX_RATIO = 0.25


def _pgrep() -> list[int]:
    out = subprocess.run(PGREP, capture_output=True, check=False).stdout
    return [int(word) for word in out.split()]


def run(quick: bool) -> list[Row]:
    fast_runs, scan_runs = (50, 10) if quick else (200, 50)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        stack.enter_context(environ(**xdg_dirs(tmp)))
        spawned = Spawned()
        stack.callback(spawned.close)

        # Imported only now, so that it never sees the user's own folders.
        from beat_panel.config import BeatConfig, Config
        from beat_panel.control.status import check_status

        print(f"status: starting {IDLE_PROCESSES} idle processes and a fake beat…",
              file=sys.stderr)
        for _ in range(IDLE_PROCESSES):
            spawned.popen(["sleep", "600"])
        beat_pid = start_fake_beat(spawned, tmp).pid

        beat = BeatConfig(app=FAKE_APP, workdir=tmp, command=(str(tmp / "celery"),),
                          pidfile=tmp / "beat.pid", logfile=tmp / "beat.log")
        cfg = Config(beat=beat, path=None)
        cfg_nopid = Config(beat=dataclasses.replace(beat, pidfile=None), path=None)

        def status(config: Config, full_scan: bool, scan: str) -> Callable[[], list[int]]:
            def check() -> list[int]:
                answer = check_status(config, full_scan=full_scan)
                if answer.scan != scan:
                    raise RuntimeError(f"expected a {scan!r} check, got {answer.scan!r}")
                return answer.pids
            return check

        fast = (f"≤ {FAST_PATH_MAX_MS:g} ms", lambda median, _: median <= FAST_PATH_MAX_MS)
        scan = (f"≤ {SCAN_MAX_RATIO:g}×", lambda _, ratio: ratio <= SCAN_MAX_RATIO)
        baseline = "status: pgrep -f (baseline)"
        cases = {
            baseline: (_pgrep, scan_runs),
            "status: pidfile fast path": (status(cfg, False, "pidfile"), fast_runs),
            "status: full scan, with pidfile": (status(cfg, True, "full"), scan_runs),
            "status: full scan, no pidfile": (status(cfg_nopid, True, "full"), scan_runs),
        }
        targets: dict[str, tuple[str, Callable[[float, float], bool]]] = {
            "status: pidfile fast path": fast,
            "status: full scan, with pidfile": scan,
            "status: full scan, no pidfile": scan,
        }
        print("status: measuring…", file=sys.stderr)
        timings = measure(cases)

    base = timings.pop(baseline)
    counts = "/".join(str(n) for n in sorted({len(pids) for pids in base.results}))
    rows = [Row(baseline, base.median_ms, base.p95_ms, len(base.times_ms), ratio=1.0,
                exact=all(pids == [beat_pid] for pids in base.results),
                note=f"found {counts} pid{'' if counts == '1' else 's'}")]
    for name, timing in timings.items():
        ratio = timing.median_ms / base.median_ms
        exact = all(pids == [beat_pid] for pids in timing.results)
        label, meets = targets[name]
        rows.append(Row(name, timing.median_ms, timing.p95_ms, len(timing.times_ms), ratio,
                        label, passed=meets(timing.median_ms, ratio) and exact, exact=exact))
    return rows
