"""`beat-panel why NAME`: each reason an entry does not run, named in order, with a real
Redis and real workers (a task routed to a queue nobody consumes, a task nobody
registers, a worker killed, beat stopped or hung); and the pure answer from given facts
(the last send failed, the schedule not applied)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from beat_panel.control.states import Phase
from beat_panel.control.status import Status
from beat_panel.health import HealthChecker, explain
from beat_panel.health.check import Route, route_key
from beat_panel.health.report import (
    BeatHealth,
    BrokerHealth,
    Health,
    WorkerHealth,
    WorkersHealth,
)
from beat_panel.health.why import Facts, answer_all
from beat_panel.process import BeatProcess
from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.beat_report import BeatReport, last_good_path
from beat_panel.schedule.timing import beat_clock

from conftest import ProcessTracker, is_alive, run_cli, send, wait_until
from health_world import HealthProject, make_project, start_worker
from redis_server import RedisServer, start_redis

HANG_GUARD = 10


@dataclass
class World:
    project: HealthProject
    redis: RedisServer
    worker: subprocess.Popen
    node: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One Redis and one worker (queue `celery`) for the tests that only look."""
    tracker = ProcessTracker()
    root = tmp_path_factory.mktemp("why-world")
    try:
        redis = start_redis(tracker, root / "redis")
        project = make_project(root / "proj", redis.url())
        worker, node = start_worker(tracker, project, "main")
        yield World(project, redis, worker, node)
    finally:
        tracker.cleanup()


def why(project: HealthProject, name: str) -> dict:
    done = project.cli("why", name, "--json", timeout=HANG_GUARD)
    assert done.code == 0, done.stdout + done.stderr
    return done.json


def codes(answer: dict) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


# -- with a real Redis and real workers ---------------------------------------------------


@pytest.mark.slow
def test_a_worker_answers_with_its_queues_and_pid(world: World):
    done = world.project.cli("health", "--json", timeout=HANG_GUARD)
    assert done.code == 0, done.stderr
    (worker,) = done.json["workers"]
    assert worker["name"] == world.node
    assert worker["pid"] == world.worker.pid
    assert worker["queues"] == ["celery"]
    assert world.project.task("noop") in worker["registered"]
    assert done.json["broker"]["ok"] is True


@pytest.mark.slow
def test_a_refresh_keeps_the_workers_queues_and_tasks_from_the_first_check(world: World):
    checker = HealthChecker(world.project.load())
    (first,) = checker.check().workers.workers
    (again,) = checker.check().workers.workers
    assert again.last_seen > first.last_seen
    assert again.details_at == first.details_at, "asked only for pids the second time"
    assert (again.queues, again.registered) == (first.queues, first.registered)
    assert again.pid == world.worker.pid
    fresh = HealthChecker(world.project.load(), details_ttl=0)
    (one,) = fresh.check().workers.workers
    (two,) = fresh.check().workers.workers
    assert two.details_at is not None and one.details_at is not None
    assert two.details_at > one.details_at and two.queues == ("celery",)


@pytest.mark.slow
def test_a_task_routed_to_a_queue_no_worker_consumes_is_named(world: World):
    answer = why(world.project, "routed")
    assert codes(answer) == ["beat_not_running", "not_due", "no_worker_for_queue"]
    assert answer["will_run"] is False
    assert answer["queue"] == "unconsumed"
    assert answer["route"]["source"] == "app"
    message = answer["reasons"][-1]["message"]
    assert "'unconsumed'" in message and world.node in message


@pytest.mark.slow
def test_a_queue_from_the_entrys_options_that_no_worker_consumes_is_named(world: World):
    answer = why(world.project, "elsewhere")
    assert "no_worker_for_queue" in codes(answer)
    assert answer["route"]["source"] == "options"


@pytest.mark.slow
def test_a_task_no_worker_registers_is_named(world: World):
    answer = why(world.project, "ghost")
    assert codes(answer) == ["beat_not_running", "not_due", "task_not_registered"]
    assert world.project.task("ghost") in answer["reasons"][-1]["message"]


@pytest.mark.slow
def test_a_disabled_entry_says_so_and_has_no_next_run(world: World):
    answer = why(world.project, "off")
    assert codes(answer) == ["beat_not_running", "disabled"]
    assert answer["next_run"] is None and answer["will_run"] is False


@pytest.mark.slow
def test_with_beat_stopped_the_first_reason_is_that_beat_is_not_running(world: World):
    answer = why(world.project, "noop")
    assert codes(answer) == ["beat_not_running", "not_due"]
    assert answer["reasons"][0]["blocking"] is True
    assert answer["reasons"][1]["blocking"] is False
    assert answer["next_run"] is not None
    text = world.project.cli("why", "noop", timeout=HANG_GUARD)
    assert text.code == 0 and "noop" in text.stdout and "will not run" in text.stdout


@pytest.mark.slow
def test_a_killed_worker_leaves_its_queue_without_a_consumer(tmp_path: Path,
                                                             procs: ProcessTracker):
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    worker, node = start_worker(procs, project, "doomed")
    checker = HealthChecker(project.load())
    assert [w.name for w in checker.check().workers.workers] == [node]
    assert "no_worker_for_queue" not in explain(project.load(), "noop", checker).codes

    send(worker.pid, signal.SIGKILL)
    worker.wait(timeout=HANG_GUARD)
    health = checker.check()
    assert health.workers.checked and health.workers.workers == ()
    assert [m.name for m in health.workers.missing] == [node]
    assert {"no_workers", "worker_missing"} <= {p.code for p in health.problems}
    answer = why(project, "noop")
    assert "no_worker_for_queue" in codes(answer)
    assert "'celery'" in answer["reasons"][codes(answer).index("no_worker_for_queue")][
        "message"]


@pytest.mark.slow
def test_a_running_beat_answers_its_ping_and_a_hung_one_is_named(tmp_path: Path,
                                                                procs: ProcessTracker):
    """Beat started by the panel with --enable-remote-control answers `celerybeat@host`:
    the entry will run. Stopped with SIGSTOP it still runs, but is silent: beat_hung."""
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url(),
                           beat_args=("--enable-remote-control", "--loglevel=INFO"))
    start_worker(procs, project, "live")
    started = project.cli("start", "--json", timeout=60)
    assert started.code == 0, started.stdout + started.stderr
    (pid,) = started.json["new_pids"]
    procs.adopt(pid)
    procs.started_real_celery = True

    def applied() -> bool:
        return project.cli("status", "--json").json["schedule_applied"] is True

    wait_until(applied, timeout=30, what="beat to apply the schedule")
    health = project.cli("health", "--json", timeout=HANG_GUARD).json
    assert health["beat"]["ping"] == "answered", health["beat"]
    assert health["beat"]["node"].startswith("celerybeat@")
    assert health["problems"] == [], health["problems"]
    answer = why(project, "noop")
    assert codes(answer) == ["not_due"] and answer["will_run"] is True

    os.kill(pid, signal.SIGSTOP)
    try:
        answer = why(project, "noop")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert codes(answer)[0] == "beat_hung" and answer["will_run"] is False
    assert is_alive(pid)


# -- bad input ----------------------------------------------------------------------------


def test_why_an_unknown_name_exits_2_naming_the_entries(tmp_path: Path):
    project = make_project(tmp_path / "proj", "redis://127.0.0.1:1/0")
    done = project.cli("why", "nope", timeout=HANG_GUARD)
    assert done.code == 2
    assert "'nope'" in done.stderr
    for name in ("noop", "routed", "elsewhere", "ghost", "off"):
        assert name in done.stderr
    as_json = project.cli("why", "nope", "--json", timeout=HANG_GUARD)
    assert as_json.code == 2 and as_json.json["known"] == ["noop", "routed", "elsewhere",
                                                          "ghost", "off"]


def test_why_without_a_schedule_file_exits_2(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "beat-panel.toml").write_text('[beat]\napp = "x"\nworkdir = "."\n')
    done = run_cli("--config", str(root / "beat-panel.toml"), "why", "a",
                   timeout=HANG_GUARD)
    assert done.code == 2 and "No schedule file" in done.stderr


def test_an_unreadable_schedule_file_is_a_reason_answered_from_the_last_good_copy(
        tmp_path: Path):
    project = make_project(tmp_path / "proj", "redis://127.0.0.1:1/0")
    good = project.schedule_path.read_bytes()
    last_good_path(project.schedule_path).write_bytes(good)
    project.schedule_path.write_text('{"entries": [')
    answer = why(project, "noop")
    assert codes(answer)[:2] == ["beat_not_running", "schedule_not_applied"]
    assert "cannot be read" in answer["reasons"][1]["message"]
    assert "broker_unreachable" in codes(answer)
    last_good_path(project.schedule_path).unlink()
    done = project.cli("why", "noop", timeout=HANG_GUARD)
    assert done.code == 2 and "cannot be read" in done.stderr


# -- the answer from given facts ----------------------------------------------------------

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
BEAT_PID = 4242


def beat_process() -> BeatProcess:
    return BeatProcess(pid=BEAT_PID, create_time=0.0, owner="me", uid=0, embedded=False,
                       app="proj", argv=("celery", "-A", "proj", "beat"), cwd="/p",
                       pidfile=None, manager=None)


def facts(*, applied: bool | None = True, report: BeatReport | None = None,
          broker_ok: bool = True, workers: tuple[WorkerHealth, ...] | None = None,
          schedule_error: str | None = None, running: bool = True) -> Facts:
    status = Status(state=Phase.RUNNING if running else Phase.STOPPED,
                    processes=[beat_process()] if running else [],
                    schedule_applied=applied)
    if workers is None:
        workers = (WorkerHealth("w@h", 7, ("celery",), ("proj.a",)),)
    health = Health(
        BrokerHealth(broker_ok, "redis://:**@h:6379/0", 0.2 if broker_ok else None,
                     None if broker_ok else "Connection refused"),
        WorkersHealth(broker_ok, workers if broker_ok else (), ping_timeout=1.0),
        BeatHealth(status))
    routes = {route_key("proj.a", {}): Route("proj.a", "celery", "default")}
    return Facts(health, routes, report, Path("/p/schedule.json"), beat_clock("UTC"),
                 schedule_error, NOW)


def report(runs: dict) -> BeatReport:
    return BeatReport(pid=BEAT_PID, applied_sha="x", applied_revision=1, applied_at=0.0,
                      error=None, timezone="UTC", runs=runs)


DOC = Document((Entry("a", "proj.a", Interval(1, "hours")),))


def only(found: Facts) -> list[str]:
    (answer,) = answer_all(DOC, found)
    return answer.codes


def test_a_healthy_entry_is_only_not_due_yet_and_will_run():
    (answer,) = answer_all(DOC, facts(report=report({})))
    assert answer.codes == ["not_due"] and answer.will_run
    assert answer.next_run is not None and answer.next_run > NOW
    assert answer.to_json()["next_run"] == answer.next_run.isoformat()


def test_a_failed_last_send_is_named_with_its_time_and_masked_error():
    at = (NOW - timedelta(minutes=5)).isoformat()
    failed = report({"a": {"last_run_at": at, "last_error": {
        "at": at, "error": "Error 111 connecting to redis://:hunter2@h:6379/0."}}})
    (answer,) = answer_all(DOC, facts(report=failed))
    assert answer.codes == ["not_due", "last_send_failed"]
    message = answer.reasons[-1].message
    assert "2030-01-01 11:55:00" in message and "hunter2" not in message
    assert "redis://:**@h:6379/0" in message


def test_a_report_without_last_error_is_no_reason():
    assert only(facts(report=report({"a": {"last_run_at": NOW.isoformat()}}))) == ["not_due"]
    assert only(facts(report=report({"a": {"last_error": "not a dict"}}))) == ["not_due"]


def test_a_schedule_not_yet_applied_is_named():
    assert only(facts(applied=False, report=report({})))[0] == "schedule_not_applied"


def test_a_beat_that_does_not_run_the_panels_schedule_is_named():
    found = only(facts(applied=None, report=None))
    assert found[0] == "schedule_not_applied"


def test_an_unreadable_schedule_file_is_named_even_with_beat_stopped():
    found = only(facts(running=False, schedule_error="line 3, column 1: bad JSON"))
    assert found[:2] == ["beat_not_running", "schedule_not_applied"]


def test_an_unreachable_broker_comes_before_the_workers_it_hides():
    assert only(facts(broker_ok=False, report=report({}))) == ["not_due",
                                                              "broker_unreachable"]


def test_beats_own_report_of_the_broker_is_added_to_the_reason():
    stuck = replace(report({}), broker_error="Error 111 connecting to redis://:pw9@h:1/0",
                    broker_error_since=0.0)
    (answer,) = answer_all(DOC, facts(broker_ok=False, report=stuck))
    assert "Beat has been retrying since" in answer.reasons[-1].message
    (answer,) = answer_all(DOC, facts(broker_ok=True, report=stuck))
    assert answer.codes == ["not_due", "broker_unreachable"]
    assert "pw9" not in answer.reasons[-1].message


def test_workers_whose_queues_are_unknown_are_not_blamed():
    unknown = (WorkerHealth("w@h", 7, None, None),)
    assert only(facts(workers=unknown, report=report({}))) == ["not_due"]


def test_a_task_registered_only_by_a_worker_of_another_queue_is_named():
    split = (WorkerHealth("w1@h", 7, ("celery",), ("proj.other",)),
             WorkerHealth("w2@h", 8, ("other",), ("proj.a",)))
    (answer,) = answer_all(DOC, facts(workers=split, report=report({})))
    assert answer.codes == ["not_due", "task_not_registered"]
    assert "w2@h" in answer.reasons[-1].message and "w1@h" in answer.reasons[-1].message
