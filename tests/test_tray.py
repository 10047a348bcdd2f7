"""The tray: state to icon, menu enablement, notifications on changes nobody asked for,
the keep-alive limit (offscreen); and a real X11 tray host under Xvfb with trayer."""

import os
import sys

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import QApplication

from beat_panel import autostart
from beat_panel.control import activity
from beat_panel.control.keepalive import KeepAlive
from beat_panel.control.launch import beat_logfile
from beat_panel.control.status import check_status
from beat_panel.ui import state_style
from beat_panel.ui.app import Panel
from beat_panel.ui.monitor import Origin
from beat_panel.ui.tray import Tray, state_icon

from conftest import wait_until
from scripted_dialogs import ScriptedDialogs


@pytest.fixture
def make_tray(qtbot):
    """A real panel (monitor, settings, job runner) with its tray indicator."""
    panels = []
    app = QApplication.instance()

    def make(project, keep_alive: KeepAlive | None = None) -> Tray:
        panel = Panel(project.load(), app, refresh_seconds=30, dialogs=ScriptedDialogs())
        panels.append(panel)
        if keep_alive is not None:
            panel.monitor.keep_alive = keep_alive
        tray = panel.add_tray()
        tray.notes = []
        tray.notified.connect(lambda title, text: tray.notes.append((title, text)))
        return tray

    yield make
    for panel in panels:
        panel.shutdown()
    app.setQuitOnLastWindowClosed(True)


def menu_item(tray: Tray, text: str):
    """The menu item as a person sees it when opening the menu."""
    tray.menu.aboutToShow.emit()
    return tray.actions_by_text()[text]


def choose(tray: Tray, text: str) -> None:
    item = menu_item(tray, text)
    assert item.isEnabled(), f"{text} is disabled"
    item.trigger()


def centre_colour(key: str) -> QColor:
    image = state_icon(key).pixmap(64, 64).toImage()
    return image.pixelColor(14, 32)  # left of the glyph, inside the circle


@pytest.mark.parametrize("key", ["running", "stopped", "error", "starting", "duplicate"])
def test_each_state_has_its_colour(qapp, key):
    assert centre_colour(key).name() == state_style.LOOKS[key].colour


def test_states_differ_by_shape_not_only_by_colour(qapp):
    glyphs = {state_style.LOOKS[k].glyph for k in ("running", "stopped", "error", "starting",
                                                   "duplicate")}
    assert len(glyphs) == 5
    stopped = state_icon("stopped").pixmap(64, 64).toImage()
    error = state_icon("error").pixmap(64, 64).toImage()
    assert stopped != error  # same red, different glyph


def landed(tray, qtbot):
    qtbot.waitUntil(lambda: tray.monitor.status is not None, timeout=15000)
    return tray.monitor.status


def running(tray) -> bool:
    return bool(tray.monitor.status and tray.monitor.status.running)


def test_menu_enables_what_the_state_allows(fake_project, make_tray, qtbot):
    project = fake_project()
    tray = make_tray(project)
    landed(tray, qtbot)
    tray.menu.aboutToShow.emit()
    actions = tray.actions_by_text()
    assert actions["■ Stopped"].isEnabled() is False
    assert actions["Start"].isEnabled() and not actions["Stop"].isEnabled()
    assert not actions["Restart"].isEnabled()
    for always in ("Open panel", "Open beat log", "Keep beat alive", "Start at login", "Quit"):
        assert always in actions

    project.spawn_fake("-A", project.app, "beat")
    tray.monitor.refresh()
    qtbot.waitUntil(lambda: running(tray), timeout=15000)
    tray.menu.aboutToShow.emit()
    actions = tray.actions_by_text()
    assert "✓ Active" in actions
    assert not actions["Start"].isEnabled() and actions["Stop"].isEnabled()
    assert "Beat Panel — ✓ Active" in tray.icon.toolTip()


def test_notifies_when_beat_dies_and_when_it_comes_back(fake_project, make_tray, qtbot):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    tray = make_tray(project)
    qtbot.waitUntil(lambda: running(tray), timeout=15000)
    beat.kill()
    beat.wait()
    # No refresh asked: the monitor watches the beat it knows.
    qtbot.waitUntil(lambda: bool(tray.notes), timeout=2000)
    title, text = tray.notes[-1]
    assert title == "Beat stopped unexpectedly"
    assert f"pid {beat.pid} ended; this panel did not start it" in text
    assert "is running" not in text  # says one thing: it stopped
    assert "Click to start it again or to see its log." in text
    # A click on the bubble opens the window with Start now and Open log.
    tray.parent().dialogs.answers = ["log"]
    tray.icon.messageClicked.emit()  # what the desktop does when the bubble is clicked
    window = tray.parent().window
    qtbot.addWidget(window)
    (prompt,) = window.dialogs.shown
    assert ("start", "Start now") in prompt.buttons and ("log", "Open log") in prompt.buttons
    assert window.tabs.currentWidget() is window.log_view
    project.spawn_fake("-A", project.app, "beat")
    tray.monitor.refresh()
    qtbot.waitUntil(lambda: len(tray.notes) == 2, timeout=15000)
    assert tray.notes[-1][0] == "Beat is running again"


def test_notifies_when_a_second_beat_appears(fake_project, make_tray, qtbot):
    project = fake_project(pidfile=None)
    project.spawn_fake("-A", project.app, "beat")
    tray = make_tray(project)
    qtbot.waitUntil(lambda: running(tray), timeout=15000)
    project.spawn_fake("-A", project.app, "beat")
    tray.monitor.refresh()
    qtbot.waitUntil(lambda: bool(tray.notes), timeout=15000)
    assert tray.notes[-1][0] == "A second beat appeared"


def test_own_actions_are_not_reported_as_unexpected(fake_project, make_tray, qtbot):
    project = fake_project()
    project.cli("start", "--json")
    tray = make_tray(project)
    qtbot.waitUntil(lambda: running(tray), timeout=15000)
    choose(tray, "Stop")
    qtbot.waitUntil(lambda: bool(tray.notes), timeout=30000)
    tray.monitor.runner.wait()
    qtbot.waitUntil(lambda: not running(tray), timeout=15000)
    assert [title for title, _ in tray.notes] == ["Beat stopped"]


def test_restart_outcomes_are_notifications_with_the_window_one_click_away(
        fake_project, make_tray, qtbot):
    tray = make_tray(fake_project())
    landed(tray, qtbot)
    wanted = []
    tray.outcome_needs_window.connect(wanted.append)
    # Beat is not running, so the menu offers no Restart; a restart asked anyway (the
    # window's Beat menu, a script) answers "not running" in the tray.
    assert not menu_item(tray, "Restart").isEnabled()
    tray.monitor.run_action("restart", Origin.TRAY)
    qtbot.waitUntil(lambda: bool(tray.notes), timeout=30000)
    title, text = tray.notes[-1]
    assert title == "Beat is not running" and "Click for details." in text
    tray.monitor.runner.wait()
    tray.icon.messageClicked.emit()  # what the desktop does when the bubble is clicked
    assert wanted and wanted[0].offer_start
    # The window opened with the message box, which offers to start beat.
    window = tray.parent().window
    qtbot.addWidget(window)
    assert window.isVisible()
    (prompt,) = window.dialogs.shown
    assert prompt.title == "Beat is not running" and ("start", "Start now") in prompt.buttons


def test_keep_alive_restarts_beat_at_most_three_times_in_ten_minutes():
    now = [0.0]
    keep = KeepAlive(clock=lambda: now[0])
    assert [keep.allow() for _ in range(3)] == [True, True, True]
    now[0] += 599  # still inside the ten minutes
    assert keep.allow() is False and keep.gave_up
    now[0] += 3600
    assert keep.allow() is False, "once it gave up, it waits for a person"
    keep.reset()
    assert keep.allow() is True


def test_keep_alive_forgets_restarts_older_than_ten_minutes():
    now = [0.0]
    keep = KeepAlive(clock=lambda: now[0])
    for _ in range(3):
        assert keep.allow()
        now[0] += 301  # one restart every five minutes stays within the limit
    assert keep.allow() and not keep.gave_up


def test_keep_alive_brings_a_dead_beat_back_then_gives_up(fake_project, make_tray, qtbot):
    project = fake_project()
    now = [0.0]
    tray = make_tray(project, keep_alive=KeepAlive(max_restarts=2, clock=lambda: now[0]))
    choose(tray, "Keep beat alive")
    assert menu_item(tray, "Keep beat alive").isChecked()
    project.cli("start", "--json")
    tray.monitor.refresh()
    qtbot.waitUntil(lambda: running(tray), timeout=15000)
    for round_ in range(2):
        (pid,) = tray.monitor.status.pids
        os.kill(pid, 9)
        # Nobody asks for a check: the death is seen, and keep-alive starts beat again.
        qtbot.waitUntil(lambda p=pid: running(tray) and tray.monitor.status.pids != [p],
                        timeout=30000)
        project.tracker.adopt(tray.monitor.status.pids[0])
        assert "Beat started again" in [t for t, _ in tray.notes], round_
    (pid,) = tray.monitor.status.pids
    os.kill(pid, 9)
    qtbot.waitUntil(lambda: "stopped restarting it" in (tray.notes[-1][1] if tray.notes
                                                        else ""), timeout=15000)
    tray.monitor.runner.wait()
    assert not check_status(project.load()).running
    # Given up: the menu shows keep-alive off, and it stays off for the next panel.
    assert not menu_item(tray, "Keep beat alive").isChecked()
    assert not tray.settings.keep_alive
    kinds = [e.kind for e in activity.read(project.load().project_id)]
    assert kinds.count(activity.Kind.DIED) == 3
    assert kinds.count(activity.Kind.KEEP_ALIVE) == 2
    assert kinds[0] is activity.Kind.GAVE_UP


def test_keep_alive_is_remembered_by_the_next_panel(fake_project, make_tray, qtbot):
    project = fake_project()
    first = make_tray(project)
    choose(first, "Keep beat alive")
    first.monitor.runner.wait()
    second = make_tray(project)  # as after quitting and starting the tray again
    assert second.settings.keep_alive
    assert menu_item(second, "Keep beat alive").isChecked()


def test_start_at_login_writes_and_removes_the_autostart_entry(fake_project, make_tray):
    project = fake_project()
    tray = make_tray(project)
    assert not autostart.is_enabled()
    choose(tray, "Start at login")
    assert menu_item(tray, "Start at login").isChecked()
    text = autostart.entry_path().read_text()
    assert "Exec=" in text and " -m beat_panel --config " in text and text.rstrip().endswith(
        "X-GNOME-Autostart-enabled=true")
    assert str(project.config_path) in text
    choose(tray, "Start at login")
    assert not autostart.is_enabled()


def no_desktop_launcher(monkeypatch) -> list[str]:
    """A desktop with no program for file:// URLs, as here: QDesktopServices.openUrl
    says False (as Qt does, with "Unable to detect a launcher"). The URLs asked for."""
    asked: list[str] = []

    def open_url(url: QUrl) -> bool:
        asked.append(url.toLocalFile())
        return False

    monkeypatch.setattr(QDesktopServices, "openUrl", open_url)
    return asked


def open_beat_log(tray, qtbot):
    """Choose "Open beat log" in the tray menu; the window it opens on its Log tab."""
    panel = tray.parent()
    choose(tray, "Open beat log")
    qtbot.waitUntil(lambda: panel.window is not None and panel.window.isVisible(),
                    timeout=15000)
    window = panel.window
    qtbot.addWidget(window)
    assert window.tabs.currentWidget() is window.log_view
    return window


def test_open_beat_log_without_a_desktop_launcher_shows_it_on_the_log_tab(
        fake_project, make_tray, qtbot, monkeypatch):
    asked = no_desktop_launcher(monkeypatch)
    project = fake_project()
    tray = make_tray(project)
    panel = tray.parent()
    path = beat_logfile(project.load())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[2026-11-26 09:00:00,123: INFO/MainProcess] beat: Starting...\n")
    assert panel.window is None  # only the tray so far

    window = open_beat_log(tray, qtbot)
    assert asked == [str(path)]  # the desktop was asked first
    said = window.statusBar().currentMessage()
    assert "No program is set up to open" in said and "Log tab" in said
    qtbot.waitUntil(lambda: "beat: Starting..." in window.log_view.text.toPlainText(),
                    timeout=15000)


def test_open_beat_log_before_beat_wrote_one_says_there_is_none_yet(
        fake_project, make_tray, qtbot, monkeypatch):
    asked = no_desktop_launcher(monkeypatch)
    project = fake_project()
    tray = make_tray(project)
    path = beat_logfile(project.load())
    assert not path.exists()

    window = open_beat_log(tray, qtbot)
    assert asked == []  # nothing to open
    assert f"Beat's log {path} does not exist yet" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: "no log file yet" in window.log_view.text.placeholderText(),
                    timeout=15000)


def test_open_beat_log_with_a_desktop_launcher_leaves_the_window_closed(
        fake_project, make_tray, qtbot, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        lambda url: asked.append(url.toLocalFile()) or True)
    project = fake_project()
    tray = make_tray(project)
    path = beat_logfile(project.load())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    choose(tray, "Open beat log")
    qtbot.waitUntil(lambda: asked == [str(path)], timeout=15000)
    tray.monitor.runner.wait()
    assert tray.parent().window is None


# -- a real tray host -------------------------------------------------------------------


def test_the_icon_appears_in_a_real_tray_and_changes_colour_with_beat(fake_project, procs,
                                                                      desktop, tmp_path):
    project = fake_project()
    log = tmp_path / "tray.log"
    with open(log, "wb") as out:
        tray = procs.popen([sys.executable, "-m", "beat_panel", "--config",
                            str(project.config_path), "tray", "--refresh", "1",
                            "--wait-for-tray", "5"], env=desktop.env, stdout=out, stderr=out)

    def embedded() -> bool:
        assert tray.poll() is None, f"the tray exited: {log.read_text()}"
        return desktop.tray_icon() is not None

    wait_until(embedded, timeout=30, what="the icon to be embedded in trayer")

    def icon_colour() -> str:
        where = desktop.tray_icon()  # looked up each time: Qt may re-embed the icon
        return desktop.pixel(*where) if where else ""

    red, green = state_style.RED, state_style.GREEN
    wait_until(lambda: icon_colour() == red, timeout=30, what="a red icon")
    started = project.cli("start", "--json")
    assert started.code == 0
    wait_until(lambda: icon_colour() == green, timeout=30, what="a green icon")
    (pid,) = started.json["new_pids"]
    os.kill(pid, 9)
    wait_until(lambda: icon_colour() == red, timeout=30, what="the icon to turn red again")
