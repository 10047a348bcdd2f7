"""The control panel window: status badge, Start / Stop / Restart with a clear message
for every outcome, the schedule editor, beat's log and the history."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from beat_panel import autostart
from beat_panel import config as config_module
from beat_panel.config import Config
from beat_panel.control import actions, outcomes
from beat_panel.control import status as beat_status
from beat_panel.control.launch import manual_start_command
from beat_panel.control.result import ActionResult
from beat_panel.control.status import Status
from beat_panel.ui import state_style
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.schedule.editor import ScheduleEditor
from beat_panel.ui.window.activity_view import HistoryView
from beat_panel.ui.window.log_view import LogView
from beat_panel.ui.window.status_badge import StatusBadge

DEFAULT_REFRESH_SECONDS = 30
_WORKING = {"start": "starting", "stop": "stopping", "restart": "restarting"}


def settings() -> QSettings:
    return QSettings("beat-panel", "Beat Panel")


class MainWindow(QMainWindow):
    """One window on one project's beat."""

    status_changed = Signal(object)  # Status, after every check
    ready = Signal()  # the first status check and the first schedule load have landed
    action_started = Signal(str)  # start | stop | restart
    action_finished = Signal(object)  # ActionResult

    def __init__(self, config: Config, runner: JobRunner | None = None,
                 dialogs: Dialogs | None = None, refresh_seconds: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.runner = runner or JobRunner(self)
        self.dialogs = dialogs or Dialogs(self)
        self.status: Status | None = None
        self.in_flight: str | None = None
        self.checking = False
        self._status_landed_once = False
        self._schedule_landed_once = False
        self._close_after_save = False

        stored = settings().value("refresh_seconds", DEFAULT_REFRESH_SECONDS, type=int)
        self.refresh_seconds = refresh_seconds or stored or DEFAULT_REFRESH_SECONDS

        self.badge = StatusBadge()
        self.badge.clicked.connect(self.explain_state)
        self.context = QLabel()
        self.context.setObjectName("statusContext")
        self.checked = QLabel()
        self.checked.setStyleSheet("color: #5f6368;")
        self.buttons: dict[str, QPushButton] = {}
        for name, label in (("start", "Start"), ("stop", "Stop"), ("restart", "Restart")):
            button = QPushButton(label)
            button.setObjectName(f"{name}Button")
            button.clicked.connect(lambda _=False, n=name: self.run_action(n))
            self.buttons[name] = button
        refresh = QPushButton("Check now")
        refresh.clicked.connect(self.refresh)

        self.duplicate_banner = QLabel()
        self.duplicate_banner.setObjectName("duplicateBanner")
        self.duplicate_banner.setWordWrap(True)
        self.duplicate_banner.setStyleSheet(
            "QLabel#duplicateBanner { background: #c5221f; color: white; padding: 8px; "
            "font-weight: bold; border-radius: 4px; }")
        self.duplicate_banner.hide()
        self.demo_banner = QWidget()
        demo_layout = QHBoxLayout(self.demo_banner)
        demo_layout.setContentsMargins(8, 4, 8, 4)
        demo_text = QLabel("You are looking at Beat Panel's demo project (a small Celery app "
                           "that needs no server).")
        choose = QPushButton("Choose your Celery project…")
        choose.clicked.connect(self.choose_project)
        demo_layout.addWidget(demo_text, 1)
        demo_layout.addWidget(choose)
        self.demo_banner.setObjectName("demoBanner")
        self.demo_banner.setStyleSheet("QWidget#demoBanner { background: #e8f0fe; "
                                       "border-radius: 4px; }")

        self.editor = ScheduleEditor(config, self.runner, self.dialogs)
        self.editor.dirty_changed.connect(self.setWindowModified)
        self.editor.restart_requested.connect(lambda: self.run_action("restart"))
        self.editor.saved.connect(self._schedule_saved)
        self.editor.load_finished.connect(self._schedule_landed)
        self.log_view = LogView(config, self.runner)
        self.history_view = HistoryView(config.project_id, self.runner)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.editor, "Schedule")
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.history_view, "History")
        self.tabs.currentChanged.connect(self._tab_changed)

        top = QHBoxLayout()
        top.addWidget(self.badge)
        details = QVBoxLayout()
        details.addWidget(self.context)
        details.addWidget(self.checked)
        top.addLayout(details, 1)
        for button in self.buttons.values():
            top.addWidget(button)
        top.addWidget(refresh)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addWidget(self.duplicate_banner)
        layout.addWidget(self.demo_banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._menus()

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.setInterval(self.refresh_seconds * 1000)
        self._show_project()
        self._enable_buttons()
        self.resize(1100, 680)
        geometry = settings().value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # -- set-up ----------------------------------------------------------------------

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        choose = QAction("Choose Celery project…", self)
        choose.triggered.connect(self.choose_project)
        file_menu.addAction(choose)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        beat_menu = self.menuBar().addMenu("&Beat")
        for name in ("start", "stop", "restart"):
            action = QAction(name.capitalize(), self)
            action.triggered.connect(lambda _=False, n=name: self.run_action(n))
            beat_menu.addAction(action)
        settings_menu = self.menuBar().addMenu("&Settings")
        interval = QAction("Status refresh interval…", self)
        interval.triggered.connect(self.ask_refresh_interval)
        settings_menu.addAction(interval)
        keep = QAction("Keep running in the tray when closed", self)
        keep.setCheckable(True)
        keep.setChecked(settings().value("keep_in_tray", False, type=bool))
        keep.toggled.connect(lambda on: settings().setValue("keep_in_tray", on))
        settings_menu.addAction(keep)
        login = QAction("Start the tray indicator at login", self)
        login.setCheckable(True)
        login.setChecked(autostart.is_enabled())
        login.toggled.connect(self._set_autostart)
        settings_menu.addAction(login)

    def start(self) -> None:
        """Begin work once shown: first status check, schedule, log, history."""
        self.refresh()
        self.timer.start()
        self.editor.reload()
        self.editor.load_tasks()
        self.log_view.start()
        self.history_view.refresh()

    def _show_project(self) -> None:
        name = "demo project" if self.config.is_demo else \
            (self.config.beat.app or str(self.config.beat.workdir))
        self.setWindowTitle(f"Beat Panel — {name}[*]")
        self.demo_banner.setVisible(self.config.is_demo)

    # -- status ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Check beat's status in a job; the answer comes back to `_status_landed`."""
        if self.checking:
            return
        self.checking = True
        self.runner.submit(beat_status.check_status, self.config, on_done=self._status_landed,
                           on_error=self._status_failed)

    def _status_failed(self, error: Exception) -> None:
        self._status_landed(Status(state="error", error=str(error)))

    def _status_landed(self, status: Status) -> None:
        self.checking = False
        self.status = status
        self.badge.show_status(status, _WORKING.get(self.in_flight or ""))
        self.context.setText(self._context_text(status))
        self.checked.setText(f"Checked {status_time(status)}; every {self.refresh_seconds} s.")
        warnings = status.duplicate_warnings
        self.duplicate_banner.setText("⚠ " + "\n⚠ ".join(warnings))
        self.duplicate_banner.setVisible(bool(warnings))
        self._enable_buttons()
        self.editor.on_status(status)
        self.status_changed.emit(status)
        if not self._status_landed_once:
            self._status_landed_once = True
            self._maybe_ready()

    def _context_text(self, status: Status) -> str:
        parts = [status.message]
        where = state_style.context(status)
        if where:
            parts.append(f"Runs {where}.")
        if status.schedule_applied is True:
            parts.append("Schedule applied ✓")
        elif status.schedule_applied is False:
            parts.append("Latest schedule not applied yet.")
        return "  ".join(parts)

    def _schedule_landed(self) -> None:
        if not self._schedule_landed_once:
            self._schedule_landed_once = True
            self._maybe_ready()

    def _maybe_ready(self) -> None:
        if self._status_landed_once and (self._schedule_landed_once or
                                         self.config.schedule_file is None):
            self.ready.emit()

    def _enable_buttons(self) -> None:
        idle = self.in_flight is None
        running = bool(self.status and self.status.running)
        self.buttons["start"].setEnabled(idle and self.status is not None and not running)
        self.buttons["stop"].setEnabled(idle and running)
        self.buttons["restart"].setEnabled(idle and running)

    # -- actions ---------------------------------------------------------------------

    def run_action(self, name: str) -> None:
        """Start, stop or restart in a job; one at a time."""
        if self.in_flight is not None:
            return
        self.in_flight = name
        self._enable_buttons()
        self.badge.show_status(self.status, _WORKING[name])
        self.statusBar().showMessage(f"{_WORKING[name].capitalize()} beat…")
        self.action_started.emit(name)
        self.runner.submit(getattr(actions, name), self.config, on_done=self._action_done,
                           on_error=lambda exc, n=name: self._action_done(ActionResult(
                               n, False, f"Beat Panel failed while trying to {n} beat: {exc}")))

    def _action_done(self, result: ActionResult) -> None:
        self.in_flight = None
        self.statusBar().showMessage(result.message, 10000)
        self.refresh()
        self.history_view.refresh()
        self.action_finished.emit(result)
        answer = self.dialogs.outcome(outcomes.describe(result))
        if answer == "start":
            self.run_action("start")

    def explain_state(self) -> None:
        """The badge was clicked: say what the state means and what to do."""
        status = self.status
        if status is None:
            return
        if status.state == "stopped":
            manual = manual_start_command(self.config)
            answer = self.dialogs.ask(
                "Beat is not running", "Periodic tasks are not being sent while beat is "
                "stopped.", (("start", "Start now"), ("ok", "Close")), "start",
                f"Start it now, or by hand with:\n{manual}", level="warning")
            if answer == "start":
                self.run_action("start")
        elif status.state == "error":
            self.dialogs.tell("error", "Could not check beat", status.error or "",
                              "The next check runs automatically; Check now tries again.")
        else:
            self.dialogs.tell("info", "Beat status", status.message,
                              "\n".join(status.warnings))

    # -- project and settings --------------------------------------------------------

    def choose_project(self) -> None:
        dialog = ProjectDialog(self)
        if not dialog.exec():
            return
        folder, app = dialog.values()
        text = config_module.project_config_text(folder, app)
        try:
            path = config_module.write_user_config(text)
            new = config_module.load_file(path)
        except (OSError, config_module.ConfigError) as exc:
            self.dialogs.tell("error", "Could not save the project", str(exc))
            return
        self.set_config(new)
        self.dialogs.tell("info", "Project saved", f"Beat Panel now works on {app} in "
                          f"{folder}.", f"The settings are in {path}.")

    def set_config(self, config: Config) -> None:
        if not self.editor.maybe_discard():
            return
        self.config = config
        self.editor.config = config
        self.log_view.set_config(config)
        self.history_view.project = config.project_id
        self.status = None
        self._show_project()
        self.editor.reload()
        self.editor.load_tasks()
        self.refresh()
        self.history_view.refresh()

    def _set_autostart(self, on: bool) -> None:
        if on:
            autostart.enable(self.config.path)
        else:
            autostart.disable()

    def ask_refresh_interval(self) -> None:
        seconds, ok = QInputDialog.getInt(self, "Status refresh", "Check beat every (seconds):",
                                          self.refresh_seconds, 5, 3600)
        if ok:
            self.set_refresh_seconds(seconds)

    def set_refresh_seconds(self, seconds: int) -> None:
        self.refresh_seconds = seconds
        self.timer.setInterval(seconds * 1000)
        settings().setValue("refresh_seconds", seconds)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history_view:
            self.history_view.refresh()

    def _schedule_saved(self, _revision: int) -> None:
        self.history_view.refresh()
        if self._close_after_save:
            self.close()

    # -- closing ---------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.editor.maybe_discard():
            self._close_after_save = self.editor.saving
            event.ignore()
            return
        settings().setValue("geometry", self.saveGeometry())
        self.timer.stop()
        self.log_view.timer.stop()
        event.accept()


def status_time(status: Status) -> str:
    return datetime.fromtimestamp(status.checked_at).strftime("%H:%M:%S")


class ProjectDialog(QDialog):
    """First run: which Celery project should the panel work on?"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose your Celery project")
        self.folder = QLineEdit(os.getcwd())
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.app = QLineEdit()
        self.app.setPlaceholderText("the -A value, e.g. proj or proj.celery:app")
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Project folder", row)
        form.addRow("Celery app", self.app)
        form.addRow(QLabel("Beat Panel writes its settings to your config folder and keeps "
                           "the schedule in schedule.json in the project folder."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        form.addRow(buttons)
        self.app.textChanged.connect(self._check)
        self.folder.textChanged.connect(self._check)
        self._check()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _check(self) -> None:
        self.ok.setEnabled(bool(self.app.text().strip()) and Path(self.folder.text()).is_dir())

    def values(self) -> tuple[Path, str]:
        return Path(self.folder.text()).resolve(), self.app.text().strip()
