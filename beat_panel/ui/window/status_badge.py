"""The always-visible status badge: colour, glyph and words for beat's state."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from beat_panel.control.states import Phase
from beat_panel.control.status import Status
from beat_panel.ui import state_style

MIN_WIDTH = 150


class StatusBadge(QLabel):
    """A rounded coloured label; clicking it asks for help with the current state."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBadge")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.status: Status | None = None
        self.trouble: state_style.Trouble | None = None
        self.show_status(None)

    @property
    def state_key(self) -> str:
        return state_style.state_key(self.status, trouble=self.trouble)

    def show_status(self, status: Status | None, working: Phase | None = None,
                    trouble: state_style.Trouble | None = None) -> None:
        """Show a status; `working` (starting/stopping/restarting) overrides it while an
        action of this window is in flight. `trouble`: what the last health check found
        that keeps a running beat's sends from a worker."""
        self.status = status
        self.trouble = trouble
        key = state_style.state_key(status, working, trouble)
        look = state_style.LOOKS[key]
        text = state_style.badge_text(status, working, trouble)
        state_style.restyle(self, (
            f"QLabel#statusBadge {{ background: {look.colour}; color: white; "
            "border-radius: 12px; padding: 4px 14px; font-weight: bold; font-size: 14px; }"))
        self.ensurePolished()  # the style sheet's font first, so the size fits the words
        self.setText(text)
        # Never narrower than its words ("! Broker unreachable" is the longest).
        self.setMinimumWidth(max(MIN_WIDTH, self.sizeHint().width()))
        self.setToolTip(state_style.tooltip(status, working, trouble))
        self.setAccessibleName(f"Beat status: {text}")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)
