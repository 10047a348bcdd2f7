"""The system tray indicator: beat's state by colour and shape, actions one click away,
and a word when beat dies. On the same core (and the same status check) as the window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from beat_panel import autostart
from beat_panel.config import Config
from beat_panel.control import actions, outcomes
from beat_panel.control import status as beat_status
from beat_panel.control.keepalive import KeepAlive
from beat_panel.control.launch import configured_launch
from beat_panel.control.result import ActionResult
from beat_panel.control.status import Status
from beat_panel.ui import state_style
from beat_panel.ui.jobs import JobRunner

ICON_SIZE = 64
_LEVEL_ICONS = {"info": QSystemTrayIcon.MessageIcon.Information,
                "warning": QSystemTrayIcon.MessageIcon.Warning,
                "error": QSystemTrayIcon.MessageIcon.Critical}
_WORKING = {"start": "starting", "stop": "stopping", "restart": "restarting"}


def state_icon(key: str) -> QIcon:
    """A round icon in the state's colour with its glyph, readable without colour."""
    look = state_style.LOOKS[key]
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(look.colour))
    painter.setPen(QColor("white"))
    painter.drawEllipse(QRectF(2, 2, ICON_SIZE - 4, ICON_SIZE - 4))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(ICON_SIZE * 0.55))
    painter.setFont(font)
    painter.drawText(QRectF(0, 0, ICON_SIZE, ICON_SIZE), Qt.AlignmentFlag.AlignCenter,
                     look.glyph)
    painter.end()
    return QIcon(pixmap)


class Tray(QObject):
    """The tray icon and its menu, polling beat's status off the GUI thread."""

    open_panel_requested = Signal()
    outcome_needs_window = Signal(object)  # outcomes.Message the window should show
    status_changed = Signal(object)
    notified = Signal(str, str)  # title, text (also for tests)

    def __init__(self, config: Config, runner: JobRunner | None = None,
                 refresh_seconds: int = 30, keep_alive: KeepAlive | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.runner = runner or JobRunner(self)
        self.keep_alive = keep_alive or KeepAlive()
        self.keep_alive_enabled = False
        self.status: Status | None = None
        self.in_flight: str | None = None
        self.checking = False
        self.last_message: outcomes.Message | None = None
        self._icons = {key: state_icon(key) for key in state_style.LOOKS}
        self.icon = QSystemTrayIcon(self._icons["unknown"], self)
        self.icon.setToolTip("Beat Panel: checking whether beat is running…")
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        self.timer = QTimer(self)
        self.timer.setInterval(refresh_seconds * 1000)
        self.timer.timeout.connect(self.refresh)
        self.rebuild_menu()

    # -- life --------------------------------------------------------------------------

    def start(self) -> None:
        self.icon.show()
        self.refresh()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.icon.hide()

    @property
    def state_key(self) -> str:
        if self.in_flight:
            return _WORKING[self.in_flight]
        return state_style.state_key(self.status)

    # -- status ------------------------------------------------------------------------

    def refresh(self) -> None:
        if self.checking:
            return
        self.checking = True
        self.runner.submit(beat_status.check_status, self.config, on_done=self._landed,
                           on_error=lambda exc: self._landed(Status(state="error",
                                                                    error=str(exc))))

    def _landed(self, status: Status) -> None:
        self.checking = False
        self.on_status(status)

    def on_status(self, status: Status) -> None:
        """A new status (from our own poll or from the window's)."""
        previous, self.status = self.status, status
        if self.in_flight is None and previous is not None:
            self._notice_unexpected(previous, status)
        self._show()
        self.status_changed.emit(status)

    def _show(self) -> None:
        key = self.state_key
        self.icon.setIcon(self._icons[key])
        words = state_style.badge_text(self.status) if not self.in_flight else \
            f"{state_style.LOOKS[key].glyph} {state_style.LOOKS[key].label}"
        tip = f"Beat Panel — {words}\n{state_style.tooltip(self.status)}"
        self.icon.setToolTip(tip)

    def _notice_unexpected(self, before: Status, after: Status) -> None:
        """Tell about changes nobody here asked for."""
        if before.running and not after.running and after.state == "stopped":
            if self.keep_alive_enabled:
                if self.keep_alive.allow():
                    self.notify("warning", "Beat stopped unexpectedly",
                                "Keep-alive is on: starting it again.")
                    self.run_action("start", automatic=True)
                    return
                self.notify("error", "Beat stopped unexpectedly", self.keep_alive
                            .describe_limit())
                return
            self.notify("warning", "Beat stopped unexpectedly",
                        f"{before.message} It is not running now; periodic tasks are not "
                        "being sent.")
        elif not before.running and after.running:
            self.notify("info", "Beat is running again", after.message)
        elif after.count > before.count and after.count > 1:
            self.notify("error", "A second beat appeared",
                        f"{after.count} beats are running (pids "
                        f"{', '.join(map(str, after.pids))}): every task is sent "
                        f"{after.count} times.")

    def notify(self, level: str, title: str, text: str) -> None:
        self.icon.showMessage(title, text, _LEVEL_ICONS[level], 10000)
        self.notified.emit(title, text)

    # -- menu --------------------------------------------------------------------------

    def rebuild_menu(self) -> None:
        """Rebuilt each time it opens, so it always matches the state."""
        self.menu.clear()
        state = self.menu.addAction(state_style.badge_text(self.status)
                                    if not self.in_flight else
                                    state_style.LOOKS[self.state_key].label)
        state.setEnabled(False)
        self.menu.addSeparator()
        self._add("Open panel", self.open_panel_requested.emit)
        self.menu.addSeparator()
        idle = self.in_flight is None and self.status is not None
        running = bool(self.status and self.status.running)
        self._add("Start", lambda: self.run_action("start"), idle and not running)
        self._add("Stop", lambda: self.run_action("stop"), idle and running)
        self._add("Restart", lambda: self.run_action("restart"), idle and running)
        self.menu.addSeparator()
        logfile = self._logfile()
        self._add("Open beat log", self.open_log, logfile is not None)
        keep = self._add("Keep beat alive", self.toggle_keep_alive)
        keep.setCheckable(True)
        keep.setChecked(self.keep_alive_enabled)
        login = self._add("Start at login", self.toggle_autostart)
        login.setCheckable(True)
        login.setChecked(autostart.is_enabled())
        self.menu.addSeparator()
        self._add("Quit", self._quit)

    def _add(self, text: str, slot: Callable[[], object], enabled: bool = True) -> QAction:
        action = self.menu.addAction(text)
        action.setEnabled(enabled)
        action.triggered.connect(lambda _=False: slot())
        return action

    def actions_by_text(self) -> dict[str, QAction]:
        return {a.text(): a for a in self.menu.actions() if a.text()}

    def _logfile(self):
        spec = configured_launch(self.config)
        return self.config.beat.logfile or (spec.logfile if spec else None)

    def open_log(self) -> None:
        path = self._logfile()
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def toggle_keep_alive(self) -> None:
        self.keep_alive_enabled = not self.keep_alive_enabled
        self.keep_alive.reset()

    def toggle_autostart(self) -> None:
        if autostart.is_enabled():
            autostart.disable()
        else:
            autostart.enable(self.config.path)

    def _quit(self) -> None:
        from PySide6.QtWidgets import QApplication

        QApplication.quit()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.open_panel_requested.emit()

    # -- actions -----------------------------------------------------------------------

    def run_action(self, name: str, automatic: bool = False) -> None:
        if self.in_flight is not None:
            return
        if not automatic:
            self.keep_alive.reset()
        self.in_flight = name
        self._show()
        self.runner.submit(getattr(actions, name), self.config,
                           on_done=lambda r: self._action_done(r, automatic),
                           on_error=lambda exc: self._action_done(ActionResult(
                               name, False, f"Beat Panel failed to {name} beat: {exc}"),
                               automatic))

    def _action_done(self, result: ActionResult, automatic: bool) -> None:
        self.in_flight = None
        message = outcomes.describe(result)
        self.last_message = message
        hint = " Click for details." if _needs_window(message) else ""
        if not (automatic and result.success):
            self.notify(message.level, message.title, f"{message.text}{hint}")
        elif automatic:
            self.notify("info", "Beat started again", result.message)
        self.refresh_after_action()

    def refresh_after_action(self) -> None:
        # Take the next status as the new normal, not as an unexpected change.
        self.status = None
        self.refresh()

    def _message_clicked(self) -> None:
        if self.last_message is not None and _needs_window(self.last_message):
            self.outcome_needs_window.emit(self.last_message)


def _needs_window(message: outcomes.Message) -> bool:
    return message.offer_start or bool(message.details) or message.level == "error"
