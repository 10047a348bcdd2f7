"""The tray indicator at rest: CPU and memory of `beat-panel tray` in a real X11 tray
(Xvfb + trayer) over 5 minutes (30 s with --quick), against a bare PySide6 application
idling beside it for the same time."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
from harness import Row, Spawned, wait_for

CPU_TARGET_PERCENT = 0.2
RSS_TARGET_MIB = 100
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


def _usage(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """CPU percent over `seconds` and resident MiB at the end."""
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    busy = (after.user + after.system) - (before.user + before.system)
    return 100.0 * busy / seconds, proc.memory_info().rss / 2**20


def run(quick: bool) -> list[Row]:
    if not all(shutil.which(t) for t in ("Xvfb", "trayer", "xwininfo")):
        print("tray: Xvfb, trayer or xwininfo missing; skipped", file=sys.stderr)
        return []
    seconds = 30.0 if quick else 300.0
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bp-bench-")))
        spawned = Spawned()
        stack.callback(spawned.close)
        env = _x_server(spawned)
        if env is None:
            print("tray: no X server could be started; skipped", file=sys.stderr)
            return []
        for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            env[name] = str(tmp / name.lower())
        spawned.popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel",
                       "--width", "120", "--heighttype", "pixel", "--height", "40"], env=env)
        wait_for(lambda: '("panel" "trayer")' in subprocess.run(
            ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout,
            15, "trayer")
        bare_script = tmp / "bare.py"
        bare_script.write_text(BARE_APP)
        tray = spawned.popen([sys.executable, "-m", "beat_panel", "tray"], env=env)
        bare = spawned.popen([sys.executable, str(bare_script)], env=env)
        # Let both settle (imports, first status check) before measuring the idle state.
        time.sleep(8)
        print(f"tray: measuring {seconds:g} s of idle…", file=sys.stderr)
        tray_proc, bare_proc = psutil.Process(tray.pid), psutil.Process(bare.pid)
        bare_before = bare_proc.cpu_times()
        tray_cpu, tray_rss = _usage(tray_proc, seconds)
        bare_after = bare_proc.cpu_times()
        bare_cpu = 100.0 * ((bare_after.user + bare_after.system)
                            - (bare_before.user + bare_before.system)) / seconds
        bare_rss = bare_proc.memory_info().rss / 2**20
    ratio_rss = tray_rss / bare_rss if bare_rss else None
    return [
        Row("tray idle: bare PySide6 tray app (baseline)", bare_cpu, bare_cpu, 1, 1.0,
            note=f"CPU % over {seconds:g} s; RSS {bare_rss:.0f} MiB"),
        Row("tray idle: CPU %", tray_cpu, tray_cpu, 1,
            tray_cpu / bare_cpu if bare_cpu else None, f"≤ {CPU_TARGET_PERCENT} %",
            tray_cpu <= CPU_TARGET_PERCENT, note=f"over {seconds:g} s (value in the ms "
                                                 "columns is a percentage)"),
        Row("tray idle: resident memory", tray_rss, tray_rss, 1, ratio_rss,
            f"≤ {RSS_TARGET_MIB} MiB", tray_rss <= RSS_TARGET_MIB,
            note="value in the ms columns is MiB"),
    ]
