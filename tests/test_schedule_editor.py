"""The schedule editor on its own, driven with keys and clicks: shortcuts work from the
table, and a save that the running beat cannot follow offers a restart."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from beat_panel.control.status import check_status
from beat_panel.schedule.store import ScheduleStore


@pytest.fixture
def editor(schedule_project, open_editor):
    return open_editor(schedule_project.load())


def focus(qtbot, widget) -> None:
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def test_ctrl_s_saves_while_the_focus_is_in_the_table(editor, schedule_project, qtbot):
    editor.select(["hello"])
    editor.actions["disable"].trigger()
    assert editor.dirty
    focus(qtbot, editor.table)
    with qtbot.waitSignal(editor.saved, timeout=15000):
        qtbot.keyClick(editor.table, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert ScheduleStore(schedule_project.schedule_path).load().document.require("hello").enabled \
        is False
    assert not editor.dirty
    assert editor.notice.text() == ("Saved revision 2. Beat is not running; it will use "
                                    "this schedule when it starts.")


def test_return_edits_in_the_table_but_not_in_the_search_box(editor, qtbot):
    opened = []
    editor.run_dialog = lambda dialog: opened.append(dialog.name.text())
    editor.select(["report"])
    focus(qtbot, editor.search)
    qtbot.keyClicks(editor.search, "rep")
    qtbot.keyClick(editor.search, Qt.Key.Key_Return)
    assert opened == []
    qtbot.keyClick(editor.search, Qt.Key.Key_Delete)  # edits the search, not the schedule
    assert editor.dialogs.shown == [] and not editor.dirty
    focus(qtbot, editor.table)
    qtbot.keyClick(editor.table, Qt.Key.Key_Return)
    assert opened == ["report"]


def test_a_save_the_running_beat_cannot_follow_offers_a_restart(editor, schedule_project, qtbot):
    # A beat without the panel's scheduler.
    schedule_project.spawn_fake("-A", schedule_project.app, "beat")
    status = check_status(schedule_project.load())
    assert status.running
    editor.on_status(status)
    editor.select(["report"])
    editor.actions["disable"].trigger()
    editor.dialogs.answers = ["restart"]
    with qtbot.waitSignal(editor.restart_requested, timeout=15000):
        editor.actions["save"].trigger()
    (prompt,) = editor.dialogs.shown
    assert prompt.title == "Restart beat now?"
    assert editor.notice.text() == (
        "Saved revision 2. The running beat does not follow the panel's schedule file, so "
        "it applies this change only after a restart.")


def test_at_800_by_500_every_column_is_on_screen_and_times_are_not_cut(
        schedule_project, make_panel, qtbot):
    from PySide6.QtWidgets import QApplication

    from beat_panel.ui.schedule.table import COLUMNS, NAME, NEXT

    window = make_panel(schedule_project).show_window()
    qtbot.addWidget(window)
    window.resize(800, 500)
    editor = window.editor
    qtbot.waitUntil(lambda: editor.loaded, timeout=15000)
    QApplication.processEvents()
    assert window.width() == 800  # the window can be that small
    table = editor.table
    last = len(COLUMNS) - 1
    right = table.columnViewportPosition(last) + table.columnWidth(last)
    assert right <= table.viewport().width() + 1, (right, table.viewport().width())
    index = editor.proxy.index(0, NEXT)
    text = str(editor.proxy.data(index))
    assert table.fontMetrics().horizontalAdvance(text) + 8 <= table.columnWidth(NEXT), text
    assert table.columnWidth(NAME) >= 50  # the shared columns keep some of their width


def test_relative_times_tick_and_next_runs_are_dimmed_while_beat_is_stopped(editor, qtbot):
    from beat_panel.ui.schedule.table import NEXT

    index = editor.proxy.index(0, NEXT)  # "hello": every 30 s
    first = str(editor.proxy.data(index))
    assert "(in " in first
    qtbot.waitUntil(lambda: str(editor.proxy.data(index)) != first, timeout=5000)
    editor.on_status(check_status(editor.config))  # beat is not running
    colour = editor.proxy.data(index, Qt.ItemDataRole.ForegroundRole)
    assert colour is not None and colour.name() == "#80868b"
    tip = str(editor.proxy.data(index, Qt.ItemDataRole.ToolTipRole))
    assert tip.startswith("If beat were running:")
