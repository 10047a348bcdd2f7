"""The plugin inside a real `celery beat`, with a real worker on the filesystem broker:
edits are applied live and acknowledged, run state survives restarts, and a corrupt file
leaves the last good schedule running."""

import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from beat_panel.plugin import beat_schedule_from_file
from beat_panel.schedule import Document, Entry, Interval, beat_report, parse_options, store
from beat_panel.schedule.store import ScheduleStore

from conftest import beat_sends, wait_until

HELLO = "beat_panel.demo.app.say_hello"




@pytest.fixture
def running(panel_project):
    """The demo app's beat running the panel schedule with one fast entry."""
    path = panel_project.root / "schedule.json"
    greeting = f"tick-{uuid.uuid4().hex[:6]}"
    saved = ScheduleStore(path).save(Document((
        Entry("tick", HELLO, Interval(1), kwargs={"name": greeting}),
        Entry("slow", HELLO, Interval(1, "hours")),
    )), None)
    started = panel_project.cli("start", "--json")
    assert started.code == 0, started.stdout
    (pid,) = started.json["new_pids"]
    assert beat_report.wait_applied(path, saved.sha, timeout=20), panel_project.logfile.read_text()
    panel_project.schedule_path = path
    panel_project.greeting = greeting
    panel_project.pid = pid
    return panel_project


def edit(project, change) -> store.Loaded:
    st = ScheduleStore(project.schedule_path)
    loaded = st.load()
    return st.save(change(loaded.document), loaded.sha)


@pytest.mark.slow
def test_beat_with_the_plugin_acknowledges_the_file_and_status_says_applied(running):
    status = running.cli("status", "--json").json
    assert status["schedule_applied"] is True
    state = beat_report.read_beat_report(running.schedule_path)
    assert state.pid == running.pid and state.error is None
    wait_until(lambda: beat_sends(running, "tick") >= 2, what="tick to be sent twice")
    assert beat_sends(running, "slow") == 0


@pytest.mark.slow
def test_an_added_entry_is_sent_and_executed_by_a_real_worker(running, procs):
    env = dict(os.environ, BEAT_PANEL_DEMO_DIR=str(running.root / "demo-data"))
    worker_log = running.root / "worker.log"
    with open(worker_log, "wb") as log:
        procs.popen([sys.executable, "-m", "celery", "-A", running.app, "worker",
                     "--concurrency=1", "--loglevel=INFO", "--pool=solo"],
                    cwd=running.root, env=env, stdout=log, stderr=subprocess.STDOUT)
    name = f"added-{uuid.uuid4().hex[:6]}"
    saved = edit(running, lambda d: d.adding(Entry("added", HELLO, Interval(1),
                                                    kwargs={"name": name})))
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    wait_until(lambda: f"Hello, {name}!" in worker_log.read_text(), timeout=60,
               what="the worker to run the added entry")
    assert running.cli("status", "--json").json["pids"] == [running.pid], "no restart"


@pytest.mark.slow
def test_an_edit_is_applied_live_without_a_restart(running):
    wait_until(lambda: beat_sends(running, "tick") >= 1)
    renamed = f"edited-{uuid.uuid4().hex[:6]}"
    saved = edit(running, lambda d: d.replacing(
        "tick", d.require("tick").with_changes(kwargs={"name": renamed})))
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    assert running.cli("status", "--json").json["schedule_applied"] is True
    assert running.cli("status", "--json").json["pids"] == [running.pid]
    log = running.logfile.read_text()
    assert f"revision {saved.document.revision}" in log


@pytest.mark.slow
def test_an_unchanged_entry_does_not_fire_again_when_another_one_changes(running):
    before = beat_sends(running, "slow")
    for every in (2, 3, 4):
        saved = edit(running, lambda d, e=every: d.replacing(
            "tick", d.require("tick").with_changes(schedule=Interval(e))))
        assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    assert beat_sends(running, "slow") == before == 0


@pytest.mark.slow
def test_a_disabled_entry_stops_being_sent(running):
    wait_until(lambda: beat_sends(running, "tick") >= 1)
    saved = edit(running, lambda d: d.enabling(["tick"], False))
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    count = beat_sends(running, "tick")
    # An absence can only be seen by waiting: three of its 1-second intervals.
    time.sleep(3)
    assert beat_sends(running, "tick") == count
    # Beat logged the revision that disabled it (an earlier one is logged at start).
    assert f"revision {saved.document.revision}" in running.logfile.read_text()


@pytest.mark.slow
def test_a_corrupt_file_keeps_the_last_good_schedule_running(running):
    wait_until(lambda: beat_sends(running, "tick") >= 1)
    running.schedule_path.write_text('{"format": "beat-panel-schedule", "version": 1, ')
    wait_until(lambda: (beat_report.read_beat_report(running.schedule_path).error or "") != "",
               what="beat to report the broken file")
    state = beat_report.read_beat_report(running.schedule_path)
    assert "not valid JSON" in state.error
    assert "Still running the last good schedule" in running.logfile.read_text()
    count = beat_sends(running, "tick")
    wait_until(lambda: beat_sends(running, "tick") > count + 1, what="tick to go on being sent")
    assert running.cli("status", "--json").json["schedule_applied"] is False


@pytest.mark.slow
def test_a_restarted_beat_carries_on_the_run_counts_of_the_old_one(running):
    wait_until(lambda: beat_report.read_beat_report(running.schedule_path).run_count("tick") >= 2,
               what="tick to run twice")
    before = beat_report.read_beat_report(running.schedule_path)
    assert before.pid == running.pid
    restarted = running.cli("restart", "--json")
    assert restarted.code == 0, restarted.stdout
    (new_pid,) = restarted.json["new_pids"]
    wait_until(lambda: beat_report.read_beat_report(running.schedule_path).pid == new_pid,
               what="the new beat to acknowledge the file")
    # The new beat's first word already carries the old run history.
    first = beat_report.read_beat_report(running.schedule_path)
    carried = first.run_count("tick")
    assert carried >= before.run_count("tick") >= 2
    assert first.last_run("tick") is not None
    assert first.last_run("tick") >= before.last_run("tick")
    wait_until(lambda: beat_report.read_beat_report(running.schedule_path).run_count("tick")
               > carried, what="tick to run again after the restart, counting on")


@pytest.mark.slow
def test_a_one_off_entry_runs_once(running):
    saved = edit(running, lambda d: d.adding(Entry("once", HELLO, Interval(1), one_off=True)))
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    wait_until(lambda: beat_sends(running, "once") == 1, what="the one-off entry to be sent")
    count = beat_sends(running, "tick")
    wait_until(lambda: beat_sends(running, "tick") >= count + 2, what="two more ticks")
    assert beat_sends(running, "once") == 1


def test_a_schedule_file_reads_as_celerys_beat_schedule_without_disabled_entries(
        tmp_path: Path):
    path = tmp_path / "schedule.json"
    ScheduleStore(path).save(Document((
        Entry("on", HELLO, Interval(5), args=(1,)),
        Entry("off", HELLO, Interval(5), enabled=False),
    )), None)
    result = beat_schedule_from_file(path)
    assert list(result) == ["on"]
    assert result["on"]["task"] == HELLO and result["on"]["args"] == (1,)
    assert result["on"]["schedule"].run_every.total_seconds() == 5


@pytest.mark.slow
def test_a_start_counts_once_the_scheduler_has_loaded_the_schedule_and_ticked(panel_project):
    path = panel_project.root / "schedule.json"
    ScheduleStore(path).save(Document((Entry("hello", HELLO, Interval(30)),)), None)
    started = panel_project.cli("start", "--json")
    assert started.code == 0, started.stdout
    (pid,) = started.json["new_pids"]
    # The CLI returned only after beat's own sign of life, not after a timer.
    report = beat_report.read_beat_report(path)
    assert report is not None and report.pid == pid and report.ticked_at is not None


@pytest.mark.slow
def test_every_kept_option_reaches_the_message_beat_sends(running):
    """Options imported from an app (exchange, routing key, a fixed expiry, headers) are
    what beat hands apply_async, not just what the file shows."""
    queue = running.root / "demo-data" / "broker" / "queue"
    before = set(queue.glob("*.reports.msg"))
    options = parse_options({"queue": "reports", "routing_key": "reports",
                             "expires": "2030-01-01T08:00:00+01:00",
                             "headers": {"tenant": "acme"}, "countdown": 0})
    saved = edit(running, lambda d: d.adding(Entry("routed", HELLO, Interval(1),
                                                    options=options)))
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    wait_until(lambda: set(queue.glob("*.reports.msg")) - before,
               what="a message in the reports queue")
    message = json.loads((set(queue.glob("*.reports.msg")) - before).pop().read_text())
    headers = message["headers"]
    assert headers["expires"] == "2030-01-01T08:00:00+01:00"
    assert headers["tenant"] == "acme"
    assert message["properties"]["delivery_info"]["routing_key"] == "reports"


@pytest.mark.slow
def test_a_big_file_is_read_aside_while_beat_keeps_sending(running):
    """A file over a megabyte is parsed in a thread inside beat: it is applied, a damaged
    one is refused, and the tick entry is sent all along."""
    from beat_panel.plugin import INLINE_PARSE_BYTES

    filler = tuple(Entry(f"hourly-{i:05d}", HELLO, Interval(1, "hours"),
                         kwargs={"pad": "x" * 200}) for i in range(6000))
    saved = edit(running, lambda d: Document(d.entries + filler, d.revision))
    assert running.schedule_path.stat().st_size > INLINE_PARSE_BYTES
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=30)
    report = beat_report.read_beat_report(running.schedule_path)
    assert report.entries == 6002 and report.error is None
    count = beat_sends(running, "tick")
    data = running.schedule_path.read_bytes()
    running.schedule_path.write_bytes(data[:-2])  # cut off: not JSON any more
    wait_until(lambda: (beat_report.read_beat_report(running.schedule_path).error or "")
               .find("not valid JSON") >= 0, timeout=30, what="beat to refuse the cut file")
    wait_until(lambda: beat_sends(running, "tick") >= count + 2, what="ticks sent meanwhile")
    assert running.cli("status", "--json").json["pids"] == [running.pid]


@pytest.mark.slow
def test_a_send_that_fails_is_recorded_as_failed_not_counted_as_a_run(running):
    """A send the broker never gets (here: a serializer nobody installed) is said per
    entry, with Celery's reason, and "Runs" does not count it; the next good send
    clears it."""
    # A serializer kombu knows but this environment lacks the package of: valid, unsendable.
    missing = next(name for name, module in (("msgpack", "msgpack"), ("yaml", "yaml"))
                   if importlib.util.find_spec(module) is None)
    saved = edit(running, lambda d: d.adding(Entry(
        "broken", HELLO, Interval(1), options=parse_options({"serializer": missing}))))
    assert beat_report.wait_applied(running.schedule_path, saved.sha, timeout=5)
    wait_until(lambda: beat_report.read_beat_report(running.schedule_path)
               .last_error("broken") is not None, what="beat to record the failed send")
    report = beat_report.read_beat_report(running.schedule_path)
    assert report.run_count("broken") == 0 and report.last_run("broken") is None
    assert missing in report.last_error("broken")[1]
    assert report.run_count("tick") > 0 and report.last_error("tick") is None
    listed = {e["name"]: e for e in running.cli("schedule", "list", "--json")
              .json["entries"]}
    assert listed["broken"]["total_run_count"] == 0
    assert missing in listed["broken"]["last_error"]["error"]
    fixed = edit(running, lambda d: d.replacing("broken", d.require("broken").with_changes(
        options=parse_options({}))))
    assert beat_report.wait_applied(running.schedule_path, fixed.sha, timeout=5)
    wait_until(lambda: beat_report.read_beat_report(running.schedule_path)
               .last_error("broken") is None, what="a good send to clear the failure")


@pytest.mark.slow
def test_a_beat_waiting_for_its_broker_says_so_and_status_is_not_green(panel_project):
    """Celery's beat retries an unreachable broker in its loop, sending nothing: the
    report names the broker problem (password masked) and status shows it."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    config = panel_project.config_path.read_text()
    panel_project.config_path.write_text(config.replace(
        "[beat.env]\n",
        f'[beat.env]\nCELERY_BROKER_URL = "redis://:s3cret@127.0.0.1:{port}/0"\n'))
    path = panel_project.root / "schedule.json"
    ScheduleStore(path).save(Document((Entry("tick", HELLO, Interval(1)),)), None)
    started = panel_project.cli("start", "--json")
    assert started.code == 0, started.stdout
    wait_until(lambda: (beat_report.read_beat_report(path) or beat_report.BeatReport(
        None, None, None, None, None, None, {})).broker_error is not None,
        timeout=30, what="beat to report that it cannot reach the broker")
    report = beat_report.read_beat_report(path)
    assert "Connection refused" in report.broker_error and "s3cret" not in report.broker_error
    status = panel_project.cli("status", "--json").json
    assert status["running"] is True
    assert "cannot reach the broker" in status["schedule_problem"]
    assert "s3cret" not in json.dumps(status)
