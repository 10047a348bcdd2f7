"""The window: launch to first paint, memory when idle, the longest event-loop stall
during a status refresh and a restart, and 10,000 entries in the schedule editor.

Everything Qt runs in fresh processes with offscreen Qt and their own XDG folders: the
launches and `beat-panel gui` as they are, the stall and editor measurements in a worker
(this file run as `bench_window.py --worker PART FOLDER full|quick`) that holds the
QApplication, the window and the timers, and prints its raw timings as JSON."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from harness import Row, Timing

XDG = ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
LAUNCH_MAX_RATIO = 3.0
RSS_MAX_MIB = 120.0
STALL_MAX_MS = 16.0
OPEN_MAX_MS = 500.0
FILTER_MAX_MS = 50.0
BIG_ENTRIES = 10_000

CHILD_TIMEOUT_S = 60.0
WORKER_TIMEOUT_S = 600.0
SETTLE_MIN_S = 5.0  # memory: read no sooner than this after the start…
SETTLE_STEADY_S = 2.0  # …and once RSS has not grown for this long
SETTLE_MAX_S = 30.0
SETTLE_POLL_S = 0.25
WAIT_TIMEOUT_S = 60.0

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

# A stand-in for `celery -A benchapp beat --pidfile=PATH`: writes its pidfile, idles, and
# on SIGTERM removes the pidfile and exits 0, like beat.
FAKE_CELERY = """\
import os
import signal
import sys
import time

pidfile = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--pidfile="))


def on_term(signum, frame):
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
with open(pidfile, "w") as fh:
    fh.write(f"{os.getpid()}\\n")
while True:
    time.sleep(3600)
"""


def _env(folder: Path, tmp: Path) -> dict[str, str]:
    """This process's environment with offscreen Qt, XDG folders in `folder`, and
    bytecode cached in `tmp`/pycache (also where PYTHONDONTWRITEBYTECODE is set: an
    installed panel starts from cached bytecode, not by compiling its source)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BEAT_PANEL_CONFIG", "BEAT_PANEL_SCHEDULE", "BEAT_PANEL_DEMO_DIR",
                        "PYTHONDONTWRITEBYTECODE")}
    env.update({name: str(folder / name.lower()) for name in XDG})
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM one process by pid, SIGKILL it if it stays; reap it if it is our child."""
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    except (psutil.NoSuchProcess, ChildProcessError):
        pass


class _Children:
    """Processes started here; `end` and `close` end each one, and whatever it started
    that still runs, by pid."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def popen(self, argv: list[str], env: dict[str, str], cwd: Path,
              stdout: Any = subprocess.DEVNULL,
              stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr, text=True)
        self.procs.append(proc)
        return proc

    def end(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in psutil.Process(proc.pid).children(recursive=True):
                    _stop_pid(child.pid, timeout=5)
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        proc.wait()
        with contextlib.suppress(ValueError):
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in list(self.procs):
            self.end(proc)


def _rounds(names: list[str], runs: int) -> Iterator[str]:
    """Each name `runs` times, in rounds, shuffled within each round (seeded)."""
    order = list(names)
    shuffle = random.Random(0).shuffle
    for _ in range(runs):
        shuffle(order)
        yield from order


def _row(name: str, timing: Timing[Any], base: Timing[Any] | None, target: str = "—",
         passed: bool | None = None, exact: bool | None = None, note: str = "") -> Row:
    """A row; its ratio is its median / the baseline's median (1 for a baseline)."""
    ratio = 1.0 if base is None else timing.median_ms / base.median_ms
    return Row(name, timing.median_ms, timing.p95_ms, len(timing.times_ms), ratio, target,
               passed, exact, note)


# ---------------------------------------------------------------------------
# 1. Launch to the first painted frame, vs a bare QMainWindow
# ---------------------------------------------------------------------------


def _launch_once(children: _Children, child: Path, mode: str, env: dict[str, str],
                 cwd: Path) -> dict[str, float]:
    """Start a fresh `python CHILD mode`; return ms from just before Popen to each stamp,
    and its exit code."""
    start = time.time()
    proc = children.popen([sys.executable, str(child), mode], env, cwd, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        children.end(proc)
        raise RuntimeError(f"the {mode} window did not paint and exit within "
                           f"{CHILD_TIMEOUT_S:g} s") from None
    children.end(proc)
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
    env = _env(folder, tmp)
    children = _Children()
    try:
        print(f"window: timing {runs} launches each of a bare window and the panel…",
              file=sys.stderr)
        for mode in ("bare", "panel"):  # warm-up: file cache, the demo folder, settings
            _launch_once(children, child, mode, env, folder)
        stamps: dict[str, list[dict[str, float]]] = {"bare": [], "panel": []}
        for mode in _rounds(["bare", "panel"], runs):
            stamps[mode].append(_launch_once(children, child, mode, env, folder))
    finally:
        children.close()

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
        _row("window: launch, bare QMainWindow (baseline)", base, None, note=note("bare")),
        _row("window: launch to painted window", panel, base, f"≤ {LAUNCH_MAX_RATIO:g}×",
             passed=ratio <= LAUNCH_MAX_RATIO, note=note("panel")),
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
    children = _Children()
    print(f"window: reading the idle RSS of a bare window and `beat-panel gui` ({runs}×)…",
          file=sys.stderr)
    try:
        for i in range(runs):
            # Fresh folders each time: the gui's first start writes the demo project.
            run_folder = folder / f"run-{i}"
            run_folder.mkdir()
            env = _env(run_folder, tmp)
            procs = {  # side by side: RSS does not depend on timing
                base_name: children.popen([sys.executable, str(child), "bare", "hold"],
                                          env, run_folder),
                gui_name: children.popen([sys.executable, "-m", "beat_panel", "gui"],
                                         env, run_folder),
            }
            for name, rss in _settled_rss(procs).items():
                sizes[name].append(rss)
            for proc in procs.values():
                children.end(proc)
    finally:
        children.close()
    base, gui = Timing(sizes[base_name], []), Timing(sizes[gui_name], [])
    return [
        _row("window: idle RSS MiB, bare window (baseline)", base, None,
             note="MiB, not ms"),
        _row("window: idle RSS MiB, beat-panel gui", gui, base, f"≤ {RSS_MAX_MIB:g} MiB",
             passed=gui.median_ms <= RSS_MAX_MIB,
             note=f"MiB, not ms; {gui.median_ms - base.median_ms:+.1f} over bare"),
    ]


# ---------------------------------------------------------------------------
# The worker: stalls and the editor, measured inside the window's own process
# ---------------------------------------------------------------------------


def _in_worker(part: str, tmp: Path, quick: bool) -> dict[str, Any]:
    """Run `bench_window.py --worker PART` in a fresh process; return its JSON."""
    folder = tmp / part
    folder.mkdir()
    log = folder / "worker.log"  # its stderr: Qt's warnings, or a traceback
    children = _Children()
    try:
        with open(log, "w") as err:
            proc = children.popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", part,
                 str(folder), "quick" if quick else "full"],
                _env(folder, tmp), folder, stdout=subprocess.PIPE, stderr=err)
            try:
                out, _ = proc.communicate(timeout=WORKER_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                out = ""
    finally:
        children.close()  # and what it started (the fake beat), by pid
        _stop_leftover_beat(folder)
    if proc.returncode != 0 or not out.strip():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"the {part} worker failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _stop_leftover_beat(folder: Path) -> None:
    """If the stall worker died without stopping its fake beat, stop it by its pid."""
    pidfile = folder / "beat.pid"
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        pid = int(pidfile.read_text().strip())
        if str(folder / "celery") in " ".join(psutil.Process(pid).cmdline()):
            _stop_pid(pid)


def _shield_singletons() -> None:
    """Work around a reference-count bug of PySide6 6.12.0 on CPython 3.11 and older
    (see the README): each void Qt method called from Python drops a reference to
    None, and each `Signal.emit` from Python one to True, so the worker would abort
    ('Fatal Python error: none_dealloc / bool_dealloc') after a few thousand calls.
    Give the three singletons references that are never released; they are immortal
    from 3.12 on (PEP 683) and need nothing there."""
    if sys.version_info >= (3, 12):
        return
    import ctypes

    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 30


def _wait(done: Callable[[], bool], timeout: float = WAIT_TIMEOUT_S,
          what: str = "the window") -> None:
    """Run the event loop until `done()` (polled every millisecond) or time out."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    if done():
        return
    loop = QEventLoop()
    poll = QTimer()
    poll.setTimerType(Qt.TimerType.PreciseTimer)
    poll.setInterval(1)
    poll.timeout.connect(lambda: loop.quit() if done() else None)
    limit = QTimer()
    limit.setSingleShot(True)
    limit.timeout.connect(loop.quit)
    poll.start()
    limit.start(int(timeout * 1000))
    loop.exec()
    poll.stop()
    limit.stop()
    if not done():
        raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def _pump(seconds: float) -> None:
    """Run the event loop for `seconds`."""
    until = time.perf_counter() + seconds
    _wait(lambda: time.perf_counter() >= until, timeout=seconds + WAIT_TIMEOUT_S)


# ---------------------------------------------------------------------------
# 3. The longest event-loop stall during a status refresh and a restart
# ---------------------------------------------------------------------------


class _Ticks:
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
        _pump(0.02)  # let the timer settle into its rhythm
        self.stamps.clear()
        start = time.perf_counter()
        trigger()
        _wait(done, what=what)
        end = time.perf_counter()
        points = [start, *[t for t in self.stamps if start < t < end], end]
        longest = max(b - a for a, b in itertools.pairwise(points))
        return longest * 1000, (end - start) * 1000


def _stall_times(folder: Path, quick: bool) -> dict[str, Any]:
    """In the worker: idle / status refresh / restart rounds with a 1 ms timer running."""
    from beat_panel.config import BeatConfig, Config
    from beat_panel.control import actions
    from beat_panel.control.status import check_status
    from beat_panel.ui.dialogs import Dialogs, Prompt
    from beat_panel.ui.window.main_window import MainWindow

    class Answered(Dialogs):
        """Every message box is answered "ok" without being shown."""

        def launch(self, prompt: Prompt) -> str:
            return "ok"

    rounds = 4 if quick else 12
    fake = folder / "celery"
    fake.write_text(f"#!{sys.executable}\n{FAKE_CELERY}")
    fake.chmod(0o755)
    config = Config(beat=BeatConfig(app="benchapp", workdir=folder, command=(str(fake),),
                                    pidfile=folder / "beat.pid", logfile=folder / "beat.log",
                                    start_settle=0.5, stop_timeout=5), path=None)
    window = MainWindow(config, dialogs=Answered(), refresh_seconds=3600)
    ticks = _Ticks()
    out: dict[str, Any] = {key: {"stall": [], "took": [], "ok": []}
                           for key in ("idle", "refresh", "restart")}

    def record(key: str, stall_took: tuple[float, float], ok: bool = True) -> None:
        out[key]["stall"].append(stall_took[0])
        out[key]["took"].append(stall_took[1])
        out[key]["ok"].append(ok)

    try:
        window.resize(1100, 680)
        window.show()
        window.start()
        _wait(lambda: window.status is not None and not window.runner.busy,
              what="the first status check")
        started = actions.start(config)
        if not started.success:
            raise RuntimeError(f"the fake beat did not start: {started.message}")
        window.refresh()
        _wait(lambda: bool(window.status and window.status.running)
              and not window.runner.busy, what="the window to see the fake beat")
        ticks.timer.start()
        for _ in range(rounds):
            statuses: list[Any] = []
            window.status_changed.connect(statuses.append)
            stall = ticks.span(window.refresh,
                               lambda s=statuses: bool(s) and not window.runner.busy,
                               "a status refresh")
            window.status_changed.disconnect(statuses.append)
            record("refresh", stall, len(statuses[0].pids) == 1)

            results: list[Any] = []
            window.action_finished.connect(results.append)
            stall = ticks.span(lambda: window.run_action("restart"),
                               lambda r=results: bool(r) and not window.runner.busy,
                               "a restart")
            window.action_finished.disconnect(results.append)
            record("restart", stall, results[0].success and window.status is not None
                   and len(window.status.pids) == 1)

            # The baseline: idle for as long as that restart took.
            until = time.perf_counter() + stall[1] / 1000
            record("idle", ticks.span(lambda: None, lambda u=until: time.perf_counter() >= u,
                                      "idle time"))
    finally:
        ticks.timer.stop()
        window.timer.stop()
        window.log_view.timer.stop()
        window.runner.wait()
        for pid in check_status(config).pids:  # the beat started or restarted here
            _stop_pid(pid)
        window.close()
    return out


def _stall_rows(tmp: Path, quick: bool) -> list[Row]:
    print(f"window: idle / status refresh / restart, {4 if quick else 12} rounds with a "
          "1 ms timer…", file=sys.stderr)
    out = _in_worker("stall", tmp, quick)

    def timing(key: str) -> Timing[float]:
        return Timing(out[key]["stall"], out[key]["took"])

    def took(key: str) -> str:
        return f"op {statistics.median(out[key]['took']):.0f} ms"

    base = timing("idle")
    rows = [_row("window: stall, idle (baseline)", base, None,
                 note=f"idle as long as each restart; {took('idle')}")]
    for key, name in (("refresh", "window: stall, status refresh"),
                      ("restart", "window: stall, restart")):
        t = timing(key)
        exact = all(out[key]["ok"])
        rows.append(_row(name, t, base, f"p95 ≤ {STALL_MAX_MS:g} ms",
                         passed=t.p95_ms <= STALL_MAX_MS and exact, exact=exact,
                         note=f"{took(key)}; max {max(t.times_ms):.1f} ms"))
    return rows


# ---------------------------------------------------------------------------
# 4. 10,000 entries in the schedule editor: open and filter
# ---------------------------------------------------------------------------


class _Painted:
    """Counts Paint events of some widgets; `frame` is when (perf_counter) the frame
    holding the latest paint was done (a zero timer runs after the whole sync)."""

    def __init__(self, *widgets: Any) -> None:
        from PySide6.QtCore import QEvent, QObject, QTimer

        watcher = self

        class Filter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    watcher.paints[obj] = watcher.paints.get(obj, 0) + 1
                    if not watcher.pending:
                        watcher.pending = True
                        QTimer.singleShot(0, watcher.done)
                return False

        self.paints: dict[Any, int] = {}
        self.pending = False
        self.frame = 0.0
        self.filter = Filter()
        for widget in widgets:
            widget.installEventFilter(self.filter)

    def done(self) -> None:
        self.pending = False
        self.frame = time.perf_counter()

    def count(self, widget: Any) -> int:
        return self.paints.get(widget, 0)


def _keystrokes() -> list[str]:
    """What the search field holds after each keystroke: three words typed out (one
    narrowing to a single entry, one matching task names, one matching nothing), each
    followed by clearing the field (all 10,000 rows back)."""
    texts: list[str] = []
    for word in ("entry-01234", "job_7", "xqz"):
        texts += [word[:i] for i in range(1, len(word) + 1)]
        texts.append("")
    return texts


def _editor_times(folder: Path, quick: bool) -> dict[str, Any]:
    """In the worker: open the 10k file in a ScheduleEditor and fill a QStandardItemModel
    (interleaved), then type into the search field; and the plain Python filter."""
    from bench_schedule import _big_document
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QTableView

    from beat_panel.config import BeatConfig, Config
    from beat_panel.schedule.store import ScheduleStore
    from beat_panel.ui.dialogs import Dialogs
    from beat_panel.ui.jobs import JobRunner
    from beat_panel.ui.schedule.editor import ScheduleEditor
    from beat_panel.ui.schedule.table import COLUMNS

    open_runs, filter_rounds = (3, 2) if quick else (10, 5)
    path = folder / "schedule.json"
    doc = _big_document(BIG_ENTRIES)
    ScheduleStore(path).save(doc, base_sha=None)
    config = Config(beat=BeatConfig(app=None, workdir=folder, command=("celery",),
                                    pidfile=None, logfile=None),
                    path=None, schedule_file=path)

    runner = JobRunner()
    editor = ScheduleEditor(config, runner, Dialogs())
    editor.resize(1100, 600)
    view = QTableView()  # the baseline's
    view.resize(1100, 600)
    viewport, search = editor.table.viewport(), editor.search
    painted = _Painted(viewport, search, view.viewport())
    # The baseline's cells: the texts a fresh editor shows (times: not run yet).
    cells = [["", e.name, e.task, e.schedule.describe(), "", "—", "0"] for e in doc.entries]
    enabled = [e.enabled for e in doc.entries]
    names = [e.name for e in doc.entries]
    haystacks = [f"{e.name}\n{e.task}\n{e.description}".lower() for e in doc.entries]
    del doc
    models: list[Any] = []
    out: dict[str, Any] = {"open": [], "fill": [], "type": [], "plain": [], "texts": [],
                           "rows_opened": [], "filtered_ok": []}

    def open_editor() -> float:
        landed: list[int] = []  # the viewport's paint count when the load landed

        def mark() -> None:
            landed.append(painted.count(viewport))

        def shown() -> bool:
            return (bool(landed) and painted.count(viewport) > landed[0]
                    and not painted.pending and not runner.busy)

        editor.load_finished.connect(mark)
        start = time.perf_counter()
        editor.reload()
        _wait(shown, what="the editor to load and paint")
        editor.load_finished.disconnect(mark)
        out["rows_opened"].append(editor.proxy.rowCount())
        return (painted.frame - start) * 1000

    def fill_baseline() -> float:
        start = time.perf_counter()
        model = QStandardItemModel(0, len(COLUMNS))
        model.setHorizontalHeaderLabels(list(COLUMNS))
        for row, on in zip(cells, enabled, strict=True):
            items = [QStandardItem(text) for text in row]
            items[0].setCheckable(True)
            items[0].setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            model.appendRow(items)
        before = painted.count(view.viewport())
        view.setModel(model)
        _wait(lambda: painted.count(view.viewport()) > before and not painted.pending,
              what="the baseline table to paint")
        models[:] = [model]  # the previous one is freed now, outside the timing
        return (painted.frame - start) * 1000

    def type_text(text: str) -> tuple[float, bool]:
        before = painted.count(search)
        start = time.perf_counter()
        search.setText(text)
        _wait(lambda: painted.count(search) > before and not painted.pending,
              what="the search field to repaint")
        needle = text.strip().lower()
        expected = sum(needle in h for h in haystacks) if needle else BIG_ENTRIES
        return (painted.frame - start) * 1000, editor.proxy.rowCount() == expected

    def plain_filter(text: str) -> float:
        start = time.perf_counter_ns()
        needle = text.strip().lower()
        kept = [n for n in names if needle in n]
        del kept
        return (time.perf_counter_ns() - start) / 1e6

    try:
        editor.show()
        view.show()
        _wait(lambda: painted.count(viewport) > 0 and painted.count(view.viewport()) > 0,
              what="the first paint")
        open_editor()  # warm-ups
        fill_baseline()
        for case in _rounds(["open", "fill"], open_runs):
            out[case].append(open_editor() if case == "open" else fill_baseline())
        texts = _keystrokes()
        for text in texts:  # warm-up
            type_text(text)
        for _ in range(filter_rounds):
            for text in texts:
                took, ok = type_text(text)
                out["type"].append(took)
                out["filtered_ok"].append(ok)
                out["texts"].append(text)
                out["plain"].append(plain_filter(text))
    finally:
        runner.wait()
        editor.close()
        view.close()
    return out


def _editor_rows(tmp: Path, quick: bool) -> list[Row]:
    print(f"window: {BIG_ENTRIES:,} entries: opening the editor vs a QStandardItemModel, "
          "then typing in its search field…", file=sys.stderr)
    out = _in_worker("editor", tmp, quick)
    fill, opening = Timing(out["fill"], []), Timing(out["open"], [])
    plain, typing = Timing(out["plain"], []), Timing(out["type"], [])
    open_exact = set(out["rows_opened"]) == {BIG_ENTRIES}
    filter_exact = bool(out["filtered_ok"]) and all(out["filtered_ok"])
    slowest, text = max(zip(out["type"], out["texts"], strict=True))
    return [
        _row("editor: fill QStandardItemModel 10k (baseline)", fill, None,
             note="fill + setModel + paint"),
        _row("editor: open 10k entries", opening, fill, f"≤ {OPEN_MAX_MS:g} ms",
             passed=opening.median_ms <= OPEN_MAX_MS and open_exact, exact=open_exact,
             note="reload() to painted"),
        _row("editor: plain substring filter 10k (baseline)", plain, None,
             note="list comprehension over the names"),
        _row("editor: filter, per keystroke", typing, plain, f"p95 ≤ {FILTER_MAX_MS:g} ms",
             passed=typing.p95_ms <= FILTER_MAX_MS and filter_exact, exact=filter_exact,
             note=f"setText to painted; max {slowest:.1f} ms at {text!r}"),
    ]


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bp-bench-") as name:
        tmp = Path(name)
        return [*_launch_rows(tmp, quick), *_memory_rows(tmp, quick),
                *_stall_rows(tmp, quick), *_editor_rows(tmp, quick)]


def _worker(argv: list[str]) -> int:
    """`--worker stall|editor FOLDER full|quick`: print that part's timings as JSON."""
    part, folder, quick = argv[0], Path(argv[1]), argv[2] == "quick"
    # A SIGTERM unwinds through the `finally`s, so the fake beat is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    _shield_singletons()
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    measure = {"stall": _stall_times, "editor": _editor_times}[part]
    print(json.dumps(measure(folder, quick)), flush=True)
    del app
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(_worker(sys.argv[2:]))
    sys.exit("run this through bench/run.py")
