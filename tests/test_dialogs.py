"""Real message boxes (offscreen), as a person meets them: a title the box is wide enough
for."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QMessageBox

from beat_panel.ui.dialogs import TITLE_DECORATION_PX, Dialogs


def open_box() -> QMessageBox:
    return next(w for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.isVisible())


def test_a_short_box_is_wide_enough_for_its_title(qtbot):
    seen: dict[str, int] = {}

    def measure_then_cancel() -> None:
        box = open_box()
        seen["width"] = box.width()
        qtbot.keyClick(box, Qt.Key.Key_Escape)

    QTimer.singleShot(0, measure_then_cancel)
    answer = Dialogs(None).ask("Delete entries?", "Delete 'hello'?",
                               (("delete", "Delete"), ("cancel", "Cancel")), "cancel",
                               "Nothing is written until you save.")
    assert answer == "cancel"
    bold = QFont(QApplication.font())
    bold.setBold(True)
    title = QFontMetrics(bold).horizontalAdvance("Delete entries?")
    assert seen["width"] >= title + TITLE_DECORATION_PX
