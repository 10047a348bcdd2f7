"""The death watch on its own: a watch deleted with a death still to tell stays quiet."""

from __future__ import annotations

import subprocess
import sys

import shiboken6

from beat_panel.process.scan import BeatProcess
from beat_panel.ui.death_watch import DeathWatch


def _gone_process() -> BeatProcess:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names nothing now
    return BeatProcess(pid=child.pid, create_time=1.0, owner="me", uid=0, embedded=False,
                       app=None, argv=(), cwd=None, pidfile=None, manager=None)


def test_a_watch_deleted_before_it_tells_of_a_death_is_never_called(qtbot):
    """A window or panel closing while the watch has a death to tell from the event loop
    (the process had gone by the time the status arrived) must not raise from Qt's
    event loop: CI once failed on "Signal source has been deleted" here."""
    watch = DeathWatch()
    heard: list[int] = []
    watch.ended.connect(heard.append)
    watch.watch([_gone_process()])
    shiboken6.delete(watch)
    qtbot.wait(50)  # pytest-qt fails the test on any exception raised in the loop
    assert heard == []


def test_a_death_seen_at_watch_time_is_told_from_the_event_loop(qtbot):
    watch = DeathWatch()
    gone = _gone_process()
    with qtbot.waitSignal(watch.ended, timeout=2000) as told:
        watch.watch([gone])
    assert told.args == [gone.pid]
    assert watch.pids == []
