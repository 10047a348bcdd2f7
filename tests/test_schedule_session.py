"""The schedule session: each workflow once, for the CLI and the editor alike. Load, edit,
save with conflict detection, restore, "was it applied?", and import from the app, which
the CLI and the editor's toolbar must do identically on a real Celery app."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import pytest

from beat_panel import config as config_module
from beat_panel.celeryapp.appinfo import AppInfo
from beat_panel.errors import PanelError
from beat_panel.schedule import Crontab, Document, Entry, Interval, ScheduleError, beat_report
from beat_panel.schedule.session import (
    APPLY_WAIT,
    ApplyState,
    ConflictError,
    ScheduleSession,
    SkipReason,
    plan_import,
)
from beat_panel.schedule.store import ScheduleStore, sha256

from conftest import run_cli
from faces import click_action

HELLO = Entry("hello", "proj.hello", Interval(30))
REPORT = Entry("report", "proj.report", Crontab.from_expression("0 9 * * mon-fri"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A schedule file of two entries, revision 1."""
    file = tmp_path / "schedule.json"
    ScheduleStore(file).save(Document((HELLO, REPORT)), None)
    return file


# -- load, edit, save, conflict, restore -------------------------------------------------


def test_a_missing_file_opens_as_an_empty_schedule_based_on_nothing(tmp_path):
    session = ScheduleSession.open(tmp_path / "none.json")
    assert session.document == Document() and session.base_sha is None
    assert session.report is None and not session.dirty
    saved = session.editing(Document((HELLO,))).save()
    assert saved.revision == 1
    assert saved.base_sha == sha256((tmp_path / "none.json").read_bytes())


def test_editing_marks_the_session_dirty_and_a_save_bases_it_on_what_was_written(path):
    session = ScheduleSession.open(path)
    assert session.revision == 1 and session.base_sha == sha256(path.read_bytes())
    edited = session.editing(session.document.enabling(["hello"], False))
    assert edited.dirty and not session.dirty, "editing returns a new session"
    # An edit undone is not a change.
    assert not edited.editing(edited.document.enabling(["hello"], True)).dirty

    saved = edited.save()
    assert (saved.revision, saved.dirty) == (2, False)
    assert saved.base_sha == sha256(path.read_bytes())
    assert ScheduleStore(path).load().document.require("hello").enabled is False


def test_a_save_over_someone_elses_change_is_a_conflict_until_forced(path):
    mine = ScheduleSession.open(path)
    mine = mine.editing(mine.document.removing(["report"]))
    theirs = ScheduleSession.open(path)
    theirs.editing(theirs.document.adding(Entry("theirs", "proj.t", Interval(9)))).save()
    on_disk = path.read_bytes()

    with pytest.raises(ConflictError, match="changed by someone else") as raised:
        mine.save()
    assert isinstance(raised.value, PanelError)
    assert path.read_bytes() == on_disk
    assert mine.changed_on_disk(mine.look())

    kept = mine.save(force=True)
    assert kept.document.names() == ["hello"] and kept.revision == 3
    assert not kept.changed_on_disk(kept.look())


def test_restore_brings_back_a_saved_version_as_a_new_revision(path):
    session = ScheduleSession.open(path)
    session.editing(session.document.removing(["hello"])).save()
    restored = ScheduleSession(path).restore(1)
    assert restored.document.names() == ["hello", "report"]
    assert restored.revision == 3 and restored.base_sha == sha256(path.read_bytes())

    with pytest.raises(ScheduleError, match=r"no saved version has revision 42 "
                                            r"\(saved versions: 3, 2, 1\)"):
        ScheduleSession(path).restore(42)


def test_restore_needs_no_load_so_it_rescues_a_damaged_file(path):
    session = ScheduleSession.open(path)
    session.editing(session.document.removing(["report"])).save()  # revision 1 in history
    path.write_text('{"format": "beat-panel-schedule", "version"')
    with pytest.raises(ScheduleError, match="line 1"):
        ScheduleSession.open(path)
    restored = ScheduleSession(path).restore(1)
    assert restored.document.names() == ["hello", "report"]
    assert ScheduleSession.open(path).document.names() == ["hello", "report"]


# -- was the save applied? ----------------------------------------------------------------


def write_report(schedule: Path, pid: int, sha: str | None, error: str | None = None) -> None:
    """What the plugin inside beat writes, written here as a beat would."""
    beat_report.report_path(schedule).write_text(json.dumps({
        "format": "beat-panel-beat-state", "version": 1, "timezone": "UTC",
        "applied": {"pid": pid, "sha256": sha, "revision": 1, "at": time.time(),
                    "error": error},
        "runs": {},
    }))


def test_apply_wait_is_one_documented_figure():
    assert APPLY_WAIT == 5.0


def test_with_no_beat_running_the_answer_is_none_at_once(path):
    started = time.monotonic()
    check = ScheduleSession.open(path).wait_applied([])
    assert time.monotonic() - started < 0.5
    assert (check.state, check.applied, check.restart_needed) == \
        (ApplyState.NOT_RUNNING, None, False)
    assert check.note == "Beat is not running; it will use this schedule when it starts."


@pytest.mark.parametrize("report_pid", [None, 999_999], ids=["no report", "another pid"])
def test_a_beat_that_does_not_follow_the_file_needs_a_restart(path, report_pid):
    session = ScheduleSession.open(path)
    if report_pid is not None:
        write_report(path, report_pid, session.base_sha)
    check = session.wait_applied([4242], timeout=0.2)
    assert (check.state, check.applied, check.restart_needed) == \
        (ApplyState.RESTART_NEEDED, None, True)
    assert "only after a restart" in check.note


def test_a_beat_that_acknowledges_the_save_in_time_applied_it(path):
    session = ScheduleSession.open(path)
    write_report(path, 4242, "an-older-version")
    saved = session.editing(session.document.removing(["report"])).save()
    later = threading.Timer(0.3, write_report, (path, 4242, saved.base_sha))
    later.start()
    started = time.monotonic()
    try:
        check = saved.wait_applied([4242])
    finally:
        later.join()
    assert 0.25 < time.monotonic() - started < APPLY_WAIT
    assert (check.state, check.applied, check.pid, check.revision) == \
        (ApplyState.APPLIED, True, 4242, 2)
    assert check.note == "Applied ✓ by the running beat (pid 4242)."
    assert check.report is not None and check.report.applied_sha == saved.base_sha


def test_a_beat_that_does_not_acknowledge_says_false_with_its_own_error(path):
    session = ScheduleSession.open(path)
    write_report(path, 4242, "an-older-version", error="cannot apply revision 2: boom")
    check = session.wait_applied([4242], timeout=0.3)
    assert (check.state, check.applied, check.error) == \
        (ApplyState.NOT_APPLIED, False, "cannot apply revision 2: boom")
    assert check.note == ("The running beat has not applied it within 0.3 s. It reports: "
                          "cannot apply revision 2: boom")


# -- the CLI on the session ------------------------------------------------------------------


@pytest.fixture
def cli_project(fake_project):
    """A project (fake celery) whose schedule file has two entries, revision 1."""
    proj = fake_project(schedule_file="schedule.json")
    proj.schedule_path = proj.root / "schedule.json"
    ScheduleStore(proj.schedule_path).save(Document((HELLO, REPORT)), None)
    return proj


def test_the_cli_says_to_restart_a_beat_that_does_not_follow_the_file(cli_project):
    cli_project.spawn_fake("-A", cli_project.app, "beat")  # no panel scheduler, no report
    result = cli_project.cli("schedule", "disable", "report", "--json")
    assert result.code == 0, result.stderr
    assert (result.json["applied"], result.json["apply_state"]) == (None, "restart_needed")
    assert result.json["note"].endswith("only after a restart. Run: beat-panel restart")


def test_the_cli_writes_nothing_when_nothing_changed(cli_project):
    before = cli_project.schedule_path.read_bytes()
    result = cli_project.cli("schedule", "enable", "hello", "--json")
    assert result.code == 0, result.stderr
    assert (result.json["saved"], result.json["revision"]) == (False, 1)
    assert result.json["note"] == "Nothing changed, so nothing was saved."
    assert cli_project.schedule_path.read_bytes() == before


def test_the_cli_restores_over_a_damaged_file(cli_project):
    assert cli_project.cli("schedule", "remove", "report").code == 0
    cli_project.schedule_path.write_text('{"format": "beat-panel-schedule", "version"')
    assert cli_project.cli("schedule", "list").code == 2
    result = cli_project.cli("schedule", "restore", "1", "--json")
    assert result.code == 0, result.stderr
    # Revision 2 (the remove) is kept: the restore comes after it, never reuses it.
    assert result.json["message"] == "Restored revision 1 as revision 3."
    names = [e["name"] for e in cli_project.cli("schedule", "list", "--json").json["entries"]]
    assert names == ["hello", "report"]


# -- plan_import --------------------------------------------------------------------------


def raw(name: str, every: float = 30, task: str = "proj.task", **extra: object) -> dict:
    """An entry as the app inspection (introspect.py) reports it."""
    return {"name": name, "task": task,
            "schedule": {"kind": "interval", "every": every, "period": "seconds"},
            "args": [], "kwargs": {}, "enabled": True, **extra}


def info(*entries: dict, timezone: str | None = None) -> AppInfo:
    return AppInfo(tasks=["proj.task"], beat_schedule=list(entries), timezone=timezone)


def test_an_entry_the_inspection_flagged_is_skipped_with_its_reason():
    flagged = raw("dated", args=[], kwargs={},
                  problem="its args or kwargs are not JSON values")
    plan = plan_import(Document(), info(raw("fine"), flagged), replace=False)
    assert plan.document.names() == ["fine"]
    (skip,) = plan.skipped
    assert (skip.name, skip.reason, skip.detail) == \
        ("dated", SkipReason.UNUSABLE, "its args or kwargs are not JSON values")
    assert plan.summary == ("Imported 1 entry: fine; skipped dated (its args or kwargs are "
                            "not JSON values).")


def test_an_entry_our_validation_refuses_is_skipped_with_the_field_named():
    unsupported = raw("odd") | {"schedule": {"kind": "unsupported", "repr": "<thing>"}}
    plan = plan_import(Document(), info(raw("too-fast", every=0.01), unsupported,
                                        raw("spaced", task="a task")), replace=False)
    assert plan.document == Document()
    assert [(s.name, s.reason) for s in plan.skipped] == [
        ("too-fast", SkipReason.INVALID), ("odd", SkipReason.INVALID),
        ("spaced", SkipReason.INVALID)]
    details = [s.detail for s in plan.skipped]
    assert details[0].startswith("schedule.every: 0.01 seconds is out of range")
    assert details[1].startswith("schedule.kind")
    assert details[2] == "task: 'a task' contains spaces; a task name has none"


def test_an_existing_entry_is_kept_unless_replace_and_an_identical_one_is_left_alone():
    ours = Document((Entry("hello", "proj.task", Interval(60)),
                     Entry("same", "proj.task", Interval(30))), revision=4)
    app = info(raw("hello", every=10), raw("same"), raw("new", every=45))

    kept = plan_import(ours, app, replace=False)
    assert kept.added == ("new",) and kept.replaced == ()
    assert [(s.name, s.reason) for s in kept.skipped] == [
        ("hello", SkipReason.EXISTS), ("same", SkipReason.UNCHANGED)]
    assert kept.conflicting == ["hello"]
    assert kept.document.require("hello").schedule == Interval(60)

    replaced = plan_import(ours, app, replace=True)
    assert replaced.replaced == ("hello",)
    assert [(s.name, s.reason) for s in replaced.skipped] == [("same", SkipReason.UNCHANGED)]
    assert replaced.document.require("hello").schedule == Interval(10)
    assert replaced.document.names() == ["hello", "same", "new"]
    assert replaced.document.revision == 4
    assert ours.require("hello").schedule == Interval(60), "the input is left as it was"


def test_an_app_entry_that_sends_what_an_entry_sends_already_is_not_imported_twice():
    """The demo's file has "add-numbers" every minute; the app's beat_schedule has
    "add-numbers-every-minute", every 60 s with the same arguments: importing it would
    send the task twice a minute."""
    ours = Document((Entry("add-numbers", "proj.task", Interval(1, "minutes"), args=(2, 3)),))
    app = info(raw("add-numbers-every-minute", every=60, args=[2, 3]),
               raw("other-args", every=60, args=[4, 5]), raw("other-time", every=30,
                                                            args=[2, 3]))
    plan = plan_import(ours, app, replace=False)
    assert plan.added == ("other-args", "other-time")
    assert [(s.name, s.reason) for s in plan.skipped] == [
        ("add-numbers-every-minute", SkipReason.DUPLICATE)]
    assert "'add-numbers' sends the same task" in plan.summary


def test_a_schedule_without_a_time_zone_takes_the_apps_and_says_so():
    plan = plan_import(Document(), info(raw("a"), timezone="Europe/Paris"), replace=False)
    assert plan.document.timezone == "Europe/Paris"
    assert plan.changed == ("time zone set to Europe/Paris (the app's)",)
    assert plan.lines() == ["added a", "changed: time zone set to Europe/Paris (the app's)"]
    assert plan.summary == "Imported 1 entry: a; time zone set to Europe/Paris (the app's)."


def test_a_schedule_records_the_apps_time_zone_over_its_own_and_an_unknown_zone_is_not_taken():
    # Beat runs the schedule in the app's zone whatever the file records.
    moved = plan_import(Document(timezone="UTC"), info(timezone="Asia/Tokyo"), replace=False)
    assert moved.document.timezone == "Asia/Tokyo"
    assert moved.changed == ("time zone changed from UTC to Asia/Tokyo (the app's, which "
                             "beat runs the schedule in)",)
    unknown = plan_import(Document(timezone="UTC"), info(timezone="Mars/Olympus"),
                          replace=False)
    assert unknown.document.timezone == "UTC" and unknown.changed == ()
    assert "'Mars/Olympus' is not known here; the schedule keeps UTC" in unknown.notes[0]
    unknown = plan_import(Document(), info(timezone="Mars/Olympus"), replace=False)
    assert unknown.document.timezone is None and unknown.changed == ()
    assert "'Mars/Olympus' is not known here" in unknown.notes[0]


def test_an_import_that_changes_nothing_returns_the_same_document():
    ours = Document((Entry("same", "proj.task", Interval(30)),), timezone="UTC")
    plan = plan_import(ours, info(raw("same"), timezone="UTC"), replace=True)
    assert plan.document is ours
    assert plan.summary == ("Imported 0 entries; skipped same (already in the schedule, the "
                            "same as the app's).")


# -- the CLI and the editor import the same way ---------------------------------------------

APP = '''
    from datetime import datetime

    from celery import Celery
    from celery.schedules import crontab

    app = Celery("cmpapp", broker="memory://")
    app.conf.timezone = "Europe/Paris"
    app.conf.beat_schedule = {
        "usable": {"task": "cmpapp.ping", "schedule": 30.0, "args": [1, "a"]},
        "usable-cron": {"task": "cmpapp.ping",
                        "schedule": crontab(minute="*/15", hour="9-17")},
        "unusable-datetime": {"task": "cmpapp.ping", "schedule": 60.0,
                              "kwargs": {"when": datetime(2030, 1, 1)}},
        "unusable-set": {"task": "cmpapp.ping", "schedule": 60.0, "args": [{1, 2}]},
        "invalid": {"task": "cmpapp.ping", "schedule": 0.01},
        "existing": {"task": "cmpapp.other", "schedule": 10.0},
        "same": {"task": "cmpapp.ping", "schedule": 45.0},
    }


    @app.task(name="cmpapp.ping")
    def ping(*args, **kwargs):
        return args
'''
SKIPPED = ["unusable-datetime", "unusable-set", "invalid", "existing", "same"]
START = Document((Entry("existing", "cmpapp.ping", Interval(60)),
                  Entry("mine", "cmpapp.mine", Interval(5)),
                  Entry("same", "cmpapp.ping", Interval(45))))


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    """A throwaway Celery project with two configs, each with its own copy of the same
    schedule: one for the CLI, one for the editor."""
    root = tmp_path / "cmp"
    root.mkdir()
    (root / "cmpapp.py").write_text(textwrap.dedent(APP))
    for face in ("cli", "gui"):
        (root / f"{face}.toml").write_text(
            f'[beat]\napp = "cmpapp"\nworkdir = "."\n\n[schedule]\nfile = "{face}.json"\n')
        ScheduleStore(root / f"{face}.json").save(START, None)
    return root






@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace"])
def test_the_cli_and_the_editor_import_the_same_entries_and_skip_the_same(
        app_project, open_editor, qtbot, replace):
    cli_file, gui_file = app_project / "cli.json", app_project / "gui.json"
    result = run_cli("--config", str(app_project / "cli.toml"), "schedule", "import",
                     *(["--replace"] if replace else []), "--json")
    assert result.code == 0, result.stderr
    cli = result.json

    editor = open_editor(config_module.load_file(app_project / "gui.toml"))
    dialogs = editor.dialogs
    dialogs.answers = ["replace" if replace else "keep"]
    click_action(qtbot, editor, "import")
    qtbot.waitUntil(lambda: len(dialogs.shown) == 2, timeout=60000)
    asked, told = dialogs.shown
    assert asked.title == "Replace existing entries?" and "existing" in asked.text
    assert editor.dirty
    with qtbot.waitSignal(editor.saved, timeout=15000):
        click_action(qtbot, editor, "save")

    # Both saved the same schedule, byte for byte (revision and time zone included).
    assert gui_file.read_bytes() == cli_file.read_bytes()
    saved = ScheduleStore(gui_file).load().document
    assert saved.names() == ["existing", "mine", "same", "usable", "usable-cron"]
    assert saved.timezone == "Europe/Paris" and saved.revision == 2
    assert saved.require("usable").args == (1, "a")
    expected_task = "cmpapp.other" if replace else "cmpapp.ping"
    assert saved.require("existing").task == expected_task

    skipped = [name for name in SKIPPED if not (replace and name == "existing")]
    assert [s["name"] for s in cli["skipped"]] == skipped
    assert [line.split(":")[0].removeprefix("skipped ") for line in told.details.splitlines()
            if line.startswith("skipped ")] == skipped
    assert cli["replaced"] == (["existing"] if replace else [])
    assert cli["changed"] == ["time zone set to Europe/Paris (the app's)"]
    assert "changed: time zone set to Europe/Paris (the app's)" in told.details.splitlines()
    # The same words in both faces: the CLI's message and the editor's notice line.
    summary = cli["message"].split(".", 1)[0]
    assert "skipped unusable-datetime (its args or kwargs are not JSON values)" in summary
    assert told.level == "warning" and told.title == "Some entries were not imported"
    assert told.informative.startswith(summary)
    assert editor.notice.text().startswith("Saved revision 2. Beat is not running")


def test_the_editor_import_reports_what_it_skipped_before_saving(app_project, open_editor,
                                                                 qtbot):
    editor = open_editor(config_module.load_file(app_project / "gui.toml"))
    click_action(qtbot, editor, "import")
    qtbot.waitUntil(lambda: len(editor.dialogs.shown) == 2, timeout=60000)
    notice = editor.notice.text()
    assert notice.startswith("Imported 2 entries: usable, usable-cron; skipped "
                             "unusable-datetime (its args or kwargs are not JSON values); "
                             "unusable-set (its args or kwargs are not JSON values); invalid")
    assert notice.endswith("time zone set to Europe/Paris (the app's). Save to keep the "
                           "changes.")
    assert editor.document.get("unusable-datetime") is None
    on_disk = ScheduleStore(app_project / "gui.json").load().document
    assert on_disk == Document(START.entries, 1), "nothing is written until Save"
