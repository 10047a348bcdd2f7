"""The window's process: launch to the first painted frame, and resident memory once
idle, each against a bare PySide6 QMainWindow measured in the same run.

Both start fresh processes with offscreen Qt and their own XDG folders (see
`qtworker.qt_env`): the launches and `beat-panel gui` as they are."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from harness import Row, Spawned, Timing, rounds, timed_row
from qtworker import qt_env

LAUNCH_MAX_RATIO = 3.0
RSS_MAX_MIB = 120.0

CHILD_TIMEOUT_S = 60.0
SETTLE_MIN_S = 5.0  # memory: read no sooner than this after the start…
SETTLE_STEADY_S = 2.0  # …and once RSS has not grown for this long
SETTLE_MAX_S = 30.0
SETTLE_POLL_S = 0.25

# Started as `python CHILD bare|panel [hold]` in a fresh process. `bare` shows a bare
# QMainWindow; `panel` runs `beat-panel gui` (cli.main, as the console script does) with
# an event filter put on each MainWindow as it is made. It prints `imported`, `shown`
# and `painted` with time.time(): `painted` once the window's first frame is done (a
# zero timer queued by the window's first Paint event runs after the whole
# backing-store sync). Then it closes the window and quits, or with `hold` stays idle
# until it is terminated.
CHILD = """\
import sys
import time

mode = sys.argv[1]
hold = sys.argv[2:] == ["hold"]
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

if mode == "panel":
    from beat_panel import cli
    from beat_panel.ui import app as ui_app
    from beat_panel.ui.window import main_window
print(f"imported {time.time():.6f}", flush=True)


class FirstPaint(QObject):
    window = None
    painted = False

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind == QEvent.Type.Show and self.window is None:
            self.window = obj
            print(f"shown {time.time():.6f}", flush=True)
        elif kind == QEvent.Type.Paint and obj is self.window and not self.painted:
            self.painted = True
            QTimer.singleShot(0, self.done)
        return False

    def done(self):
        print(f"painted {time.time():.6f}", flush=True)
        if not hold:
            self.window.close()
            QApplication.instance().quit()


first_paint = FirstPaint()
if mode == "panel":
    made = main_window.MainWindow.__init__

    def watched(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self.installEventFilter(first_paint)

    main_window.MainWindow.__init__ = watched
    sys.exit(cli.main(["gui"]))
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1100, 680)
window.installEventFilter(first_paint)
window.show()
sys.exit(app.exec())
"""


# ---------------------------------------------------------------------------
# 1. Launch to the first painted frame, vs a bare QMainWindow
# ---------------------------------------------------------------------------


def _launch_once(spawned: Spawned, child: Path, mode: str, env: dict[str, str],
                 cwd: Path) -> dict[str, float]:
    """Start a fresh `python CHILD mode`; return ms from just before Popen to each stamp,
    and its exit code."""
    start = time.time()
    proc = spawned.popen([sys.executable, str(child), mode], env=env, cwd=cwd,
                         stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        spawned.end(proc)
        raise RuntimeError(f"the {mode} window did not paint and exit within "
                           f"{CHILD_TIMEOUT_S:g} s") from None
    spawned.end(proc)
    stamps = {"exit": float(proc.returncode)}
    for line in out.splitlines():
        word, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            stamps[word] = (float(value) - start) * 1000
    if "painted" not in stamps:
        raise RuntimeError(f"the {mode} window exited with {proc.returncode} "
                           f"before painting: {out[-500:]!r}")
    return stamps


def _launch_rows(tmp: Path, quick: bool) -> list[Row]:
    runs = 3 if quick else 7
    folder = tmp / "launch"
    folder.mkdir()
    child = folder / "child.py"
    child.write_text(CHILD)
    env = qt_env(folder, tmp)
    spawned = Spawned()
    try:
        print(f"window: timing {runs} launches each of a bare window and the panel…",
              file=sys.stderr)
        for mode in ("bare", "panel"):  # warm-up: file cache, the demo folder, settings
            _launch_once(spawned, child, mode, env, folder)
        stamps: dict[str, list[dict[str, float]]] = {"bare": [], "panel": []}
        for mode in rounds(["bare", "panel"], runs):
            stamps[mode].append(_launch_once(spawned, child, mode, env, folder))
    finally:
        spawned.close()

    def timing(mode: str) -> Timing[dict[str, float]]:
        return Timing([s["painted"] for s in stamps[mode]], stamps[mode])

    def note(mode: str) -> str:
        imported = statistics.median(s["imported"] for s in stamps[mode])
        shown = statistics.median(s["shown"] - s["imported"] for s in stamps[mode])
        painted = statistics.median(s["painted"] - s["shown"] for s in stamps[mode])
        text = f"imports {imported:.0f} + to shown {shown:.0f} + to painted {painted:.0f} ms"
        codes = sorted({int(s["exit"]) for s in stamps[mode]} - {0})
        if codes:  # it painted, but did not exit cleanly afterwards
            text += f"; exit code {'/'.join(map(str, codes))} after closing"
        return text

    base, panel = timing("bare"), timing("panel")
    ratio = panel.median_ms / base.median_ms
    return [
        timed_row("window: launch, bare QMainWindow (baseline)", base, None, note=note("bare")),
        timed_row("window: launch to painted window", panel, base,
                  f"≤ {LAUNCH_MAX_RATIO:g}×", passed=ratio <= LAUNCH_MAX_RATIO,
                  note=note("panel")),
    ]


# ---------------------------------------------------------------------------
# 2. Resident memory once idle, vs a bare QMainWindow process
# ---------------------------------------------------------------------------


def _settled_rss(procs: dict[str, subprocess.Popen[str]]) -> dict[str, float]:
    """RSS (MiB) of each process once it has run SETTLE_MIN_S and its RSS has not grown
    for SETTLE_STEADY_S (at the latest after SETTLE_MAX_S)."""
    started = time.monotonic()
    watched = {name: psutil.Process(proc.pid) for name, proc in procs.items()}
    peak: dict[str, tuple[int, float]] = {name: (0, started) for name in procs}  # rss, when
    settled: dict[str, float] = {}
    while len(settled) < len(procs):
        now = time.monotonic()
        for name, proc in watched.items():
            if name in settled:
                continue
            if procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {procs[name].returncode} while idle")
            rss = proc.memory_info().rss
            if rss > peak[name][0]:
                peak[name] = (rss, now)
            steady = now - peak[name][1] >= SETTLE_STEADY_S
            if now - started >= SETTLE_MAX_S or (now - started >= SETTLE_MIN_S and steady):
                settled[name] = rss / 2**20
        time.sleep(SETTLE_POLL_S)
    return settled


def _memory_rows(tmp: Path, quick: bool) -> list[Row]:
    runs = 1 if quick else 3
    folder = tmp / "memory"
    folder.mkdir()
    child = folder / "child.py"
    child.write_text(CHILD)
    base_name, gui_name = "bare window", "beat-panel gui"
    sizes: dict[str, list[float]] = {base_name: [], gui_name: []}
    spawned = Spawned()
    print(f"window: reading the idle RSS of a bare window and `beat-panel gui` ({runs}×)…",
          file=sys.stderr)
    try:
        for i in range(runs):
            # Fresh folders each time: the gui's first start writes the demo project.
            run_folder = folder / f"run-{i}"
            run_folder.mkdir()
            env = qt_env(run_folder, tmp)
            procs = {  # side by side: RSS does not depend on timing
                base_name: spawned.popen([sys.executable, str(child), "bare", "hold"],
                                         env=env, cwd=run_folder),
                gui_name: spawned.popen([sys.executable, "-m", "beat_panel", "gui"],
                                       env=env, cwd=run_folder),
            }
            for name, rss in _settled_rss(procs).items():
                sizes[name].append(rss)
            for proc in procs.values():
                spawned.end(proc)
    finally:
        spawned.close()
    base, gui = Timing(sizes[base_name], []), Timing(sizes[gui_name], [])
    return [
        timed_row("window: idle RSS MiB, bare window (baseline)", base, None,
                  note="MiB, not ms"),
        timed_row("window: idle RSS MiB, beat-panel gui", gui, base,
                  f"≤ {RSS_MAX_MIB:g} MiB", passed=gui.median_ms <= RSS_MAX_MIB,
                  note=f"MiB, not ms; {gui.median_ms - base.median_ms:+.1f} over bare"),
    ]


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bp-bench-") as name:
        tmp = Path(name)
        return [*_launch_rows(tmp, quick), *_memory_rows(tmp, quick)]
