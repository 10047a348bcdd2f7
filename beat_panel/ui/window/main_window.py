"""The control panel window: the status header, the schedule editor, beat's log and the
activity log, with a clear message for every outcome of its own actions. A view on the
panel's beat monitor: it never checks beat or runs an action by itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QHideEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from beat_panel.config import Config
from beat_panel.control import outcomes
from beat_panel.control.launch import manual_start_command
from beat_panel.control.result import ActionResult
from beat_panel.control.states import Action, Phase
from beat_panel.control.status import Status
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.monitor import BeatMonitor, Notice, Origin
from beat_panel.ui.schedule.editor import ScheduleEditor
from beat_panel.ui.schedule.toolbar import SEPARATOR_BEFORE
from beat_panel.ui.settings import MAX_REFRESH_SECONDS, PanelSettings
from beat_panel.ui.state_style import dim
from beat_panel.ui.window.activity_view import ActivityView
from beat_panel.ui.window.health_view import HealthView
from beat_panel.ui.window.log_view import LogView
from beat_panel.ui.window.status_header import StatusHeader

if TYPE_CHECKING:  # the health package loads with the first check, not with the window
    from beat_panel.health import Health

STATUS_BAR_MS = 10000
LOG_NOTE_MS = 30000  # why the log is shown here: long enough to be read on arrival
MIN_REFRESH_SECONDS_ASKED = 5


class MainWindow(QMainWindow):
    """One window on one project's beat."""

    ready = Signal()  # the first status check and the first schedule load have landed

    def __init__(self, monitor: BeatMonitor, settings: PanelSettings,
                 dialogs: Dialogs | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.settings = settings
        self.runner = monitor.runner
        self.dialogs = dialogs or Dialogs(self)
        self._last_status: Status | None = None
        self._status_landed_once = False
        self._schedule_landed_once = False
        self._close_after_save = False

        self.header = StatusHeader(monitor)
        self.header.action_requested.connect(self.run_action)
        self.header.stop_extra_requested.connect(
            lambda: self.monitor.stop_extra(Origin.WINDOW))
        self.header.explain_requested.connect(self.explain_state)
        self.badge = self.header.badge
        self.buttons = self.header.buttons

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
        # Its own dark text on its light background, whatever the theme.
        self.demo_banner.setStyleSheet("QWidget#demoBanner { background: #e8f0fe; "
                                       "border-radius: 4px; } "
                                       "QWidget#demoBanner QLabel { color: #202124; }")

        config = monitor.config
        self.editor = ScheduleEditor(config, self.runner, self.dialogs)
        self.editor.dirty_changed.connect(self.setWindowModified)
        self.editor.restart_requested.connect(lambda: self.run_action(Action.RESTART))
        self.editor.saved.connect(self._schedule_saved)
        self.editor.load_finished.connect(self._schedule_landed)
        self.log_view = LogView(config, self.runner)
        self.activity_view = ActivityView(config.project_id, self.runner)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.editor, "Schedule")
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.activity_view, "Activity")
        self.health_view = HealthView(monitor)
        self.tabs.addTab(self.health_view, "Health")
        self.tabs.currentChanged.connect(self._tab_changed)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.header)
        layout.addWidget(self.demo_banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._menus()

        monitor.changed.connect(self._monitor_changed)
        monitor.action_started.connect(self._action_started)
        monitor.action_finished.connect(self._action_finished)
        monitor.noticed.connect(self._noticed)
        monitor.activity_recorded.connect(self.activity_view.refresh)
        # A bound method: Qt drops it with the window (the monitor outlives the window).
        monitor.health_changed.connect(self._health_changed)
        settings.changed.connect(self._setting_changed)
        self.config_label = QLabel()
        self.config_label.setObjectName("configPath")
        dim(self.config_label)
        self.statusBar().addPermanentWidget(self.config_label)
        self._show_project()
        self.resize(_default_size(self))
        geometry = settings.geometry
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._monitor_changed()

    # -- set-up ----------------------------------------------------------------------

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        choose = QAction("Choose Celery project…", self)
        choose.triggered.connect(self.choose_project)
        file_menu.addAction(choose)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self._quit)
        file_menu.addAction(quit_action)
        beat_menu = self.menuBar().addMenu("&Beat")
        self.beat_actions: dict[Action, QAction] = {}
        for action in Action:
            item = QAction(action.label, self)
            item.triggered.connect(lambda _=False, a=action: self.run_action(a))
            beat_menu.addAction(item)
            self.beat_actions[action] = item
        check = QAction("Check now", self)
        check.triggered.connect(self.monitor.check_now)
        beat_menu.addAction(check)
        # The editor's actions, with their shortcuts, which work wherever the focus is.
        schedule_menu = self.menuBar().addMenu("S&chedule")
        for key, action in self.editor.actions.items():
            if key in SEPARATOR_BEFORE:
                schedule_menu.addSeparator()
            schedule_menu.addAction(action)
            action.triggered.connect(self._show_schedule)
        for keys, step in ((QKeySequence.StandardKey.NextChild, 1),
                           (QKeySequence.StandardKey.PreviousChild, -1)):
            switch = QAction(self)
            switch.setShortcuts(keys)
            switch.triggered.connect(lambda _=False, s=step: self.tabs.setCurrentIndex(
                (self.tabs.currentIndex() + s) % self.tabs.count()))
            self.addAction(switch)
        settings_menu = self.menuBar().addMenu("&Settings")
        interval = QAction("Status refresh interval…", self)
        interval.triggered.connect(self.ask_refresh_interval)
        settings_menu.addAction(interval)
        self.keep_alive_action = self._toggle(settings_menu, "Keep beat alive",
                                              self.settings.set_keep_alive)
        self.keep_in_tray_action = self._toggle(settings_menu,
                                                "Keep running in the tray when closed",
                                                self.settings.set_keep_in_tray)
        self.login_action = self._toggle(settings_menu, "Start the tray indicator at login",
                                         self._set_start_at_login)
        self._sync_settings()

    def _show_schedule(self) -> None:
        """An editor action used from another tab: show what it acts on."""
        self.tabs.setCurrentWidget(self.editor)

    def _toggle(self, menu: QMenu, text: str, setter: Callable[[bool], None]) -> QAction:
        item = QAction(text, self)
        item.setCheckable(True)
        item.toggled.connect(setter)
        menu.addAction(item)
        return item

    def start(self) -> None:
        """Begin the window's own work: the schedule, the log, the activity log."""
        self.editor.reload()
        self.editor.load_tasks()
        self.activity_view.refresh()
        if self.monitor.status is not None:
            self._monitor_changed()

    def _show_project(self) -> None:
        config = self.monitor.config
        name = "demo project" if config.is_demo else (config.beat.app or
                                                      str(config.beat.workdir))
        self.setWindowTitle(f"Beat Panel — {name}[*]")
        self.demo_banner.setVisible(config.is_demo)
        # Which settings file is in use: the lookup has several places to look.
        self.config_label.setText("Settings: the built-in demo project" if config.path is None
                                  else f"Settings: {config.path}")

    # -- what the monitor says -------------------------------------------------------

    @property
    def status(self) -> Status | None:
        return self.monitor.status

    def _monitor_changed(self) -> None:
        monitor = self.monitor
        idle = monitor.idle
        for action, item in self.beat_actions.items():
            item.setEnabled(self.buttons[action].isEnabled() if idle else False)
        if monitor.status is None:
            return
        if self._last_status is not monitor.status:
            self._last_status = monitor.status
            self.editor.on_status(monitor.status)
        if not self._status_landed_once:
            self._status_landed_once = True
            self._maybe_ready()

    def _health_changed(self, health: Health) -> None:
        self.editor.set_health(self.monitor.checker, health)

    def _noticed(self, notice: Notice) -> None:
        self.statusBar().showMessage(notice.text, STATUS_BAR_MS)

    def _schedule_landed(self) -> None:
        if not self._schedule_landed_once:
            self._schedule_landed_once = True
            self._maybe_ready()

    def _maybe_ready(self) -> None:
        if self._status_landed_once and (self._schedule_landed_once or
                                         (self.monitor.config.schedule_file is None and
                                          self.monitor.config.schedule_redis is None)):
            self.ready.emit()

    # -- actions ---------------------------------------------------------------------

    def run_action(self, action: Action | str) -> None:
        """Start, stop or restart through the monitor; one at a time for the panel."""
        self.monitor.run_action(Action(action), Origin.WINDOW)

    def _action_started(self, action: Action, origin: Origin) -> None:
        who = "" if origin is Origin.WINDOW else f" ({origin.value})"
        self.statusBar().showMessage(f"{action.phase.value.capitalize()} beat…{who}")

    def _action_finished(self, result: ActionResult, origin: Origin) -> None:
        self.statusBar().showMessage(result.message, STATUS_BAR_MS)
        if origin is Origin.WINDOW:  # the tray tells its own outcomes
            # Shown from the event loop, not from inside the monitor's signal: the box
            # waits for a person, the monitor never does. With the window as context,
            # a window deleted in the meantime is never called.
            QTimer.singleShot(0, self, lambda: self._tell_outcome(result))

    def _tell_outcome(self, result: ActionResult) -> None:
        if self.dialogs.outcome(outcomes.describe(result)) == "start":
            self.run_action(Action.START)

    def explain_state(self) -> None:
        """The badge was clicked: say what the state means and what to do."""
        status = self.monitor.status
        if status is None:
            return
        if status.state is Phase.STOPPED:
            manual = manual_start_command(self.monitor.config)
            answer = self.dialogs.ask(
                "Beat is not running", "Periodic tasks are not being sent while beat is "
                "stopped.", (("start", "Start now"), ("ok", "Close")), "start",
                f"Start it now, or by hand with:\n{manual}", level="warning",
                command=manual)
            if answer == "start":
                self.run_action(Action.START)
        elif status.state is Phase.ERROR:
            self.dialogs.tell("error", "Could not check beat", status.error or "",
                              "The next check runs automatically; Check now tries again.")
        else:
            self.dialogs.tell("info", "Beat status", status.message,
                              "\n".join(status.warnings))

    # -- project and settings --------------------------------------------------------

    def choose_project(self) -> None:
        """The project dialog, prefilled with this project; once it saved, work on the
        project it saved (unsaved schedule edits are asked about before it saves)."""
        from beat_panel.ui.window import project_dialog  # when first asked

        before = self.monitor.config
        saved = project_dialog.choose(self.runner, self.dialogs, before, self,
                                      before_save=self.editor.maybe_discard)
        if saved is None:
            return
        self._switch_to(saved.config)
        project_dialog.tell_saved(self.dialogs, saved, before.path)

    def set_config(self, config: Config) -> None:
        if self.editor.maybe_discard():
            self._switch_to(config)

    def _switch_to(self, config: Config) -> None:
        self.monitor.set_config(config)
        self.editor.config = config
        self.editor.model.set_answers({})  # the other project's answers
        self.log_view.set_config(config)
        self.activity_view.project = config.project_id
        self._show_project()
        self.editor.reload()
        self.editor.load_tasks()
        self.activity_view.refresh()

    def _set_start_at_login(self, on: bool) -> None:
        try:
            self.settings.set_start_at_login(on)
        except OSError as exc:
            self.dialogs.tell("error", "Could not change start at login", str(exc))
            self._sync_settings()

    def ask_refresh_interval(self) -> None:
        seconds, ok = QInputDialog.getInt(self, "Status refresh", "Check beat every (seconds):",
                                          self.settings.refresh_seconds,
                                          MIN_REFRESH_SECONDS_ASKED, MAX_REFRESH_SECONDS)
        if ok:
            self.settings.set_refresh_seconds(seconds)

    def _setting_changed(self, _name: str) -> None:
        self._sync_settings()
        self.header.show_state()

    def _sync_settings(self) -> None:
        for item, value in ((self.keep_alive_action, self.settings.keep_alive),
                            (self.keep_in_tray_action, self.settings.keep_in_tray),
                            (self.login_action, self.settings.start_at_login)):
            if item.isChecked() != value:
                item.blockSignals(True)
                item.setChecked(value)
                item.blockSignals(False)

    def show_log(self, note: str = "") -> None:
        """Bring the Log tab forward, saying `note` (why it is shown) in the status bar."""
        self.tabs.setCurrentWidget(self.log_view)
        if note:
            self.statusBar().showMessage(note, LOG_NOTE_MS)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.activity_view:
            self.activity_view.refresh()

    def _schedule_saved(self, _revision: int) -> None:
        self.activity_view.refresh()
        if self._close_after_save:
            self.close()

    # -- showing and closing ----------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.log_view.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.log_view.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.editor.maybe_discard():
            self._close_after_save = self.editor.saving
            event.ignore()
            return
        self._close_after_save = False
        if self.editor.dirty:
            # The person chose Discard. A window kept in the tray only hides and comes
            # back as it was: the edits go now, and the editor shows the saved schedule.
            self.editor.reload()
        self.settings.set_geometry(self.saveGeometry())
        event.accept()

    def _quit(self) -> None:
        if self.editor.maybe_discard():
            from PySide6.QtWidgets import QApplication

            QApplication.quit()


def _default_size(window: QMainWindow) -> QSize:
    """1100×680, or 90 % of a smaller screen: never wider than the screen it opens on."""
    screen = window.screen().availableGeometry() if window.screen() else None
    if screen is None:
        return QSize(1100, 680)
    return QSize(min(1100, int(screen.width() * 0.9)), min(680, int(screen.height() * 0.9)))
