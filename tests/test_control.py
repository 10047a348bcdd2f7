"""start / stop / restart through the `beat-panel` CLI against real processes.

Every scenario also checks that nothing but beat was signalled: decoys outlive it all.
"""

import json
import os
import subprocess
import sys
import textwrap

import psutil
import pytest

from beat_panel import process
from beat_panel.control.action_lock import action_lock

from conftest import is_alive, run_cli, wait_until

ACTION_KEYS = {"success", "not_running", "permission_denied", "message", "instructions",
               "manual_start_command"}


@pytest.fixture
def decoys(procs, tmp_path):
    """Processes that mention celery and beat but are not beat; all must survive."""
    log = tmp_path / "celerybeat.log"
    log.write_text("")
    script = tmp_path / "celery_beat.py"
    script.write_text("import time\ntime.sleep(600)\n")
    started = [
        procs.popen(["tail", "-f", str(log)]),
        procs.popen([sys.executable, str(script)]),
        procs.popen(["sh", "-c", "sleep 600 # celery -A proj beat"]),
    ]
    wait_until(lambda: all(is_alive(p) for p in started))
    yield started
    assert all(is_alive(p) for p in started), "a decoy was signalled"


def test_status_of_a_stopped_beat_reports_not_running_and_exits_0(fake_project):
    project = fake_project()
    result = project.cli("status", "--json")
    assert result.code == 0
    data = result.json
    assert data["running"] is False and data["pids"] == [] and data["count"] == 0
    assert data["state"] == "stopped" and data["schedule_applied"] is None


def test_a_started_beat_shows_in_status_and_stops_on_sigterm(fake_project, decoys):
    project = fake_project()
    started = project.cli("start", "--json")
    assert started.code == 0, started.stdout
    data = started.json
    assert data.keys() >= ACTION_KEYS and data["success"] is True
    (pid,) = data["new_pids"]
    assert project.pidfile.read_text() == f"{pid}\n"

    status = project.cli("status", "--json").json
    assert status["running"] is True and status["pids"] == [pid] and status["count"] == 1
    assert status["processes"][0]["owner"] == psutil.Process().username()
    fast = project.cli("status", "--fast", "--json").json
    assert fast["pids"] == [pid] and fast["scan"] == "pidfile"

    stopped = project.cli("stop", "--json")
    assert stopped.code == 0
    assert stopped.json["success"] is True and stopped.json["killed"] is False
    assert stopped.json["old_pids"] == [pid]
    assert not is_alive(pid)
    assert not project.pidfile.exists()  # beat removed it itself on SIGTERM


def test_stop_escalates_to_sigkill_when_beat_ignores_sigterm(fake_project, decoys):
    project = fake_project(mode="ignore", stop_timeout=1)
    (pid,) = project.cli("start", "--json").json["new_pids"]
    result = project.cli("stop", "--json")
    assert result.code == 0
    data = result.json
    assert data["success"] is True and data["killed"] is True
    assert "SIGKILL" in data["message"]
    assert not is_alive(pid)
    assert not project.pidfile.exists(), "the pidfile of a killed beat is cleaned up"


def test_start_that_dies_at_once_fails_with_the_log_tail(fake_project):
    project = fake_project(mode="crash")
    result = project.cli("start", "--json")
    assert result.code == 1
    data = result.json
    assert data["success"] is False
    assert "exited with code 1" in data["message"]
    assert "No module named 'proj'" in data["log_tail"]
    # The reason is in the message itself, not only in the log tail.
    assert data["message"].endswith("The log says: ModuleNotFoundError: No module named "
                                    "'proj'")
    assert project.cli("status", "--json").json["running"] is False


def test_start_that_finds_its_pidfile_held_explains_exit_73(fake_project):
    project = fake_project(mode="lock")
    result = project.cli("start", "--json")
    assert result.code == 1
    data = result.json
    assert data["success"] is False
    assert "exit 73" in data["message"] and "pidfile" in data["message"]


def test_start_refuses_a_second_beat_unless_forced_and_status_warns_of_duplicates(fake_project):
    project = fake_project(pidfile=None)
    (first,) = project.cli("start", "--json").json["new_pids"]
    refused = project.cli("start", "--json")
    assert refused.code == 1
    assert refused.json["already_running"] is True and refused.json["old_pids"] == [first]

    forced = project.cli("start", "--force", "--json")
    assert forced.code == 0
    status = project.cli("status", "--json").json
    assert status["count"] == 2 and status["duplicate"] is True
    assert any("every periodic task is sent 2 times" in w for w in status["warnings"])

    stopped = project.cli("stop", "--json").json
    assert stopped["success"] and sorted(stopped["old_pids"]) == sorted(status["pids"])


def test_restart_replaces_beat_and_reports_old_and_new_pids(fake_project, decoys):
    project = fake_project()
    (old,) = project.cli("start", "--json").json["new_pids"]
    result = project.cli("restart", "--json")
    assert result.code == 0, result.stdout
    data = result.json
    assert data["success"] is True and data["old_pids"] == [old]
    (new,) = data["new_pids"]
    assert new != old and not is_alive(old) and is_alive(new)
    assert f"{old} → {new}" in data["message"]


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_stop_and_restart_with_nothing_running_exit_3_with_the_manual_command(
        fake_project, action):
    project = fake_project()
    result = project.cli(action, "--json")
    assert result.code == 3
    data = result.json
    assert data["not_running"] is True and data["success"] is False
    assert "start_celery_beat.sh" in data["manual_start_command"]
    assert project.app in data["manual_start_command"]


# Run as PID 1 of a PID namespace of its own: start the fake beat by hand, restart it
# through the CLI, and describe the beat that came back.
ALONE_IN_A_NAMESPACE = textwrap.dedent("""
    import json, os, subprocess, sys, time
    import psutil
    celery, app, workdir, config, ready = sys.argv[1:]
    env = dict(os.environ, MARKER="kept", FAKE_BEAT_READY=ready)
    old = subprocess.Popen([celery, "-A", app, "beat", "--loglevel=DEBUG"], cwd=workdir,
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not os.path.exists(ready):
        assert old.poll() is None and time.monotonic() < deadline, "the fake did not start"
        time.sleep(0.05)
    done = subprocess.run([sys.executable, "-m", "beat_panel", "--config", config,
                           "restart", "--json"], capture_output=True, text=True, timeout=60)
    result = json.loads(done.stdout)
    fresh = [{"cmdline": p.cmdline(), "cwd": p.cwd(), "marker": p.environ().get("MARKER")}
             for p in map(psutil.Process, result["new_pids"])]
    old.wait(timeout=10)
    print(json.dumps({"code": done.returncode, "result": result, "fresh": fresh,
                      "old_pid": old.pid}))
""")
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


def test_restart_without_a_configured_app_rebuilds_the_old_command_line(fake_project):
    # With no app in the config, the beat that runs in the project's folder is the
    # project's (see test_project_identity for the beats that are not). In a PID
    # namespace of its own the fake is the only beat there is, and everything in it dies
    # with it.
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"needs a PID namespace of its own (unshare as root): {probe.stderr!r}")
    project = fake_project(app=None, pidfile=None, workdir="elsewhere")
    workdir = project.root / "elsewhere"
    workdir.mkdir()
    done = subprocess.run(
        [*UNSHARE, sys.executable, "-c", ALONE_IN_A_NAMESPACE, str(project.celery),
         project.app, str(workdir), str(project.config_path), str(project.root / "ready")],
        capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["code"] == 0, report["result"]
    assert report["result"]["old_pids"] == [report["old_pid"]]
    (fresh,) = report["fresh"]
    assert fresh["cmdline"][-4:] == ["-A", project.app, "beat", "--loglevel=DEBUG"]
    assert fresh["cwd"] == str(workdir)
    assert fresh["marker"] == "kept"


def test_a_zombie_counts_as_stopped(fake_project):
    # The fake is our child and we do not reap it: after SIGTERM it stays a zombie.
    project = fake_project(stop_timeout=3)
    beat = project.spawn_fake("-A", project.app, "beat")
    data = project.cli("stop", "--json").json
    assert data["success"] is True
    assert data["killed"] is False, "a zombie must not be waited on until SIGKILL"
    assert psutil.Process(beat.pid).status() == psutil.STATUS_ZOMBIE


def test_stale_pidfile_naming_an_unrelated_process_survives_every_command(fake_project, procs):
    project = fake_project()
    bystander = procs.popen(["sleep", "600"])
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.write_text(f"{bystander.pid}\n")

    status = project.cli("status", "--json").json
    assert status["running"] is False
    assert "not celery beat" in status["pidfile"]["problem"]
    assert project.cli("stop", "--json").code == 3
    assert project.cli("restart", "--json").code == 3
    started = project.cli("start", "--json")
    assert started.code == 0, started.stdout
    assert project.cli("stop", "--json").code == 0
    assert is_alive(bystander)


def test_embedded_beat_is_reported_but_never_signalled_alone(fake_project):
    project = fake_project()
    worker = project.spawn_fake("-A", project.app, "worker", "-B")
    status = project.cli("status", "--json").json
    assert status["running"] is True and status["embedded"] is True
    assert status["processes"][0]["embedded"] is True
    result = project.cli("stop", "--json")
    assert result.code == 1
    assert "embedded" in result.json["message"]
    assert is_alive(worker)


@pytest.mark.parametrize("identified_by", ["pidfile", "workdir"])
def test_permission_denied_when_beat_belongs_to_another_user(fake_project, procs,
                                                             identified_by):
    # Another user's beat is this project's when its pidfile or its folder says so: a
    # user who may not see its folder knows it by the pidfile it writes, or by its
    # --workdir (see test_project_identity for one known by its app alone).
    if os.geteuid() != 0:
        pytest.skip("needs root to run the CLI as another user (setpriv)")
    from conftest import world_readable_dir

    base = world_readable_dir("beat-panel-perm-")
    try:
        if identified_by == "pidfile":
            project = fake_project(root=base)
            project.config_path.chmod(0o644)
            beat = project.spawn_fake("-A", project.app, "beat",  # owned by root
                                      f"--pidfile={project.pidfile}")
        else:
            project = fake_project(root=base, pidfile=None)
            project.config_path.chmod(0o644)
            beat = project.spawn_fake("--workdir", str(base), "-A", project.app, "beat")
        env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent",
               "XDG_STATE_HOME": str(base / "nobody-state")}
        probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                "--clear-groups", sys.executable, "-c", "import beat_panel"],
                               capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"user nobody cannot import beat_panel here: {probe.stderr[-200:]!r}")
        for action in ("stop", "restart"):
            result = run_cli("--config", str(project.config_path), action, "--json",
                             env=env, user="nobody")
            assert result.code == 4, result.stdout + result.stderr
            data = result.json
            assert data["permission_denied"] is True and data["owner"] == "root"
            assert str(beat.pid) in data["message"]
            assert "sudo" in data["instructions"] and "`" not in data["instructions"]
            # A command that works as root: the panel by its absolute path.
            assert data["command"].startswith("sudo -u root /")
            assert data["command"].endswith(f"--config {project.config_path} {action}")
            assert is_alive(beat)
        status = run_cli("--config", str(project.config_path), "status", "--json",
                         env=env, user="nobody").json
        assert status["processes"][0]["owner"] == "root"
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_real_celery_beat_starts_restarts_and_stops_on_sigterm(demo_project, decoys):
    started = demo_project.cli("start", "--json")
    assert started.code == 0, started.stdout
    (pid,) = started.json["new_pids"]
    wait_until(lambda: "beat: Starting..." in demo_project.logfile.read_text(), timeout=30,
               what="beat to log that it started")

    restarted = demo_project.cli("restart", "--json").json
    assert restarted["success"] is True, restarted
    (new,) = restarted["new_pids"]
    assert new != pid and not is_alive(pid)
    assert restarted["killed"] is False, "real beat stops on SIGTERM"

    status = demo_project.cli("status", "--json").json
    assert status["pids"] == [new] and status["pidfile"]["valid"] is True

    stopped = demo_project.cli("stop", "--json").json
    assert stopped["success"] is True and stopped["killed"] is False
    wait_until(lambda: not demo_project.pidfile.exists(), what="beat to remove its pidfile")


def test_a_second_action_while_one_is_in_flight_is_refused_and_status_shows_it(fake_project):
    project = fake_project()
    config = project.load()
    with action_lock(config, "restart"):
        status = project.cli("status", "--json").json
        assert status["state"] == "restarting"
        busy = project.cli("start", "--json").json
        assert busy["success"] is False and "already doing a restart" in busy["message"]
    assert project.cli("status", "--json").json["state"] == "stopped"


def test_with_no_config_anywhere_status_checks_the_built_in_demo_project(isolated_home):
    result = run_cli("status", "--json")
    assert result.code == 0, result.stderr
    data = result.json
    assert data["running"] is False and data["state"] == "stopped"
    # The demo project lives in the user's data folder: its pidfile is the one checked.
    demo_pidfile = isolated_home / "data" / "beat-panel" / "demo" / "run" / "beat.pid"
    assert data["pidfile"]["path"] == str(demo_pidfile)


@pytest.mark.parametrize(("content", "expected"), [
    ("[beat\napp = 1", "not valid TOML"),
    ("[beat]\napp = 3\n", "app must be a non-empty string"),
    ("[beat]\napp = 'x'\nstop_timout = 3\n", "unknown key(s) in [beat]: stop_timout"),
    ("[beat]\nstop_timeout = -1\n", "stop_timeout must be a number of seconds"),
    ("[sched]\n", "unknown section(s) sched"),
])
def test_bad_config_exits_2_with_a_clear_message(tmp_path, content, expected):
    path = tmp_path / "beat-panel.toml"
    path.write_text(content)
    result = run_cli("--config", str(path), "status", "--json")
    assert result.code == 2
    assert expected in result.stderr
    assert json.loads(result.stdout)["success"] is False


def test_missing_config_file_named_on_the_command_line_is_an_error(tmp_path):
    result = run_cli("--config", str(tmp_path / "missing.toml"), "status")
    assert result.code == 2 and "Config file not found" in result.stderr


def test_config_found_through_the_environment_variable(fake_project):
    project = fake_project()
    env = dict(os.environ, BEAT_PANEL_CONFIG=str(project.config_path))
    result = run_cli("start", "--json", env=env)
    assert result.code == 0
    (pid,) = result.json["new_pids"]
    project.tracker.adopt(pid)
    # The beat was started from the config the variable names: it wrote that pidfile.
    assert process.read_pidfile(project.pidfile).beat.pid == pid


def test_an_unknown_command_is_bad_usage_and_exits_2():
    result = run_cli("frobnicate")
    assert result.code == 2 and "usage: beat-panel" in result.stderr


def test_a_beat_of_the_same_app_in_another_folder_is_not_ours_but_is_warned_about(
        fake_project, tmp_path):
    project = fake_project()
    elsewhere = tmp_path / "other-checkout"
    elsewhere.mkdir()
    other = project.spawn_fake("-A", project.app, "beat", cwd=elsewhere)
    status = project.cli("status", "--json").json
    assert status["running"] is False
    # (Other beats on the machine, of other apps, may be listed too.)
    assert [p["pid"] for p in status["other_beats"] if p["app"] == project.app] == [other.pid]
    assert any("Another beat of the same app" in w and str(elsewhere) in w
               for w in status["warnings"])
    started = project.cli("start", "--json").json
    assert started["success"] is True and "Another beat of the same app" in started["message"]
    assert project.cli("stop", "--json").json["old_pids"] == started["new_pids"]
    assert is_alive(other), "a beat in another folder is not this project's to stop"


def test_a_state_folder_that_cannot_be_made_is_named_not_a_traceback(fake_project, tmp_path):
    project = fake_project(schedule_file="schedule.json")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    env = dict(os.environ, XDG_STATE_HOME=str(blocker))
    result = project.cli("start", "--json", env=env)
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "Cannot prepare the folder that lets beat import the panel's scheduler" in \
        result.json["message"]
    assert not project.load().beat.pidfile.exists()


def test_a_beat_that_dies_seconds_after_it_started_is_a_failed_start(fake_project):
    # Like a Django app whose broker URL has a typo: beat logs its start line, then
    # dies about 3 s later; a fixed settle timer of 2 s called that a success.
    project = fake_project(mode="late", start_settle=4)
    result = project.cli("start", "--json")
    assert result.code == 1, result.stdout
    data = result.json
    assert data["message"] == ("Beat failed to start: it exited with code 1 after it logged "
                               "that it started, within the 4 s it was watched. The log says "
                               "why.")
    assert "Cannot connect to redis://localhost:63790//" in data["log_tail"]
    assert not project.cli("status", "--json").json["running"]


def test_a_missing_project_folder_is_named_not_blamed_on_celery(fake_project, tmp_path):
    missing = tmp_path / "no-such-folder"
    project = fake_project(workdir=str(missing), logfile=str(missing / "run" / "beat.log"),
                           schedule_file="s.json")
    result = project.cli("start", "--json")
    assert not missing.exists(), "the folder the log would go in was made"
    assert result.code == 1
    assert result.json["message"] == (
        f"Cannot start beat: the project folder {tmp_path / 'no-such-folder'} does not "
        "exist. Check [beat] workdir in beat-panel.toml.")
    imported = project.cli("schedule", "import", "--json")
    assert imported.code == 1 and "Traceback" not in imported.stderr
    assert f"The project folder {tmp_path / 'no-such-folder'} ([beat] workdir) does not " \
        "exist." in imported.json["message"]


def test_import_with_a_command_that_does_not_exist_says_so_instead_of_using_our_python(
        fake_project):
    project = fake_project(command=["no-such-celery-anywhere"], schedule_file="schedule.json")
    result = project.cli("schedule", "import", "--json")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "The command that runs beat, 'no-such-celery-anywhere' ([beat] command), was not " \
        "found" in result.json["message"]
