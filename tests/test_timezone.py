"""One clock: next runs are computed in the zone beat uses (the app's) and every face
shows them in that zone and names it. The case from the field: `30 2 * * mon-fri` in an
app whose time zone is Europe/Berlin, on a machine in UTC, is 02:30 Berlin time in the
entry dialog, the table and `schedule list`, and import records the app's zone."""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialog

from beat_panel.control.status import check_status
from beat_panel.schedule import Crontab, Document, Entry, Interval, beat_report
from beat_panel.schedule.store import ScheduleStore
from beat_panel.schedule.timing import beat_clock
from beat_panel.schedule.views import build_views, clock_for
from beat_panel.ui.schedule.editor import ScheduleEditor
from beat_panel.ui.schedule.entry_dialog import EntryDialog
from beat_panel.ui.schedule.table import NEXT, SCHEDULE

from conftest import ProcessTracker, Project
from faces import click_action

BERLIN = ZoneInfo("Europe/Berlin")
CRON = "30 2 * * mon-fri"
WEEKDAY = Entry("weekday", "berlinapp.ping", Crontab.from_expression(CRON))

APP = '''
    from celery import Celery
    from celery.schedules import crontab

    app = Celery("berlinapp", broker="memory://")
    app.conf.timezone = "Europe/Berlin"
    app.conf.broker_connection_retry_on_startup = True
    app.conf.beat_schedule = {
        "weekday": {"task": "berlinapp.ping",
                    "schedule": crontab(minute="30", hour="2", day_of_week="mon-fri")},
    }


    @app.task(name="berlinapp.ping")
    def ping():
        return "pong"
'''


def weekday_0230(after: datetime, count: int = 1) -> list[datetime]:
    """The next `count` weekdays at 02:30 Berlin time after `after`, worked out by hand
    (02:30 is never in a daylight-saving gap or overlap on a weekday: Europe changes its
    clocks on Sundays)."""
    runs: list[datetime] = []
    day: date = after.astimezone(BERLIN).date()
    while len(runs) < count:
        at = datetime(day.year, day.month, day.day, 2, 30, tzinfo=BERLIN)
        if day.weekday() < 5 and at > after:
            runs.append(at)
        day += timedelta(days=1)
    return runs


@pytest.fixture(autouse=True)
def utc_machine() -> Iterator[dict]:
    """This process and the commands it runs (their environment) are on a machine in UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield dict(os.environ)
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def berlin_project(tmp_path: Path, procs: ProcessTracker) -> Project:
    """A real Celery app in Europe/Berlin whose beat (the panel's celery, with the
    panel's scheduler) would run `schedule.json`."""
    root = tmp_path / "berlin"
    root.mkdir()
    (root / "berlinapp.py").write_text(textwrap.dedent(APP))
    project = Project(root, "berlinapp", None, procs)
    project.write_config(schedule_file="schedule.json", app="berlinapp", workdir=".",
                         pidfile="run/beat.pid", logfile="run/beat.log", stop_timeout=15,
                         args=["--loglevel=INFO",
                               f"--schedule={root / 'run' / 'celerybeat-schedule'}"])
    procs.own_beats_of(app="berlinapp", pidfile=project.pidfile)
    project.schedule_path = root / "schedule.json"  # type: ignore[attr-defined]
    return project


def write_schedule(project: Project, tz: str | None) -> None:
    ScheduleStore(project.schedule_path).save(  # type: ignore[attr-defined]
        Document((WEEKDAY,), timezone=tz), None)






def type_into(qtbot, widget, text: str) -> None:
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def fill_in_by_hand(qtbot, editor: ScheduleEditor, fill: Callable[[EntryDialog], None]
                    ) -> list[EntryDialog]:
    """The editor's entry dialog is filled in by `fill` as a person would, then Save is
    clicked; returns the dialogs shown."""
    shown: list[EntryDialog] = []

    def run(dialog: EntryDialog):
        shown.append(dialog)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        fill(dialog)
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        return dialog.entry() if dialog.result() == QDialog.DialogCode.Accepted else None

    editor.run_dialog = run
    return shown


def cell(editor: ScheduleEditor, name: str, column: int) -> str:
    proxy = editor.proxy
    for row in range(proxy.rowCount()):
        if proxy.data(proxy.index(row, 0), Qt.ItemDataRole.UserRole) == name:
            return proxy.data(proxy.index(row, column))
    raise AssertionError(f"no row {name!r}")


def header(editor: ScheduleEditor, column: int = NEXT) -> str:
    return editor.table.horizontalHeader().model().headerData(column, Qt.Orientation.Horizontal)


def table_text(when: datetime, now: datetime) -> str:
    """What the table shows for a run at `when` (Berlin time), without the "in …" part."""
    today = now.astimezone(BERLIN).date() == when.date()
    return when.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M")


# -- the case: Berlin app, UTC machine, 30 2 * * mon-fri --------------------------------


def test_import_records_the_apps_time_zone_over_the_one_the_file_had(berlin_project,
                                                                      utc_machine):
    write_schedule(berlin_project, "UTC")  # e.g. made for another app, or by hand
    result = berlin_project.cli("schedule", "import", "--json", env=utc_machine)
    assert result.code == 0, result.stderr
    assert result.json["changed"] == ["time zone changed from UTC to Europe/Berlin (the app's, "
                                      "which beat runs the schedule in)"]
    saved = json.loads(berlin_project.schedule_path.read_text())
    assert saved["timezone"] == "Europe/Berlin"


def test_import_into_a_new_schedule_records_europe_berlin(berlin_project, utc_machine):
    result = berlin_project.cli("schedule", "import", env=utc_machine)
    assert result.code == 0, result.stderr
    assert "time zone set to Europe/Berlin (the app's)" in result.stdout
    assert json.loads(berlin_project.schedule_path.read_text())["timezone"] == "Europe/Berlin"


def test_schedule_list_shows_0230_berlin_time_and_names_the_zone(berlin_project, utc_machine):
    write_schedule(berlin_project, "Europe/Berlin")
    before = datetime.now(timezone.utc)
    (expected,) = weekday_0230(before)

    listed = berlin_project.cli("schedule", "list", "--json", env=utc_machine)
    assert listed.code == 0, listed.stderr
    assert listed.json["timezone"] == {"name": "Europe/Berlin", "source": "schedule",
                                       "note": None}
    (entry,) = listed.json["entries"]
    next_run = datetime.fromisoformat(entry["next_run"])
    assert next_run == expected
    assert (next_run.hour, next_run.minute) == (2, 30)
    assert next_run.utcoffset() == expected.utcoffset()  # +01:00 in winter, +02:00 in summer
    assert entry["next_run"].endswith(("+01:00", "+02:00"))

    human = berlin_project.cli("schedule", "list", env=utc_machine)
    assert human.code == 0, human.stderr
    head, row, _, footer = human.stdout.splitlines()
    assert head.split("  ")[-1] == "NEXT RUN (Europe/Berlin)"
    assert row.endswith(expected.strftime("%Y-%m-%d 02:30:00 %Z"))  # CET or CEST
    assert footer == ("Times are in Europe/Berlin: the zone the schedule file records (import "
                      "writes the app's).")


def test_the_table_and_the_entry_dialog_show_0230_labelled_europe_berlin(
        berlin_project, open_editor, qtbot):
    write_schedule(berlin_project, "Europe/Berlin")
    editor = open_editor(berlin_project.load())
    now = datetime.now(timezone.utc)
    first, *_ = expected = weekday_0230(now, 5)

    # The table: the header names the zone, and it fits.
    assert header(editor) == "Next run (Europe/Berlin)"
    metrics = editor.table.horizontalHeader().fontMetrics()
    assert editor.table.columnWidth(NEXT) > metrics.horizontalAdvance(header(editor))
    assert cell(editor, "weekday", NEXT).startswith(table_text(first, now) + " (in ")

    # The dialog, filled in by hand: the same crontab previews 02:30 Berlin time.
    def fill(dialog: EntryDialog) -> None:
        type_into(qtbot, dialog.name, "weekday-too")
        type_into(qtbot, dialog.task, "berlinapp.ping")
        qtbot.keyClicks(dialog.kind, "Crontab")
        for field, value in zip(("minute", "hour", "day_of_month", "month_of_year",
                                 "day_of_week"), CRON.split(), strict=True):
            type_into(qtbot, dialog.cron[field], value)

    shown = fill_in_by_hand(qtbot, editor, fill)
    click_action(qtbot, editor, "add")
    (dialog,) = shown
    assert dialog.result() == QDialog.DialogCode.Accepted
    lines = dialog.preview.text().splitlines()
    assert lines[0] == "Next runs (Europe/Berlin):" and dialog.zone_note.isHidden()
    assert [line.strip() for line in lines[1:]] == [
        when.strftime("%a %Y-%m-%d 02:30:00 %Z") for when in expected]
    assert cell(editor, "weekday-too", NEXT) == cell(editor, "weekday", NEXT)


def test_importing_in_the_editor_moves_the_table_to_the_apps_zone(berlin_project,
                                                                   open_editor, qtbot):
    write_schedule(berlin_project, None)  # made before the app's zone was known
    editor = open_editor(berlin_project.load())
    now = datetime.now(timezone.utc)
    (first,) = weekday_0230(now)
    assert header(editor) == "Next run (UTC)"  # Celery's default, and said so
    tip = editor.table.horizontalHeader().model().headerData(
        NEXT, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Times are in UTC: Celery's default")
    assert "02:30" in cell(editor, "weekday", NEXT)  # 02:30 UTC: not what beat does

    click_action(qtbot, editor, "import")
    qtbot.waitUntil(lambda: bool(editor.dialogs.shown), timeout=60000)
    (told,) = editor.dialogs.shown
    assert "time zone set to Europe/Berlin (the app's)" in told.details, told
    assert header(editor) == "Next run (Europe/Berlin)"
    assert cell(editor, "weekday", NEXT).startswith(table_text(first, now) + " (in ")
    with qtbot.waitSignal(editor.saved, timeout=15000):
        click_action(qtbot, editor, "save")
    assert ScheduleStore(berlin_project.schedule_path).load().document.timezone == \
        "Europe/Berlin"


def test_a_one_off_time_is_typed_and_shown_in_beats_zone_not_the_machines(
        berlin_project, open_editor, qtbot):
    write_schedule(berlin_project, "Europe/Berlin")
    editor = open_editor(berlin_project.load())

    def fill(dialog: EntryDialog) -> None:
        type_into(qtbot, dialog.name, "once")
        type_into(qtbot, dialog.task, "berlinapp.ping")
        qtbot.keyClicks(dialog.kind, "Once")
        assert dialog.at_zone.text() == "Europe/Berlin"
        qtbot.mouseClick(dialog.at, Qt.MouseButton.LeftButton,
                         pos=QPoint(8, dialog.at.height() // 2))  # on the year
        qtbot.keyClicks(dialog.at, "20300115090000")
        assert dialog.at.text() == "2030-01-15 09:00:00"

    fill_in_by_hand(qtbot, editor, fill)
    click_action(qtbot, editor, "add")
    at = editor.document.require("once").schedule.at
    assert at == datetime(2030, 1, 15, 8, 0, tzinfo=timezone.utc)  # 09:00 in Berlin
    assert at.isoformat() == "2030-01-15T09:00:00+01:00"
    assert cell(editor, "once", SCHEDULE) == "once at 2030-01-15 09:00 CET"
    assert cell(editor, "once", NEXT).startswith("2030-01-15 09:00 (in ")

    # Opened again, the editor shows the same wall time, and an untouched save keeps it.
    seen: list[str] = []
    fill_in_by_hand(qtbot, editor, lambda dialog: seen.append(dialog.at.text()))
    editor.select(["once"])
    editor.table.setFocus()
    qtbot.keyClick(editor.table, Qt.Key.Key_Return)
    assert seen == ["2030-01-15 09:00:00"]
    assert editor.document.require("once").schedule.at == at


def test_a_one_off_time_in_a_file_written_in_another_offset_is_shown_in_beats_zone(qtbot):
    # Written by hand in UTC; beat's zone is Europe/Berlin, in summer time then.
    at = datetime(2030, 7, 1, 6, 0, tzinfo=timezone.utc)
    from beat_panel.schedule import Clocked

    dialog = EntryDialog(None, Entry("once", "t", Clocked(at)), set(), [],
                         beat_clock("Europe/Berlin"))
    qtbot.addWidget(dialog)
    assert dialog.at.text() == "2030-07-01 08:00:00"
    assert dialog.words.text() == "Runs once at 2030-07-01 08:00 CEST."
    assert dialog.validate() and dialog.entry().schedule.at == at


# -- which zone: the running beat's, else the file's, else UTC --------------------------


def test_the_zone_comes_from_the_running_beat_then_the_file_then_the_last_beat_then_utc():
    assert beat_clock("Europe/Berlin", "Asia/Tokyo", running=True).name == "Asia/Tokyo"
    differs = beat_clock("Europe/Berlin", "Asia/Tokyo", running=True).note
    assert differs is not None and "Europe/Berlin" in differs and "Asia/Tokyo" in differs
    assert beat_clock("Europe/Berlin", "Europe/Berlin").note is None
    assert beat_clock("Europe/Berlin", "Asia/Tokyo", running=False).name == "Europe/Berlin"
    assert beat_clock(None, "Asia/Tokyo", running=False).source == "last beat"
    assert beat_clock(None, None) == beat_clock(None, None, running=False)
    assert beat_clock(None, None).name == "UTC"
    # An app without a zone and enable_utc off reports something that is no zone name.
    assert beat_clock("Europe/Berlin", "<LocalTimezone: UTC+00>").name == "Europe/Berlin"


def test_views_give_next_runs_with_the_offset_of_beats_zone():
    doc = Document((WEEKDAY, Entry("tick", "t", Interval(30))), timezone="Europe/Berlin")
    now = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # a Monday
    weekday, tick = build_views(doc, None, now)
    assert weekday.to_json()["next_run"] == "2026-01-06T02:30:00+01:00"
    assert tick.to_json()["next_run"] == "2026-01-05T13:00:30+01:00"
    summer = build_views(doc, None, datetime(2026, 7, 6, 12, 0, tzinfo=timezone.utc))[0]
    assert summer.to_json()["next_run"] == "2026-07-07T02:30:00+02:00"
    assert clock_for(doc, None).source == "schedule"


def berlin_beat_running(project: Project, env: dict) -> int:
    started = project.cli("start", "--json", env=env)
    assert started.code == 0, started.stdout + started.stderr
    (pid,) = started.json["new_pids"]
    report = beat_report.read_beat_report(project.schedule_path)  # type: ignore[attr-defined]
    assert report is not None and report.pid == pid and report.timezone == "Europe/Berlin"
    return pid


@pytest.mark.slow
def test_a_running_beat_in_another_zone_than_the_file_records_wins_and_is_named(
        berlin_project, open_editor, qtbot, utc_machine):
    write_schedule(berlin_project, "UTC")  # stale: the app runs in Europe/Berlin
    pid = berlin_beat_running(berlin_project, utc_machine)
    now = datetime.now(timezone.utc)
    (expected,) = weekday_0230(now)
    note = ("The running beat uses Europe/Berlin; the schedule file records UTC. Times are "
            "shown in Europe/Berlin, as beat runs them; import from the app to record its "
            "zone.")

    listed = berlin_project.cli("schedule", "list", "--json", env=utc_machine).json
    assert listed["timezone"] == {"name": "Europe/Berlin", "source": "beat", "note": note}
    assert datetime.fromisoformat(listed["entries"][0]["next_run"]) == expected
    assert listed["entries"][0]["next_run"].endswith(expected.strftime("%z")[:3] + ":00")
    human = berlin_project.cli("schedule", "list", env=utc_machine).stdout
    assert "NEXT RUN (Europe/Berlin)" in human
    assert human.splitlines()[-1] == ("Times are in Europe/Berlin: the zone the running beat "
                                      f"reports. {note}")

    editor = open_editor(berlin_project.load())
    editor.on_status(check_status(berlin_project.load()))
    qtbot.waitUntil(lambda: note in editor.notice.text(), timeout=15000)
    assert header(editor) == "Next run (Europe/Berlin)"
    assert cell(editor, "weekday", NEXT).startswith(table_text(expected, now) + " (in ")
    tip = editor.table.horizontalHeader().model().headerData(
        NEXT, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert tip == f"Times are in Europe/Berlin: the zone the running beat reports.\n{note}"

    note_seen: list[bool] = []
    shown = fill_in_by_hand(qtbot, editor,
                            lambda dialog: note_seen.append(dialog.zone_note.isVisible()))
    editor.select(["weekday"])
    editor.table.setFocus()
    qtbot.keyClick(editor.table, Qt.Key.Key_Return)
    (dialog,) = shown
    lines = dialog.preview.text().splitlines()
    assert lines[0] == "Next runs (Europe/Berlin):" and len(lines) == 6
    assert note_seen == [True]
    assert dialog.zone_note.text().replace("\n", " ") == note
    assert lines[1].strip() == expected.strftime("%a %Y-%m-%d 02:30:00 %Z")

    # Once beat stops, the file's record is all there is (import would correct it).
    assert berlin_project.cli("stop", "--json", env=utc_machine).code == 0
    stopped = berlin_project.cli("schedule", "list", "--json", env=utc_machine).json
    assert stopped["timezone"]["name"] == "UTC" and stopped["timezone"]["source"] == "schedule"
    assert pid not in check_status(berlin_project.load()).pids
