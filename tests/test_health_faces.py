"""Health in the faces, with a real redis-server, real workers and a real beat: the
monitor checks health in a job after its status checks and tells every face; a broker
outage while beat runs turns the badge and the tray amber with the reason, and so does
a queue the schedule needs that no worker consumes."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from beat_panel.health import HealthChecker
from beat_panel.ui import state_style

from conftest import ProcessTracker, wait_until
from faces import open_tab
from health_world import UNCONSUMED, HealthProject, make_project, start_worker
from redis_server import free_port, start_redis


@pytest.fixture
def make_panel(make_panel):
    """The shared panel fixture (tests/faces.py), checking every second by default."""
    return lambda project, refresh_seconds=1: make_panel(project, refresh_seconds)


@pytest.fixture
def check_threads(monkeypatch) -> list[threading.Thread]:
    """The thread each health check ran on."""
    threads: list[threading.Thread] = []
    real = HealthChecker.check

    def check(self, status=None):
        threads.append(threading.current_thread())
        return real(self, status)

    monkeypatch.setattr(HealthChecker, "check", check)
    return threads


def window_and_tray(panel, qtbot):
    """The panel with its window shown and its tray indicator added."""
    window = panel.show_window()
    qtbot.addWidget(window)
    return panel, window, panel.add_tray()


def start_beat(procs: ProcessTracker, project: HealthProject) -> int:
    started = project.cli("start", "--json", timeout=60)
    assert started.code == 0, started.stdout + started.stderr
    (pid,) = started.json["new_pids"]
    procs.adopt(pid)
    procs.started_real_celery = True
    wait_until(lambda: project.cli("status", "--json").json["schedule_applied"] is True,
               timeout=30, what="beat to apply the schedule")
    return pid


@pytest.mark.slow
def test_a_broker_outage_while_beat_runs_turns_badge_and_tray_amber_with_the_reason(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot, check_threads):
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    start_worker(procs, project, "all", queues=f"celery,{UNCONSUMED}")
    start_beat(procs, project)
    panel, window, tray = window_and_tray(make_panel(project), qtbot)
    monitor = panel.monitor
    seen = []
    monitor.health_changed.connect(seen.append)

    qtbot.waitUntil(lambda: monitor.health is not None, timeout=20000)
    assert monitor.health.broker.ok, monitor.health.broker
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active", timeout=20000)
    assert tray.state_key == "running"

    redis.stop()  # by its pid
    qtbot.waitUntil(lambda: monitor.health is not None and not monitor.health.broker.ok,
                    timeout=20000)
    broker = monitor.health.broker
    assert broker.url == f"redis://127.0.0.1:{redis.port}/0" and broker.error
    assert monitor.status.running  # beat runs on, retrying: only health tells
    qtbot.waitUntil(lambda: window.badge.text() == "! Broker unreachable", timeout=5000)
    badge_look = state_style.LOOKS[window.badge.state_key]
    assert badge_look.colour == state_style.AMBER
    assert badge_look.colour in window.badge.styleSheet()
    assert f"redis://127.0.0.1:{redis.port}/0 cannot be reached" in window.badge.toolTip()
    assert "cannot be reached" in window.header.trouble_banner.text()
    assert window.header.trouble_banner.isVisible()
    QApplication.processEvents()
    assert window.badge.width() >= window.badge.sizeHint().width()  # its words not clipped
    assert tray.state_key == "broker_down"
    assert "Broker unreachable" in tray.icon.toolTip()
    assert tray.icon.toolTip().count(f"redis://127.0.0.1:{redis.port}/0 cannot be reached") \
        == 1  # the worst problem, named once
    assert seen and seen[-1] is monitor.health

    # Every check ran in a job, never on the GUI thread.
    assert check_threads
    assert all(t is not threading.main_thread() for t in check_threads)


@pytest.mark.slow
def test_a_queue_the_schedule_needs_without_a_worker_turns_the_tray_amber_naming_it(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    main, node = start_worker(procs, project, "main")  # consumes `celery` only
    start_beat(procs, project)
    panel = make_panel(project)
    monitor = panel.monitor
    tray = panel.add_tray()

    qtbot.waitUntil(lambda: tray.state_key == "no_worker", timeout=20000)
    assert monitor.queues_without_worker == {UNCONSUMED}
    assert state_style.LOOKS[tray.state_key].colour == state_style.AMBER
    tip = tray.icon.toolTip()
    assert "No worker for a queue" in tip and repr(UNCONSUMED) in tip, tip

    start_worker(procs, project, "more", queues=UNCONSUMED)
    qtbot.waitUntil(lambda: monitor.queues_without_worker == set(), timeout=20000)
    qtbot.waitUntil(lambda: tray.state_key == "running", timeout=5000)
    assert "No worker" not in tray.icon.toolTip()

    os.kill(main.pid, signal.SIGKILL)  # by its pid; the tracker reaps it
    qtbot.waitUntil(lambda: monitor.queues_without_worker == {"celery"}, timeout=20000)
    qtbot.waitUntil(lambda: tray.state_key == "no_worker", timeout=5000)
    tip = tray.icon.toolTip()
    assert "'celery'" in tip and f"Worst problem: Worker {node} no longer answers" in tip, tip


def worker_rows(view) -> list[list[str]]:
    table = view.workers
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


@pytest.mark.slow
def test_the_health_tab_lists_broker_workers_and_beat_each_with_its_state(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    redis = start_redis(procs, tmp_path / "redis", password="s3cret-pw")
    project = make_project(tmp_path / "proj", redis.url())
    worker, node = start_worker(procs, project, "main")
    start_beat(procs, project)
    panel = make_panel(project)
    window = panel.show_window()
    qtbot.addWidget(window)
    view = open_tab(qtbot, window, "Health")

    qtbot.waitUntil(lambda: view.broker_state.key == "broker_ok", timeout=20000)
    assert view.broker_state.text() == "✓ Reachable"
    assert state_style.GREEN in view.broker_state.styleSheet()
    assert view.broker_url.text() == f"redis://:**@127.0.0.1:{redis.port}/0"
    assert view.broker_latency.text().endswith(" ms")
    assert view.broker_checked.text().count(":") == 2  # HH:MM:SS
    assert view.workers_state.key == "worker_answering"
    ((state, name, pid, queues, seen),) = worker_rows(view)
    assert (state, name, pid, queues) == ("✓ Answering", node, str(worker.pid), "celery")
    assert seen.count(":") == 2
    # Beat runs, but `unconsumed` (routed) has no worker: amber, from the same table.
    assert view.beat_state.key == "no_worker"
    assert state_style.AMBER in view.beat_state.styleSheet()
    assert view.beat_message.text()
    assert repr(UNCONSUMED) in view.problems.text()
    shots = Path(os.environ.get("HEALTH_SCREENSHOTS", tmp_path))  # to look at them
    QApplication.processEvents()  # let the layout settle before the grab
    window.grab().save(str(shots / "health-ok.png"))

    redis.stop()
    qtbot.waitUntil(lambda: view.broker_state.key == "broker_unreachable", timeout=20000)
    assert view.broker_state.text() == "✖ Unreachable"
    assert state_style.RED in view.broker_state.styleSheet()
    assert view.broker_error.text() not in ("", "—")
    assert "s3cret-pw" not in view.broker_error.text() + view.broker_url.text()
    assert view.workers_state.key == "workers_unknown"
    assert view.beat_state.key == "broker_down"
    assert view.beat_state.text() == "! Broker unreachable"
    assert "cannot be reached" in view.problems.text()
    QApplication.processEvents()  # let the layout take the banner in before the grab
    window.grab().save(str(shots / "health-down.png"))


def test_the_monitors_health_checks_feed_the_alerts_once_per_broker_outage(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    """No beat, no worker: a real Redis stopped by its pid; the [alerts] command hears of
    the outage once, from the monitor's own health checks."""
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    heard = tmp_path / "alerts.jsonl"
    script = ("import json, sys; alert = json.load(sys.stdin); "
              f"open({str(heard)!r}, 'a').write(json.dumps([alert['kind'], alert['state']])"
              " + '\\n')")
    with project.config_path.open("a") as fh:
        fh.write("\n[alerts]\ncommand = " + json.dumps([sys.executable, "-c", script]) + "\n")
    panel = make_panel(project)
    monitor = panel.monitor
    qtbot.waitUntil(lambda: monitor.health is not None and monitor.health.broker.ok,
                    timeout=20000)

    redis.stop()
    qtbot.waitUntil(lambda: heard.exists() and "broker_unreachable" in heard.read_text(),
                    timeout=20000)
    first = monitor.health
    qtbot.waitUntil(lambda: monitor.health is not first, timeout=20000)  # one more check
    panel.runner.wait()  # its alerts, if any, sent
    lines = [json.loads(line) for line in heard.read_text().splitlines()]
    assert lines.count(["broker_unreachable", "open"]) == 1, lines


def test_another_project_starts_with_a_checker_and_health_of_its_own(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    redis = start_redis(procs, tmp_path / "redis")
    first = make_project(tmp_path / "first", redis.url())
    panel = make_panel(first)
    monitor = panel.monitor
    qtbot.waitUntil(lambda: monitor.health is not None and monitor.health.broker.ok,
                    timeout=20000)
    old_checker = monitor.checker

    second = make_project(tmp_path / "second", f"redis://127.0.0.1:{free_port()}/0")
    monitor.set_config(second.load())
    assert monitor.health is None and monitor.checker is not old_checker
    qtbot.waitUntil(lambda: monitor.health is not None, timeout=20000)
    assert not monitor.health.broker.ok  # nothing listens on the second one's port
    assert monitor.health.broker.url.endswith("/0") and monitor.trouble is not None


def worker_ran(project: HealthProject, worker: str) -> int:
    """How many `noop` tasks the worker named `worker` finished (its log)."""
    log = (project.root / f"worker-{worker}.log").read_text()
    return log.count(f"Task {project.task('noop')}[") - log.count("raised")


@pytest.mark.slow
def test_redis_killed_and_restarted_mid_session_goes_amber_then_green_and_sends_resume(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    added = project.cli("schedule", "add", "tick", "--task", project.task("noop"),
                        "--every", "1")
    assert added.code == 0, added.stderr
    start_worker(procs, project, "all", queues=f"celery,{UNCONSUMED}")
    start_beat(procs, project)
    panel, window, tray = window_and_tray(make_panel(project), qtbot)
    monitor = panel.monitor
    view = open_tab(qtbot, window, "Health")
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active" and tray.state_key == "running"
                    and view.broker_state.key == "broker_ok", timeout=20000)
    qtbot.waitUntil(lambda: worker_ran(project, "all") >= 1, timeout=20000)

    redis.stop()
    qtbot.waitUntil(lambda: window.badge.text() == "! Broker unreachable", timeout=20000)
    assert tray.state_key == "broker_down" and view.broker_state.key == "broker_unreachable"
    why = project.cli("why", "tick", "--json")
    assert why.code == 0 and "broker_unreachable" in [r["code"] for r in why.json["reasons"]]

    redis.restart(procs)  # the same port, empty: what a crashed Redis comes back as
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active" and tray.state_key == "running",
                    timeout=30000)
    assert view.broker_state.key == "broker_ok" and not window.header.trouble_banner.isVisible()
    assert monitor.status.running and "Worst problem" not in tray.icon.toolTip()
    # Beat and the worker reconnected by themselves: sends reach the worker again.
    before = worker_ran(project, "all")
    qtbot.waitUntil(lambda: worker_ran(project, "all") >= before + 2, timeout=30000)
    why = project.cli("why", "tick", "--json")
    assert why.json["will_run"] is True, why.json


def test_check_now_checks_health_again_at_once_whatever_the_refresh_interval(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    panel = make_panel(project, refresh_seconds=3600)
    monitor = panel.monitor
    window = panel.show_window()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: monitor.health is not None and monitor.health.broker.ok,
                    timeout=20000)
    first = monitor.health

    redis.stop()
    qtbot.mouseClick(window.header.check_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.health is not first, timeout=20000)
    assert not monitor.health.broker.ok


def every_text(window) -> str:
    """All the words the window holds: every label's and button's text and tool tip."""
    from PySide6.QtWidgets import QAbstractButton, QLabel

    parts = [window.windowTitle()]
    for widget in window.findChildren(QLabel) + window.findChildren(QAbstractButton):
        parts += [widget.text(), widget.toolTip()]
    return "\n".join(parts)


@pytest.mark.parametrize("fault", ["wrong password", "hung", "nothing listens"])
def test_a_broken_broker_is_named_in_the_health_tab_within_the_deadline_never_its_password(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot, fault: str):
    redis = start_redis(procs, tmp_path / "redis", password="s3cret-Pa55")
    url = {"wrong password": redis.url(password="Wr0ng-pw-9"),
           "hung": redis.url(),
           "nothing listens": f"redis://:s3cret-Pa55@127.0.0.1:{free_port()}/0"}[fault]
    if fault == "hung":
        redis.hang()
    project = make_project(tmp_path / "proj", url)
    try:
        panel = make_panel(project, refresh_seconds=3600)
        window = panel.show_window()
        qtbot.addWidget(window)
        view = open_tab(qtbot, window, "Health")
        qtbot.waitUntil(lambda: view.broker_state.key == "broker_unreachable", timeout=20000)
        broker = panel.monitor.health.broker
        assert broker.elapsed_ms <= 3000, broker  # the deadline for a hung broker
        assert view.broker_error.text() not in ("", "—")
        if fault == "hung":
            assert "no answer within" in view.broker_error.text()
        words = every_text(window)
        assert "s3cret-Pa55" not in words and "Wr0ng-pw-9" not in words
        assert ":**@" in view.broker_url.text()
        # The window still answers: a click lands at once.
        qtbot.mouseClick(window.header.check_now, Qt.MouseButton.LeftButton)
        assert panel.monitor.checking or panel.runner.busy
    finally:
        redis.resume()


def test_a_window_deleted_while_the_monitor_lives_on_is_never_called_again(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    """The monitor outlives its windows (the tray keeps it): a health answer that lands
    after a window was deleted must not reach that window's views."""
    import shiboken6

    project = make_project(tmp_path / "proj", f"redis://127.0.0.1:{free_port()}/0")
    panel = make_panel(project, refresh_seconds=3600)
    window = panel.show_window()
    health_view = window.health_view
    window.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(health_view), timeout=5000)
    panel.window = None
    panel.monitor.health_changed.emit(None)  # a late answer: nobody left to call
    QApplication.processEvents()
