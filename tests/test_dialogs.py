"""Real message boxes (offscreen), as a person meets them: a title the box is wide enough
for, and a command shown one option a line with a "Copy command" button that copies it
and leaves the box open."""

from __future__ import annotations

import shlex

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from beat_panel.ui.dialogs import COPIED_LABEL, TITLE_DECORATION_PX, Dialogs, command_lines

COMMAND = ("env BEAT_PANEL_DEMO_DIR=/home/alice/.local/share/beat-panel/demo "
           "/usr/lib/beat-panel/start_celery_beat.sh --app beat_panel.demo.app "
           "--workdir /home/alice/.local/share/beat-panel/demo "
           "--logfile '/home/alice/my logs/beat.log' "
           "--celery /usr/lib/beat-panel/bin/celery -- --loglevel=INFO")


def open_box() -> QMessageBox:
    return next(w for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.isVisible())


def button(box: QMessageBox, text: str) -> QPushButton:
    return next(b for b in box.findChildren(QPushButton) if b.text() == text)


def test_a_command_is_shown_one_option_a_line_and_still_pastes_as_one():
    shown = command_lines(COMMAND)
    lines = shown.splitlines()
    assert lines[0] == "env BEAT_PANEL_DEMO_DIR=/home/alice/.local/share/beat-panel/demo \\"
    assert lines[1].strip() == "/usr/lib/beat-panel/start_celery_beat.sh \\"
    assert lines[2].strip() == "--app beat_panel.demo.app \\"
    assert lines[-1].strip() == "-- --loglevel=INFO"
    # What a shell makes of the lines shown: the same words as the command.
    assert shlex.split(shown.replace("\\\n", " ")) == shlex.split(COMMAND)
    assert command_lines("celery -A proj beat") == "celery -A proj beat"  # short: as is


def test_copy_command_copies_and_leaves_the_box_open(qtbot):
    QApplication.clipboard().clear()
    seen: dict[str, object] = {}

    def copy_then_close() -> None:
        box = open_box()
        seen["informative"] = box.informativeText()
        seen["focus on a button"] = isinstance(box.focusWidget(), QPushButton)
        copy = button(box, "Copy command")
        qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
        seen["open after copy"] = box.isVisible()
        seen["copy label"] = copy.text()
        seen["clipboard"] = QApplication.clipboard().text()
        qtbot.mouseClick(button(box, "Close"), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, copy_then_close)
    answer = Dialogs(None).ask("Beat is not running", "Periodic tasks are not being sent.",
                               (("start", "Start now"), ("ok", "Close")), "start",
                               f"Start it now, or by hand with:\n{COMMAND}",
                               level="warning", command=COMMAND)
    assert answer == "ok"  # Close, after the copy: nothing was started
    assert seen["focus on a button"] is True  # Return and Space answer, as in any box
    assert seen["open after copy"] is True and seen["copy label"] == COPIED_LABEL
    assert seen["clipboard"] == COMMAND
    assert command_lines(COMMAND) in str(seen["informative"])


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
