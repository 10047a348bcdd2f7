"""The editor's run columns follow beat's report while beat runs, not only at each status
check: a send beat records shows within seconds, with the refresh at 30 s or more."""

from __future__ import annotations

import json
import time

from beat_panel.schedule import Document, Entry, Interval, beat_report
from beat_panel.schedule.store import ScheduleStore
from beat_panel.ui.schedule import editor as editor_module
from beat_panel.ui.schedule.table import RUNS


def test_a_run_beat_reports_shows_in_the_editor_within_its_poll(panel_project,
                                                                open_editor, qtbot):
    config = panel_project.load()
    ScheduleStore(config.schedule_file).save(Document((
        Entry("hello", "beat_panel.demo.app.say_hello", Interval(30)),)), None)
    editor = open_editor(config)
    model = editor.model
    assert model.beat_running  # (as it is until a status says otherwise)
    name = model.entries[0].name
    row = 0
    assert model.data(model.index(row, RUNS)) == 0
    now = time.time()
    # What the plugin inside a running beat writes after a send.
    beat_report.report_path(config.schedule_file).write_text(json.dumps({
        "format": "beat-panel-beat-state", "version": 2, "timezone": "UTC",
        "applied": {"pid": 1, "sha256": None, "revision": 1, "at": now, "error": None},
        "runs": {name: {"last_run_at": now, "last_sent_at": now, "sent_count": 3}},
    }))
    qtbot.waitUntil(lambda: model.data(model.index(row, RUNS)) == 3,
                    timeout=editor_module.REPORT_POLL_MS + 5000)
