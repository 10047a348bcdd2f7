"""The activity log: what was done to beat and what happened to it, newest first."""

import json
import logging
import os

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
