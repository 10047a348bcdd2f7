"""Start the Qt side: one panel per user, with its one beat monitor and its faces (the
window, made when first needed, and the tray indicator when there is a tray); and a
screenshot of the window for docs and tests."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from beat_panel import paths
from beat_panel.config import Config, ConfigError
from beat_panel.control import outcomes
from beat_panel.control.states import Action
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.monitor import BeatMonitor
from beat_panel.ui.settings import PanelSettings
from beat_panel.ui.single_instance import SingleInstance
from beat_panel.ui.tray import Tray

if TYPE_CHECKING:
    from beat_panel.ui.window.main_window import MainWindow

log = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 60000
DESKTOP_ID = "io.github.beatpanel.BeatPanel"  # resources/<this>.desktop, the menu entry
TRAY_WAIT_SECONDS = 60


def application() -> QApplication:
    # argv[0] and the application name make the X11 window class ("beat-panel",
    # "Beat Panel"), which desktops match to the menu entry's StartupWMClass; the desktop
    # file name is the Wayland app id and the startup notification's.
    app = QApplication.instance() or QApplication(["beat-panel"])
    app.setApplicationName("Beat Panel")
    app.setOrganizationName("beat-panel")
    app.setDesktopFileName(DESKTOP_ID)
    icon = paths.resource("icons/beat-panel.svg")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app  # type: ignore[return-value]


class Panel(QObject):
    """One panel process: its settings, job runner and beat monitor, and the faces on
    them. The monitor starts with the panel and stops only when the panel ends, so checks
    go on whichever faces are open."""

    def __init__(self, config: Config, app: QApplication, refresh_seconds: int | None = None,
                 dialogs: Dialogs | None = None, tray_mode: bool = False) -> None:
        super().__init__()
        self.app = app
        self.dialogs = dialogs
        self.tray_mode = tray_mode  # started as `beat-panel tray`: the tray stays
        self.settings = PanelSettings(config.path, refresh_seconds, self)
        self.runner = JobRunner(self)
        self.monitor = BeatMonitor(config, self.settings, self.runner, parent=self)
        self.window: MainWindow | None = None
        self.tray: Tray | None = None
        self.settings.changed.connect(self._setting_changed)
        app.aboutToQuit.connect(self.shutdown)
        self.monitor.start()

    @property
    def config(self) -> Config:
        return self.monitor.config

    def show_window(self) -> MainWindow:
        if self.window is None:
            # Imported on first use: a tray that is never opened never loads the window.
            from beat_panel.ui.window.main_window import MainWindow

            self.window = MainWindow(self.monitor, self.settings, self.dialogs)
            self.window.show()
            self.window.start()
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        return self.window

    def add_tray(self) -> Tray:
        if self.tray is None:
            self.tray = Tray(self.monitor, self.settings, self)
            self.tray.open_panel_requested.connect(self.show_window)
            self.tray.outcome_needs_window.connect(self._show_outcome)
            self.tray.log_in_panel_requested.connect(self.show_log)
            self.tray.show()
        self.app.setQuitOnLastWindowClosed(False)
        return self.tray

    def remove_tray(self) -> None:
        """Take the indicator away (the window is open): closing the window quits."""
        if self.tray is not None:
            self.tray.close()
            self.tray = None
        self.app.setQuitOnLastWindowClosed(True)

    def _setting_changed(self, name: str) -> None:
        if name != "keep_in_tray" or self.tray_mode:
            return
        if self.settings.keep_in_tray and QSystemTrayIcon.isSystemTrayAvailable():
            self.add_tray()
        elif not self.settings.keep_in_tray and self.window is not None and \
                self.window.isVisible():
            self.remove_tray()

    def _show_outcome(self, message: outcomes.Message) -> None:
        window = self.show_window()
        answer = window.dialogs.outcome(message)
        if answer == "start":
            window.run_action(Action.START)
        elif answer == "log":
            window.show_log()

    def show_log(self, note: str = "") -> None:
        """The window on its Log tab, saying `note` (why) in its status bar."""
        self.show_window().show_log(note)

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
                QTimer.singleShot(poll_ms, self, look)

        look()

    def handle_request(self, request: str) -> None:
        self.show_window()

    def shutdown(self) -> None:
        """Stop checking, take no more jobs and wait for those under way (at quit, and
        by tests)."""
        self.monitor.shutdown()
        self.runner.close()
        self.runner.wait()


def _guard_single_instance(panel: Panel) -> bool:
    """True when another instance took the request (this one should exit)."""
    instance = SingleInstance(parent=panel)
    if instance.hand_over("show"):
        print("Beat Panel is already running; showed its window.", file=sys.stderr)
        return True
    instance.listen()
    instance.request.connect(panel.handle_request)
    return False


def show_config_error(error: ConfigError, explicit: str | os.PathLike[str] | None
                      ) -> Config | None:
    """A config that cannot be used, in a window: the config once fixed, or None."""
    from beat_panel.ui.config_error import ask_until_usable

    application()
    return ask_until_usable(error, explicit, Dialogs(None))


def _begin(app: QApplication, config: Config) -> None:
    """The panel's log and the dialog for unexpected errors."""
    from beat_panel import panel_log
    from beat_panel.ui import crash

    log_file = panel_log.setup()
    crash.install(Dialogs(None), log_file)
    log.info("Beat Panel started")
    for note in config.notes:  # a ./beat-panel.toml passed over, and why
        log.warning(note)


def run_gui(config: Config, screenshot: Path | None = None,
            refresh_seconds: int | None = None) -> int:
    """Open the window; with `screenshot`, save it once the first status check and
    the schedule have landed, then exit (0 when the PNG was written)."""
    app = application()
    if screenshot is not None:
        return _screenshot(Panel(config, app, refresh_seconds), screenshot)
    _begin(app, config)
    panel = Panel(config, app, refresh_seconds)
    if _guard_single_instance(panel):
        panel.shutdown()
        return 0
    panel.show_window()
    if panel.settings.keep_in_tray and QSystemTrayIcon.isSystemTrayAvailable():
        panel.add_tray()
    return app.exec()


def run_tray(config: Config, wait_seconds: float = TRAY_WAIT_SECONDS,
             refresh_seconds: int | None = None) -> int:
    """The tray indicator. At login the tray may come up after us: wait for it, and if
    none ever comes, open the window rather than exit."""
    app = application()
    _begin(app, config)
    panel = Panel(config, app, refresh_seconds, tray_mode=True)
    if _guard_single_instance(panel):
        panel.shutdown()
        return 0
    panel.tray_or_window(wait_seconds)
    return app.exec()


def _screenshot(panel: Panel, target: Path) -> int:
    window = panel.show_window()
    outcome = {"code": 1}

    def capture() -> None:
        panel.app.processEvents()
        outcome["code"] = 0 if window.grab().save(str(target)) else 1
        panel.app.quit()

    window.ready.connect(lambda: QTimer.singleShot(400, capture))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, panel.app.quit)
    panel.app.exec()
    panel.shutdown()
    if outcome["code"]:
        print(f"beat-panel: could not save a screenshot to {target}", file=sys.stderr)
    return outcome["code"]
