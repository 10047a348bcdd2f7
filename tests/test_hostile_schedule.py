"""Any bytes at the schedule path: the model answers with a field-named error, never a
traceback; a running beat keeps its last good schedule and says why; a beat started or
restarted while the file is damaged runs the last good schedule, not nothing."""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beat_panel.schedule import Document, Entry, Interval, ScheduleError, beat_report, loads
from beat_panel.schedule.store import ScheduleStore

from conftest import beat_sends, wait_until

HELLO = "beat_panel.demo.app.say_hello"

ENVELOPE = '{{"format": "beat-panel-schedule", "version": 1, "entries": [{}]}}'


def entry_text(schedule: str, **fields: str) -> str:
    extra = "".join(f', "{k}": {v}' for k, v in fields.items())
    return ENVELOPE.format(f'{{"name": "x", "task": "t", "schedule": {schedule}{extra}}}')


# What a review wrote under a running beat, and what killed it then.
HOSTILE = {
    "cron -1": entry_text('{"kind": "crontab", "minute": "-1"}'),
    "cron -": entry_text('{"kind": "crontab", "minute": "-"}'),
    "cron */-1": entry_text('{"kind": "crontab", "minute": "*/-1"}'),
    "period list": entry_text('{"kind": "interval", "every": 5, "period": []}'),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "huge number": entry_text('{"kind": "interval", "every": ' + "9" * 5000 + "}"),
    "huge name": ENVELOPE.format('{"name": ' + "7" * 5000 + "}"),
    "repeated key": entry_text('{"kind": "interval", "every": 5}', task='"u"'),
    "not utf-8": "\udcff",  # written as the lone byte 0xff below
    "empty": "",
    "options not a dict": entry_text('{"kind": "interval", "every": 5}', options="[1]"),
    "retry policy junk": entry_text('{"kind": "interval", "every": 5}',
                                    options='{"retry_policy": {"max_retries": []}}'),
}


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_file_is_a_field_named_error(name):
    with pytest.raises(ScheduleError) as caught:
        loads(as_bytes(HOSTILE[name]).decode("utf-8", "replace"))
    assert str(caught.value).strip()


def test_a_repeated_key_is_named_with_its_line():
    text = ('{"format": "beat-panel-schedule", "version": 1, "entries": [\n'
            ' {"name": "a", "task": "t", "schedule": {"kind": "interval", "every": 5}},\n'
            ' {"name": "b",\n  "task": "t",\n  "task": "u",\n'
            '  "schedule": {"kind": "interval", "every": 5}}]}')
    with pytest.raises(ScheduleError, match=r'line 5: the key "task" appears twice'):
        loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=10,
)
FIELDS = ("name", "task", "schedule", "args", "kwargs", "options", "enabled", "one_off",
          "description")
KEYS = ("kind", "every", "period", "relative", "minute", "hour", "day_of_month",
        "month_of_year", "day_of_week", "event", "latitude", "longitude", "at")


@st.composite
def hostile_entries(draw: st.DrawFn) -> dict:
    entry = draw(st.fixed_dictionaries({}, optional={f: json_values for f in FIELDS}))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["interval", "crontab", "solar", "clocked"]) | json_values)
        entry["schedule"] = {"kind": kind,
                             **draw(st.dictionaries(st.sampled_from(KEYS), json_values))}
    if draw(st.booleans()):
        entry["options"] = draw(st.dictionaries(
            st.sampled_from(["queue", "priority", "expires", "countdown", "headers",
                             "retry_policy", "time_limit", "exchange"]), json_values))
    return entry


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(hostile_entries(), max_size=3))
def test_any_entry_shape_is_accepted_or_refused_naming_a_field(entries):
    text = json.dumps({"format": "beat-panel-schedule", "version": 1, "entries": entries})
    try:
        loads(text)
    except ScheduleError as exc:
        assert exc.problems and all(message for _, message in exc.problems)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_in_the_file_load_or_are_refused_never_a_traceback(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "schedule.json"
    path.write_bytes(data)
    try:
        ScheduleStore(path).load()
    except ScheduleError as exc:
        assert str(exc).strip()


# ---------------------------------------------------------------------------
# A real beat under hostile files
# ---------------------------------------------------------------------------




@pytest.fixture
def beat(panel_project):
    path = panel_project.root / "schedule.json"
    saved = ScheduleStore(path).save(Document((
        Entry("tick", HELLO, Interval(1), kwargs={"name": uuid.uuid4().hex[:6]}),)), None)
    started = panel_project.cli("start", "--json")
    assert started.code == 0, started.stdout
    (panel_project.pid,) = started.json["new_pids"]
    assert beat_report.wait_applied(path, saved.sha, timeout=20)
    panel_project.schedule_path = path
    panel_project.good_revision = saved.document.revision
    return panel_project


def write_under_beat(path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def reported_error(path) -> str | None:
    report = beat_report.read_beat_report(path)
    return report.error if report else None


@pytest.mark.slow
def test_beat_survives_every_hostile_file_and_keeps_sending(beat):
    """The review's files and a fixed budget of random bytes, each written atomically
    while beat runs: beat stays up, keeps sending its last good schedule, names the
    problem in its report, and prints no traceback."""
    rng = random.Random(20261125)
    randoms = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
               for _ in range(15)]
    payloads = [as_bytes(text) for _, text in sorted(HOSTILE.items())] + randoms
    path = beat.schedule_path
    good = json.dumps(Document((Entry("tick", HELLO, Interval(1)),)).to_json()).encode()
    for data in payloads:
        write_under_beat(path, data)
        wait_until(lambda: reported_error(path) is not None, timeout=5,
                   what=f"beat to report that it cannot use {data[:40]!r}")
        # Back to a good file between payloads, so each is a change beat must notice.
        write_under_beat(path, good)
        wait_until(lambda: reported_error(path) is None, timeout=5,
                   what="beat to take the good file again")
    assert beat.cli("status", "--json").json["pids"] == [beat.pid], "beat never restarted"
    count = beat_sends(beat, "tick")
    wait_until(lambda: beat_sends(beat, "tick") > count, what="tick to be sent after all that")
    assert "Traceback" not in beat.logfile.read_text()


@pytest.mark.slow
def test_a_folder_at_the_schedule_path_is_reported_once_not_twice_a_second(beat):
    path = beat.schedule_path
    # Nothing due for an hour, so no run count is written meanwhile either.
    store = ScheduleStore(path)
    saved = store.save(Document((Entry("hourly", HELLO, Interval(1, "hours")),)),
                       store.load().sha)
    assert beat_report.wait_applied(path, saved.sha)
    report_file = beat_report.report_path(path)
    time.sleep(1.5)  # the last run count of the old entry is written within a second
    os.replace(path, path.with_name("aside.json"))
    path.mkdir()
    wait_until(lambda: "folder" in (reported_error(path) or ""), timeout=5,
               what="beat to say a folder is in the way")
    written = report_file.stat().st_mtime_ns
    lines = beat.logfile.read_text().count("cannot use the schedule file")
    time.sleep(3)  # six of beat's half-second looks at the file
    assert report_file.stat().st_mtime_ns == written
    assert beat.logfile.read_text().count("cannot use the schedule file") == lines
    path.rmdir()
    os.replace(path.with_name("aside.json"), path)
    wait_until(lambda: reported_error(path) is None, what="beat to use the file again")


@pytest.mark.slow
def test_a_restart_with_a_damaged_file_keeps_running_the_last_good_schedule(beat):
    path = beat.schedule_path
    path.write_text('{"format": "beat-panel-schedule", "version": 1, "entries": [')
    wait_until(lambda: reported_error(path) is not None, what="beat to see the damage")
    restarted = beat.cli("restart", "--json")
    assert restarted.code == 0, restarted.stdout
    data = restarted.json
    assert data["success"] is True
    assert "cannot use the schedule file" in data["warning"]
    assert f"revision {beat.good_revision}" in data["warning"]
    (new_pid,) = data["new_pids"]
    report = beat_report.read_beat_report(path)
    assert report.pid == new_pid and report.applied_revision == beat.good_revision
    status = beat.cli("status", "--json").json
    assert "cannot use the schedule file" in status["schedule_problem"]
    count = beat_sends(beat, "tick")
    wait_until(lambda: beat_sends(beat, "tick") > count, what="the last good tick to be sent")


@pytest.mark.parametrize("content", [
    '{"applied": [], "runs": {"tick": {"last_run_at": 5, "total_run_count": "many"}}}',
    "[" * 100_000 + "]" * 100_000,
    '{"applied": {"pid": "1", "sha256": 7, "entries": true}, "runs": []}',
])
def test_a_planted_beat_report_is_read_without_an_error(tmp_path, content):
    path = tmp_path / "schedule.json"
    beat_report.report_path(path).write_text(content)
    report = beat_report.read_beat_report(path)
    if report is not None:
        assert report.pid is None and report.entries is None
        assert report.last_run("tick") is None and report.run_count("tick") == 0


def test_a_fifo_at_the_schedule_or_report_path_never_hangs_status(tmp_path):
    path = tmp_path / "schedule.json"
    os.mkfifo(path)
    os.mkfifo(beat_report.report_path(path))
    assert beat_report.read_beat_report(path) is None
    assert beat_report.schedule_applied(path, [os.getpid()]) is None


@pytest.mark.parametrize(("name", "message"), [
    ("a\u202eb", "right-to-left override (U+202E)"),
    ("\u200b", "no visible character"),
    ("two\nlines", "control character (U+000A)"),
    ("nul\x00", "control character (U+0000)"),
])
def test_names_that_hide_or_fake_what_they_say_are_refused(name, message):
    from beat_panel.schedule import parse_entry

    with pytest.raises(ScheduleError, match=re.escape(message)) as caught:
        parse_entry({"name": name, "task": "t", "schedule": {"kind": "interval", "every": 5}})
    assert caught.value.problems[0][0] == "name"


def test_a_name_with_spaces_around_it_is_added_saying_they_were_removed(tmp_path):
    from conftest import run_cli

    config = tmp_path / "beat-panel.toml"
    config.write_text('[beat]\napp = "proj"\n[schedule]\nfile = "schedule.json"\n')
    added = run_cli("--config", str(config), "schedule", "add", " a ", "--task", "t",
                    "--every", "60")
    assert added.code == 0, added.stderr
    assert "Added 'a'. The name was given as ' a '; the spaces around it were removed." \
        in added.stdout
    refused = run_cli("--config", str(config), "schedule", "add", "x\u202ey", "--task", "t",
                      "--every", "60")
    assert refused.code == 2 and "name: contains right-to-left override" in refused.stderr
