"""The Redis schedule against a stock RedBeat beat in another process (its own venv,
without Beat Panel): what the panel adds, edits, disables and deletes is sent, re-timed,
stopped and dropped within the beat's tick; and the panel reads RedBeat's lock to show
that beat running, then stale after `kill -9`, then running again."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from beat_panel.schedule import Interval
from beat_panel.schedule.session import ScheduleSession
from beat_panel.schedule.source import source_for

from conftest import ProcessTracker, wait_until
from redbeat_world import RedBeatProject, make_redbeat_project
from redis_server import start_redis


def lock_state(project: RedBeatProject) -> dict:
    status = project.cli("status", "--json")
    assert status.code == 0, status.stderr
    return status.json["redbeat_lock"]


def running_beat(tmp_path: Path, procs: ProcessTracker, worker: bool = False
                 ) -> tuple[RedBeatProject, int]:
    """A RedBeat project on its own Redis, its beat started by the panel and holding the
    lock (and a worker, if asked); the beat's pid."""
    redis = start_redis(procs, tmp_path / "redis")
    project = make_redbeat_project(tmp_path / "proj", redis)
    if worker:
        project.start_worker(procs)
    pid = project.start_beat(procs)
    wait_until(lambda: lock_state(project)["state"] == "running", timeout=30,
               what="the RedBeat beat to take its lock")
    return project, pid


def sends_between(project: RedBeatProject, name: str, seconds: float) -> int:
    before = len(project.sends(name))
    time.sleep(seconds)
    return len(project.sends(name)) - before


@pytest.mark.slow
def test_a_stock_redbeat_beat_runs_what_the_panel_adds_edits_disables_and_deletes(
        tmp_path: Path, procs: ProcessTracker):
    project, _ = running_beat(tmp_path, procs, worker=True)

    # Added: sent within the beat's tick (max-interval 1 s), and run by the worker.
    added = project.cli("schedule", "add", "tick", "--task", project.task(), "--every", "1",
                        "--json")
    assert added.code == 0, added.stderr
    assert added.json["apply_state"] == "next_tick"
    saved_at = time.monotonic()
    wait_until(lambda: project.sends("tick"), timeout=10, what="the first send of tick")
    assert time.monotonic() - saved_at < 4  # the first send is one interval after the save
    wait_until(lambda: project.worker_ran() >= 1, timeout=20, what="the worker to run it")
    why = project.cli("why", "tick", "--json")
    assert why.code == 0 and why.json["will_run"] is True, why.stdout + why.stderr
    assert sends_between(project, "tick", 3.5) >= 2

    # Edited (every 1 s → every 4 s): re-timed at the beat's next tick.
    session = ScheduleSession.open(source_for(project.load()))
    entry = session.document.require("tick")
    session.editing(session.document.replacing(
        "tick", entry.with_changes(schedule=Interval(4, "seconds")))).save()
    time.sleep(1.5)  # the send already due may still go out
    assert sends_between(project, "tick", 6) <= 2

    # Disabled: no more sends.
    disabled = project.cli("schedule", "disable", "tick")
    assert disabled.code == 0, disabled.stderr
    time.sleep(1.5)
    assert sends_between(project, "tick", 5) == 0

    # A one-off at a time: sent once, at that time, and never again.
    at = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0)
    once = project.cli("schedule", "add", "once", "--task", project.task(), "--at",
                       at.isoformat())
    assert once.code == 0, once.stderr
    wait_until(lambda: project.sends("once"), timeout=10, what="the one-off's send")
    assert sends_between(project, "once", 3) == 0 and len(project.sends("once")) == 1

    # Deleted: gone from Redis and from the beat, which goes on running.
    removed = project.cli("schedule", "remove", "tick")
    assert removed.code == 0, removed.stderr
    client = redis_client(project)
    assert not client.exists(f"{project.prefix}tick")
    assert client.zscore(f"{project.prefix}:schedule", f"{project.prefix}tick") is None
    listed = project.cli("schedule", "list", "--json")
    # What RedBeat wrote itself is listed too: Celery's default cleanup entry.
    assert [e["name"] for e in listed.json["entries"]] == ["celery.backend_cleanup", "once"]
    assert lock_state(project)["state"] == "running"
    assert "Traceback" not in project.beat_log.read_text()


def redis_client(project: RedBeatProject):
    return project.load().schedule_redis.client()


@pytest.mark.slow
def test_the_panel_shows_the_beat_running_then_stale_after_kill_9_then_running_again(
        tmp_path: Path, procs: ProcessTracker):
    project, pid = running_beat(tmp_path, procs)
    assert project.cli("schedule", "add", "tick", "--task", project.task(), "--every",
                       "3600").code == 0
    lock = lock_state(project)
    assert lock["held"] and lock["this_machine"] is True
    assert lock["holder_host"] == "this machine"
    assert 0 < lock["ttl"] <= 5  # 5 × max-interval, extended at every tick

    os.kill(pid, signal.SIGKILL)  # by its pid: the lock is never released
    wait_until(lambda: not project.cli("status", "--json").json["running"], timeout=10,
               what="the killed beat to be gone")
    status = project.cli("status", "--json").json
    assert status["redbeat_lock"]["state"] == "stale", status
    assert "stale" in status["message"] and "expires in" in status["message"]
    why = project.cli("why", "tick", "--json").json
    assert why["will_run"] is False
    assert why["reasons"][0]["code"] == "beat_not_running" and "stale" in \
        why["reasons"][0]["message"]

    project.start_beat(procs)  # waits for the stale lock to run out (≤ 5 s)
    wait_until(lambda: lock_state(project)["state"] == "running", timeout=30,
               what="the new beat to take the lock")
    assert project.cli("status", "--json").json["running"]


@pytest.mark.slow
def test_a_second_beat_here_is_a_standby_and_an_entry_redbeat_drops_is_reported(
        tmp_path: Path, procs: ProcessTracker):
    project, _ = running_beat(tmp_path, procs)
    log = project.root / "standby.log"
    with open(log, "wb") as out:
        procs.popen([str(project.python.parent / "celery"), "-A", project.app, "beat",
                     "-S", "redbeat.RedBeatScheduler", "--max-interval", "1",
                     "--pidfile=", "-l", "INFO"],
                    cwd=project.root, stdout=out, stderr=out)
    wait_until(lambda: project.cli("status", "--json").json["count"] == 2, timeout=30,
               what="the second beat to be seen")
    status = project.cli("status", "--json").json
    assert status["duplicate"] is False  # only the lock's holder sends
    assert "wait as standbys" in status["message"]
    assert not any("sent 2 times" in w for w in status["warnings"])

    # An entry another tool wrote without `relative`: RedBeat drops it from its schedule.
    client = project.load().schedule_redis.client()
    client.hset(f"{project.prefix}norel", "definition", json.dumps({
        "name": "norel", "task": project.task(), "args": [], "kwargs": {}, "options": {},
        "enabled": True, "schedule": {"__type__": "interval", "every": 1}}))
    client.zadd(f"{project.prefix}:schedule", {f"{project.prefix}norel": 0})
    wait_until(lambda: "Failed to load" in project.beat_log.read_text()
               or "Failed to load" in log.read_text(), timeout=20,
               what="RedBeat to drop the entry")
    listed = project.cli("schedule", "list", "--json")
    assert "norel" not in [e["name"] for e in listed.json["entries"]]
    assert client.hget(f"{project.prefix}norel", "definition")  # reported, never deleted


@pytest.mark.slow
def test_starting_beat_where_redbeat_is_not_installed_says_what_to_install(
        tmp_path: Path, procs: ProcessTracker):
    """The panel's own environment has celery but not celery-redbeat: beat dies at once,
    and the outcome says which package to install where, not only the ImportError."""
    from health_world import make_project

    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    text = project.config_path.read_text().replace(
        '[schedule]\nfile = "schedule.json"', f'[schedule]\nredis_url = "{redis.url()}"')
    project.config_path.write_text(text)
    started = project.cli("start", "--json", timeout=60)
    assert started.code != 0
    message = started.json["message"]
    assert "No module named 'redbeat'" in message
    assert "pip install celery-redbeat" in message and "RedBeat's scheduler" in message
    assert project.cli("status", "--json").json["running"] is False
