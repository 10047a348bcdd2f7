"""Planted paths: a symbolic link, a FIFO, a folder or another user's file at the path
of the pidfile, the log or the action lock is refused with the path and the reason, never
followed, written through, deleted or waited on; and the output of the command may be cut
short by its reader (`| head`) without a "Broken pipe" on stderr."""

import grp
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beat_panel import process
from beat_panel.files import trust
from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.store import ScheduleStore

from conftest import is_alive

PROMPTLY = 20  # seconds: a hang fails the test instead of hanging the suite


def _dead_pid(procs) -> int:
    """The pid of a process that has ended (and been reaped)."""
    gone = procs.popen(["true"])
    gone.wait()
    return gone.pid


def _nobody() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    return pwd.getpwnam("nobody")


def _victim(tmp_path, text: str = "precious\n"):
    victim = tmp_path / "victim.txt"
    victim.write_text(text)
    return victim


def _cli(project, *args):
    return project.cli(*args, "--json", timeout=PROMPTLY)


# --- A symbolic link at the pidfile path ------------------------------------------------


def test_a_symlinked_pidfile_is_never_followed_by_status_start_or_stop(fake_project, procs,
                                                                       tmp_path):
    project = fake_project()
    # The target holds a stale pid: the old cleanup would have acted on it.
    victim = _victim(tmp_path, f"{_dead_pid(procs)}\n")
    before = victim.read_bytes()
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.symlink_to(victim)

    status = _cli(project, "status")
    assert status.code == 0 and status.json["running"] is False
    problem = status.json["pidfile"]["problem"]
    assert "symbolic link" in problem and str(victim) in problem

    started = _cli(project, "start")
    assert started.code == 1 and started.json["success"] is False
    message = started.json["message"]
    assert message.startswith(f"Cannot start beat: its pidfile {project.pidfile} is a "
                              f"symbolic link (to {victim})"), message
    assert "[beat] pidfile" in message
    assert started.json["new_pids"] == []
    assert not any(b.app == project.app for b in process.scan()), "no beat was launched"

    assert _cli(project, "stop").code == 3
    assert _cli(project, "restart").code == 3
    assert victim.read_bytes() == before
    assert project.pidfile.is_symlink(), "the link itself is left for the person to see"


def test_restart_with_a_symlinked_pidfile_keeps_the_running_beat(fake_project, tmp_path):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")  # started by hand, no pidfile
    victim = _victim(tmp_path)
    project.pidfile.symlink_to(victim)
    result = _cli(project, "restart")
    assert result.code == 1
    assert result.json["message"].startswith(
        "Not restarting, because beat could not be started again: its pidfile "
        f"{project.pidfile} is a symbolic link"), result.json["message"]
    assert "Beat keeps running" in result.json["message"]
    assert is_alive(beat), "the beat that ran was not stopped for a start that cannot happen"
    assert victim.read_text() == "precious\n"


def test_stop_after_sigkill_leaves_a_symlinked_pidfile_and_its_target(fake_project, tmp_path):
    project = fake_project(mode="ignore", stop_timeout=1)
    beat = project.spawn_fake("-A", project.app, "beat", mode="ignore")
    # As if beat had written its pid through a link planted before it started.
    victim = _victim(tmp_path, f"{beat.pid}\n")
    project.pidfile.symlink_to(victim)
    result = _cli(project, "stop")
    assert result.code == 0 and result.json["killed"] is True
    assert victim.read_text() == f"{beat.pid}\n"
    assert project.pidfile.is_symlink()


def test_a_pidfile_in_a_folder_everyone_can_change_is_refused(fake_project):
    project = fake_project(pidfile="shared/beat.pid")
    shared = project.root / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone may swap the pidfile for a link
    result = _cli(project, "start")
    assert result.code == 1
    message = result.json["message"]
    assert (f"its pidfile {shared / 'beat.pid'} cannot be trusted: the folder {shared} on "
            "the way to it can be written by everyone (mode 0777), so they could put another "
            "file in its place") in message, message
    assert (f"Fix: `chmod o-w {shared}`, or set [beat] pidfile in beat-panel.toml to a path "
            "in a folder only you or root can write.") in message
    shared.chmod(0o1777)  # like /tmp: others cannot remove or replace our file
    started = _cli(project, "start")
    assert started.code == 0, started.stdout
    assert (shared / "beat.pid").read_text() == f"{started.json['new_pids'][0]}\n"
    assert _cli(project, "stop").code == 0


def test_a_pidfile_in_a_linked_folder_of_a_folder_everyone_can_change_is_refused(
        fake_project, tmp_path):
    project = fake_project(pidfile="shared/run/beat.pid")
    shared = project.root / "shared"
    shared.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (shared / "run").symlink_to(elsewhere)
    shared.chmod(0o777)
    result = _cli(project, "start")
    assert result.code == 1
    assert (f"the folder {shared} on the way to it can be written by everyone (mode 0777)"
            in result.json["message"]), result.json["message"]


def test_a_pidfile_in_a_folder_a_shared_group_can_change_is_refused(fake_project):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another group")
    project = fake_project(pidfile="shared/beat.pid")
    shared = project.root / "shared"
    shared.mkdir()
    os.chown(shared, 0, grp.getgrnam("staff").gr_gid)
    shared.chmod(0o775)  # each member of staff could swap the pidfile for a link
    result = _cli(project, "start")
    assert result.code == 1
    assert (f"the folder {shared} on the way to it can be written by the group staff (mode "
            "0775)") in result.json["message"], result.json["message"]
    assert f"Fix: `chmod g-w {shared}`" in result.json["message"]
    os.chown(shared, 0, 0)  # root's personal group, as a umask of 002 leaves it: fine
    started = _cli(project, "start")
    assert started.code == 0, started.stdout
    assert _cli(project, "stop").code == 0


def test_a_path_with_dot_dot_after_a_link_is_checked_where_the_kernel_goes(tmp_path):
    mine = tmp_path / "mine"
    (mine / "inner").mkdir(parents=True)
    shared = tmp_path / "shared"
    (shared / "inner").mkdir(parents=True)
    shared.chmod(0o777)
    (mine / "link").symlink_to(shared / "inner")
    for folder in (mine, shared):
        (folder / "beat-panel.toml").write_text("")
    # Read lexically, mine/link/../beat-panel.toml would be mine's file; the kernel opens
    # shared's, in a folder anyone can change.
    with pytest.raises(trust.UntrustedPathError) as refused:
        trust.check_path(mine / "link" / ".." / "beat-panel.toml")
    assert refused.value.path == str(shared) and refused.value.kind == "folder"
    with pytest.raises(trust.UntrustedPathError):
        trust.check_file_to_write("pidfile", mine / "link" / ".." / "run" / "beat.pid")


# --- A symbolic link at the log path ----------------------------------------------------


def test_a_symlinked_log_is_refused_and_its_target_unchanged(fake_project, tmp_path):
    project = fake_project()
    victim = _victim(tmp_path)
    project.logfile.parent.mkdir(parents=True)
    project.logfile.symlink_to(victim)
    result = _cli(project, "start")
    assert result.code == 1
    message = result.json["message"]
    assert message.startswith(f"Cannot start beat: its log {project.logfile} is a symbolic "
                              f"link (to {victim})"), message
    assert "[beat] logfile" in message
    assert result.json["new_pids"] == []
    assert victim.read_text() == "precious\n"


def test_a_logfile_in_the_args_is_checked_too(fake_project, tmp_path):
    project = fake_project(args=["--logfile=run/celery.log"])
    victim = _victim(tmp_path)
    (project.root / "run").mkdir()
    (project.root / "run" / "celery.log").symlink_to(victim)
    result = _cli(project, "start")
    assert result.code == 1
    assert "its log (--logfile)" in result.json["message"]
    assert "the --logfile in [beat] args" in result.json["message"]
    assert victim.read_text() == "precious\n"


def test_a_log_others_can_write_is_refused(fake_project):
    project = fake_project()
    project.logfile.parent.mkdir(parents=True)
    project.logfile.write_text("")
    project.logfile.chmod(0o666)  # anyone could write a line that says beat started
    result = _cli(project, "start")
    assert result.code == 1
    assert result.json["message"].startswith(
        f"Cannot start beat: its log {project.logfile} can be written by everyone (mode "
        f"0666). Fix: `chmod o-w {project.logfile}`."), result.json["message"]


# --- A FIFO or a folder at the pidfile path, the log path, the lock path -----------------


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_folder_at_the_pidfile_path_never_hangs(fake_project, kind):
    project = fake_project()
    project.pidfile.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(project.pidfile)
        said = "a named pipe (FIFO), not a file"
    else:
        project.pidfile.mkdir()
        said = "a folder, not a file"

    began = time.monotonic()
    status = _cli(project, "status")
    assert status.code == 0 and status.json["running"] is False
    assert said in status.json["pidfile"]["problem"]
    fast = _cli(project, "status", "--fast")
    assert fast.code == 0 and said in fast.json["pidfile"]["problem"]

    started = _cli(project, "start")
    assert started.code == 1
    assert started.json["message"].startswith(
        f"Cannot start beat: its pidfile {project.pidfile} is {said}"), started.json["message"]
    assert _cli(project, "stop").code == 3

    # A beat that runs all the same (started by hand without the pidfile) is stopped.
    beat = project.spawn_fake("-A", project.app, "beat")
    stopped = _cli(project, "stop")
    assert stopped.code == 0, stopped.stdout
    assert not is_alive(beat)
    assert time.monotonic() - began < 3 * PROMPTLY
    assert project.pidfile.is_fifo() if kind == "fifo" else project.pidfile.is_dir()


def test_a_fifo_at_the_log_path_is_refused_promptly(fake_project):
    project = fake_project()
    project.logfile.parent.mkdir(parents=True)
    os.mkfifo(project.logfile)
    result = _cli(project, "start")
    assert result.code == 1
    assert result.json["message"].startswith(
        f"Cannot start beat: its log {project.logfile} is a named pipe (FIFO)"), \
        result.json["message"]
    assert result.json["new_pids"] == []


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_planted_action_lock_never_hangs_and_is_never_written(fake_project, tmp_path, kind):
    project = fake_project()
    lock = project.load().run_dir / "action.lock"
    lock.parent.mkdir(parents=True)
    victim = _victim(tmp_path)
    if kind == "fifo":
        os.mkfifo(lock)
        said = "is a named pipe (FIFO)"
    else:
        lock.symlink_to(victim)
        said = f"is a symbolic link (to {victim})"
    status = _cli(project, "status")
    assert status.code == 0 and status.json["state"] == "stopped", status.stdout
    result = _cli(project, "start")
    assert result.code == 1
    assert result.json["message"].startswith(f"Cannot take the action lock: {lock} {said}"), \
        result.json["message"]
    assert victim.read_text() == "precious\n", "the lock never truncates a link's target"


def test_the_action_lock_in_a_folder_others_can_change_is_refused(fake_project):
    project = fake_project()
    lock = project.load().run_dir / "action.lock"
    state = Path(os.environ["XDG_STATE_HOME"])
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o777)
    try:
        result = _cli(project, "start")
    finally:
        state.chmod(0o755)
    assert result.code == 1
    assert result.json["message"].startswith(
        f"Cannot take the action lock: {lock} cannot be trusted: the folder {state} on the "
        "way to it can be written by everyone (mode 0777)"), result.json["message"]
    assert not lock.exists() and result.json["new_pids"] == []


# --- Another user's pidfile or log --------------------------------------------------------


def test_a_pidfile_owned_by_another_user_is_refused(fake_project, procs):
    nobody = _nobody()
    project = fake_project()
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.write_text(f"{_dead_pid(procs)}\n")
    os.chown(project.pidfile, nobody.pw_uid, nobody.pw_gid)
    result = _cli(project, "start")
    assert result.code == 1
    assert (f"its pidfile {project.pidfile} belongs to nobody (uid {nobody.pw_uid}), not to "
            "root" in result.json["message"]), result.json["message"]
    assert project.pidfile.exists(), "another user's file is never deleted"


def test_a_pidfile_of_another_user_naming_a_running_beat_is_not_trusted(fake_project):
    nobody = _nobody()
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat", f"--pidfile={project.pidfile}")
    os.chown(project.pidfile, nobody.pw_uid, nobody.pw_gid)
    state = process.read_pidfile(project.pidfile)
    assert state.beat is None
    assert state.problem == ("not trusted: it belongs to nobody, neither you, root, nor the "
                             "beat it names (run by root)")
    status = _cli(project, "status", "--fast")
    assert status.json["scan"] == "full" and status.json["pids"] == [beat.pid]


def test_a_log_owned_by_another_user_is_refused(fake_project):
    nobody = _nobody()
    project = fake_project()
    project.logfile.parent.mkdir(parents=True)
    project.logfile.write_text("their log\n")
    os.chown(project.logfile, nobody.pw_uid, nobody.pw_gid)
    result = _cli(project, "start")
    assert result.code == 1
    assert f"its log {project.logfile} belongs to nobody" in result.json["message"]
    assert project.logfile.read_text() == "their log\n"


# --- Only the pidfile beat wrote is ever deleted ------------------------------------------


def test_start_clears_a_stale_pidfile_that_is_a_real_file(fake_project, procs):
    project = fake_project(mode="ignore", stop_timeout=1)
    bystander = procs.popen(["sleep", "600"])
    project.pidfile.parent.mkdir(parents=True)
    project.pidfile.write_text(f"{bystander.pid}\n")  # a pid reused by another program
    started = _cli(project, "start")
    assert started.code == 0, started.stdout
    (pid,) = started.json["new_pids"]
    assert project.pidfile.read_text() == f"{pid}\n"
    stopped = _cli(project, "stop")
    assert stopped.json["killed"] is True
    assert not project.pidfile.exists(), "the pidfile of the beat it killed is cleared"
    assert is_alive(bystander)


def test_remove_pidfile_deletes_only_the_file_beat_wrote(tmp_path, procs):
    pid = _dead_pid(procs)
    folder = tmp_path / "run"
    folder.mkdir()
    pidfile = folder / "beat.pid"

    pidfile.write_text(f"{pid}\n")
    assert trust.remove_pidfile(pidfile, [pid]) is None
    assert not pidfile.exists()
    assert trust.remove_pidfile(pidfile, [pid]) is None  # nothing there: fine

    pidfile.write_text(f"{pid + 1}\n")
    assert trust.remove_pidfile(pidfile, [pid]) == \
        "it no longer names the beat that ended"
    assert pidfile.exists()
    pidfile.unlink()

    victim = _victim(tmp_path, f"{pid}\n")
    pidfile.symlink_to(victim)
    why = trust.remove_pidfile(pidfile, [pid])
    assert why is not None and "symbolic link" in why
    assert pidfile.is_symlink() and victim.read_text() == f"{pid}\n"
    pidfile.unlink()

    os.link(victim, pidfile)  # a second name for another file
    assert trust.remove_pidfile(pidfile, [pid]) == \
        "it has 2 hard links: it may be another file under a second name"
    assert victim.exists()
    pidfile.unlink()

    os.mkfifo(pidfile)
    assert "named pipe" in trust.remove_pidfile(pidfile, [pid])
    pidfile.unlink()

    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        pidfile.write_text(f"{pid}\n")
        os.chown(pidfile, nobody.pw_uid, nobody.pw_gid)
        assert trust.remove_pidfile(pidfile, [pid]).startswith("it belongs to nobody")
        assert pidfile.exists()


# --- `| head`: no "Broken pipe" --------------------------------------------------------------


def test_schedule_list_cut_short_by_its_reader_ends_quietly(fake_project):
    project = fake_project(schedule_file="schedule.json")
    # Far more than a pipe holds, so the reader is gone while the list is being written.
    ScheduleStore(project.root / "schedule.json").save(Document(tuple(
        Entry(f"entry-{i:05d}", "proj.tasks.something_long_enough", Interval(30 + i))
        for i in range(3000))), None)
    for args in (["schedule", "list", "--json"], ["schedule", "list"]):
        command = (f"{sys.executable} -m beat_panel --config {project.config_path} "
                   f"{' '.join(args)} | head -c 10; echo \"exit=${{PIPESTATUS[0]}}\" >&2")
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                              timeout=60, check=False)
        assert len(done.stdout) == 10
        assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr, \
            done.stderr
        # Nothing else is said, and the exit code is the command's own.
        assert done.stderr.strip() == "exit=0", done.stderr


def test_an_action_cut_short_by_its_reader_keeps_its_exit_code(fake_project):
    project = fake_project()
    command = (f"{sys.executable} -m beat_panel --config {project.config_path} stop --json"
               " | (exec 0<&-; sleep 0.5); echo \"exit=${PIPESTATUS[0]}\" >&2")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stderr.strip() == "exit=3", done.stderr  # not running, as without the pipe


def test_status_waits_for_no_planted_pidfile_writer(fake_project):
    """A FIFO with a writer still attached: reading it would not end either."""
    project = fake_project()
    project.pidfile.parent.mkdir(parents=True)
    os.mkfifo(project.pidfile)
    fd = os.open(project.pidfile, os.O_RDWR)  # keeps it open without a writer's data
    try:
        began = time.monotonic()
        state = process.read_pidfile(project.pidfile)
        assert time.monotonic() - began < 1
        assert "named pipe" in state.problem
    finally:
        os.close(fd)



# --- The window's badge never freezes on a FIFO at the pidfile path ----------------------


def test_the_window_checks_and_acts_with_a_fifo_at_the_pidfile_path(fake_project, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from beat_panel.control.states import Action
    from beat_panel.ui.app import Panel

    from scripted_dialogs import ScriptedDialogs

    project = fake_project()
    project.pidfile.parent.mkdir(parents=True)
    os.mkfifo(project.pidfile)
    panel = Panel(project.load(), QApplication.instance(), dialogs=ScriptedDialogs())
    try:
        qtbot.waitUntil(lambda: panel.monitor.status is not None, timeout=PROMPTLY * 1000)
        status = panel.monitor.status
        assert not status.running
        assert any("named pipe" in warning for warning in status.warnings)
        window = panel.show_window()
        qtbot.addWidget(window)
        with qtbot.waitSignal(panel.monitor.action_finished, timeout=PROMPTLY * 1000) as done:
            qtbot.mouseClick(window.buttons[Action.START], Qt.MouseButton.LeftButton)
        result = done.args[0]
        assert not result.success and "named pipe (FIFO)" in result.message
        qtbot.waitUntil(lambda: window.buttons[Action.START].isEnabled(), timeout=5000)
    finally:
        if panel.window is not None:
            panel.window.close()
        panel.shutdown()
        QApplication.instance().setQuitOnLastWindowClosed(True)
