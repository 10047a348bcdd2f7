"""The activity log: reading the window's Activity tab from a log of the usual size vs
one grown to 1 GB (read from its end only, so it costs the same)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from harness import Row, environ, measure, timed_row, xdg_dirs

from beat_panel.control import activity

HUGE_BYTES = 1 << 30
HUGE_MAX_RATIO = 2.0


def _write_log(path: Path, hole: int) -> None:
    """MAX_LINES events, after a sparse `hole` of that many bytes (a log grown huge)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = b"".join(
        (json.dumps({"at": float(i), "project": "p", "what": "save", "success": True,
                     "message": f"Schedule revision {i}: saved."}) + "\n").encode()
        for i in range(activity.MAX_LINES))
    with open(path, "wb") as fh:
        fh.truncate(hole)
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n" + lines)


def run(quick: bool) -> list[Row]:
    print("activity: read the Activity tab from a usual log and a 1 GB one…", file=sys.stderr)
    runs = 10 if quick else 40
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        small, huge = tmp / "small", tmp / "huge"
        for folder, hole in ((small, 0), (huge, HUGE_BYTES)):
            with environ(**xdg_dirs(folder)):
                _write_log(activity.activity_file(), hole)

        def reader(folder: Path):
            def read() -> int:
                with environ(**xdg_dirs(folder)):
                    return len(activity.read("p"))
            return read

        timings = measure({"small": (reader(small), runs), "huge": (reader(huge), runs)})
    base, big = timings["small"], timings["huge"]
    ratio = big.median_ms / base.median_ms
    return [
        timed_row(f"activity: read, {activity.MAX_LINES} events (baseline)", base, None,
                  exact=all(n == 500 for n in base.results)),
        timed_row("activity: read, same events in a 1 GB log", big, base,
                  target=f"≤ {HUGE_MAX_RATIO:g}× baseline", passed=ratio <= HUGE_MAX_RATIO,
                  exact=all(n == 500 for n in big.results)),
    ]
