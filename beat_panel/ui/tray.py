"""The system tray indicator: beat's state by colour and shape, actions one click away,
and a notification when beat dies. A view on the panel's one beat monitor, like the
window, so the two never disagree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from beat_panel.control import outcomes
from beat_panel.control.launch import beat_logfile
from beat_panel.control.outcomes import Level
from beat_panel.control.result import ActionResult
from beat_panel.control.states import Action
from beat_panel.ui import state_style
from beat_panel.ui.monitor import BeatMonitor, Notice, Origin
from beat_panel.ui.settings import PanelSettings

ICON_SIZE = 64
NOTIFY_MS = 10000
_LEVEL_ICONS = {Level.INFO: QSystemTrayIcon.MessageIcon.Information,
                Level.WARNING: QSystemTrayIcon.MessageIcon.Warning,
                Level.ERROR: QSystemTrayIcon.MessageIcon.Critical}


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
    """The tray icon and its menu; all state comes from the monitor."""

    open_panel_requested = Signal()
    outcome_needs_window = Signal(object)  # outcomes.Message the window should show
    log_in_panel_requested = Signal(str)  # show the log in the window, saying why
    notified = Signal(str, str)  # title, text (also for tests)

    def __init__(self, monitor: BeatMonitor, settings: PanelSettings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.settings = settings
        self.last_message: outcomes.Message | None = None
        self._icons = {key: state_icon(key) for key in state_style.LOOKS}
        self.icon = QSystemTrayIcon(self._icons["unknown"], self)
        self.icon.setToolTip("Beat Panel: checking whether beat is running…")
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        monitor.changed.connect(self._show)
        monitor.noticed.connect(self._noticed)
        monitor.action_finished.connect(self._action_finished)
        settings.changed.connect(self._setting_changed)
        self.rebuild_menu()
        self._show()

    # -- life --------------------------------------------------------------------------

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def close(self) -> None:
        """Take the icon away for good (the menu has no Qt parent to go with it)."""
        self.icon.hide()
        self.menu.deleteLater()
        self.deleteLater()

    def _setting_changed(self, _name: str) -> None:
        self.rebuild_menu()

    @property
    def state_key(self) -> str:
        return state_style.state_key(self.monitor.status, self._working,
                                     self.monitor.trouble)

    @property
    def _working(self):
        return self.monitor.in_flight.phase if self.monitor.in_flight else None

    def _show(self) -> None:
        monitor = self.monitor
        status, working, trouble = monitor.status, self._working, monitor.trouble
        self.icon.setIcon(self._icons[self.state_key])
        words = state_style.badge_text(status, working, trouble)
        text = state_style.tooltip(status, working, trouble)
        worst = monitor.health.worst if monitor.health is not None else None
        if worst is not None and working is None and worst.message not in text:
            text += f"\nWorst problem: {worst.message}"
        self.icon.setToolTip(f"Beat Panel — {words}\n{text}")
        if self.menu.isVisible():
            self.rebuild_menu()

    # -- notifications -----------------------------------------------------------------

    def notify(self, level: Level, title: str, text: str) -> None:
        self.icon.showMessage(title, text, _LEVEL_ICONS[Level(level)], NOTIFY_MS)
        self.notified.emit(title, text)

    def _noticed(self, notice: Notice) -> None:
        if notice.offer_start:
            # A click on it opens the window with Start now and Open log.
            self.last_message = outcomes.Message(notice.level, notice.title, notice.text,
                                                 offer_start=True, offer_log=True)
            self.notify(notice.level, notice.title,
                        f"{notice.text} Click to start it again or to see its log.")
            return
        self.notify(notice.level, notice.title, notice.text)

    def _action_finished(self, result: ActionResult, origin: Origin) -> None:
        if origin is Origin.WINDOW:
            return  # the window shows its own outcome in a message box
        message = outcomes.describe(result)
        self.last_message = message
        if origin is Origin.KEEP_ALIVE and result.success:
            self.notify(Level.INFO, "Beat started again", result.message)
            return
        hint = " Click for details." if _needs_window(message) else ""
        self.notify(message.level, message.title, f"{message.text}{hint}")

    def _message_clicked(self) -> None:
        if self.last_message is not None and _needs_window(self.last_message):
            self.outcome_needs_window.emit(self.last_message)

    # -- menu --------------------------------------------------------------------------

    def rebuild_menu(self) -> None:
        """Rebuilt each time it opens or the state changes, so it always matches."""
        monitor = self.monitor
        self.menu.clear()
        headline = self.menu.addAction(state_style.badge_text(monitor.status, self._working,
                                                              monitor.trouble))
        headline.setEnabled(False)
        self.menu.addSeparator()
        self._add("Open panel", self.open_panel_requested.emit)
        self.menu.addSeparator()
        idle = monitor.idle
        running = monitor.running
        self._add("Start", lambda: monitor.run_action(Action.START, Origin.TRAY),
                  idle and not running)
        self._add("Stop", lambda: monitor.run_action(Action.STOP, Origin.TRAY),
                  idle and running)
        self._add("Restart", lambda: monitor.run_action(Action.RESTART, Origin.TRAY),
                  idle and running)
        self.menu.addSeparator()
        self._add("Open beat log", self.open_log, self._logfile() is not None)
        keep = self._add("Keep beat alive",
                         lambda: self.settings.set_keep_alive(not self.settings.keep_alive))
        keep.setCheckable(True)
        keep.setChecked(self.settings.keep_alive)
        login = self._add("Start at login", self._toggle_start_at_login)
        login.setCheckable(True)
        login.setChecked(self.settings.start_at_login)
        self.menu.addSeparator()
        self._add("Quit", QApplication.quit)

    def _toggle_start_at_login(self) -> None:
        try:
            self.settings.set_start_at_login(not self.settings.start_at_login)
        except OSError as exc:
            self.notify(Level.ERROR, "Could not change start at login", str(exc))

    def _add(self, text: str, slot: Callable[[], object], enabled: bool = True) -> QAction:
        action = self.menu.addAction(text)
        action.setEnabled(enabled)
        action.triggered.connect(lambda _=False: slot())
        return action

    def actions_by_text(self) -> dict[str, QAction]:
        return {a.text(): a for a in self.menu.actions() if a.text()}

    def _logfile(self) -> Path | None:
        return beat_logfile(self.monitor.config)

    def open_log(self) -> None:
        """Open beat's log with the desktop's program for it; where there is none, or
        no log yet, the window's Log tab shows it and says why. (Whether the file is
        there is looked at in a job: a stat may hang on a network folder.)"""
        path = self._logfile()
        if path is None:
            return
        self.monitor.runner.submit(path.is_file,
                                   on_done=lambda there: self._open_log(path, there),
                                   on_error=lambda _err: self._open_log(path, False))

    def _open_log(self, path: Path, there: bool) -> None:
        if not there:
            self.log_in_panel_requested.emit(
                f"Beat's log {path} does not exist yet: beat writes it when it starts. "
                "The Log tab shows it from then on.")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.log_in_panel_requested.emit(
                f"No program is set up to open {path} on this desktop, so beat's log is "
                "shown here, on the Log tab.")

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.open_panel_requested.emit()


def _needs_window(message: outcomes.Message) -> bool:
    return message.offer_start or bool(message.details) or message.level is Level.ERROR
