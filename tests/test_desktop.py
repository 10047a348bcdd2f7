"""The tray and the window on a real desktop (Xvfb, openbox, trayer), driven with the
mouse and keyboard through xdotool, on real beats: both faces show the true state.

A beat the panel knows is watched, so its death shows within two seconds; a beat started
elsewhere shows within one refresh (3 s here)."""

import os
import sys
import time

import pytest

from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.store import ScheduleStore
from beat_panel.ui.state_style import GREEN, RED

from conftest import wait_until

pytestmark = pytest.mark.slow  # real celery beats

REFRESH = 3
KNOWN_BEAT_LIMIT = 2.0  # seconds from a known beat's death to both faces showing it
BADGE = (16, 45)  # a point inside the window's status badge, in window coordinates


def start_tray(project, procs, desktop, tmp_path):
    log = tmp_path / "panel.log"
    with open(log, "wb") as out:
        panel = procs.popen([os.sys.executable, "-m", "beat_panel", "--config",
                             str(project.config_path), "tray", "--refresh", str(REFRESH),
                             "--wait-for-tray", "10"], env=desktop.env, stdout=out,
                            stderr=out)

    def embedded() -> bool:
        assert panel.poll() is None, f"the panel exited: {log.read_text()}"
        return desktop.tray_icon() is not None

    wait_until(embedded, timeout=30, what="the icon in trayer")
    return panel


def tray_colour(desktop) -> str:
    where = desktop.tray_icon()  # looked up each time: Qt may re-embed the icon
    return desktop.pixel(*where) if where else ""


def window_colour(desktop, window: int) -> str:
    x, y, _, _ = desktop.geometry(window)
    return desktop.pixel(x + BADGE[0], y + BADGE[1])


def open_window_from_tray(desktop) -> int:
    desktop.click(*desktop.tray_icon())
    found: list[int] = []

    def shown() -> bool:
        window = desktop.visible_window("^Beat Panel —")
        if window:
            found.append(window)
        return bool(window)

    wait_until(shown, timeout=20, what="the window to open from the tray icon")
    return found[-1]


def both_faces(desktop, window: int, colour: str) -> bool:
    return tray_colour(desktop) == colour and window_colour(desktop, window) == colour


def seconds_until(predicate, limit: float) -> float:
    """How long `predicate` took to hold; fails once `limit` has passed."""
    began = time.monotonic()
    wait_until(predicate, timeout=limit, what=f"both faces within {limit} s")
    return time.monotonic() - began


def test_both_faces_follow_beat_through_close_reopen_kill_and_tray_start(
        panel_project, procs, desktop, tmp_path):
    # One entry to run: a beat with nothing to send is amber, not green.
    ScheduleStore(panel_project.root / "schedule.json").save(Document((
        Entry("hello", "beat_panel.demo.app.say_hello", Interval(30)),)), None)
    # And a worker for its queue: a beat whose sends no worker takes is amber too.
    procs.popen([sys.executable, "-m", "celery", "-A", panel_project.app, "worker",
                 "--pool=solo", "--concurrency=1", "--loglevel=WARNING"],
                cwd=panel_project.root,
                env=dict(os.environ, BEAT_PANEL_DEMO_DIR=str(panel_project.root /
                                                             "demo-data")))
    start_tray(panel_project, procs, desktop, tmp_path)
    wait_until(lambda: tray_colour(desktop) == RED, timeout=30, what="a red icon")

    # Open the window from the tray, close it as a person does (Alt+F4 to openbox),
    # then start beat from a terminal: the tray still follows beat.
    window = open_window_from_tray(desktop)
    wait_until(lambda: window_colour(desktop, window) == RED, what="a red badge")
    desktop.xdotool("windowactivate", "--sync", str(window), "key", "--clearmodifiers",
                    "alt+F4")
    wait_until(lambda: desktop.visible_window("^Beat Panel —") is None,
               what="the window to close")
    started = panel_project.cli("start", "--json")
    assert started.code == 0, started.stdout + started.stderr
    (pid,) = started.json["new_pids"]
    wait_until(lambda: tray_colour(desktop) == GREEN, timeout=REFRESH + 3,
               what="the tray to turn green within one refresh")

    # Reopen the window; kill -9 the beat: both faces turn red within two seconds.
    window = open_window_from_tray(desktop)
    wait_until(lambda: both_faces(desktop, window, GREEN), timeout=10,
               what="both faces green")
    desktop.screenshot(tmp_path / "running.png")
    os.kill(pid, 9)
    seconds_until(lambda: both_faces(desktop, window, RED), KNOWN_BEAT_LIMIT)
    desktop.screenshot(tmp_path / "killed.png")

    # Start from the tray's menu with the window open: the window follows at once.
    desktop.click(*desktop.tray_icon(), button=3)
    wait_until(lambda: desktop.visible_window("") is not None, what="the menu")
    time.sleep(0.3)  # the menu maps before it takes keys
    desktop.xdotool("key", "Down", "Down", "Return")  # Open panel, Start
    wait_until(lambda: both_faces(desktop, window, GREEN), timeout=30,
               what="both faces green after Start in the tray menu")
    status = panel_project.cli("status", "--json").json
    assert status["running"] and status["count"] == 1
    procs.adopt(status["pids"][0])
    desktop.screenshot(tmp_path / "started-from-tray.png")
