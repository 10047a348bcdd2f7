"""`start_celery_beat.sh` starts beat the way the panel does, and the panel sees it."""

import json
import os
import shutil
import subprocess
import time

import psutil
import pytest

from beat_panel import paths

from conftest import REPO, is_alive

SCRIPT = REPO / "start_celery_beat.sh"


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def script_args(project, settle: str = "0.5", celery: object = None) -> list[str]:
    return ["--app", project.app, "--workdir", str(project.root), "--pidfile",
            str(project.pidfile), "--logfile", str(project.logfile), "--celery",
            str(celery or project.celery), "--settle", settle]


def test_help_explains_usage():
    done = run_script("--help")
    assert done.returncode == 0 and "Usage: start_celery_beat.sh --app APP" in done.stdout


def test_missing_app_is_bad_usage():
    done = run_script(env={k: v for k, v in os.environ.items() if k != "CELERY_APP"})
    assert done.returncode == 2 and "no Celery app given" in done.stderr


def test_script_starts_beat_that_the_panel_then_sees_and_stops(fake_project):
    project = fake_project()
    done = run_script(*script_args(project), "--", "--loglevel=INFO")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Beat is running (pid" in done.stdout
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    status = project.cli("status", "--json").json
    assert status["pids"] == [pid] and status["pidfile"]["valid"]

    again = run_script(*script_args(project))
    assert again.returncode == 5 and "already running" in again.stdout

    assert project.cli("stop", "--json").json["success"]
    assert not is_alive(pid)


def test_script_removes_a_stale_pidfile_but_never_touches_its_process(fake_project, procs):
    project = fake_project()
    bystander = procs.popen(["sleep", "600"])
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.write_text(f"{bystander.pid}\n")
    done = run_script(*script_args(project))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Removing stale pidfile" in done.stdout
    project.tracker.adopt(int(project.pidfile.read_text()))
    assert is_alive(bystander)


def test_script_reports_a_beat_that_dies_at_once_with_its_log(fake_project):
    project = fake_project()
    env = dict(os.environ, FAKE_BEAT_MODE="crash")
    done = run_script(*script_args(project), env=env)
    assert done.returncode == 1
    assert "Beat failed to start (exit code 1) before it showed that it had started" \
        in done.stderr
    assert "No module named 'proj'" in done.stderr


def test_script_reports_a_beat_that_dies_after_its_start_line_within_the_watch(fake_project):
    """Like an app whose broker cannot be reached: beat logs its start line, then dies
    3 s in. A watch that lasts past that makes it a failed start, with the log tail."""
    project = fake_project()
    env = dict(os.environ, FAKE_BEAT_MODE="late", FAKE_BEAT_DIE_AFTER="1.5")
    began = time.monotonic()
    done = run_script(*script_args(project, settle="3"), env=env)
    took = time.monotonic() - began
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("Beat failed to start (exit code 1) after it logged that it started, within "
            "the 3 s it was watched") in done.stderr
    assert "Cannot connect to redis://localhost:63790//" in done.stderr
    assert "Beat is running" not in done.stdout
    assert took < 3 + 5, took  # it said so when beat died, not after the whole watch


def test_script_confirms_a_start_on_its_start_line_and_then_the_watch(fake_project):
    project = fake_project()
    env = dict(os.environ, FAKE_BEAT_MODE="late", FAKE_BEAT_DIE_AFTER="2")
    done = run_script(*script_args(project, settle="0.2"), env=env)
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    # Beat logged its start line and stayed up the 0.2 s watch: started, although it
    # dies later (a longer --settle is how to catch such an app).
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Beat is running (pid {pid}): it logged that it started." in done.stdout


def test_script_waits_for_the_sign_of_life_not_a_timer(fake_project, tmp_path):
    """A beat that stays up but never says it started is waited for until --timeout, and
    reported as running without a sign of life."""
    project = fake_project()
    quiet = tmp_path / "quiet-celery"
    quiet.write_text(f"#!/bin/sh\nexec {project.celery} \"$@\" | grep -v --line-buffered "
                     "'beat: Starting'\n")
    quiet.chmod(0o755)
    began = time.monotonic()
    done = run_script(*script_args(project, settle="0", celery=quiet), "--timeout", "1.5")
    took = time.monotonic() - began
    for pid in [int(project.pidfile.read_text())]:
        project.tracker.adopt(pid)
        for parent in psutil.Process(pid).parents():
            if str(quiet) in " ".join(parent.cmdline()):
                project.tracker.adopt(parent.pid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "has not shown that it works within 1.5 s" in done.stdout
    assert took >= 1.5


@pytest.mark.slow
def test_script_confirms_a_real_beat_on_the_panels_scheduler_tick(panel_project):
    """A real `celery beat` with the panel's scheduler: the start is confirmed once the
    plugin reports its first tick, long before the old 2 s settle timer."""
    project = panel_project
    config = project.load()
    env = dict(os.environ, **config.beat.env)
    project.tracker.started_real_celery = True
    began = time.monotonic()
    done = subprocess.run(
        ["bash", str(SCRIPT), "--app", config.beat.app, "--workdir", str(project.root),
         "--pidfile", str(project.pidfile), "--logfile", str(project.logfile),
         "--celery", " ".join(config.beat.command),
         "--schedule-file", str(config.schedule_file), "--", *config.beat.args],
        capture_output=True, text=True, timeout=90, env=env, check=False)
    took = time.monotonic() - began
    if project.pidfile.exists():
        project.tracker.adopt(int(project.pidfile.read_text()))
    assert done.returncode == 0, done.stdout + done.stderr
    pid = int(project.pidfile.read_text())
    assert f"Beat is running (pid {pid}): it loaded the schedule and ticked." in done.stdout
    report = json.loads((project.root / ".schedule.json.beat-state.json").read_text())
    assert report["applied"]["pid"] == pid and report["applied"]["ticked_at"]
    print(f"confirmed in {took:.2f} s")
    assert project.cli("stop", "--json").json["success"]


@pytest.mark.parametrize("schedule_file", [True, False])
def test_script_never_gives_beat_the_checkout_on_its_pythonpath(fake_project, tmp_path,
                                                                schedule_file):
    project = fake_project()
    other = tmp_path / "elsewhere"
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{other}:{REPO}/beat_panel/..")
    extra = (["--schedule-file", str(project.root / "schedule.json"), "--timeout", "0.5"]
             if schedule_file else [])  # the fake beat never reports a tick
    done = run_script(*script_args(project), *extra, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    pythonpath = psutil.Process(pid).environ()["PYTHONPATH"].split(os.pathsep)
    # The link folder in the checkout's place: beat can import the panel, nothing else.
    assert pythonpath == [str(paths.plugin_import_dir()), str(other)]


def test_panel_manual_start_command_runs_the_script(fake_project):
    project = fake_project()
    manual = project.cli("stop", "--json").json["manual_start_command"]
    assert f"FAKE_BEAT_MODE=term {SCRIPT}" in manual  # the config's [beat.env] included
    assert "--settle 0.5" in manual  # the config's start_settle, as the panel watches
    done = subprocess.run(["bash", "-c", manual], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    assert project.cli("status", "--json").json["pids"] == [pid]


# --- The script judges beats by the panel's own rule (issue 10, item 13) -----------------


def _wrapper(procs, project):
    """A shell whose argv holds the words celery and beat, like a wrapper script."""
    return procs.popen(["bash", "-c", f"sleep 600; : celery -A {project.app} beat here"])


def test_script_starts_when_the_pidfile_names_a_shell_wrapper_that_mentions_celery_beat(
        fake_project, procs):
    project = fake_project()
    wrapper = _wrapper(procs, project)
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.write_text(f"{wrapper.pid}\n")
    assert project.cli("status", "--json").json["running"] is False  # the panel agrees

    done = run_script(*script_args(project))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"Removing stale pidfile {project.pidfile} (it names pid {wrapper.pid}, which "
            "is not celery beat).") in done.stdout
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    assert pid != wrapper.pid and is_alive(wrapper)
    assert project.cli("status", "--json").json["pids"] == [pid]


def test_script_refuses_while_the_pidfile_names_this_projects_beat(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat", f"--pidfile={project.pidfile}")
    done = run_script(*script_args(project))
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stdout.startswith(f"Beat is already running (pid {beat.pid}, app "
                                  f"{project.app}, user ")
    assert int(project.pidfile.read_text()) == beat.pid and is_alive(beat)


def test_script_refuses_while_this_projects_beat_runs_without_the_pidfile(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")  # by hand, in the project folder
    assert project.cli("status", "--json").json["pids"] == [beat.pid]
    done = run_script(*script_args(project))
    assert done.returncode == 5, done.stdout + done.stderr
    assert f"(pid {beat.pid}," in done.stdout and "the same app in the same folder" \
        in done.stdout


def test_script_starts_beside_another_apps_beat_the_pidfile_names_and_leaves_it(
        fake_project, tmp_path):
    project = fake_project()
    folder = tmp_path / "other-project"
    folder.mkdir()
    other = project.spawn_fake("-A", "another_app", "beat", cwd=folder)
    time.sleep(0.05)
    project.pidfile.parent.mkdir(parents=True, exist_ok=True)
    project.pidfile.write_text(f"{other.pid}\n")
    assert project.cli("status", "--json").json["running"] is False

    done = run_script(*script_args(project))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"it names a beat that is not this project's: pid {other.pid}, app another_app" \
        in done.stdout
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    assert pid != other.pid and is_alive(other)


def test_script_warns_about_a_beat_of_the_same_app_in_another_folder(fake_project, tmp_path):
    project = fake_project()
    folder = tmp_path / "other-checkout"
    folder.mkdir()
    other = project.spawn_fake("-A", project.app, "beat", cwd=folder)
    done = run_script(*script_args(project))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"Warning: Another beat of the same app runs (pid {other.pid}, app {project.app}, "
            f"user ") in done.stdout and f"in {folder}" in done.stdout
    project.tracker.adopt(int(project.pidfile.read_text()))
    assert is_alive(other)


def test_a_copy_of_the_script_alone_refuses_to_guess_about_a_live_pid(fake_project, procs,
                                                                      tmp_path):
    """Without Beat Panel's package beside it there is no checker: a pidfile naming a live
    process is not judged (exit 1, saying why); one naming a dead pid is removed."""
    project = fake_project()
    alone = tmp_path / "alone" / "start_celery_beat.sh"
    alone.parent.mkdir()
    shutil.copy(SCRIPT, alone)
    bystander = procs.popen(["sleep", "600"])
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.write_text(f"{bystander.pid}\n")
    args = script_args(project)
    done = subprocess.run(["bash", str(alone), *args], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Cannot tell whether pid {bystander.pid}" in done.stderr
    assert is_alive(bystander) and project.pidfile.exists()

    bystander.kill()
    bystander.wait()
    done = subprocess.run(["bash", str(alone), *args], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "which is gone" in done.stdout
    project.tracker.adopt(int(project.pidfile.read_text()))


def test_relative_pidfile_and_log_are_the_callers_not_the_workdirs(fake_project, tmp_path):
    project = fake_project()
    caller = tmp_path / "caller"
    caller.mkdir()
    args = ["--app", project.app, "--workdir", str(project.root), "--pidfile", "b.pid",
            "--logfile", "b.log", "--celery", str(project.celery), "--settle", "0.2",
            "--timeout", "10"]
    done = subprocess.run(["bash", str(SCRIPT), *args], cwd=caller, capture_output=True,
                          text=True, timeout=60, check=False)
    pid = int((caller / "b.pid").read_text())
    project.tracker.adopt(pid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Beat is running (pid {pid}): it logged that it started." in done.stdout
    assert "beat: Starting..." in (caller / "b.log").read_text()
    assert not (project.root / "b.pid").exists() and not (project.root / "b.log").exists()


def test_script_refuses_a_log_or_pidfile_that_is_a_link_and_leaves_the_target(fake_project,
                                                                              tmp_path):
    project = fake_project()
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    for option in ("--logfile", "--pidfile"):
        planted = project.root / f"planted{option}"
        planted.symlink_to(target)
        result = run_script(*script_args(project), option, str(planted))
        assert result.returncode == 1, result.stdout
        assert "is a symbolic link" in result.stderr and option in result.stderr
        assert target.read_text() == "keep me\n"
        planted.unlink()


def test_script_never_runs_a_celery_found_through_a_relative_path_entry(fake_project,
                                                                       tmp_path):
    project = fake_project()
    marker = tmp_path / "ran"
    planted = tmp_path / "celery"
    planted.write_text(f"#!/bin/sh\ntouch {marker}\n")
    planted.chmod(0o755)
    env = dict(os.environ, PATH=f".:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(SCRIPT), "--app", project.app, "--workdir",
                             str(project.root), "--celery", "celery"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "relative PATH entry" in result.stderr
    assert not marker.exists()
