"""The window from the keyboard, as a person uses it: every editor action is in the
Schedule menu with its shortcut and works wherever the focus is; Esc closes every message
box; Tab leaves a table for the next control; Ctrl+Tab moves between the tabs. And what
a dark theme does to the window's own light banners."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from beat_panel.control import outcomes
from beat_panel.control.result import ActionResult
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.schedule.toolbar import ACTIONS


@pytest.fixture
def window(schedule_project, make_panel, qtbot):
    panel = make_panel(schedule_project)
    window = panel.show_window()
    qtbot.addWidget(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)  # shortcuts go to the active one
    qtbot.waitUntil(lambda: window.editor.loaded, timeout=15000)
    return window


def focus(qtbot, widget) -> None:
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def menu_named(window, title: str):
    return next(a.menu() for a in window.menuBar().actions() if a.text() == title)


def test_every_editor_action_is_in_the_schedule_menu_with_its_shortcut(window):
    menu = menu_named(window, "S&chedule")
    listed = {a.text(): a.shortcut() for a in menu.actions() if not a.isSeparator()}
    for _key, label, shortcut in ACTIONS:
        assert label in listed, label
        if shortcut is not None:
            assert listed[label] == QKeySequence(shortcut), label


def test_shortcuts_work_from_another_tab_and_from_the_search_box(window, qtbot):
    editor = window.editor
    opened: list[str] = []
    editor.run_dialog = lambda dialog: opened.append(dialog.windowTitle())
    window.tabs.setCurrentWidget(window.log_view)
    focus(qtbot, window.header.check_now)
    qtbot.keyClick(window.header.check_now, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert len(opened) == 1  # Add… opened its dialog
    assert window.tabs.currentWidget() is editor  # and shows what it acts on

    editor.select(["hello"])
    editor.actions["disable"].trigger()
    focus(qtbot, editor.search)
    with qtbot.waitSignal(editor.saved, timeout=15000):
        qtbot.keyClick(editor.search, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not editor.dirty
    with qtbot.waitSignal(editor.load_finished, timeout=15000):
        qtbot.keyClick(editor.search, Qt.Key.Key_F5)


def test_tab_leaves_the_table_and_ctrl_tab_changes_tabs(window, qtbot):
    editor = window.editor
    focus(qtbot, editor.table)
    qtbot.keyClick(editor.table, Qt.Key.Key_Tab)
    assert not editor.table.hasFocus()
    focus(qtbot, editor.table)
    qtbot.keyClick(editor.table, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.log_view
    qtbot.keyClick(window.log_view, Qt.Key.Key_Backtab,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.tabs.currentWidget() is editor


@pytest.mark.parametrize("result", [
    ActionResult("stop", False, "Beat is not running.", not_running=True,
                 manual_start_command="celery -A proj beat"),
    ActionResult("stop", True, "Beat stopped (pid 1)."),
])
def test_esc_closes_the_outcome_box(qtbot, result: ActionResult):
    closed: list[str] = []

    def press_escape() -> None:
        box = next(w for w in QApplication.topLevelWidgets()
                   if isinstance(w, QMessageBox) and w.isVisible())
        qtbot.keyClick(box, Qt.Key.Key_Escape)

    QTimer.singleShot(200, press_escape)
    closed.append(Dialogs(None).outcome(outcomes.describe(result)))
    assert closed == ["ok"]  # "Close": nothing started


def test_in_a_dark_palette_the_light_banners_keep_dark_text(window, qtbot):
    """The looks pass: a banner with its own light background must not take the dark
    theme's light text (it would be unreadable), and quiet labels follow the palette."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QLabel

    app = QApplication.instance()
    before = app.palette()
    dark = QPalette(before)
    for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"),
                         (QPalette.ColorRole.WindowText, "#e8eaed"),
                         (QPalette.ColorRole.PlaceholderText, "#9aa0a6")):
        dark.setColor(role, QColor(colour))
    try:
        app.setPalette(dark)
        window.editor.conflict_bar.show_conflict("changed elsewhere")
        QApplication.processEvents()
        for banner in (window.demo_banner, window.editor.conflict_bar):
            for label in banner.findChildren(QLabel):
                label.ensurePolished()
                text = label.palette().color(QPalette.ColorRole.WindowText)
                assert text.lightness() < 80, (banner.objectName(), text.name())
        checked = window.header.checked
        assert checked.palette().color(checked.foregroundRole()).name() == "#9aa0a6"
    finally:
        app.setPalette(before)
