"""The top of the window: the status badge, what it means, when it was checked, the
Start / Stop / Restart buttons and the duplicate-beat banner, all drawn from the monitor."""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from beat_panel.control.states import Action, Phase
from beat_panel.control.status import Status
from beat_panel.ui import state_style
from beat_panel.ui.monitor import BeatMonitor
from beat_panel.ui.window.status_badge import StatusBadge


class StatusHeader(QWidget):
    """Shows the monitor's state; its buttons ask the window to act."""

    action_requested = Signal(object)  # Action
    explain_requested = Signal()
    stop_extra_requested = Signal()

    def __init__(self, monitor: BeatMonitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        self.badge = StatusBadge()
        self.badge.clicked.connect(self.explain_requested.emit)
        self.context = QLabel()
        self.context.setObjectName("statusContext")
        # A long status wraps; it never widens the window.
        self.context.setWordWrap(True)
        self.context.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.checked = QLabel()
        state_style.dim(self.checked)
        self.buttons: dict[Action, QPushButton] = {}
        for action in Action:
            button = QPushButton(action.label)
            button.setObjectName(f"{action.value}Button")
            button.clicked.connect(lambda _=False, a=action: self.action_requested.emit(a))
            self.buttons[action] = button
        # While a stop waits for beat to end after SIGTERM: how long until SIGKILL, and
        # a way not to wait.
        self.kill_now = QPushButton("Kill now")
        self.kill_now.setObjectName("killNowButton")
        self.kill_now.setToolTip("Send SIGKILL now instead of waiting for beat to stop "
                                 "(it cannot save its schedule state).")
        self.kill_now.clicked.connect(self._kill_now)
        self.kill_now.hide()
        self._stopping_since: float | None = None
        self._countdown = QTimer(self)
        self._countdown.setInterval(500)
        self._countdown.timeout.connect(self.show_state)
        monitor.action_started.connect(self._action_started)
        self.check_now = QPushButton("Check now")
        self.check_now.setObjectName("checkNowButton")
        self.check_now.clicked.connect(monitor.check_now)

        self.duplicate_banner = QLabel()
        self.duplicate_banner.setObjectName("duplicateBanner")
        self.duplicate_banner.setWordWrap(True)
        self.duplicate_banner.setStyleSheet(
            "QLabel#duplicateBanner { background: #c5221f; color: white; padding: 8px; "
            "font-weight: bold; border-radius: 4px; }")
        self.duplicate_banner.hide()
        # Stop alone would stop every beat: this keeps the project's own one.
        self.stop_extra = QPushButton("Stop the extra beat")
        self.stop_extra.setObjectName("stopExtraButton")
        self.stop_extra.clicked.connect(self.stop_extra_requested.emit)
        self.stop_extra.hide()
        self.trouble_banner = QLabel()
        self.trouble_banner.setObjectName("troubleBanner")
        self.trouble_banner.setWordWrap(True)
        self.trouble_banner.setStyleSheet(
            f"QLabel#troubleBanner {{ background: {state_style.AMBER}; color: white; "
            "padding: 6px; border-radius: 4px; }")
        self.trouble_banner.hide()

        top = QHBoxLayout()
        top.addWidget(self.badge)
        details = QVBoxLayout()
        details.addWidget(self.context)
        details.addWidget(self.checked)
        top.addLayout(details, 1)
        for button in self.buttons.values():
            top.addWidget(button)
        top.addWidget(self.kill_now)
        top.addWidget(self.check_now)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        duplicate_row = QHBoxLayout()
        duplicate_row.addWidget(self.duplicate_banner, 1)
        duplicate_row.addWidget(self.stop_extra)
        layout.addLayout(duplicate_row)
        layout.addWidget(self.trouble_banner)
        monitor.changed.connect(self.show_state)
        self.show_state()

    def _action_started(self, action: Action, _origin: object) -> None:
        if action in (Action.STOP, Action.RESTART) and self.monitor.running:
            self._stopping_since = time.monotonic()
            self._countdown.start()

    def _working_text(self, working: Phase) -> str:
        """What an action in flight is doing; a stop says when SIGKILL comes."""
        stopping = self.monitor.in_flight in (Action.STOP, Action.RESTART) and \
            self._stopping_since is not None
        self.kill_now.setVisible(stopping)
        if not stopping:
            self._countdown.stop()
            return f"Beat is {working.value}…"
        assert self._stopping_since is not None
        left = self.monitor.config.beat.stop_timeout - (time.monotonic() - self._stopping_since)
        if left > 0:
            return (f"Beat is {working.value}… SIGTERM sent; waiting for it to stop, SIGKILL "
                    f"in {max(1, round(left))} s.")
        return f"Beat is {working.value}… SIGKILL sent."

    def _kill_now(self) -> None:
        from beat_panel.control import actions

        actions.kill_now(self.monitor.config)
        self.kill_now.setEnabled(False)

    def show_state(self) -> None:
        monitor = self.monitor
        status = monitor.status
        working = monitor.in_flight.phase if monitor.in_flight else None
        trouble = monitor.trouble
        self.badge.show_status(status, working, trouble)
        if status is not None:
            self.context.setText(context_text(status) if working is None
                                 else self._working_text(working))
            # The reason the badge is amber, when health found one.
            shows_trouble = working is None and trouble is not None and \
                self.badge.state_key == state_style.TROUBLE_LOOKS[trouble.code]
            self.trouble_banner.setText(f"! {trouble.message}" if shows_trouble and trouble
                                        else "")
            self.trouble_banner.setVisible(shows_trouble)
            self.checked.setText(f"Checked {status_time(status)}; every "
                                 f"{monitor.settings.refresh_seconds} s.")
            alerts = status.alerts
            self.duplicate_banner.setText("⚠ " + "\n⚠ ".join(alerts))
            self.duplicate_banner.setVisible(bool(alerts))
            extra = [p for p in status.processes if not p.embedded and p.manager is None]
            self.stop_extra.setVisible(status.duplicate and len(extra) > 1)
            self.stop_extra.setEnabled(monitor.idle)
        if working is None:
            self._stopping_since = None
            self._countdown.stop()
            self.kill_now.hide()
            self.kill_now.setEnabled(True)
        idle = monitor.idle
        running = monitor.running
        self.buttons[Action.START].setEnabled(idle and not running)
        self.buttons[Action.STOP].setEnabled(idle and running)
        self.buttons[Action.RESTART].setEnabled(idle and running)


def context_text(status: Status) -> str:
    parts = [status.message]
    where = state_style.context(status)
    if where:
        parts.append(f"Runs {where}.")
    if status.schedule_problem:
        parts.append("The schedule has a problem: see the red note.")
    elif status.schedule_applied is True:
        parts.append("Schedule applied ✓")
    elif status.schedule_applied is False:
        parts.append("Latest schedule not applied yet.")
    return "  ".join(parts)


def status_time(status: Status) -> str:
    return datetime.fromtimestamp(status.checked_at).strftime("%H:%M:%S")
