"""The schedule file people can trust: bad input is refused with the field named and the
file left as it was; saves are atomic; someone else's change is a conflict; history."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest

from beat_panel import demo, schedule
from beat_panel.schedule import Crontab, Document, Entry, Interval, ScheduleError
from beat_panel.schedule.store import ConflictError, ScheduleStore

from conftest import run_cli


@pytest.fixture
def project(fake_project, tmp_path):
    """A project with a schedule file of two entries (beat not running)."""
    proj = fake_project(schedule_file="schedule.json")
    path = proj.root / "schedule.json"
    ScheduleStore(path).save(Document((
        Entry("hello", "proj.hello", Interval(30)),
        Entry("nightly", "proj.nightly", Crontab.from_expression("0 3 * * *")),
    )), base_sha=None)
    proj.schedule_path = path
    return proj


def schedule_cli(project, *args):
    return run_cli("--config", str(project.config_path), "schedule", *args)


FUTURE = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0).isoformat()
PAST = "2001-01-01T00:00:00+00:00"

BAD_ADDS = [
    (["x", "--task", "t", "--cron", "61 * * * *"], "schedule.minute"),
    (["x", "--task", "t", "--cron", "*/0 * * * *"], "schedule.minute"),
    (["x", "--task", "t", "--cron", "daily * * * *"], "schedule.minute"),
    (["x", "--task", "t", "--cron", "0 9 * *"], "needs 5 fields"),
    (["x", "--task", "t", "--cron", "0 25 * * *"], "schedule.hour"),
    (["x", "--task", "t", "--cron", "0 9 * * funday"], "schedule.day_of_week"),
    (["x", "--task", "t", "--every", "0"], "schedule.every"),
    (["x", "--task", "t", "--every", "-5"], "schedule.every"),
    (["x", "--task", "t", "--every", "0.01"], "out of range"),
    (["x", "--task", "t", "--cron", "0 0 31 2 *"], "never occurs"),
    (["x", "--task", "t", "--every", "5", "--args", '{"a": 1}'], "args: must be a JSON list"),
    (["x", "--task", "t", "--every", "5", "--args", "[1, 2"], "--args is not valid JSON"),
    (["x", "--task", "t", "--every", "5", "--kwargs", "[1]"], "kwargs: must be a JSON object"),
    (["hello", "--task", "t", "--every", "5"], "'hello' already exists"),
    (["", "--task", "t", "--every", "5"], "name: must not be empty"),
    (["x", "--task", "", "--every", "5"], "task: must be a task name"),
    (["x", "--task", "t", "--at", PAST], "is in the past"),
    (["x", "--task", "t", "--at", "next tuesday"], "schedule.at"),
    (["x", "--task", "t", "--solar", "sunset", "--lat", "91", "--lon", "0"],
     "schedule.latitude"),
    (["x", "--task", "t", "--solar", "sunset", "--lat", "0", "--lon", "181"],
     "schedule.longitude"),
    (["x", "--task", "t", "--solar", "teatime", "--lat", "0", "--lon", "0"], "schedule.event"),
    (["x", "--task", "t", "--every", "5", "--priority", "300"], "options.priority"),
    *(pytest.param(["x", "--task", "t", "--cron", cron], "schedule.minute", id=f"cron {cron}")
      for cron in ("*/ * * * *", "1, * * * *", "-1 * * * *", "- * * * *")),
]


@pytest.mark.parametrize(("args", "expected"), BAD_ADDS)
def test_bad_input_exits_2_names_the_problem_and_leaves_the_file_untouched(project, args,
                                                                            expected):
    before = project.schedule_path.read_bytes()
    result = schedule_cli(project, "add", *args, "--json")
    assert result.code == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert result.json["success"] is False
    assert project.schedule_path.read_bytes() == before


def test_entries_are_added_listed_disabled_enabled_and_removed_through_the_cli(project):
    added = schedule_cli(project, "add", "report", "--task", "proj.report", "--cron",
                         "*/15 9-17 * * mon-fri", "--kwargs", '{"to": "ops"}', "--json")
    assert added.code == 0, added.stderr
    assert added.json["applied"] is None  # beat is not running

    listed = schedule_cli(project, "list", "--json").json["entries"]
    report = next(e for e in listed if e["name"] == "report")
    assert report["task"] == "proj.report" and report["enabled"] is True
    assert "every 15 minutes" in report["schedule"].lower()
    assert datetime.fromisoformat(report["next_run"]) > datetime.now(timezone.utc)
    assert report["kwargs"] == {"to": "ops"}

    assert schedule_cli(project, "disable", "report", "hello").code == 0
    listed = {e["name"]: e for e in schedule_cli(project, "list", "--json").json["entries"]}
    assert listed["report"]["enabled"] is False and listed["report"]["next_run"] is None
    assert listed["hello"]["enabled"] is False and listed["nightly"]["enabled"] is True

    assert schedule_cli(project, "enable", "report").code == 0
    listed = {e["name"]: e for e in schedule_cli(project, "list", "--json").json["entries"]}
    assert listed["report"]["enabled"] is True and listed["report"]["next_run"] is not None
    assert schedule_cli(project, "remove", "report").code == 0
    names = [e["name"] for e in schedule_cli(project, "list", "--json").json["entries"]]
    assert names == ["hello", "nightly"]


def test_unknown_names_exit_2_and_list_what_exists(project):
    before = project.schedule_path.read_bytes()
    result = schedule_cli(project, "remove", "nope")
    assert result.code == 2 and "no entry is named 'nope' (entries: hello, nightly)" in \
        result.stderr
    assert project.schedule_path.read_bytes() == before


def test_clocked_and_one_off_entries_are_added_and_listed(project):
    assert schedule_cli(project, "add", "once", "--task", "proj.once", "--at", FUTURE).code == 0
    assert schedule_cli(project, "add", "soon", "--task", "proj.soon", "--every", "60",
                        "--one-off").code == 0
    listed = {e["name"]: e for e in schedule_cli(project, "list", "--json").json["entries"]}
    assert listed["once"]["next_run"] == FUTURE
    assert listed["once"]["schedule_spec"] == {"kind": "clocked", "at": FUTURE}
    assert listed["soon"]["one_off"] is True


def test_corrupt_file_is_reported_with_line_and_column_and_never_overwritten(project):
    broken = '{\n  "format": "beat-panel-schedule",\n  "version": 1,\n  "entries": [\n    {,}\n'
    project.schedule_path.write_text(broken)
    listed = schedule_cli(project, "list")
    assert listed.code == 2
    assert "line 5, column 6" in listed.stderr
    added = schedule_cli(project, "add", "x", "--task", "t", "--every", "5")
    assert added.code == 2
    assert project.schedule_path.read_text() == broken


@pytest.mark.parametrize(("content", "expected"), [
    ({"format": "beat-panel-schedule", "version": 99, "entries": []}, "format version 99"),
    ({"format": "beat-panel-schedule", "version": 1,
      "entries": [{"name": "a", "task": "t", "schedule": {"kind": "weekly"}}]},
     "entry 1 ('a') schedule.kind: unknown kind \"weekly\""),
    ({"format": "beat-panel-schedule", "version": 1,
      "entries": [{"name": "a", "task": "t", "schedule": {"kind": "interval", "every": 1}},
                  {"name": "a", "task": "t", "schedule": {"kind": "interval", "every": 2}}]},
     "'a' is used by more than one entry"),
    ({"entries": []}, "not a Beat Panel schedule"),
])
def test_files_the_panel_cannot_use_are_refused_and_left_alone(project, content, expected):
    text = json.dumps(content)
    project.schedule_path.write_text(text)
    result = schedule_cli(project, "add", "x", "--task", "t", "--every", "5")
    assert result.code == 2 and expected in result.stderr
    assert project.schedule_path.read_text() == text


def test_unreadable_file_is_a_clear_error(project):
    project.schedule_path.unlink()
    project.schedule_path.mkdir()  # reading a folder fails the way an unreadable file does
    result = schedule_cli(project, "list")
    assert result.code == 2 and "cannot read it" in result.stderr


def test_a_change_made_on_disk_since_load_is_a_conflict(tmp_path):
    store = ScheduleStore(tmp_path / "schedule.json")
    store.save(Document((Entry("a", "t.a", Interval(5)),)), None)
    mine = store.load()
    theirs = store.load()
    store.save(theirs.document.adding(Entry("theirs", "t.b", Interval(9))), theirs.sha)
    on_disk = store.path.read_bytes()
    with pytest.raises(ConflictError, match="changed by someone else"):
        store.save(mine.document.adding(Entry("mine", "t.c", Interval(7))), mine.sha)
    assert store.path.read_bytes() == on_disk
    # "Keep mine" is an explicit choice.
    kept = store.save(mine.document.adding(Entry("mine", "t.c", Interval(7))), mine.sha,
                      force=True)
    assert kept.document.names() == ["a", "mine"]
    assert kept.document.revision == 3


def test_history_keeps_earlier_versions_and_restore_brings_one_back(project):
    for i in range(3):
        assert schedule_cli(project, "add", f"e{i}", "--task", "t", "--every", "5").code == 0
    history = schedule_cli(project, "history", "--json").json
    assert history["current_revision"] == 4
    assert [h["revision"] for h in history["history"]] == [4, 3, 2, 1]
    assert [h["current"] for h in history["history"]] == [True, False, False, False]
    # Each save says what it changed.
    assert [h["words"] for h in history["history"]] == [
        "added e2", "added e1", "added e0", "added hello, nightly"]
    assert history["history"][0]["changes"] == {"added": ["e2"], "removed": [], "edited": []}
    assert "    added e2" in schedule_cli(project, "history").stdout
    restored = schedule_cli(project, "restore", "2", "--json")
    assert restored.code == 0, restored.stderr
    names = [e["name"] for e in schedule_cli(project, "list", "--json").json["entries"]]
    assert names == ["hello", "nightly", "e0"]
    assert schedule_cli(project, "restore", "42").code == 2


def test_history_is_pruned_to_the_last_versions(tmp_path):
    store = ScheduleStore(tmp_path / "schedule.json", keep=3)
    loaded = store.save(Document(), None)
    for i in range(6):
        loaded = store.save(loaded.document.adding(Entry(f"e{i}", "t", Interval(1))),
                            loaded.sha)
    assert [h.revision for h in store.history()] == [7, 6, 5]


def test_a_damaged_file_is_replaced_by_the_last_good_version_and_kept_aside(tmp_path):
    store = ScheduleStore(tmp_path / "schedule.json")
    loaded = store.save(Document((Entry("a", "t", Interval(5)),)), None)
    store.save(loaded.document.adding(Entry("b", "t", Interval(5))), loaded.sha)
    store.path.write_text("{ broken")
    with pytest.raises(ScheduleError):
        store.load()
    # The newest saved version is the one beat still runs: nothing of it is lost.
    restored = store.restore(store.history()[0])
    assert restored.document.names() == ["a", "b"]
    kept = list(store.path.parent.glob(".schedule.json.history/damaged-*.json"))
    assert [k.read_text() for k in kept] == ["{ broken"]


def test_history_lists_the_saved_versions_even_when_the_file_is_damaged(project):
    assert schedule_cli(project, "add", "e0", "--task", "t", "--every", "5").code == 0
    schedule_file = project.root / "schedule.json"
    schedule_file.write_text('{"format": "beat-panel-schedule", "version"')
    result = schedule_cli(project, "history", "--json")
    assert result.code == 0, result.stderr
    data = result.json
    assert data["current_revision"] is None and "line 1, column" in data["damaged"]
    assert [h["revision"] for h in data["history"]][:2] == [2, 1]
    text = schedule_cli(project, "history").stdout
    assert "beat-panel schedule restore REVISION" in text
    assert schedule_cli(project, "restore", "2").code == 0
    names = [e["name"] for e in schedule_cli(project, "list", "--json").json["entries"]]
    assert "e0" in names


def test_a_revision_never_goes_below_a_saved_one_so_no_version_is_pruned_early(tmp_path):
    store = ScheduleStore(tmp_path / "schedule.json", keep=3)
    loaded = store.save(Document(), None)
    for i in range(3):
        loaded = store.save(loaded.document.adding(Entry(f"e{i}", "t", Interval(1))),
                            loaded.sha)
    # Someone writes the file by hand, without a revision.
    store.path.write_text('{"format": "beat-panel-schedule", "version": 1, "entries": []}')
    mine = store.load()
    saved = store.save(mine.document.adding(Entry("x", "t", Interval(1))), mine.sha)
    assert saved.document.revision == 6
    history = store.history()
    assert [h.revision for h in history] == [6, 5, 4]  # the hand-written one is revision 5
    assert store.restore(history[1]).document.names() == []


SAVER = textwrap.dedent("""
    import sys
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.store import ScheduleStore
    store = ScheduleStore(__import__("pathlib").Path(sys.argv[1]))
    big = [Entry(f"entry-{i:05d}", "proj.task", Interval(i + 1), args=(i, "x" * 50))
           for i in range(4000)]
    loaded = store.load()
    n = 0
    while True:
        n += 1
        print(f"saving {n}", flush=True)
        loaded = store.save(Document(tuple(big[: 2000 + (n % 2) * 2000])), loaded.sha)
""")


def test_killing_the_process_in_the_middle_of_a_save_leaves_the_old_or_the_new_file(tmp_path,
                                                                                     procs):
    path = tmp_path / "schedule.json"
    ScheduleStore(path).save(Document(), None)
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    rng = random.Random(7)
    for _ in range(8):
        saver = procs.popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE)
        # Wait until a save is under way, then kill at an arbitrary moment inside it.
        target = f"saving {rng.randint(2, 4)}".encode()
        while (line := saver.stdout.readline()).strip() != target:
            assert line, f"the saver exited ({saver.wait()}) before {target!r}"
        time.sleep(rng.uniform(0, 0.08))
        os.kill(saver.pid, signal.SIGKILL)
        saver.wait()
        saver.stdout.close()
        document = ScheduleStore(path).load().document  # parses: not torn
        assert len(document.entries) in (2000, 4000)
        assert all(e.task == "proj.task" for e in document.entries)
    # The next save clears the temp files that the killed writers left behind.
    loaded = ScheduleStore(path).load()
    ScheduleStore(path).save(loaded.document, loaded.sha)
    assert not list(tmp_path.glob(".schedule.json.*.tmp"))


def test_schedule_commands_need_a_schedule_file(fake_project):
    proj = fake_project()
    result = run_cli("--config", str(proj.config_path), "schedule", "list")
    assert result.code == 2 and "[schedule]" in result.stderr


def test_demo_project_starts_with_a_seeded_schedule():
    listed = run_cli("schedule", "list", "--json")
    assert listed.code == 0, listed.stderr
    names = [e["name"] for e in listed.json["entries"]]
    assert names == [e.name for e in demo.default_document().entries]
    assert names, "the demo's schedule has entries to show"


def test_crontab_interval_and_solar_descriptions_read_like_sentences():
    assert Crontab.from_expression("*/5 9-17 * * mon-fri").describe().startswith(
        "every 5 minutes, between 09:00 AM and 05:59 PM")
    assert schedule.Interval(1, "hours").describe() == "every hour"
    assert schedule.Interval(90).describe() == "every 90 seconds"
    assert schedule.Solar("dusk_nautical", 51.5, -0.12).describe() == \
        "at dusk (nautical) at 51.5, -0.12"


def test_the_panels_list_of_solar_events_is_celerys():
    from celery.schedules import solar

    assert tuple(sorted(solar._all_events)) == schedule.SOLAR_EVENTS
    assert set(schedule.SOLAR_WORDS) == set(schedule.SOLAR_EVENTS)


def test_a_save_with_only_a_workers_embedded_beat_says_it_will_not_send_it(project):
    worker = project.spawn_fake("-A", project.app, "worker", "-B")
    result = schedule_cli(project, "disable", "nightly", "--json")
    assert result.code == 0, result.stderr
    data = result.json
    assert data["applied"] is None and data["apply_state"] == "embedded"
    assert f"Beat runs embedded in a worker (pid {worker.pid}, `worker -B`)" in data["note"]
    assert "Beat is not running" not in data["note"]
