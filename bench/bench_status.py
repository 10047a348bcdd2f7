"""Status check vs naive pgrep, with 1,000 extra idle processes on the machine."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness import Row, Spawned, environ, measure, wait_for

IDLE_PROCESSES = 1000
APP = "benchapp"
PGREP = ["pgrep", "-f", "celery.*beat"]
FAST_PATH_MAX_MS = 1.0
SCAN_MAX_RATIO = 0.25

# A stand-in for `celery -A benchapp beat --pidfile=PATH`: writes its pidfile, then idles.
# Written into a file named `celery` after a `#!<this python>` line.
FAKE_CELERY = """\
import os
import sys
import time

pidfile = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--pidfile="))
with open(pidfile, "w") as fh:
    fh.write(f"{os.getpid()}\\n")
while True:
    time.sleep(3600)
"""


def _pgrep() -> list[int]:
    out = subprocess.run(PGREP, capture_output=True, check=False).stdout
    return [int(word) for word in out.split()]


def _start_fake_beat(spawned: Spawned, folder: Path) -> int:
    celery = folder / "celery"
    celery.write_text(f"#!{sys.executable}\n{FAKE_CELERY}")
    celery.chmod(0o755)
    pidfile = folder / "beat.pid"
    proc = spawned.popen(
        [str(celery), "-A", APP, "beat", f"--pidfile={pidfile}"], cwd=folder
    )

    def written() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"fake beat exited with {proc.returncode}")
        return pidfile.exists() and pidfile.read_text().endswith("\n")

    wait_for(written, timeout=15, what="the fake beat's pidfile")
    return proc.pid


def run(quick: bool) -> list[Row]:
    fast_runs, scan_runs = (50, 10) if quick else (200, 50)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        xdg = {name: tmp / name.lower() for name in ("XDG_STATE_HOME", "XDG_DATA_HOME",
                                                      "XDG_CONFIG_HOME")}
        stack.enter_context(environ(**{name: str(path) for name, path in xdg.items()}))
        spawned = Spawned()
        stack.callback(spawned.close)

        # Imported only now, so that it never sees the user's own folders.
        from beat_panel.config import BeatConfig, Config
        from beat_panel.control.status import check_status

        print(f"status: starting {IDLE_PROCESSES} idle processes and a fake beat…",
              file=sys.stderr)
        for _ in range(IDLE_PROCESSES):
            spawned.popen(["sleep", "600"])
        beat_pid = _start_fake_beat(spawned, tmp)

        beat = BeatConfig(app=APP, workdir=tmp, command=(str(tmp / "celery"),),
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
