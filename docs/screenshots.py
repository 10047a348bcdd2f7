"""Make the README's pictures and the gallery of every state from the real app:

    python docs/screenshots.py [OUTDIR]        (default: docs/screenshots)

Each state of the window (beat stopped, running, two beats at once, the Health tab) and
the tray's icons, at 100 % and 200 % scale, in a light and a dark palette. It runs the
built-in demo project in a folder of its own (XDG folders in a temp dir) with a real
`celery beat`, offscreen; every beat it starts is stopped by its pid at the end. Each
(scale, palette) pair is drawn by a fresh process: the scale is fixed when Qt starts.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCALES = (1, 2)
THEMES = ("light", "dark")


def _end(pid: int) -> None:
    """SIGTERM a beat this run started, then SIGKILL if it lingers."""
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except psutil.TimeoutExpired:
            proc.kill()


def _dialogs(window, out: Path, variant: str, pump) -> None:
    """The entry dialog (editing an entry) and a message box, as they open."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    editor = window.editor

    def grab_dialog(dialog):
        dialog.show()
        pump(0.8)
        dialog.grab().save(str(out / f"dialog-entry-{variant}.png"))
        dialog.close()
        return None

    editor.run_dialog = grab_dialog
    editor.select([editor.document.names()[0]])
    editor.actions["edit"].trigger()

    def grab_box() -> None:
        box = next(w for w in QApplication.topLevelWidgets()
                   if isinstance(w, QMessageBox) and w.isVisible())
        box.grab().save(str(out / f"dialog-message-{variant}.png"))
        box.reject()

    QTimer.singleShot(800, grab_box)
    window.explain_state()  # what the badge says when clicked


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) > 3 and sys.argv[2] == "--draw":
        return draw(out, sys.argv[3])
    code = 0
    with tempfile.TemporaryDirectory(prefix="bp-shots-") as home:
        for scale in SCALES:
            for theme in THEMES:
                env = {k: v for k, v in os.environ.items()
                       if k not in ("BEAT_PANEL_CONFIG", "BEAT_PANEL_SCHEDULE")}
                env.update(QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=str(scale),
                           XDG_STATE_HOME=f"{home}/state", XDG_DATA_HOME=f"{home}/data",
                           XDG_CONFIG_HOME=f"{home}/config")
                done = subprocess.run([sys.executable, __file__, str(out), "--draw",
                                       f"{scale}x-{theme}"], env=env, check=False)
                code = code or done.returncode
    return code


def draw(out: Path, variant: str) -> int:
    """In a fresh process: every state at this scale and palette."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap

    from beat_panel import config as config_module
    from beat_panel.control import actions
    from beat_panel.demo import ensure_schedule
    from beat_panel.ui import state_style
    from beat_panel.ui.app import Panel, application
    from beat_panel.ui.tray import state_icon

    app = application()
    if variant.endswith("dark"):
        app.setStyle("Fusion")
        palette = QPalette()
        for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"),
                             (QPalette.ColorRole.WindowText, "#e8eaed"),
                             (QPalette.ColorRole.Base, "#202124"),
                             (QPalette.ColorRole.AlternateBase, "#2d2e31"),
                             (QPalette.ColorRole.Text, "#e8eaed"),
                             (QPalette.ColorRole.Button, "#3c4043"),
                             (QPalette.ColorRole.ButtonText, "#e8eaed"),
                             (QPalette.ColorRole.PlaceholderText, "#9aa0a6"),
                             (QPalette.ColorRole.Highlight, "#8ab4f8"),
                             (QPalette.ColorRole.HighlightedText, "#202124")):
            palette.setColor(role, QColor(colour))
        app.setPalette(palette)

    def pump(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    config = config_module.demo_config()
    if config.schedule_file is not None:
        ensure_schedule(config.schedule_file)
    panel = Panel(config, app, refresh_seconds=2)
    window = panel.show_window()
    window.resize(1100, 640)
    monitor = panel.monitor

    def shoot(state: str) -> None:
        monitor.check_now()
        pump(4)  # the status, then health and the "Will run?" answers
        window.grab().save(str(out / f"window-{state}-{variant}.png"))

    def spawn(*words: str) -> subprocess.Popen:
        """A celery process of the demo project, as a person starts one by hand."""
        return subprocess.Popen([*config.beat.command, "-A", str(config.beat.app), *words],
                                cwd=config.beat.workdir, env={**os.environ, **config.beat.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started: list[int] = []
    try:
        pump(2)
        shoot("stopped")
        worker = spawn("worker", "--pool=solo", "-n", "demo-worker@%h", "--without-mingle",
                       "--without-gossip")
        started.append(worker.pid)
        result = actions.start(config)
        started += result.new_pids
        pump(4)  # the worker answers its first ping
        shoot("running")
        extra = spawn("beat", "--pidfile=", "-s", str(Path(config.beat.workdir) / "extra-state"))
        started.append(extra.pid)
        pump(3)
        shoot("two-beats")
        window.tabs.setCurrentWidget(window.health_view)
        shoot("health")
        window.tabs.setCurrentWidget(window.editor)
        _dialogs(window, out, variant, pump)
    finally:
        for pid in started:  # the beats this run started, by pid
            _end(pid)
        panel.shutdown()

    # The tray's icons, at the sizes a tray draws them.
    keys = list(state_style.LOOKS)
    size = 22
    strip = QPixmap((size + 8) * len(keys), size + 8)
    strip.fill(app.palette().color(QPalette.ColorRole.Window))
    painter = QPainter(strip)
    for n, key in enumerate(keys):
        painter.drawPixmap(4 + n * (size + 8), 4, state_icon(key).pixmap(size, size))
    painter.end()
    strip.save(str(out / f"tray-icons-{variant}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
