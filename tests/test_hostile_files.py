"""Files another user, a lock or a killed writer left behind: a read-only schedule is
never replaced, and temp files of writers that died mid-save are cleared by the next save
(never one a live writer is still filling)."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.store import ScheduleStore, history_dir

HELLO = "beat_panel.demo.app.say_hello"
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def temp_files(folder):
    return sorted(p.name for p in folder.glob(".*.tmp"))


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
    for _ in range(60):
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
    from beat_panel.atomic import open_temp

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
