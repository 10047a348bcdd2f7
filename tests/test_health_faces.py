"""Health in the faces, with a real redis-server, real workers and a real beat: the
monitor checks health in a job after its status checks and tells every face; a broker
outage while beat runs turns the badge amber with the reason."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from beat_panel.health import HealthChecker
from beat_panel.ui import state_style
from beat_panel.ui.app import Panel

from conftest import ProcessTracker, wait_until
from health_world import UNCONSUMED, HealthProject, make_project, start_worker
from redis_server import start_redis
from scripted_dialogs import ScriptedDialogs


@pytest.fixture
def make_panel(qtbot):
    panels = []
    app = QApplication.instance()

    def make(project: HealthProject, refresh_seconds: int = 1) -> Panel:
        panel = Panel(project.load(), app, refresh_seconds, dialogs=ScriptedDialogs())
        panels.append(panel)
        qtbot.waitUntil(lambda: panel.monitor.status is not None, timeout=15000)
        return panel

    yield make
    for panel in panels:
        if panel.window is not None:
            panel.window.close()
        panel.shutdown()
    app.setQuitOnLastWindowClosed(True)


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
def test_a_broker_outage_while_beat_runs_turns_the_badge_amber_with_the_reason(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot, check_threads):
    redis = start_redis(procs, tmp_path / "redis")
    project = make_project(tmp_path / "proj", redis.url())
    start_worker(procs, project, "all", queues=f"celery,{UNCONSUMED}")
    start_beat(procs, project)
    panel = make_panel(project)
    monitor = panel.monitor
    window = panel.show_window()
    qtbot.addWidget(window)
    seen = []
    monitor.health_changed.connect(seen.append)

    qtbot.waitUntil(lambda: monitor.health is not None, timeout=20000)
    assert monitor.health.broker.ok, monitor.health.broker
    qtbot.waitUntil(lambda: window.badge.text() == "✓ Active", timeout=20000)

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
    assert "cannot be reached" in window.header.context.text()
    assert seen and seen[-1] is monitor.health

    # Every check ran in a job, never on the GUI thread.
    assert check_threads
    assert all(t is not threading.main_thread() for t in check_threads)
