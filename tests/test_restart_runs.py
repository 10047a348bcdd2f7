"""No run lost or doubled across a restart: an entry that never ran still gets the run
that fell due while beat was down (once), and a stop never cuts a send in half."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from beat_panel.schedule import Clocked, Document, Entry, Interval, beat_report
from beat_panel.schedule.store import ScheduleStore

from conftest import beat_sends, wait_until

HELLO = "beat_panel.demo.app.say_hello"




def start(project) -> int:
    started = project.cli("start", "--json")
    assert started.code == 0, started.stdout
    (pid,) = started.json["new_pids"]
    return pid


def stop(project) -> None:
    stopped = project.cli("stop", "--json")
    assert stopped.code == 0 and not stopped.json["killed"], stopped.stdout


@pytest.mark.slow
def test_entries_that_never_ran_get_the_run_due_while_beat_was_down_once(panel_project):
    path = panel_project.root / "schedule.json"
    soon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=5)
    saved = ScheduleStore(path).save(Document((
        Entry("every-6s", HELLO, Interval(6)),
        Entry("once", HELLO, Clocked(soon)),
    )), None)
    start(panel_project)
    assert beat_report.wait_applied(path, saved.sha, timeout=20)
    stop(panel_project)  # before either entry was ever due
    assert beat_sends(panel_project, "every-6s") == beat_sends(panel_project, "once") == 0
    time.sleep(7)  # both fall due while beat is down
    start(panel_project)
    # Sent as the new beat starts, not 6 s later (counting afresh) or never (the one-off).
    wait_until(lambda: beat_sends(panel_project, "every-6s") == 1, timeout=3,
               what="the overdue interval entry to be sent at start")
    wait_until(lambda: beat_sends(panel_project, "once") == 1, timeout=3,
               what="the one-off that fell due while beat was down to be sent")
    time.sleep(2)  # and only once: the next interval run is 6 s after this one
    assert beat_sends(panel_project, "every-6s") == 1
    assert beat_sends(panel_project, "once") == 1


@pytest.mark.slow
def test_stops_in_the_middle_of_sending_never_cut_a_message_or_miscount(panel_project):
    """Ten sends a second, each a large message, and a stop every ~second: every message
    in the broker is whole, and the runs beat counted are the messages it sent."""
    path = panel_project.root / "schedule.json"
    big = "x" * 2_000_000  # makes each send long enough for a SIGTERM to land in one
    ScheduleStore(path).save(Document((
        Entry("fast", HELLO, Interval(0.1), kwargs={"name": big}),)), None)
    queue = panel_project.root / "demo-data" / "broker" / "queue"
    for _ in range(8):
        start(panel_project)
        time.sleep(0.7)
        stop(panel_project)
    messages = sorted(queue.glob("*.msg"))
    assert messages, "nothing was sent"
    assert [m.name for m in messages if m.stat().st_size < len(big)] == []
    report = beat_report.read_beat_report(path)
    assert report.run_count("fast") == len(messages) == beat_sends(panel_project, "fast")


def test_a_one_off_whose_time_passed_with_no_beat_is_missed_with_a_run_now(
        panel_project, qtbot):
    """No beat had it installed when it fell due, so no beat will send it: the list,
    the JSON and the table say "missed" and point at Run now, which sends it."""
    from PySide6.QtCore import Qt

    from beat_panel.ui.jobs import JobRunner
    from beat_panel.ui.schedule.editor import ScheduleEditor
    from beat_panel.ui.schedule.table import NEXT

    from scripted_dialogs import ScriptedDialogs

    path = panel_project.root / "schedule.json"
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
    document = Document((Entry("report-once", HELLO, Clocked(past), kwargs={"name": "late"}),
                         Entry("tick", HELLO, Interval(60))))
    # Written as a file a person edited (the panel refuses a time in the past on add).
    path.write_text(json.dumps(document.to_json()))
    listed = panel_project.cli("schedule", "list", "--json").json["entries"]
    views = {e["name"]: e for e in listed}
    assert views["report-once"]["missed"] is True and views["report-once"]["next_run"] is None
    assert views["tick"]["missed"] is False
    text = panel_project.cli("schedule", "list").stdout
    assert "missed (run it: beat-panel schedule run report-once)" in text

    editor = ScheduleEditor(panel_project.load(), JobRunner(), ScriptedDialogs())
    qtbot.addWidget(editor)
    editor.show()
    editor.reload()
    qtbot.waitUntil(lambda: editor.loaded, timeout=15000)
    proxy = editor.proxy
    row = next(r for r in range(proxy.rowCount())
               if proxy.data(proxy.index(r, 0), Qt.ItemDataRole.UserRole) == "report-once")
    assert proxy.data(proxy.index(row, NEXT)) == "missed: Run now?"
    assert "use Run now" in proxy.data(proxy.index(row, NEXT), Qt.ItemDataRole.ToolTipRole)
    editor.runner.wait()

    queue = panel_project.root / "demo-data" / "broker" / "queue"
    before = set(queue.glob("*.msg")) if queue.exists() else set()
    sent = panel_project.cli("schedule", "run", "report-once", "--json")
    assert sent.code == 0, sent.stderr
    message = (set(queue.glob("*.msg")) - before).pop().read_text()
    assert sent.json["task_id"] in message
