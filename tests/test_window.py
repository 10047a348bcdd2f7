"""The window with pytest-qt (offscreen), driven by clicks, on real beat processes where
it matters. Message boxes are answered through the Dialogs wrapper."""

import itertools
import os
import subprocess
import sys
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from beat_panel.control.result import ActionResult
from beat_panel.control.states import Action, Phase
from beat_panel.control.status import Status
from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.store import ScheduleStore
from beat_panel.ui import monitor as monitor_module
from beat_panel.ui.app import Panel
from beat_panel.ui.monitor import Origin
from beat_panel.ui.state_style import AMBER, GREEN, RED
from beat_panel.ui.window.main_window import MainWindow

from conftest import is_alive
from scripted_dialogs import ScriptedDialogs


@pytest.fixture
def open_window(qtbot):
    """A real panel (monitor, settings, job runner) with its window shown."""
    panels = []

    def make(project, refresh_seconds: int = 30) -> MainWindow:
        panel = Panel(project.load(), QApplication.instance(), refresh_seconds,
                      dialogs=ScriptedDialogs())
        panels.append(panel)
        window = panel.show_window()
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.status is not None, timeout=15000)
        return window

    yield make
    for panel in panels:
        panel.shutdown()


def click(qtbot, widget) -> None:
    assert widget.isEnabled(), f"{widget.text()} is disabled"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def wait_for_action(qtbot, window, action: Action) -> ActionResult:
    """Click the action's button; the outcome as the window got it."""
    shown = len(window.dialogs.shown)
    with qtbot.waitSignal(window.monitor.action_finished, timeout=60000) as blocker:
        click(qtbot, window.buttons[action])
    window.runner.wait()
    qtbot.waitUntil(lambda: len(window.dialogs.shown) > shown, timeout=5000)  # its box
    return blocker.args[0]


def badge_colour(window) -> str:
    sheet = window.badge.styleSheet()
    return sheet.split("background: ")[1].split(";")[0]


def test_badge_turns_green_when_beat_runs_and_red_after_it_is_killed(fake_project, open_window,
                                                                      qtbot):
    project = fake_project()
    window = open_window(project)
    assert window.badge.text() == "■ Stopped" and badge_colour(window) == RED
    assert window.buttons[Action.START].isEnabled() and not window.buttons[Action.STOP].isEnabled()

    beat = project.spawn_fake("-A", project.app, "beat")
    click(qtbot, window.header.check_now)
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active", timeout=15000)
    assert badge_colour(window) == GREEN
    assert str(beat.pid) in window.badge.toolTip()
    assert window.buttons[Action.RESTART].isEnabled()
    assert not window.buttons[Action.START].isEnabled()

    beat.kill()
    beat.wait()
    # No click: the monitor watches the beat it knows, so its death shows at once.
    qtbot.waitUntil(lambda: window.badge.text() == "■ Stopped", timeout=2000)


def test_two_beats_at_once_are_a_loud_amber_warning(fake_project, open_window, qtbot):
    project = fake_project(pidfile=None)
    first = project.spawn_fake("-A", project.app, "beat")
    second = project.spawn_fake("-A", project.app, "beat")
    window = open_window(project)
    window.resize(900, 600)
    qtbot.waitUntil(lambda: window.badge.text() == "!! 2 beats running", timeout=15000)
    assert badge_colour(window) == AMBER
    assert window.header.duplicate_banner.isVisible()
    assert "every periodic task is sent 2 times" in window.header.duplicate_banner.text()
    QApplication.processEvents()
    assert window.badge.width() >= window.badge.sizeHint().width()  # never clipped
    assert window.width() <= 900  # the long status line wraps; it never widens the window

    # "Stop the extra beat" keeps the one that started first; Stop would stop both.
    button = window.header.stop_extra
    assert button.isVisible()
    window.dialogs.answers = ["ok"]
    with qtbot.waitSignal(window.monitor.action_finished, timeout=30000) as done:
        click(qtbot, button)
    result = done.args[0]
    assert result.success and f"pid {second.pid}" in result.message, result.message
    assert is_alive(first) and not is_alive(second)
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active", timeout=15000)
    assert not button.isVisible()


def test_error_badge_carries_the_reason(fake_project, open_window, qtbot, monkeypatch):
    window = open_window(fake_project())
    # The check itself failing (an unreadable /proc) cannot be made here as root: the
    # monitor is handed the Status the core returns in that case.
    monkeypatch.setattr(monitor_module, "check_status", lambda config: Status(
        state=Phase.ERROR, error="cannot read the process table: [Errno 13] /proc"))
    click(qtbot, window.header.check_now)
    qtbot.waitUntil(lambda: window.badge.text() == "✖ Error", timeout=5000)
    assert badge_colour(window) == RED
    assert "cannot read the process table" in window.badge.toolTip()


def test_working_states_are_amber(fake_project, open_window):
    window = open_window(fake_project())
    for working, text in ((Phase.STARTING, "↻ Starting…"), (Phase.STOPPING, "↻ Stopping…"),
                          (Phase.RESTARTING, "↻ Restarting…")):
        window.badge.show_status(window.status, working)
        assert window.badge.text() == text and badge_colour(window) == AMBER


def test_badge_says_when_beat_runs_embedded_in_a_worker(fake_project, open_window, qtbot):
    project = fake_project()
    worker = project.spawn_fake("-A", project.app, "worker", "-B")
    window = open_window(project)
    qtbot.waitUntil(lambda: "embedded in worker" in window.header.context.text(), timeout=15000)
    assert str(worker.pid) in window.header.context.text()


def test_restart_shows_old_and_new_pid(fake_project, open_window, qtbot):
    project = fake_project()
    (old,) = project.cli("start", "--json").json["new_pids"]
    window = open_window(project)
    result = wait_for_action(qtbot, window, Action.RESTART)
    project.tracker.adopt(result.new_pids[0])
    (prompt,) = window.dialogs.shown
    assert prompt.title == "Beat restarted" and prompt.level == "info"
    assert f"{old} → {result.new_pids[0]}" in prompt.text
    qtbot.waitUntil(lambda: bool(window.status and window.status.pids == result.new_pids))


def test_restart_when_not_running_offers_start_now(fake_project, open_window, qtbot):
    project = fake_project()
    window = open_window(project)
    window.dialogs.answers = ["start", "ok"]
    # Not running: Restart is disabled, so ask through the Beat menu's item as a
    # script or the tray could (the monitor answers "not running").
    with qtbot.waitSignal(window.monitor.action_finished, timeout=60000):
        window.beat_actions[Action.RESTART].setEnabled(True)
        window.beat_actions[Action.RESTART].trigger()
    qtbot.waitUntil(lambda: bool(window.dialogs.shown), timeout=5000)
    not_running = window.dialogs.shown[0]
    assert not_running.title == "Beat is not running"
    assert "start_celery_beat.sh" in not_running.informative
    assert ("start", "Start now") in not_running.buttons
    assert ("copy", "Copy command") in not_running.buttons
    assert "start_celery_beat.sh" in not_running.command
    # "Start now" was chosen: the start runs and reports.
    qtbot.waitUntil(lambda: len(window.dialogs.shown) == 2, timeout=60000)
    window.runner.wait()
    assert window.dialogs.shown[1].title == "Beat started"
    qtbot.waitUntil(lambda: bool(window.status and window.status.running), timeout=15000)
    project.tracker.adopt(window.status.pids[0])


def test_start_failure_shows_the_log_tail_in_the_details(fake_project, open_window, qtbot):
    window = open_window(fake_project(mode="crash"))
    wait_for_action(qtbot, window, Action.START)
    (prompt,) = window.dialogs.shown
    assert prompt.level == "error" and prompt.title == "Beat did not start"
    assert "No module named 'proj'" in prompt.details
    assert "No module named 'proj'" in prompt.text  # the reason, not only under Details


def test_stop_that_needed_sigkill_says_so(fake_project, open_window, qtbot):
    project = fake_project(mode="ignore", stop_timeout=1)
    project.cli("start", "--json")
    window = open_window(project)
    wait_for_action(qtbot, window, Action.STOP)
    (prompt,) = window.dialogs.shown
    assert prompt.level == "warning" and "SIGKILL" in prompt.text + prompt.informative
    said = prompt.text + " " + prompt.informative
    assert said.count("SIGKILL") == 1, said  # said once


def test_permission_denied_names_the_owner_and_the_command(fake_project, open_window, qtbot):
    # As root nothing is denied, so the window gets the result the CLI gives a user
    # who does not own beat (see test_control's real permission test).
    window = open_window(fake_project())
    window.monitor.action_finished.emit(ActionResult(
        "restart", False, "Permission denied: beat (pid 42) runs as root, and you are alice, "
        "so Beat Panel may not restart it.", permission_denied=True, owner="root",
        instructions="Run Beat Panel as that user:\n    sudo -u root /venv/bin/beat-panel "
                     "restart", command="sudo -u root /venv/bin/beat-panel restart"),
        Origin.WINDOW)
    window.dialogs.answers = ["copy"]
    qtbot.waitUntil(lambda: bool(window.dialogs.shown), timeout=5000)
    (prompt,) = window.dialogs.shown
    assert prompt.title == "Permission denied" and "runs as root" in prompt.text
    assert "sudo -u root /venv/bin/beat-panel restart" in prompt.informative
    assert ("copy", "Copy command") in prompt.buttons
    assert QApplication.clipboard().text() == "sudo -u root /venv/bin/beat-panel restart"
    window.runner.wait()


def test_clicking_the_stopped_badge_explains_and_offers_start(fake_project, open_window, qtbot):
    window = open_window(fake_project())
    window.dialogs.answers = ["ok"]
    qtbot.mouseClick(window.badge, Qt.MouseButton.LeftButton)
    (prompt,) = window.dialogs.shown
    assert prompt.title == "Beat is not running" and "start_celery_beat.sh" in \
        prompt.informative


def test_the_stopped_badge_offers_to_copy_the_command_that_starts_beat(fake_project,
                                                                       open_window, qtbot):
    from beat_panel.control.launch import manual_start_command

    window = open_window(fake_project())
    QApplication.clipboard().clear()
    window.dialogs.answers = ["copy"]
    qtbot.mouseClick(window.badge, Qt.MouseButton.LeftButton)
    (prompt,) = window.dialogs.shown
    assert ("copy", "Copy command") in prompt.buttons
    manual = manual_start_command(window.monitor.config)
    assert prompt.command == manual
    assert QApplication.clipboard().text() == manual


def test_only_one_action_at_a_time(fake_project, open_window, qtbot):
    project = fake_project(mode="ignore", stop_timeout=2)
    project.cli("start", "--json")
    window = open_window(project)
    with qtbot.waitSignal(window.monitor.action_finished, timeout=60000):
        click(qtbot, window.buttons[Action.STOP])
        assert not any(b.isEnabled() for b in window.buttons.values())
        assert not any(a.isEnabled() for a in window.beat_actions.values())
        # Even a restart asked for by another face is refused while the stop runs.
        assert window.monitor.run_action(Action.RESTART, Origin.TRAY) is False
    window.runner.wait()
    qtbot.waitUntil(lambda: bool(window.dialogs.shown), timeout=5000)
    assert [p.title for p in window.dialogs.shown] == ["Beat stopped"]


def test_the_event_loop_keeps_ticking_during_a_slow_restart(fake_project, open_window, qtbot):
    # The old beat ignores SIGTERM, so the restart waits 2 s before SIGKILL.
    project = fake_project(mode="ignore", stop_timeout=2)
    project.cli("start", "--json")
    window = open_window(project)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    result = wait_for_action(qtbot, window, Action.RESTART)
    timer.stop()
    project.tracker.adopt(result.new_pids[0])
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert result.success and result.killed
    assert len(ticks) > 50, "the event loop did not run while beat was restarting"
    assert max(gaps) < 1.0, f"the GUI thread stalled for {max(gaps):.2f} s"


def test_status_refresh_runs_off_the_gui_thread(fake_project, open_window, qtbot, monkeypatch):
    window = open_window(fake_project())
    slow_calls = []

    def slow_status(config, full_scan=True):
        time.sleep(1.5)
        slow_calls.append(1)
        return Status(state="stopped")

    monkeypatch.setattr(monitor_module, "check_status", slow_status)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    click(qtbot, window.header.check_now)
    qtbot.waitUntil(lambda: bool(slow_calls), timeout=10000)
    timer.stop()
    window.runner.wait()
    assert len(ticks) > 30


# -- the schedule editor ------------------------------------------------------------------


def editor_of(window, qtbot):
    qtbot.waitUntil(lambda: window.editor.loaded, timeout=15000)
    return window.editor


def click_row(qtbot, editor, name: str) -> None:
    """Click the entry's row in the table, as a person selects it."""
    proxy = editor.proxy
    for row in range(proxy.rowCount()):
        index = proxy.index(row, 1)
        if proxy.data(index) == name:
            rect = editor.table.visualRect(index)
            qtbot.mouseClick(editor.table.viewport(), Qt.MouseButton.LeftButton,
                             pos=rect.center())
            assert editor.selected_names() == [name]
            return
    raise AssertionError(f"no row named {name!r}")


def press_tool(qtbot, editor, key: str) -> None:
    """Click a button of the editor's tool bar."""
    action = editor.actions[key]
    assert action.isEnabled(), f"{action.text()} is disabled"
    qtbot.mouseClick(editor.toolbar.widgetForAction(action), Qt.MouseButton.LeftButton)


def test_editor_lists_entries_and_filters_by_search(schedule_project, open_window, qtbot):
    editor = editor_of(open_window(schedule_project), qtbot)
    assert editor.proxy.rowCount() == 2
    qtbot.keyClicks(editor.search, "repo")
    assert editor.proxy.rowCount() == 1
    editor.search.selectAll()
    qtbot.keyClick(editor.search, Qt.Key.Key_Backspace)
    assert editor.proxy.rowCount() == 2


def test_unsaved_changes_are_marked_and_guarded_on_close(schedule_project, open_window, qtbot):
    window = open_window(schedule_project)
    editor = editor_of(window, qtbot)
    click_row(qtbot, editor, "hello")
    press_tool(qtbot, editor, "disable")
    assert window.isWindowModified() and editor.actions["save"].isEnabled()
    window.dialogs.answers = ["cancel"]
    assert not window.close()
    assert window.dialogs.shown[-1].title == "Unsaved changes"
    window.dialogs.answers = ["save"]
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=15000)
    saved = ScheduleStore(schedule_project.schedule_path).load().document
    assert saved.require("hello").enabled is False


def test_ctrl_s_saves_and_title_is_clean_again(schedule_project, open_window, qtbot):
    window = open_window(schedule_project)
    editor = editor_of(window, qtbot)
    click_row(qtbot, editor, "report")
    press_tool(qtbot, editor, "disable")
    with qtbot.waitSignal(editor.saved, timeout=15000):
        qtbot.keyClick(editor.table, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not window.isWindowModified()
    assert "Beat is not running" in editor.notice.text()


def conflict_after_my_edit(schedule_project, open_window, qtbot):
    """I disable "hello"; someone else adds "theirs" meanwhile; my save meets the
    conflict bar. The window, its editor and the file's store."""
    window = open_window(schedule_project)
    editor = editor_of(window, qtbot)
    click_row(qtbot, editor, "hello")
    press_tool(qtbot, editor, "disable")
    st = ScheduleStore(schedule_project.schedule_path)
    theirs = st.load()
    st.save(theirs.document.adding(Entry("theirs", "proj.theirs", Interval(9))), theirs.sha)
    press_tool(qtbot, editor, "save")
    qtbot.waitUntil(editor.conflict_bar.merge.isVisible, timeout=15000)
    return window, editor, st


def test_a_change_on_disk_while_editing_says_what_each_side_did_and_merges_both(
        schedule_project, open_window, qtbot):
    window, editor, st = conflict_after_my_edit(schedule_project, open_window, qtbot)
    text = editor.conflict_text.text()
    # What each side did, by name: their addition is not dropped without a word.
    assert "There, someone added theirs." in text and "Here, you edited hello." in text
    assert window.isWindowModified(), "nothing of mine was lost"
    on_disk = st.load().document
    assert on_disk.get("theirs") is not None and on_disk.require("hello").enabled
    # Merge: their new entry and my edit, both kept.
    with qtbot.waitSignal(editor.saved, timeout=15000):
        qtbot.mouseClick(editor.conflict_bar.merge, Qt.MouseButton.LeftButton)
    merged = st.load().document
    assert merged.get("theirs") is not None and merged.require("hello").enabled is False
    assert not editor.dirty and not editor.conflict_bar.isVisible()


def test_keep_mine_after_a_change_on_disk_saves_over_it_as_told(schedule_project,
                                                               open_window, qtbot):
    _window, editor, st = conflict_after_my_edit(schedule_project, open_window, qtbot)
    with qtbot.waitSignal(editor.saved, timeout=15000):
        qtbot.mouseClick(editor.conflict_bar.keep_mine, Qt.MouseButton.LeftButton)
    mine = st.load().document
    assert mine.require("hello").enabled is False and mine.get("theirs") is None


def test_a_file_changed_on_disk_without_local_edits_is_reloaded(schedule_project, open_window,
                                                                qtbot):
    window = open_window(schedule_project)
    editor = editor_of(window, qtbot)
    st = ScheduleStore(schedule_project.schedule_path)
    loaded = st.load()
    st.save(loaded.document.adding(Entry("new", "proj.new", Interval(5))), loaded.sha)
    click(qtbot, window.header.check_now)
    qtbot.waitUntil(lambda: editor.document.get("new") is not None, timeout=15000)
    assert not window.isWindowModified()


def test_a_corrupt_schedule_file_is_reported_and_not_editable(schedule_project, open_window,
                                                             qtbot):
    schedule_project.schedule_path.write_text('{"format": "beat-panel-schedule", "version"')
    window = open_window(schedule_project)
    qtbot.waitUntil(lambda: "cannot be used" in window.editor.notice.text(), timeout=15000)
    assert "line 1, column" in window.editor.notice.text()
    assert not window.editor.actions["add"].isEnabled()


@pytest.mark.slow
def test_adding_through_the_dialog_and_applied_by_a_running_beat(panel_project, open_window,
                                                                 qtbot):
    path = panel_project.root / "schedule.json"
    ScheduleStore(path).save(Document((Entry("hello", "beat_panel.demo.app.say_hello",
                                             Interval(30)),)), None)
    assert panel_project.cli("start", "--json").code == 0
    window = open_window(panel_project)
    editor = editor_of(window, qtbot)

    def fill(dialog):
        dialog.name.setText("ping")
        dialog.task.setText("beat_panel.demo.app.say_hello")
        dialog.every.setValue(2)
        assert dialog.validate()
        return dialog.entry()

    editor.run_dialog = fill  # the dialog's own typing is tested in test_entry_dialog
    press_tool(qtbot, editor, "add")
    assert editor.document.get("ping") is not None
    click(qtbot, window.header.check_now)
    qtbot.waitUntil(lambda: bool(window.status and window.status.running), timeout=15000)
    click_row(qtbot, editor, "ping")  # the focus is in the table, as after adding
    qtbot.keyClick(editor.table, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Applied ✓" in editor.notice.text(), timeout=20000)

    # "Applied ✓ by the running beat" is not left standing once that beat has stopped.
    window.dialogs.answers = ["ok"]
    wait_for_action(qtbot, window, Action.STOP)
    qtbot.waitUntil(lambda: "Applied ✓" not in editor.notice.text(), timeout=15000)
    assert "is no longer running" in editor.notice.text()


def test_screenshot_is_saved_once_the_first_status_landed(fake_project, tmp_path):
    project = fake_project()
    target = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-m", "beat_panel", "--config",
                           str(project.config_path), "gui", "--screenshot", str(target)],
                          capture_output=True, text=True, timeout=90, env=env, check=False)
    assert done.returncode == 0, done.stderr
    image = QImage(str(target))
    assert image.width() > 600 and image.height() > 400


def test_run_now_sends_the_selected_entrys_task(panel_project, open_window, qtbot):
    path = panel_project.root / "schedule.json"
    ScheduleStore(path).save(Document((Entry("hello", "beat_panel.demo.app.say_hello",
                                             Interval(30)),)), None)
    window = open_window(panel_project)
    editor = editor_of(window, qtbot)
    click_row(qtbot, editor, "hello")
    press_tool(qtbot, editor, "run")
    qtbot.waitUntil(lambda: "(task id " in editor.notice.text(), timeout=30000)
    queue = panel_project.root / "demo-data" / "broker" / "queue"
    task_id = editor.notice.text().split("(task id ")[1].rstrip(").")
    assert any(task_id in f.read_text() for f in queue.glob("*"))


def test_the_window_says_which_settings_file_is_in_use(fake_project, open_window):
    project = fake_project()
    window = open_window(project)
    assert window.config_label.text() == f"Settings: {project.config_path.resolve()}"


def test_a_stop_counts_down_to_sigkill_and_kill_now_cuts_the_wait(fake_project, open_window,
                                                                  qtbot):
    project = fake_project(mode="ignore", stop_timeout=30)  # beat ignores SIGTERM
    project.cli("start", "--json")
    window = open_window(project)
    qtbot.waitUntil(lambda: bool(window.status and window.status.running), timeout=15000)
    header = window.header
    window.dialogs.answers = ["ok"]
    started = time.monotonic()
    with qtbot.waitSignal(window.monitor.action_finished, timeout=30000) as done:
        click(qtbot, window.buttons[Action.STOP])
        qtbot.waitUntil(lambda: "SIGKILL in" in header.context.text(), timeout=5000)
        assert header.context.text().startswith("Beat is stopping…")  # not "running"
        assert window.badge.text() == "↻ Stopping…"
        assert header.kill_now.isVisible()
        click(qtbot, header.kill_now)
    assert time.monotonic() - started < 15  # not the 30 s stop_timeout
    result = done.args[0]
    assert result.success and result.killed and "Kill now" in result.message
    qtbot.waitUntil(lambda: not header.kill_now.isVisible(), timeout=5000)


def click_on_box(qtbot, editor, name: str) -> None:
    """Click the entry's On check box, as a person unticks or ticks it."""
    from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

    from beat_panel.ui.schedule.table import NAME, ON

    proxy, table = editor.proxy, editor.table
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, NAME).data() == name)
    index = proxy.index(row, ON)
    option = QStyleOptionViewItem()
    table.initViewItemOption(option)
    option.rect = table.visualRect(index)
    option.index = index
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    box = table.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator,
                                       option, table)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=box.center())


def test_discard_on_close_to_the_tray_throws_the_edits_away(schedule_project, make_panel,
                                                             qtbot):
    panel = make_panel(schedule_project)
    window = panel.show_window()
    editor = editor_of(window, qtbot)
    # Settings → Keep running in the tray when closed. The offscreen test platform has no
    # tray for the setting to put the indicator in, so it is put there as `tray` does.
    window.keep_in_tray_action.trigger()
    tray = panel.add_tray()
    click_on_box(qtbot, editor, "hello")
    assert editor.document.require("hello").enabled is False
    assert window.isWindowModified() and editor.actions["save"].isEnabled()

    window.dialogs.answers = ["discard"]
    with qtbot.waitSignal(editor.load_finished, timeout=15000):
        assert window.close()
    assert window.dialogs.shown[-1].title == "Unsaved changes"
    assert not window.isVisible()

    tray.menu.aboutToShow.emit()
    tray.actions_by_text()["Open panel"].trigger()
    assert panel.window is window and window.isVisible()
    assert editor.document.require("hello").enabled is True  # the saved schedule
    assert not editor.dirty and not window.isWindowModified()
    assert not editor.actions["save"].isEnabled()
    saved = ScheduleStore(schedule_project.schedule_path).load().document
    assert saved.require("hello").enabled is True  # and nothing was written
