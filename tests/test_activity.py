"""The activity log: what was done to beat and what happened to it, newest first."""

import json
import logging
import os
import subprocess
import sys

from beat_panel import paths
from beat_panel.control import activity
from beat_panel.control.activity import Kind


def test_events_read_back_newest_first_for_their_project_only():
    activity.record("p1", Kind.START, True, "Beat started (pid 1).")
    activity.record("p2", "stop", True, "other project")
    activity.record("p1", Kind.DIED, False, "pid 1 was killed by SIGKILL")
    events = activity.read("p1")
    assert [(e.kind, e.success, e.message) for e in events] == [
        (Kind.DIED, False, "pid 1 was killed by SIGKILL"),
        (Kind.START, True, "Beat started (pid 1).")]


def test_a_log_written_by_an_earlier_version_is_taken_over():
    old = paths.data_dir() / "history.jsonl"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"at": 1.0, "project": "p", "what": "save", "success": True,
                               "message": "Schedule saved as revision 3."}) + "\n")
    assert [e.message for e in activity.read("p")] == ["Schedule saved as revision 3."]
    assert not old.exists() and (paths.data_dir() / "activity.jsonl").exists()


def test_damaged_and_unknown_lines_are_skipped_not_fatal():
    path = activity.activity_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"at": 1, "project": "p", "what": "teleport", "success": true, '
                    '"message": "?"}\nnot json\n')
    activity.record("p", Kind.STOP, True, "Beat stopped.")
    assert [e.kind for e in activity.read("p")] == [Kind.STOP]


def test_a_log_that_cannot_be_written_is_a_warning_not_a_failure(caplog):
    folder = paths.data_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="beat_panel.control.activity"):
        activity.record("p", Kind.START, True, "Beat started.")
    assert "Could not write the activity log" in caplog.text
    assert os.path.isfile(folder)


WRITERS = """
import os, sys
from beat_panel.control import activity

activity.MAX_LINES = int(sys.argv[1])
writers, each = int(sys.argv[2]), int(sys.argv[3])
start_r, start_w = os.pipe()
pids = []
for n in range(writers):
    pid = os.fork()
    if pid == 0:
        os.close(start_w)
        os.read(start_r, 1)  # all at once, when the parent lets go of the pipe
        for i in range(each):
            activity.record(f"w{n}", "save", True, f"{n}:{i}")
        os._exit(0)
    pids.append(pid)
os.close(start_w)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
sys.exit(max(codes))
"""


def test_concurrent_writers_keep_exactly_the_last_events_and_lose_none_of_them(
        tmp_path, procs, monkeypatch):
    keep, writers, each = 50, 40, 25
    script = tmp_path / "writers.py"
    script.write_text(WRITERS)
    parent = procs.popen([sys.executable, str(script), str(keep), str(writers), str(each)],
                         stderr=subprocess.PIPE)
    _, err = parent.communicate(timeout=120)
    assert parent.returncode == 0, err.decode()[-2000:]

    monkeypatch.setattr(activity, "MAX_LINES", keep)
    events = activity.read(limit=100_000)
    assert len(events) == keep
    # Every line whole; the file was trimmed (1,000 events were written) but holds what
    # the trim kept and every append since: each writer's events there are its last
    # ones, with none missing between them.
    lines = activity.activity_file().read_text().splitlines()
    assert keep <= len(lines) < writers * each
    kept: dict[int, list[int]] = {}
    for line in lines:
        writer, seq = map(int, json.loads(line)["message"].split(":"))
        kept.setdefault(writer, []).append(seq)
    for seqs in kept.values():
        assert seqs == list(range(each - len(seqs), each))
    assert [e.message for e in events] == [json.loads(line)["message"]
                                           for line in reversed(lines[-keep:])]


def bytes_read() -> int:
    """What this process has read so far (read(2) and friends), from /proc/self/io."""
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


def event_line(i: int) -> bytes:
    return (json.dumps({"at": float(i), "project": "p", "what": "save", "success": True,
                        "message": f"event {i}"}) + "\n").encode()


def test_a_huge_log_is_read_and_trimmed_from_its_end_only():
    path = activity.activity_file()
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # 1 GB, sparse: a log grown huge (a hole reads as NULs)
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n" + b"".join(event_line(i) for i in range(100)))
    bound = activity.READ_LIMIT_BYTES + 64 * 1024

    before = bytes_read()
    events = activity.read("p", limit=1000)
    assert bytes_read() - before <= bound
    assert [e.message for e in events] == [f"event {i}" for i in reversed(range(100))]

    before = bytes_read()
    activity.record("p", Kind.START, True, "Beat started.")  # past the size: trimmed
    assert bytes_read() - before <= bound
    assert path.stat().st_size < 100 * len(event_line(99)) + 1000
    assert [e.message for e in activity.read("p", limit=1000)] == [
        "Beat started.", *(f"event {i}" for i in reversed(range(100)))]


def test_the_torn_last_line_of_a_killed_writer_does_not_swallow_the_next_event():
    path = activity.activity_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(event_line(1) + event_line(2)[:20])
    activity.record("p", Kind.STOP, True, "Beat stopped.")
    assert [e.message for e in activity.read("p")] == ["Beat stopped.", "event 1"]
