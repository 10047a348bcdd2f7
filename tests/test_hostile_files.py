"""Files another user, a lock or a killed writer left behind: a read-only schedule is
never replaced, and temp files of writers that died mid-save are cleared by the next save
(never one a live writer is still filling)."""

import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from beat_panel import config as config_module
from beat_panel.schedule import Document, Entry, Interval, ScheduleError
from beat_panel.schedule.store import ScheduleStore, history_dir

from conftest import run_cli, skip_unless_nobody_can_import, world_readable_dir

HELLO = "beat_panel.demo.app.say_hello"


def temp_files(folder):
    return sorted(p.name for p in folder.glob(".*.tmp"))


# --- A read-only schedule is refused, with the reason and the fix -----------------------


@pytest.fixture
def nobodys_project():
    """A project nobody may use: a folder nobody can write, its own XDG folders."""
    skip_unless_nobody_can_import("beat_panel.cli")
    base = world_readable_dir("beat-panel-readonly-")
    folder = base / "proj"
    folder.mkdir()
    home = base / "home"
    home.mkdir()
    nobody = pwd.getpwnam("nobody")
    for place in (folder, home):
        os.chown(place, nobody.pw_uid, nobody.pw_gid)
    config_path = base / "beat-panel.toml"
    config_path.write_text(config_module.project_config_text(folder, config_module.DEMO_APP))
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    env.update(HOME=str(home), BEAT_PANEL_DEMO_DIR=str(home / "demo"))
    path = folder / "schedule.json"
    ScheduleStore(path).save(Document((Entry("hello", HELLO, Interval(30)),)), None)
    for place in folder.rglob("*"):  # the file, its lock, its history: all nobody's
        os.chown(place, nobody.pw_uid, nobody.pw_gid)
    yield path, config_path, env
    shutil.rmtree(base, ignore_errors=True)


def add_as_nobody(config_path, env, name="added"):
    return run_cli("--config", str(config_path), "schedule", "add", name, "--task", HELLO,
                   "--every", "60", env=env, user="nobody")


def test_a_read_only_schedule_is_not_replaced_by_its_owner_and_the_fix_is_named(
        nobodys_project):
    path, config_path, env = nobodys_project
    path.chmod(0o444)
    before, inode = path.read_bytes(), path.stat().st_ino
    # The folder is nobody's: a rename over the file would succeed.
    assert path.parent.stat().st_uid == pwd.getpwnam("nobody").pw_uid

    result = add_as_nobody(config_path, env)

    assert result.code == 2, result
    assert (f"{path}: the file is read-only (mode 0444, owner nobody:nogroup), so Beat Panel "
            f"will not replace it. To allow saving, run: chmod u+w {path}") in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == before and path.stat().st_ino == inode
    assert temp_files(path.parent) == []

    # The fix it names works.
    path.chmod(0o644)
    saved = add_as_nobody(config_path, env)
    assert saved.code == 0, saved
    assert '"added"' in path.read_text()


def test_another_users_file_in_a_shared_folder_is_not_replaced(nobodys_project):
    path, config_path, env = nobodys_project
    os.chown(path, 0, 0)
    path.chmod(0o644)
    path.parent.chmod(0o777)  # anyone may rename over it: the file's own mode must count
    before = path.read_bytes()

    result = add_as_nobody(config_path, env)

    assert result.code == 2, result
    assert ("nobody may not write it (mode 0644, owner root:root), so Beat Panel will not "
            "replace it. Save it as root, or let nobody write it") in result.stderr
    assert path.read_bytes() == before and path.stat().st_uid == 0


def test_root_does_not_replace_a_locked_file_either(tmp_path):
    path = tmp_path / "schedule.json"
    store = ScheduleStore(path)
    loaded = store.save(Document((Entry("hello", HELLO, Interval(30)),)), None)
    path.chmod(0o444)
    before = path.read_bytes()
    with pytest.raises(ScheduleError) as refused:
        store.save(Document((Entry("other", HELLO, Interval(5)),)), loaded.sha)
    expected = "so Beat Panel will not replace it"
    if os.geteuid() == 0:
        expected += ", not even as root"
    assert expected in str(refused.value) and f"chmod u+w {path}" in str(refused.value)
    assert path.read_bytes() == before
    assert [item.revision for item in store.history()] == [1]  # no revision was kept


# --- Temp files of killed writers --------------------------------------------------------


SAVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.store import ScheduleStore

    store = ScheduleStore(Path(sys.argv[1]))
    loaded = store.load()
    big = [Entry(f"e{i}", "proj.task", Interval(60 + i)) for i in range(3000)]
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        loaded = store.save(Document(tuple(big[: 1500 + (n % 2) * 1500])), loaded.sha)
""")


def test_temp_files_of_writers_killed_mid_save_are_cleared_by_the_next_save(tmp_path, procs):
    path = tmp_path / "schedule.json"
    store = ScheduleStore(path)
    store.save(Document(), None)
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    rng = random.Random(17)
    left_behind = set()
    for _ in range(200):  # until both folders have one (usually a dozen kills)
        saver = procs.popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE)
        assert saver.stdout.readline().strip() == b"ready", f"the saver exited: {saver.wait()}"
        time.sleep(rng.uniform(0.05, 0.4))  # a few saves in, at an arbitrary moment
        os.kill(saver.pid, signal.SIGKILL)
        saver.wait()
        saver.stdout.close()
        left_behind |= {(folder, name) for folder in (tmp_path, history_dir(path))
                        for name in temp_files(folder)}
        if {folder for folder, _ in left_behind} == {tmp_path, history_dir(path)}:
            break
    # The killed writers did leave temp files, in the history folder too.
    assert {folder for folder, _ in left_behind} == {tmp_path, history_dir(path)}, left_behind

    loaded = store.load()
    store.save(loaded.document, loaded.sha)

    assert temp_files(tmp_path) == [] and temp_files(history_dir(path)) == []
    assert len(store.history()) == 10  # pruned to what it keeps, nothing else left


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from beat_panel.files.atomic import open_temp

    fd, name = open_temp(Path(sys.argv[1]))
    print(name, flush=True)
    time.sleep(600)
""")


def hold_temp(procs, script, target):
    """A real writer in the middle of writing `target`: (its process, its temp file)."""
    holder = procs.popen([sys.executable, str(script), str(target)], stdout=subprocess.PIPE)
    name = holder.stdout.readline().decode().strip()
    holder.stdout.close()
    assert name, f"the writer exited: {holder.wait()}"
    return holder, name


def test_a_live_writers_temp_file_is_never_removed_and_a_dead_ones_once_stale(tmp_path,
                                                                              procs):
    path = tmp_path / "schedule.json"
    store = ScheduleStore(path)
    loaded = store.save(Document(), None)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    # Beat's plugin writes its report beside the file without the store's lock.
    report = tmp_path / ".schedule.json.beat-state.json"
    live, live_temp = hold_temp(procs, script, report)
    dead, dead_temp = hold_temp(procs, script, report)
    fresh_dead, fresh_dead_temp = hold_temp(procs, script, report)
    for writer in (dead, fresh_dead):
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    hour_ago = time.time() - 3600
    for name in (live_temp, dead_temp):
        os.utime(name, (hour_ago, hour_ago))
    # Someone else's file that only looks like a temp file, for another name.
    other = tmp_path / ".notes.txt.1-2-abcdefgh.tmp"
    other.write_text("mine")
    os.utime(other, (hour_ago, hour_ago))

    store.save(Document((Entry("x", HELLO, Interval(5)),)), loaded.sha)

    left = {str(p) for p in tmp_path.glob(".*.tmp")}
    assert live_temp in left  # its writer still runs, however old the file
    assert fresh_dead_temp in left  # its writer is gone, but it might be in another
    # PID namespace: only a stale one goes
    assert dead_temp not in left
    assert str(other) in left
    assert live.poll() is None
