"""A beat running as a service user (here: nobody) and a schedule saved by someone else:
files follow the umask, and when beat cannot read the file the panel says so in red, with
the command that fixes it, instead of a soft "not applied yet"."""

import os
import shutil
import stat
import subprocess

import pytest
from PySide6.QtWidgets import QApplication

from beat_panel import config as config_module
from beat_panel.control.status import check_status
from beat_panel.schedule import Document, Entry, Interval, beat_report
from beat_panel.schedule.store import ScheduleStore
from beat_panel.ui.app import Panel

from conftest import (
    AS_NOBODY,
    celery_executable,
    skip_unless_nobody_can_import,
    wait_until,
    world_readable_dir,
)
from scripted_dialogs import ScriptedDialogs

pytestmark = pytest.mark.slow  # a real celery beat



@pytest.fixture
def shared_project():
    skip_unless_nobody_can_import("beat_panel.plugin")
    base = world_readable_dir("beat-panel-service-")
    folder = base / "proj"
    folder.mkdir()
    folder.chmod(0o777)  # beat (nobody) writes its report beside the schedule
    (base / "demo-data").mkdir()
    (base / "demo-data").chmod(0o777)
    config_path = base / "beat-panel.toml"
    config_path.write_text(config_module.project_config_text(folder, config_module.DEMO_APP))
    yield base, config_path
    shutil.rmtree(base, ignore_errors=True)


def test_a_beat_that_cannot_read_the_schedule_is_named_with_the_fix(shared_project, procs,
                                                                     qtbot):
    base, config_path = shared_project
    config = config_module.load_file(config_path)
    path = config.schedule_file
    saved = ScheduleStore(path).save(Document((
        Entry("hello", "beat_panel.demo.app.say_hello", Interval(30)),)), None)
    path.chmod(0o600)  # as a person with umask 077 would have it
    env = dict(os.environ, BEAT_PANEL_SCHEDULE=str(path),
               BEAT_PANEL_DEMO_DIR=str(base / "demo-data"), HOME=str(base))
    log = base / "beat.log"
    with open(log, "wb") as out:
        procs.popen([*AS_NOBODY, celery_executable(), "-A", config_module.DEMO_APP, "beat",
                     "-S", "beat_panel.plugin:PanelScheduler",
                     f"--schedule={base / 'celerybeat-schedule'}", "--loglevel=INFO"],
                    cwd=path.parent, env=env, stdout=out, stderr=out)
    wait_until(lambda: "cannot read" in (getattr(beat_report.read_beat_report(path), "error",
                                                 None) or ""),
               timeout=60, what=f"beat to report it cannot read the file: {log}")

    status = check_status(config)
    assert status.running and [p.owner for p in status.processes] == ["nobody"]
    assert status.schedule_problem == (
        f"Beat runs as nobody and cannot read the schedule file {path}: the file's mode is "
        f"0600 and its owner root:root. Fix: chgrp nogroup {path} && chmod g+r {path}   "
        f"(or, for everyone: chmod o+r {path})")

    # The window shows it in red, where the duplicate-beat warning goes.
    panel = Panel(config, QApplication.instance(), dialogs=ScriptedDialogs())
    try:
        window = panel.show_window()
        qtbot.addWidget(window)
        banner = window.header.duplicate_banner
        qtbot.waitUntil(lambda: banner.isVisible() and "cannot read" in banner.text(),
                        timeout=15000)
        assert "chmod o+r" in banner.text()
    finally:
        panel.shutdown()

    # The fix it gives works: beat applies the schedule, and the warning is gone.
    path.chmod(path.stat().st_mode | stat.S_IROTH)
    assert beat_report.wait_applied(path, saved.sha, timeout=20), log.read_text()[-2000:]
    assert check_status(config).schedule_problem is None


def test_a_new_schedule_is_readable_by_a_service_user_under_the_usual_umask(shared_project):
    _, config_path = shared_project
    path = config_module.load_file(config_path).schedule_file
    ScheduleStore(path).save(Document((Entry("x", "t", Interval(5)),)), None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    probe = subprocess.run([*AS_NOBODY, "cat", str(path)], capture_output=True, check=False)
    assert probe.returncode == 0 and b'"x"' in probe.stdout


def _umask() -> int:
    from beat_panel.files.atomic import current_umask

    return current_umask()




def test_a_running_beat_with_nothing_to_send_is_amber_with_the_reason(panel_project, qtbot):
    path = panel_project.root / "schedule.json"
    ScheduleStore(path).save(Document((
        Entry("off", "beat_panel.demo.app.say_hello", Interval(30), enabled=False),)), None)
    started = panel_project.cli("start", "--json")
    assert started.code == 0, started.stdout
    status = panel_project.cli("status", "--json").json
    assert status["running"] and status["schedule_problem"].startswith(
        "Beat runs no entries: the schedule is empty or every entry is off")
    panel = Panel(panel_project.load(), QApplication.instance(), dialogs=ScriptedDialogs())
    try:
        window = panel.show_window()
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.badge.text() == "! Schedule problem", timeout=15000)
        assert "Beat runs no entries" in window.header.duplicate_banner.text()
    finally:
        panel.shutdown()
