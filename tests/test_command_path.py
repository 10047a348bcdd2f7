"""`[beat] command` names one program for the start and for the look at the app (schedule
import, the window's task names, Run now): a bare name on the absolute folders of beat's
PATH, a relative path from the project folder, never a `celery` (or the `#!` Python of
one) planted in the panel's current folder; the Python used is shown; a program another
user can change is not run. Real files; a planted program leaves a marker if it runs."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

import psutil
import pytest

from beat_panel.celeryapp import appinfo
from beat_panel.process.command_path import CommandError, find_program
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.window.project_dialog import ProjectDialog

from scripted_dialogs import ScriptedDialogs

DEMO_APP = "beat_panel.demo.app"
SHOP = """
from celery import Celery

app = Celery("shop", broker="memory://")

@app.task(name="shop.ping")
def ping():
    pass
"""


def plant(folder: Path, marker: Path) -> Path:
    """A `celery` in `folder` whose `#!` Python (also in `folder`) leaves `marker` if run,
    and which leaves it too if run itself."""
    folder.mkdir(parents=True, exist_ok=True)
    python = folder / "python"
    python.write_text(f"#!/bin/sh\ntouch {marker}\n")
    celery = folder / "celery"
    celery.write_text(f"#!{python}\nimport os\nopen({str(marker)!r}, 'w')\n")
    for script in (python, celery):
        script.chmod(0o755)
    return celery


def import_json(project, *extra: str, env: dict | None = None):
    return project.cli("schedule", "import", "--app", DEMO_APP, "--json", *extra, env=env)


def new_beat_argv(project, result) -> list[str]:
    (pid,) = result.json["new_pids"]
    return psutil.Process(pid).cmdline()


@pytest.mark.parametrize("path_entry", [".", "", "bin"])
def test_a_celery_in_the_current_folder_is_never_the_projects(
        fake_project, tmp_path, monkeypatch, path_entry):
    project = fake_project(command=["celery"], schedule_file="schedule.json")
    bin_dir = project.celery.parent
    # A relative entry first: it names whatever folder the panel was started in.
    project.write_config(
        schedule_file="schedule.json", app=project.app, workdir=".", command=["celery"],
        pidfile="run/beat.pid", logfile="run/beat.log", stop_timeout=5, start_settle=0.5,
        start_timeout=1,  # the fake never writes the plugin's sign of life
        env={"FAKE_BEAT_MODE": "term", "PATH": f"{path_entry}:{bin_dir}:/usr/bin:/bin"})
    here = tmp_path / "somewhere"
    marker = tmp_path / "planted-ran"
    plant(here / "bin" if path_entry == "bin" else here, marker)
    monkeypatch.chdir(here)
    # The panel's own PATH starts with the same entry.
    env = dict(os.environ, PATH=f"{path_entry}:{os.environ['PATH']}")

    imported = import_json(project, env=env)
    assert imported.code == 0, imported.stdout + imported.stderr
    assert imported.json["python"] == sys.executable  # the #! of the project's celery
    assert f"The app was read by {sys.executable} (from the #! line of " \
        f"{project.celery})." in imported.json["message"]
    assert not marker.exists(), "the planted celery's Python ran"

    started = project.cli("start", "--json", env=env)
    assert started.code == 0, started.stdout
    assert new_beat_argv(project, started)[1] == str(project.celery)
    assert not marker.exists()


def test_a_dot_on_path_is_not_the_project_folder_either(fake_project, tmp_path):
    # Before, the start (run in the project folder) took `.` there, and the look at the
    # app took it in the panel's folder: now neither searches it, so both agree.
    project = fake_project()
    bin_dir = project.celery.parent
    marker = tmp_path / "planted-ran"
    plant(project.root, marker)
    project.write_config(
        app=project.app, workdir=".", command=["celery"], pidfile="run/beat.pid",
        logfile="run/beat.log", stop_timeout=5, start_settle=0.5,
        env={"FAKE_BEAT_MODE": "term", "PATH": f".:{bin_dir}:/usr/bin:/bin"})
    started = project.cli("start", "--json")
    assert started.code == 0, started.stdout
    assert new_beat_argv(project, started)[1] == str(project.celery)
    assert not marker.exists()


def test_a_relative_command_is_taken_from_the_project_folder(fake_project, tmp_path,
                                                             monkeypatch):
    project = fake_project(command=["bin/celery"], schedule_file="schedule.json",
                           start_timeout=1)  # the fake never writes the plugin's sign
    here = tmp_path / "somewhere"
    marker = tmp_path / "planted-ran"
    plant(here / "bin", marker)  # the same relative path, from the panel's folder
    monkeypatch.chdir(here)
    imported = import_json(project)
    assert imported.code == 0, imported.stdout + imported.stderr
    assert imported.json["python"] == sys.executable
    started = project.cli("start", "--json")
    assert started.code == 0, started.stdout
    assert new_beat_argv(project, started)[1] == str(project.root / "bin" / "celery")
    assert not marker.exists()


def test_a_command_not_on_path_says_which_entries_were_not_searched(fake_project, tmp_path,
                                                                   monkeypatch):
    project = fake_project(command=["celery"], schedule_file="schedule.json",
                           env={"PATH": ".:bin:/usr/bin"})
    plant(tmp_path / "somewhere", tmp_path / "planted-ran")
    monkeypatch.chdir(tmp_path / "somewhere")
    expected = ("The command that runs beat, 'celery' ([beat] command), was not found on "
                "PATH (its entries '.', 'bin' are not absolute folders and are not "
                "searched). Set [beat] command to the project's celery")
    imported = import_json(project)
    assert imported.code == 1 and expected in imported.json["message"]
    started = project.cli("start", "--json")
    assert started.code == 1 and started.json["message"].startswith(
        f"Cannot start beat: {expected}")
    assert not (tmp_path / "planted-ran").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
@pytest.mark.parametrize("whose", ["celery", "its python", "its folder"])
def test_a_command_another_user_can_change_is_not_run(fake_project, tmp_path, whose):
    nobody = pwd.getpwnam("nobody")
    marker = tmp_path / "ran"
    celery = plant(tmp_path / "tools", marker)
    target = {"celery": celery, "its python": celery.with_name("python"),
              "its folder": celery.parent}[whose]
    os.chown(target, nobody.pw_uid, nobody.pw_gid)
    project = fake_project(command=[str(celery)], schedule_file="schedule.json")
    imported = import_json(project)
    assert imported.code == 1 and "Traceback" not in imported.stderr
    message = imported.json["message"]
    assert "will not run" in message and "belongs to nobody" in message, message
    assert "chown" in message and "Or run Beat Panel as the user who owns the project." in \
        message
    if whose != "its python":  # the start runs the celery script itself
        started = project.cli("start", "--json")
        assert started.code == 1 and started.json["message"].startswith(
            f"Cannot start beat: Beat Panel will not run {celery} ([beat] command, found as "
            "given): "), started.json["message"]
        assert started.json["new_pids"] == []
    assert not marker.exists()


def test_find_program_follows_exec_rules(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "tool").write_text("#!/bin/sh\n")  # not executable: skipped, as exec does
    other = tmp_path / "c"
    other.mkdir()
    (other / "tool").write_text("#!/bin/sh\n")
    (other / "tool").chmod(0o755)
    found = find_program("tool", tmp_path / "work", f"{folder}:{other}")
    assert (found.path, found.how) == (str(other / "tool"), "on PATH")
    found = find_program("c/tool", tmp_path, "")
    assert (found.path, found.how) == (str(tmp_path / "c/tool"), "in the project folder")
    with pytest.raises(CommandError, match=r"\(in the project folder .*/work\)"):
        find_program("b/nothing", tmp_path / "work", "")


def test_the_project_dialog_says_which_python_looks_at_the_app(qtbot, tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "shop.py").write_text(SHOP)
    runner = JobRunner()
    dialog = ProjectDialog(runner, ScriptedDialogs(), None)
    qtbot.addWidget(dialog)
    dialog.show()
    try:
        dialog.folder.setText(str(tmp_path / "shop"))
        dialog.app.setText("shop")
        # The default command: the celery of the panel's own environment.
        celery = Path(sys.executable).with_name("celery")
        line = f"Python: {sys.executable} (from the #! line of {celery})."
        qtbot.waitUntil(lambda: line in dialog.status.text(), timeout=30000)
        assert dialog.status.text().startswith("✓ The app loads: 1 registered task")
    finally:
        dialog.reject()
        runner.wait()


def test_app_info_names_its_python(fake_project):
    project = fake_project(command=[str(Path(sys.executable).with_name("celery"))])
    info = appinfo.inspect_app(project.load(), DEMO_APP)
    assert info.python is not None and info.python.path == sys.executable
