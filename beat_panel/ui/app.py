"""Start the Qt application: the window, or a screenshot of it for docs and tests."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from beat_panel import paths
from beat_panel.config import Config
from beat_panel.ui.main_window import MainWindow

SCREENSHOT_TIMEOUT_MS = 60000


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Beat Panel")
    app.setOrganizationName("beat-panel")
    app.setDesktopFileName("beat-panel")
    icon = paths.resources_dir() / "icons" / "beat-panel.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app  # type: ignore[return-value]


def run_gui(config: Config, screenshot: Path | None = None) -> int:
    """Open the window; with `screenshot`, save it once the first status check and
    the schedule have landed, then exit (0 when the PNG was written)."""
    app = application()
    window = MainWindow(config)
    window.show()
    window.start()
    if screenshot is not None:
        outcome = {"code": 1}

        def capture() -> None:
            app.processEvents()
            outcome["code"] = 0 if window.grab().save(str(screenshot)) else 1
            window.close()
            app.quit()

        window.ready.connect(lambda: QTimer.singleShot(400, capture))
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, app.quit)
        app.exec()
        window.runner.wait()
        if outcome["code"]:
            print(f"beat-panel: could not save a screenshot to {screenshot}", file=sys.stderr)
        return outcome["code"]
    code = app.exec()
    window.runner.wait()
    return code
