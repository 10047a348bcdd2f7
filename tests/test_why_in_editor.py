"""The editor's "Why?" action: the selected entry's answer from the core (beat, schedule,
entry, broker, workers, task), fetched in a job and shown in one message box."""

from __future__ import annotations

from PySide6.QtCore import Qt

from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.store import ScheduleStore

from faces import click_action

HELLO = "beat_panel.demo.app.say_hello"


def test_why_names_what_stops_the_selected_entry(panel_project, open_editor, qtbot):
    path = panel_project.root / "schedule.json"
    ScheduleStore(path).save(Document((Entry("hello", HELLO, Interval(30)),
                                       Entry("off", HELLO, Interval(30), enabled=False))),
                             None)
    editor = open_editor(panel_project.load())
    why = editor.toolbar.widgetForAction(editor.actions["why"])
    assert not why.isEnabled(), "nothing selected yet"

    row = next(r for r in range(editor.proxy.rowCount())
               if editor.proxy.data(editor.proxy.index(r, 1)) == "off")
    cell = editor.table.visualRect(editor.proxy.index(row, 1)).center()
    qtbot.mouseClick(editor.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert why.isEnabled()
    click_action(qtbot, editor, "why")
    qtbot.waitUntil(lambda: bool(editor.dialogs.shown), timeout=30000)
    editor.runner.wait()

    prompt = editor.dialogs.shown[-1]
    assert prompt.title == "Why 'off' runs or not"
    assert prompt.text.startswith("✗ off will not run")
    reasons = prompt.informative.splitlines()
    assert "not running" in reasons[0].lower()  # beat first
    # Marked as `beat-panel why` marks them, and counted as the heading says.
    assert all(line[:2] in ("✗ ", "· ") for line in reasons), reasons
    stopping = sum(line.startswith("✗") for line in reasons)
    assert f"will not run: {stopping} reason" in prompt.text
    assert any("disabled" in line.lower() or "switched off" in line.lower()
               for line in reasons), reasons


def test_the_will_run_column_follows_the_monitors_health_checks(panel_project, make_panel,
                                                                qtbot):
    from beat_panel.ui.schedule.table import WHY

    ScheduleStore(panel_project.root / "schedule.json").save(Document((
        Entry("hello", HELLO, Interval(30)),
        Entry("off", HELLO, Interval(30), enabled=False))), None)
    panel = make_panel(panel_project, refresh_seconds=1)
    window = panel.show_window()
    qtbot.waitExposed(window)
    editor = window.editor
    qtbot.waitUntil(lambda: editor.loaded, timeout=15000)

    def will_run(name: str) -> str:
        proxy = editor.proxy
        row = next(r for r in range(proxy.rowCount())
                   if proxy.data(proxy.index(r, 1)) == name)
        return proxy.data(proxy.index(row, WHY)) or ""

    qtbot.waitUntil(lambda: will_run("hello") != "", timeout=30000)
    assert will_run("hello") == "✗ beat stopped"  # the first reason, in a few words
    proxy = editor.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.data(proxy.index(r, 1)) == "off")
    tip = proxy.data(proxy.index(row, WHY), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("It will not run:") and "switched off" in tip
