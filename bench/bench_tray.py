"""The tray indicator at rest, in a real X11 tray (Xvfb + trayer) over 5 minutes (30 s
with --quick): `beat-panel tray` on the demo project with beat stopped, and `beat-panel
tray` on a project whose real `celery beat` runs (its monitor checking and watching a
live beat), against a bare PySide6 tray application idling beside them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
from harness import Row, Spawned, wait_for, xdg_dirs

CPU_TARGET_PERCENT = 0.2
RSS_TARGET_MIB = 100
SETTLE_S = 8.0
BEAT_START_TIMEOUT_S = 60.0
BEAT_STOP_TIMEOUT_S = 15.0
BARE_APP = textwrap.dedent("""
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon
    from PySide6.QtGui import QIcon, QPixmap
    app = QApplication([])
    pixmap = QPixmap(64, 64)
    pixmap.fill()
    icon = QSystemTrayIcon(QIcon(pixmap))
    icon.show()
    app.exec()
""")
# The project with a running beat: the demo Celery app under an app name of its own, so
# that neither panel counts the other's beat as the same app elsewhere.
PROJECT_APP = "benchproj"
PROJECT_MODULE = "from beat_panel.demo.app import app  # noqa: F401\n"


def _x_server(spawned: Spawned) -> dict[str, str] | None:
    for number in range(140, 180):
        if os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        env = dict(os.environ, DISPLAY=f":{number}")
        env.pop("QT_QPA_PLATFORM", None)
        server = spawned.popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24",
                                "-nolisten", "tcp"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and server.poll() is None:
            if subprocess.run(["xwininfo", "-root"], env=env, capture_output=True)\
                    .returncode == 0:
                return env
            time.sleep(0.1)
    return None


def _start_project_beat(spawned: Spawned, folder: Path, env: dict[str, str]
                        ) -> tuple[Path, subprocess.Popen[bytes]]:
    """Write a project (config, app module, the demo schedule) into `folder` and start
    its beat as the panel does (its configured command line, folder and environment),
    as a child of this process so it is always reaped; return the config and the beat
    once it has applied the schedule."""
    from beat_panel import config as config_module
    from beat_panel.control.launch import configured_launch
    from beat_panel.demo import default_document
    from beat_panel.schedule.beat_report import read_beat_report
    from beat_panel.schedule.store import ScheduleStore

    folder.mkdir()
    (folder / f"{PROJECT_APP}.py").write_text(PROJECT_MODULE)
    toml = folder / config_module.CONFIG_NAME
    toml.write_text(config_module.project_config_text(folder, PROJECT_APP))
    config = config_module.load_file(toml)
    assert config.schedule_file is not None
    saved = ScheduleStore(config.schedule_file).save(default_document(), base_sha=None)
    spec = configured_launch(config)
    assert spec is not None
    spec.logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.logfile, "ab") as log:
        beat = spawned.popen(list(spec.argv), cwd=spec.cwd, env={**spec.env, **env},
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def applied() -> bool:
        if beat.poll() is not None:
            raise RuntimeError(f"the project's celery beat exited with {beat.returncode}: "
                               f"see {spec.logfile}")
        report = read_beat_report(config.schedule_file)
        return report is not None and report.applied_sha == saved.sha

    wait_for(applied, BEAT_START_TIMEOUT_S, "the project's celery beat to apply its schedule")
    return toml, beat


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def run(quick: bool) -> list[Row]:
    if not all(shutil.which(t) for t in ("Xvfb", "trayer", "xwininfo")):
        print("tray: Xvfb, trayer or xwininfo missing; skipped", file=sys.stderr)
        return []
    seconds = 30.0 if quick else 300.0
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        spawned = Spawned()
        stack.callback(spawned.close)
        display = _x_server(spawned)
        if display is None:
            print("tray: no X server could be started; skipped", file=sys.stderr)
            return []
        env = {**display, **xdg_dirs(tmp)}
        spawned.popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel",
                       "--width", "120", "--heighttype", "pixel", "--height", "40"], env=env)
        wait_for(lambda: '("panel" "trayer")' in subprocess.run(
            ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout,
            15, "trayer")
        # Its own XDG folders: its own settings, single instance and demo folder.
        project_env = {**display, **xdg_dirs(tmp / "project-home")}
        print("tray: starting celery beat for the project…", file=sys.stderr)
        toml, beat = _start_project_beat(spawned, tmp / "project", project_env)
        stack.callback(spawned.end, beat, BEAT_STOP_TIMEOUT_S)  # SIGTERM: it syncs, exits
        bare_script = tmp / "bare.py"
        bare_script.write_text(BARE_APP)
        procs = {
            "demo": spawned.popen([sys.executable, "-m", "beat_panel", "tray"], env=env),
            "beat": spawned.popen([sys.executable, "-m", "beat_panel", "--config", str(toml),
                                   "tray"], env=project_env),
            "bare": spawned.popen([sys.executable, str(bare_script)], env=env),
        }
        # Let them settle (imports, first status check) before measuring the idle state.
        time.sleep(SETTLE_S)
        print(f"tray: measuring {seconds:g} s of idle…", file=sys.stderr)
        watched = {name: psutil.Process(proc.pid) for name, proc in procs.items()}
        before = {name: _cpu_seconds(proc) for name, proc in watched.items()}
        time.sleep(seconds)
        cpu = {name: 100.0 * (_cpu_seconds(proc) - before[name]) / seconds
               for name, proc in watched.items()}
        rss = {name: proc.memory_info().rss / 2**20 for name, proc in watched.items()}
        seen = None
        # Exact: the beat ran throughout, and the panel's own check finds it, alone.
        status = subprocess.run(
            [sys.executable, "-m", "beat_panel", "--config", str(toml), "status", "--json"],
            env=project_env, capture_output=True, text=True, timeout=60)
        with contextlib.suppress(ValueError):
            seen = json.loads(status.stdout).get("pids")
        beat_seen = beat.poll() is None and seen == [beat.pid]
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} tray exited with {proc.returncode} while idle")

    def ratio(value: float, base: float) -> float | None:
        return value / base if base else None

    over = f"over {seconds:g} s{' (--quick)' if quick else ''}"
    return [
        Row("tray idle: bare PySide6 tray app (baseline)", cpu["bare"], cpu["bare"], 1, 1.0,
            note=f"CPU % {over}; RSS {rss['bare']:.0f} MiB"),
        Row("tray idle: CPU %", cpu["demo"], cpu["demo"], 1, ratio(cpu["demo"], cpu["bare"]),
            f"≤ {CPU_TARGET_PERCENT} %", cpu["demo"] <= CPU_TARGET_PERCENT,
            note=f"demo project, beat stopped; {over} (value in the ms columns is a "
                 "percentage)"),
        Row("tray idle: resident memory", rss["demo"], rss["demo"], 1,
            ratio(rss["demo"], rss["bare"]), f"≤ {RSS_TARGET_MIB} MiB",
            rss["demo"] <= RSS_TARGET_MIB, note="value in the ms columns is MiB"),
        Row("monitor idle, beat running: CPU %", cpu["beat"], cpu["beat"], 1,
            ratio(cpu["beat"], cpu["bare"]), f"≤ {CPU_TARGET_PERCENT} %",
            cpu["beat"] <= CPU_TARGET_PERCENT and beat_seen, exact=beat_seen,
            note=f"beat-panel tray, real celery beat; {over} (value in the ms columns is "
                 f"a percentage); RSS {rss['beat']:.0f} MiB"),
    ]
