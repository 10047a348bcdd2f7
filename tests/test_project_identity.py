"""Which beats are this project's (issue 10, items 9 to 11): a beat whose pidfile is the
project's, or that runs the project's app in the project's folder. Every other beat on
the machine, however much it looks alike, is only shown: never counted as running, never
signalled, never restarted. Real processes (the fake celery), cleaned up by pid."""

import os
import pwd
import shutil
import subprocess
import sys
import time

import pytest

from beat_panel.control.status import check_status

from conftest import is_alive, skip_unless_nobody_can_import, wait_until, world_readable_dir


def other_beat(project, tmp_path, name, app=None, *args):
    """A fake beat of `app` (another app by default) in a folder of its own."""
    folder = tmp_path / name
    folder.mkdir()
    return project.spawn_fake("-A", app or f"other_{name}", "beat", *args, cwd=folder)


def warnings_about(status, pid):
    return [w for w in status["warnings"] if f"pid {pid}" in w]


# --- 9. No app in the config -------------------------------------------------------------


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_without_an_app_unrelated_beats_are_not_this_projects_and_are_left_alone(
        fake_project, tmp_path, action):
    project = fake_project(app=None, pidfile=None)
    one = other_beat(project, tmp_path, "one")
    two = other_beat(project, tmp_path, "two")

    status = project.cli("status", "--json").json
    assert status["running"] is False and status["count"] == 0
    assert status["duplicate"] is False
    assert not any("beats are running at once" in w for w in status["warnings"])
    assert {one.pid, two.pid} <= {p["pid"] for p in status["other_beats"]}

    result = project.cli(action, "--json")
    assert result.code == 3, result.stdout + result.stderr
    data = result.json
    assert data["not_running"] is True and data["old_pids"] == []
    message = data["message"]
    assert message.startswith(f"Beat is not running, so there is nothing to {action}.")
    assert "beat-panel.toml names no [beat] app, so only a beat that runs in the project " \
           f"folder {project.root} is this project's" in message
    assert str(one.pid) in message and str(two.pid) in message and "left alone" in message
    assert is_alive(one) and is_alive(two)


def test_without_an_app_only_the_pidfiles_beat_is_this_projects(fake_project, tmp_path):
    project = fake_project(app=None)
    mine = other_beat(project, tmp_path, "mine", None, f"--pidfile={project.pidfile}")
    unrelated = other_beat(project, tmp_path, "unrelated")

    status = project.cli("status", "--json").json
    assert status["pids"] == [mine.pid] and status["duplicate"] is False
    assert unrelated.pid in {p["pid"] for p in status["other_beats"]}

    stopped = project.cli("stop", "--json").json
    assert stopped["success"] is True and stopped["old_pids"] == [mine.pid]
    wait_until(lambda: not is_alive(mine), what="the pidfile's beat to stop")
    assert is_alive(unrelated)


def test_without_an_app_beats_of_two_apps_in_the_project_folder_are_not_told_apart(
        fake_project):
    project = fake_project(app=None, pidfile=None)
    first = project.spawn_fake("-A", "first_app", "beat")
    second = project.spawn_fake("-A", "second_app", "beat")

    status = project.cli("status", "--json").json
    assert status["running"] is False and status["duplicate"] is False
    note = status["identity_note"]
    assert note.startswith(f"Beats of 2 apps run in the project folder {project.root} (pid "
                           f"{first.pid}: first_app; pid {second.pid}: second_app)")
    assert "Set [beat] app (or [beat] pidfile)" in note and note in status["warnings"]

    for action in ("stop", "restart"):
        result = project.cli(action, "--json")
        assert result.code == 3 and note in result.json["message"]
    assert is_alive(first) and is_alive(second)


def test_without_an_app_the_beat_in_the_project_folder_is_this_projects(fake_project,
                                                                       tmp_path):
    project = fake_project(app=None, pidfile=None)
    mine = project.spawn_fake("-A", "some_app", "beat")
    again = project.spawn_fake("-A", "some_app", "beat")  # a real duplicate: said so
    elsewhere = other_beat(project, tmp_path, "elsewhere", "some_app")
    status = project.cli("status", "--json").json
    assert status["pids"] == [mine.pid, again.pid] and status["duplicate"] is True
    assert any(f"runs: pid {elsewhere.pid}" in w and f"folder {tmp_path / 'elsewhere'}" in w
               for w in status["warnings"])


# --- 11. status --fast applies the same rule ----------------------------------------------


def test_fast_status_with_a_pidfile_naming_another_apps_beat_says_not_running(
        fake_project, tmp_path):
    project = fake_project()
    stranger = other_beat(project, tmp_path, "stranger")
    time.sleep(0.05)
    project.pidfile.parent.mkdir(parents=True, exist_ok=True)
    project.pidfile.write_text(f"{stranger.pid}\n")  # written after it started: not stale

    for args in (("status", "--fast", "--json"), ("status", "--json")):
        status = project.cli(*args).json
        assert status["running"] is False and status["pids"] == [], args
        assert status["scan"] == "full"  # the pidfile answered nothing
        assert status["pidfile"]["valid"] is True and status["pidfile"]["ours"] is False
        assert any(f"names pid {stranger.pid}, a beat that is not this project's (app "
                   "other_stranger" in w for w in status["warnings"])

    stopped = project.cli("stop", "--json")
    assert stopped.code == 3 and is_alive(stranger)


def test_fast_status_trusts_a_pidfile_naming_this_projects_beat(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat", f"--pidfile={project.pidfile}")
    status = project.cli("status", "--fast", "--json").json
    assert status["scan"] == "pidfile" and status["pids"] == [beat.pid]
    assert status["pidfile"]["ours"] is True


def test_a_pidfile_naming_a_beat_of_the_same_app_with_its_own_pidfile_elsewhere_is_not_it(
        fake_project, tmp_path):
    project = fake_project()
    own_pidfile = tmp_path / "theirs.pid"
    theirs = other_beat(project, tmp_path, "theirs", project.app, f"--pidfile={own_pidfile}")
    time.sleep(0.05)
    project.pidfile.parent.mkdir(parents=True, exist_ok=True)
    project.pidfile.write_text(f"{theirs.pid}\n")
    config = project.load()
    assert check_status(config, full_scan=False).running is False
    assert check_status(config).running is False


# --- 10. Another user's beat of the same app ------------------------------------------------


@pytest.fixture
def shared_place():
    """A folder other users can enter, with a project inside that nobody may use."""
    skip_unless_nobody_can_import("beat_panel.cli")
    base = world_readable_dir("beat-panel-identity-")
    yield base
    shutil.rmtree(base, ignore_errors=True)


def nobodys_copy(project, base):
    """Make the project usable by nobody: its folder and run folder theirs, XDG folders."""
    nobody = pwd.getpwnam("nobody")
    home = base / "nobody-home"
    for place in (home, project.root / "run"):
        place.mkdir(parents=True, exist_ok=True)
        os.chown(place, nobody.pw_uid, nobody.pw_gid)
    for place in (project.root, project.root / "bin"):
        place.chmod(0o755)
    # A process of nobody's may not run an interpreter under root's home (a pyenv
    # Python): the fake celery needs only the standard library, so any Python will do.
    system_python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no python3 outside root's home for nobody to run the fake celery")
    source = project.celery.read_text().split("\n", 1)[1]
    project.celery.write_text(f"#!{system_python}\n{source}")
    project.config_path.chmod(0o644)
    return {"PATH": os.environ["PATH"], "HOME": str(home),
            "XDG_STATE_HOME": str(home / "state"), "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config")}


@pytest.mark.parametrize("with_workdir", [False, True], ids=["folder-hidden", "workdir-given"])
def test_another_users_beat_of_the_same_app_is_shown_never_adopted(fake_project,
                                                                   shared_place, with_workdir):
    base = shared_place
    project = fake_project(root=base / "proj")
    env = nobodys_copy(project, base)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    args = ["--workdir", str(elsewhere)] if with_workdir else []
    theirs = project.spawn_fake(*args, "-A", project.app, "beat", cwd=elsewhere)  # root's

    status = project.cli("status", "--json", env=env, user="nobody")
    assert status.code == 0, status.stderr
    data = status.json
    assert data["running"] is False and data["count"] == 0
    assert theirs.pid in {p["pid"] for p in data["other_beats"]}
    (warning,) = warnings_about(data, theirs.pid)
    folder = str(elsewhere) if with_workdir else "unknown (it runs as root, and you, nobody, " \
        "may not see its folder)"
    assert warning.startswith(f"Another beat of the same app ({project.app}) runs: pid "
                              f"{theirs.pid}, user root, folder {folder}.")
    text = project.cli("status", env=env, user="nobody").stdout
    assert text.startswith("Beat is not running.") and f"pid {theirs.pid}, user root" in text

    stop = project.cli("stop", "--json", env=env, user="nobody")
    assert stop.code == 3, stop.stdout + stop.stderr
    assert "sudo" not in (stop.json["instructions"] or "") and "left alone" in stop.json[
        "message"]

    started = project.cli("start", "--json", env=env, user="nobody")
    assert started.code == 0, started.stdout + started.stderr
    (mine,) = started.json["new_pids"]
    assert "Another beat of the same app" in started.json["message"]
    assert pwd.getpwuid(os.stat(f"/proc/{mine}").st_uid).pw_name == "nobody"
    assert project.cli("status", "--json", env=env, user="nobody").json["pids"] == [mine]

    stopped = project.cli("stop", "--json", env=env, user="nobody").json
    assert stopped["success"] is True and stopped["old_pids"] == [mine]
    assert is_alive(theirs), "another user's beat is never this project's to stop"


def test_another_users_beat_of_this_project_known_by_its_pidfile_is_permission_denied(
        fake_project, shared_place):
    base = shared_place
    project = fake_project(root=base / "proj")
    env = nobodys_copy(project, base)
    beat = project.spawn_fake("-A", project.app, "beat", f"--pidfile={project.pidfile}")
    status = project.cli("status", "--json", env=env, user="nobody").json
    assert status["pids"] == [beat.pid] and status["processes"][0]["owner"] == "root"
    start = project.cli("start", "--json", env=env, user="nobody").json
    assert start["success"] is False and start["already_running"] is True
    stop = project.cli("stop", "--json", env=env, user="nobody")
    assert stop.code == 4 and f"sudo kill -TERM {beat.pid}" in stop.json["instructions"]
    assert is_alive(beat)


# --- The checker itself: the standard library only ------------------------------------------


def test_the_identity_checker_runs_with_no_site_packages(fake_project, tmp_path):
    """start_celery_beat.sh runs it with the celery command's Python, where neither Beat
    Panel nor psutil need be installed."""
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    other = other_beat(project, tmp_path, "other", project.app)
    checker = os.path.join(os.path.dirname(__file__), "..", "beat_panel", "process",
                           "identity.py")
    done = subprocess.run([sys.executable, "-I", "-S", checker, "running", "--app",
                           project.app, "--workdir", str(project.root), "--pidfile",
                           str(project.pidfile)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("ours ")] == [str(beat.pid)]
    assert any(line.startswith("note Another beat of the same app") and str(other.pid) in line
               for line in lines)
    # The panel, over the same processes, agrees.
    assert check_status(project.load()).pids == [beat.pid]
