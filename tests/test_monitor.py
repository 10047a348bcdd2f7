"""The beat monitor behind both faces (offscreen, fake beats): deaths are seen at once
and recorded with how they ended, checks never stop while a face is alive, settings
take effect in every face at once, and no failure is silent."""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

from beat_panel import panel_log
from beat_panel.control import activity
from beat_panel.control.action_lock import action_lock
from beat_panel.control.states import Action, Phase
from beat_panel.ui import crash, death_watch
from beat_panel.ui import monitor as monitor_module
from beat_panel.ui.app import Panel
from beat_panel.ui.jobs import JobRunner

from conftest import run_cli, wait_until
from faces import keep_alive_gives_up
from scripted_dialogs import ScriptedDialogs


def history_rows(window) -> list[tuple[str, str]]:
    table = window.activity_view.table
    return [(table.item(r, 1).text(), table.item(r, 3).text())
            for r in range(table.rowCount())]


def test_a_beat_the_panel_started_is_seen_dying_at_once_with_its_signal(
        fake_project, make_panel, qtbot):
    project = fake_project()
    panel = make_panel(project)
    window = panel.show_window()
    qtbot.addWidget(window)
    with qtbot.waitSignal(panel.monitor.action_finished, timeout=30000) as done:
        qtbot.mouseClick(window.buttons[Action.START], Qt.MouseButton.LeftButton)
    (pid,) = done.args[0].new_pids
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active", timeout=15000)

    os.kill(pid, signal.SIGKILL)
    # Nobody clicks Check now, and the refresh is 30 s: the watch sees the death.
    qtbot.waitUntil(lambda: window.badge.text() == "■ Stopped", timeout=2000)
    assert f"pid {pid} was killed by SIGKILL" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: ("died", f"Beat stopped without anyone asking: pid {pid} was "
                             "killed by SIGKILL. Periodic tasks are not being sent.")
                    in history_rows(window), timeout=5000)
    assert [kind for kind, _ in history_rows(window)][:2] == ["died", "start"]


def test_a_stop_from_the_command_line_is_not_reported_as_a_death(fake_project, make_panel,
                                                                qtbot):
    project = fake_project()
    project.cli("start", "--json")
    panel = make_panel(project)
    tray = panel.add_tray()
    notes = []
    tray.notified.connect(lambda title, text: notes.append(title))
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    assert project.cli("stop", "--json").code == 0
    qtbot.waitUntil(lambda: not panel.monitor.running, timeout=2000)
    panel.runner.wait()
    panel.monitor.refresh()
    panel.runner.wait()
    assert notes == []
    kinds = [e.kind for e in activity.read(project.load().project_id)]
    assert activity.Kind.DIED not in kinds and kinds[0] is activity.Kind.STOP


def test_checks_go_on_after_the_window_is_closed(fake_project, make_panel, qtbot):
    project = fake_project()
    panel = make_panel(project, refresh_seconds=1)
    tray = panel.add_tray()
    window = panel.show_window()
    qtbot.addWidget(window)
    window.close()
    assert not window.isVisible()
    beat = project.spawn_fake("-A", project.app, "beat")  # started from a terminal
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=5000)
    assert tray.state_key == "running" and str(beat.pid) in tray.icon.toolTip()
    # Reopened: the window shows what the monitor knows, without a check of its own.
    window = panel.show_window()
    assert window.badge.text() == "✓ Active"


def test_a_setting_changed_in_one_face_shows_in_the_other_at_once(fake_project, make_panel,
                                                                  qtbot):
    panel = make_panel(fake_project())
    tray = panel.add_tray()
    window = panel.show_window()
    qtbot.addWidget(window)
    assert not window.keep_alive_action.isChecked()
    tray.menu.aboutToShow.emit()
    tray.actions_by_text()["Keep beat alive"].trigger()
    assert window.keep_alive_action.isChecked()
    window.login_action.trigger()  # Settings → Start the tray indicator at login
    tray.menu.aboutToShow.emit()
    assert tray.actions_by_text()["Start at login"].isChecked()
    panel.settings.set_refresh_seconds(7)
    assert panel.monitor.timer.interval() == 7000
    assert "every 7 s" in window.header.checked.text()


def test_a_refresh_given_on_the_command_line_is_not_stored(fake_project, make_panel):
    project = fake_project()
    assert make_panel(project, refresh_seconds=2).settings.refresh_seconds == 2
    assert make_panel(project, refresh_seconds=None).settings.refresh_seconds == 30


def test_deaths_are_still_seen_where_pidfds_are_not_available(fake_project, make_panel,
                                                              qtbot, monkeypatch):
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    panel = make_panel(project)
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    assert panel.monitor.watch.pids == [beat.pid]
    beat.kill()
    beat.wait()
    qtbot.waitUntil(lambda: not panel.monitor.running, timeout=2000 +
                    death_watch.FALLBACK_POLL_MS)


def test_a_job_that_fails_with_nobody_listening_is_logged(qtbot, caplog):
    runner = JobRunner()

    def broken() -> None:
        raise RuntimeError("disk on fire")

    with caplog.at_level(logging.ERROR, logger="beat_panel.ui.jobs"):
        runner.submit(broken)
        runner.wait()
        qtbot.waitUntil(lambda: "disk on fire" in caplog.text, timeout=5000)
    assert "Traceback" in caplog.text


@pytest.mark.qt_no_exception_capture
def test_an_unexpected_error_in_the_gui_shows_a_dialog_naming_the_log(qtbot):
    log_file = panel_log.setup()
    dialogs = ScriptedDialogs()
    previous = crash.install(dialogs, log_file)
    try:
        def broken_slot() -> None:
            raise ValueError("a bug in a slot")

        QTimer.singleShot(0, broken_slot)
        qtbot.waitUntil(lambda: bool(dialogs.shown), timeout=5000)
        (prompt,) = dialogs.shown
        assert prompt.text == "ValueError: a bug in a slot"
        assert str(log_file) in prompt.informative and "broken_slot" in prompt.details
        wait_until(lambda: "a bug in a slot" in log_file.read_text())
        assert "Traceback" in log_file.read_text()
    finally:
        sys.excepthook = previous
        panel_log.close()


class HoldingDialogs(ScriptedDialogs):
    """Keeps the first message box open (a nested event loop, as QMessageBox.exec runs)
    while `while_open` does something; then the person closes it."""

    def __init__(self, while_open) -> None:
        super().__init__()
        self.while_open = while_open

    def launch(self, prompt):
        self.shown.append(prompt)
        if self.while_open is not None:
            action, self.while_open = self.while_open, None
            loop = QEventLoop()
            action(loop)
            loop.exec()
        return prompt.default


def test_a_death_while_the_outcome_box_is_open_is_seen_and_kept_alive(fake_project, qtbot):
    project = fake_project()
    seen: dict[str, float] = {}

    def kill_while_open(loop: QEventLoop) -> None:
        seen["killed"] = time.monotonic()
        os.kill(int(seen["pid"]), signal.SIGKILL)

        def look() -> None:
            # Seen: the faces were told (keep-alive may turn the badge amber at once).
            if "noticed" in seen or time.monotonic() - seen["killed"] > 10:
                seen.setdefault("shown", time.monotonic())
                loop.quit()
            else:
                QTimer.singleShot(20, look)

        QTimer.singleShot(0, look)  # once the box's loop runs (a quit before it is lost)

    panel = Panel(project.load(), QApplication.instance(), 30,
                  dialogs=HoldingDialogs(kill_while_open))
    try:
        panel.settings.set_keep_alive(True)
        panel.monitor.action_finished.connect(
            lambda result, _origin: seen.setdefault("pid", result.new_pids[0]))
        panel.monitor.noticed.connect(
            lambda notice: notice.title == "Beat stopped unexpectedly"
            and seen.setdefault("noticed", time.monotonic()))
        window = panel.show_window()
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: panel.monitor.status is not None, timeout=15000)
        qtbot.mouseClick(window.buttons[Action.START], Qt.MouseButton.LeftButton)
        # The box opened on "Beat started"; beat was killed while it was open.
        qtbot.waitUntil(lambda: "shown" in seen, timeout=30000)
        assert seen["shown"] - seen["killed"] <= 2.0, "the death showed only after the box"
        # Keep-alive started it again, and the activity log says what happened.
        qtbot.waitUntil(lambda: panel.monitor.running and
                        panel.monitor.status.pids != [seen["pid"]], timeout=30000)
        project.tracker.adopt(panel.monitor.status.pids[0])
        kinds = [e.kind for e in activity.read(project.load().project_id)]
        assert activity.Kind.DIED in kinds and activity.Kind.KEEP_ALIVE in kinds
    finally:
        panel.shutdown()


def test_damaged_settings_never_switch_keep_alive_on(fake_project, make_panel, caplog):
    from beat_panel.ui.settings import settings_file

    path = settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[General]\nkeep_alive=banana\nrefresh_seconds=-5\nkeep_in_tray=1\n")
    with caplog.at_level(logging.WARNING, logger="beat_panel.ui.settings"):
        panel = make_panel(fake_project(), refresh_seconds=None)
        assert panel.settings.keep_alive is False
        assert panel.settings.refresh_seconds == 30
        assert panel.settings.keep_in_tray is True
    assert "keep_alive='banana' is neither true nor false" in caplog.text
    assert "refresh_seconds='-5' is not a whole number of seconds from 1 to 3600" in \
        caplog.text


@pytest.mark.parametrize("value", ["-5", "0", "100000", "abc"])
def test_a_refresh_outside_one_second_to_an_hour_is_refused_on_the_command_line(value):
    result = run_cli("gui", "--refresh", value)
    assert result.code == 2
    assert "--refresh" in result.stderr and "Traceback" not in result.stderr


def test_no_action_is_offered_while_another_panel_acts_on_beat(fake_project, make_panel,
                                                               qtbot):
    project = fake_project()
    project.spawn_fake("-A", project.app, "beat")
    panel = make_panel(project)
    tray = panel.add_tray()
    window = panel.show_window()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    with action_lock(project.load(), Action.STOP):  # as `beat-panel stop` holds it
        panel.monitor.refresh()
        qtbot.waitUntil(lambda: panel.monitor.phase is Phase.STOPPING, timeout=5000)
        assert not any(b.isEnabled() for b in window.buttons.values())
        tray.menu.aboutToShow.emit()
        items = tray.actions_by_text()
        assert not any(items[name].isEnabled() for name in ("Start", "Stop", "Restart"))
    panel.monitor.refresh()
    qtbot.waitUntil(lambda: window.buttons[Action.STOP].isEnabled(), timeout=5000)


def test_an_activity_log_that_cannot_be_kept_is_shown_in_the_window(fake_project, make_panel,
                                                                    qtbot):
    from beat_panel import paths

    blocked = paths.data_dir() / "activity.jsonl"
    blocked.mkdir(parents=True)  # a folder where the log file should be
    panel = make_panel(fake_project())
    window = panel.show_window()
    qtbot.addWidget(window)
    window.tabs.setCurrentWidget(window.activity_view)
    problem = window.activity_view.problem
    qtbot.waitUntil(lambda: problem.isVisible(), timeout=5000)
    assert problem.text() == f"The activity log cannot be kept: {blocked} is not a file."


def test_keep_alive_never_starts_a_beat_beside_a_workers_embedded_one(fake_project, make_panel,
                                                                      qtbot):
    project = fake_project()
    worker = project.spawn_fake("-A", project.app, "worker", "-B")
    panel = make_panel(project)
    panel.settings.set_keep_alive(True)
    tray = panel.add_tray()
    notes = []
    tray.notified.connect(lambda title, text: notes.append(text))
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    worker.kill()
    worker.wait()
    qtbot.waitUntil(lambda: bool(notes) and "keep-alive leaves restarting it" in notes[-1],
                    timeout=5000)
    panel.runner.wait()
    assert panel.monitor.in_flight is None and not panel.monitor.running
    kinds = [e.kind for e in activity.read(project.load().project_id)]
    assert kinds == [activity.Kind.DIED]


def test_keep_alive_tries_again_after_a_failed_start_then_gives_up(fake_project, make_panel,
                                                                   qtbot):
    project = fake_project(mode="crash")  # every start the panel makes fails at once
    panel = keep_alive_gives_up(project, make_panel, qtbot)
    panel.runner.wait()
    kinds = [e.kind for e in reversed(activity.read(project.load().project_id))]
    assert kinds.count(activity.Kind.START) == 2, kinds  # two tries, both failed
    assert kinds[0] is activity.Kind.DIED and kinds[-1] is activity.Kind.GAVE_UP
    assert not panel.monitor.running


def test_an_action_another_process_runs_is_followed_until_it_ends(fake_project, make_panel,
                                                                  qtbot, procs):
    """The CLI restarts beat while the window is open (refresh: an hour). The window sees
    "Restarting…" and, without anyone clicking again, sees it end within seconds."""
    project = fake_project()
    panel = make_panel(project, refresh_seconds=3600)
    window = panel.show_window()
    qtbot.addWidget(window)
    script = ("import sys, time\n"
              "from pathlib import Path\n"
              "from beat_panel.config import load_file\n"
              "from beat_panel.control.action_lock import action_lock\n"
              "with action_lock(load_file(Path(sys.argv[1])), 'restart'):\n"
              "    print('held', flush=True)\n"
              "    sys.stdin.readline()\n")
    other = procs.popen([sys.executable, "-c", script, str(project.config_path)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert other.stdout.readline().strip() == "held"
    qtbot.mouseClick(window.header.check_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.monitor.status.state is Phase.RESTARTING, timeout=15000)
    assert not window.buttons[Action.START].isEnabled()
    other.stdin.close()  # the other process's restart ends
    other.wait(timeout=10)
    qtbot.waitUntil(lambda: not panel.monitor.status.state.working,
                    timeout=5000 + monitor_module.SETTLE_POLL_MS)
    assert window.buttons[Action.START].isEnabled()


def test_health_is_checked_again_once_beat_started(fake_project, make_panel, qtbot):
    """Health taken while beat was stopped says "not running"; after Start it is
    checked again at once (refresh: an hour), so the tray and Health tab stop saying so."""
    project = fake_project()
    panel = make_panel(project, refresh_seconds=3600)
    monitor = panel.monitor
    window = panel.show_window()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: monitor.health is not None, timeout=20000)
    assert "beat_not_running" in [p.code for p in monitor.health.problems]
    with qtbot.waitSignal(monitor.action_finished, timeout=30000):
        qtbot.mouseClick(window.buttons[Action.START], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.running and monitor.health is not None
                    and monitor.health.beat.status.running, timeout=20000)
    assert "beat_not_running" not in [p.code for p in monitor.health.problems]
