"""`start_celery_beat.sh` starts beat the way the panel does, and the panel sees it."""

import os
import subprocess

from conftest import REPO, is_alive

SCRIPT = REPO / "start_celery_beat.sh"


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def script_args(project) -> list[str]:
    return ["--app", project.app, "--workdir", str(project.root), "--pidfile",
            str(project.pidfile), "--logfile", str(project.logfile), "--celery",
            str(project.celery), "--settle", "0.5"]


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
    assert "Beat failed to start (exit code 1)" in done.stderr
    assert "No module named 'proj'" in done.stderr


def test_panel_manual_start_command_runs_the_script(fake_project):
    project = fake_project()
    manual = project.cli("stop", "--json").json["manual_start_command"]
    assert f"FAKE_BEAT_MODE=term {SCRIPT}" in manual  # the config's [beat.env] included
    done = subprocess.run(["bash", "-c", manual], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    assert project.cli("status", "--json").json["pids"] == [pid]
