"""The top of the window: the status badge, what it means, when it was checked, the
Start / Stop / Restart buttons and the duplicate-beat banner, all drawn from the monitor."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from beat_panel.control.states import Action
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
        self.checked.setStyleSheet("color: #5f6368;")
        self.buttons: dict[Action, QPushButton] = {}
        for action in Action:
            button = QPushButton(action.label)
            button.setObjectName(f"{action.value}Button")
            button.clicked.connect(lambda _=False, a=action: self.action_requested.emit(a))
            self.buttons[action] = button
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

    def show_state(self) -> None:
        monitor = self.monitor
        status = monitor.status
        working = monitor.in_flight.phase if monitor.in_flight else None
        trouble = monitor.trouble
        self.badge.show_status(status, working, trouble)
        if status is not None:
            self.context.setText(context_text(status) if working is None
                                 else f"Beat is {working.value}…")
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
