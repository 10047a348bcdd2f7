"""Start the Qt side: the window, the tray, or both; one instance per user; and a
screenshot of the window for docs and tests."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from beat_panel import paths
from beat_panel.config import Config
from beat_panel.control import outcomes
from beat_panel.ui.single_instance import SingleInstance
from beat_panel.ui.tray import Tray
from beat_panel.ui.window.main_window import MainWindow, settings

SCREENSHOT_TIMEOUT_MS = 60000
TRAY_WAIT_SECONDS = 60


def application() -> QApplication:
    # argv[0] names the X11 window class, which desktops match to beat-panel.desktop.
    app = QApplication.instance() or QApplication(["beat-panel"])
    app.setApplicationName("Beat Panel")
    app.setOrganizationName("beat-panel")
    app.setDesktopFileName("beat-panel")
    icon = paths.resources_dir() / "icons" / "beat-panel.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app  # type: ignore[return-value]


class Panel(QObject):
    """Owns the window (made when first needed) and the tray (when there is one)."""

    def __init__(self, config: Config, app: QApplication,
                 refresh_seconds: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.app = app
        self.refresh_seconds = refresh_seconds
        self.window: MainWindow | None = None
        self.tray: Tray | None = None

    def show_window(self) -> MainWindow:
        if self.window is None:
            self.window = MainWindow(self.config, refresh_seconds=self.refresh_seconds)
            if self.tray is not None:
                self._connect(self.window, self.tray)
            self.window.show()
            self.window.start()
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        return self.window

    def add_tray(self) -> Tray:
        self.tray = Tray(self.config, refresh_seconds=self.refresh_seconds or
                         settings().value("refresh_seconds", 30, type=int) or 30)
        self.tray.open_panel_requested.connect(self.show_window)
        self.tray.outcome_needs_window.connect(self._show_outcome)
        self.app.setQuitOnLastWindowClosed(False)
        if self.window is not None:
            self._connect(self.window, self.tray)
        self.tray.start()
        return self.tray

    @staticmethod
    def _connect(window: MainWindow, tray: Tray) -> None:
        # One status for both faces; the window's own actions are not "unexpected".
        window.status_changed.connect(tray.on_status)
        tray.timer.stop()  # the window's checks serve both
        window.action_started.connect(lambda name: setattr(tray, "in_flight", name))
        window.action_finished.connect(lambda _: _action_over(tray))

    def _show_outcome(self, message: outcomes.Message) -> None:
        window = self.show_window()
        if window.dialogs.outcome(message) == "start":
            window.run_action("start")

    def tray_or_window(self, wait_seconds: float, poll_ms: int = 1000) -> None:
        """Put the indicator in the tray as soon as there is one; after `wait_seconds`
        without a tray, open the window instead (and say why)."""
        deadline = time.monotonic() + wait_seconds

        def look() -> None:
            if QSystemTrayIcon.isSystemTrayAvailable():
                self.add_tray()
            elif time.monotonic() >= deadline:
                window = self.show_window()
                window.statusBar().showMessage(
                    f"No system tray appeared within {wait_seconds:g} s, so Beat Panel "
                    "opened its window instead.")
            else:
                QTimer.singleShot(poll_ms, look)

        look()

    def handle_request(self, request: str) -> None:
        self.show_window()

    def wait(self) -> None:
        for runner in (self.window.runner if self.window else None,
                       self.tray.runner if self.tray else None):
            if runner is not None:
                runner.wait()


def _action_over(tray: Tray) -> None:
    tray.in_flight = None
    tray.refresh_after_action()


def _guard_single_instance(panel: Panel) -> bool:
    """True when another instance took the request (this one should exit)."""
    instance = SingleInstance(parent=panel)
    if instance.hand_over("show"):
        print("Beat Panel is already running; showed its window.", file=sys.stderr)
        return True
    instance.listen()
    instance.request.connect(panel.handle_request)
    return False


def run_gui(config: Config, screenshot: Path | None = None,
            refresh_seconds: int | None = None) -> int:
    """Open the window; with `screenshot`, save it once the first status check and
    the schedule have landed, then exit (0 when the PNG was written)."""
    app = application()
    panel = Panel(config, app, refresh_seconds)
    if screenshot is not None:
        return _screenshot(panel, screenshot)
    if _guard_single_instance(panel):
        return 0
    panel.show_window()
    if settings().value("keep_in_tray", False, type=bool) and \
            QSystemTrayIcon.isSystemTrayAvailable():
        panel.add_tray()
    code = app.exec()
    panel.wait()
    return code


def run_tray(config: Config, wait_seconds: float = TRAY_WAIT_SECONDS,
             refresh_seconds: int | None = None) -> int:
    """The tray indicator. At login the tray may come up after us: wait for it, and if
    none ever comes, open the window rather than exit."""
    app = application()
    panel = Panel(config, app, refresh_seconds)
    if _guard_single_instance(panel):
        return 0
    panel.tray_or_window(wait_seconds)
    code = app.exec()
    panel.wait()
    return code


def _screenshot(panel: Panel, target: Path) -> int:
    window = MainWindow(panel.config)
    window.show()
    window.start()
    outcome = {"code": 1}

    def capture() -> None:
        panel.app.processEvents()
        outcome["code"] = 0 if window.grab().save(str(target)) else 1
        window.close()
        panel.app.quit()

    window.ready.connect(lambda: QTimer.singleShot(400, capture))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, panel.app.quit)
    panel.app.exec()
    window.runner.wait()
    if outcome["code"]:
        print(f"beat-panel: could not save a screenshot to {target}", file=sys.stderr)
    return outcome["code"]
