"""Measurements that need Qt run in a fresh worker process, never in the runner's own:
offscreen Qt, its own XDG folders, bytecode cached as an installed panel has it. The
runner starts `python bench/bench_NAME.py --worker PART FOLDER full|quick`, which calls
that module's PART function inside a QApplication and prints its raw timings as JSON.

This module holds both halves: `run_worker` (in the runner) and, for the worker, the
event-loop helpers (`wait`, `pump`), the singleton shield, and a real panel on a fake
beat."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import (
    FAKE_APP,
    Spawned,
    stop_leftover_beat,
    stop_pid,
    write_fake_celery,
    xdg_dirs,
)

WORKER_TIMEOUT_S = 900.0
WAIT_TIMEOUT_S = 60.0

Part = Callable[[Path, bool], dict[str, Any]]


def qt_env(folder: Path, tmp: Path) -> dict[str, str]:
    """This process's environment with offscreen Qt, XDG folders in `folder`, and
    bytecode cached in `tmp`/pycache (also where PYTHONDONTWRITEBYTECODE is set: an
    installed panel starts from cached bytecode, not by compiling its source)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BEAT_PANEL_CONFIG", "BEAT_PANEL_SCHEDULE", "BEAT_PANEL_DEMO_DIR",
                        "PYTHONDONTWRITEBYTECODE")}
    env.update(xdg_dirs(folder))
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def run_worker(module: str, part: str, tmp: Path, quick: bool) -> dict[str, Any]:
    """Run `bench/MODULE.py --worker PART` in a fresh process in folder tmp/PART; return
    its JSON. Whatever it started is ended by pid afterwards, and a fake beat it left
    behind in that folder is stopped."""
    folder = tmp / part
    folder.mkdir()
    log = folder / "worker.log"  # its stderr: Qt's warnings, or a traceback
    spawned = Spawned()
    try:
        with open(log, "w") as err:
            proc = spawned.popen(
                [sys.executable, str(Path(__file__).with_name(f"{module}.py")), "--worker",
                 part, str(folder), "quick" if quick else "full"],
                env=qt_env(folder, tmp), cwd=folder, stdout=subprocess.PIPE, stderr=err,
                text=True)
            try:
                out, _ = proc.communicate(timeout=WORKER_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                out = ""
            spawned.end(proc)
    finally:
        spawned.close()
        stop_leftover_beat(folder)
    if proc.returncode != 0 or not out.strip():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"the {part} worker failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def worker_main(parts: dict[str, Part]) -> int:
    """The worker side: `--worker PART FOLDER full|quick` from sys.argv; print that
    part's timings as JSON."""
    if sys.argv[1:2] != ["--worker"]:
        sys.exit("run this through bench/run.py")
    part, folder, quick = sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "quick"
    # A SIGTERM unwinds through the `finally`s, so a beat started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    shield_singletons()
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    print(json.dumps(parts[part](folder, quick)), flush=True)
    del app
    return 0


def shield_singletons() -> None:
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


def wait(done: Callable[[], bool], timeout: float = WAIT_TIMEOUT_S,
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


def pump(seconds: float) -> None:
    """Run the event loop for `seconds`."""
    until = time.perf_counter() + seconds
    wait(lambda: time.perf_counter() >= until, timeout=seconds + WAIT_TIMEOUT_S)


@contextlib.contextmanager
def fake_beat_panel(folder: Path, refresh_seconds: int) -> Iterator[Any]:
    """A real `Panel` (see `panel_on`) on a project whose beat is the fake `celery` in
    `folder` (pidfile and log there, start settle 0.5 s)."""
    from beat_panel.config import BeatConfig, Config

    fake = write_fake_celery(folder)
    config = Config(beat=BeatConfig(app=FAKE_APP, workdir=folder, command=(str(fake),),
                                    pidfile=folder / "beat.pid", logfile=folder / "beat.log",
                                    start_settle=0.5, stop_timeout=5), path=None)
    with panel_on(config, refresh_seconds) as panel:
        yield panel


@contextlib.contextmanager
def panel_on(config: Any, refresh_seconds: int) -> Iterator[Any]:
    """A real `Panel` (settings, job runner, beat monitor) on `config`, with message
    boxes that answer "ok" without being shown. At the end it is shut down (its jobs
    waited for), a beat it started is stopped by its pid, its window closed."""
    from PySide6.QtWidgets import QApplication

    from beat_panel.control.status import check_status
    from beat_panel.ui.app import Panel
    from beat_panel.ui.dialogs import Dialogs, Prompt

    class Answered(Dialogs):
        def launch(self, prompt: Prompt) -> str:
            return "ok"

    panel = Panel(config, QApplication.instance(), refresh_seconds, dialogs=Answered())
    try:
        yield panel
    finally:
        panel.shutdown()
        for pid in check_status(config).pids:  # the beat started or restarted here
            stop_pid(pid)
        if panel.window is not None:
            panel.window.close()
