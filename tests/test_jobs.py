"""Jobs run off the GUI thread and report back on it, without leaving anything behind."""

import gc
import threading

import shiboken6
from PySide6.QtCore import QObject, Signal

from beat_panel.ui.jobs import JobRunner


def test_results_and_errors_come_back_on_the_gui_thread(qtbot):
    runner = JobRunner()
    seen = []
    gui_thread = threading.get_ident()

    def work(x):
        seen.append(("worker", threading.get_ident() != gui_thread))
        if x < 0:
            raise ValueError("negative")
        return x * 2

    runner.submit(work, 21, on_done=lambda v: seen.append(("done", v, threading.get_ident())))
    runner.submit(work, -1, on_error=lambda e: seen.append(("error", str(e))))
    qtbot.waitUntil(lambda: len(seen) == 4, timeout=5000)
    runner.wait()
    assert ("worker", True) in seen
    assert ("done", 42, gui_thread) in seen and ("error", "negative") in seen
    assert not runner.busy


def test_thousands_of_jobs_leave_no_objects_behind(qtbot):
    runner = JobRunner()
    children_before = len(runner.findChildren(QObject))
    done = []
    for i in range(3000):
        runner.submit(lambda n=i: n, on_done=done.append)
    qtbot.waitUntil(lambda: len(done) == 3000, timeout=30000)
    runner.wait()
    assert not runner.busy and len(runner.findChildren(QObject)) == children_before


def test_a_job_submitted_while_the_runner_is_being_destroyed_is_dropped_quietly(qtbot):
    """A view's timer can fire while its window (and the runner's thread pool) is being
    destroyed: the job is dropped, never an exception in the event loop."""
    import shiboken6

    from beat_panel.ui.jobs import JobRunner

    runner = JobRunner()
    shiboken6.delete(runner.pool)  # as the window's destruction does
    runner.submit(lambda: 1, on_done=lambda _: None)
    assert not runner.busy


def test_a_closed_runner_takes_no_more_jobs(qtbot):
    """At shutdown a status answer may land after the wait and ask for more work: a job
    started then would still run while the process exits."""
    from beat_panel.ui.jobs import JobRunner

    runner = JobRunner()
    ran: list[int] = []
    runner.close()
    runner.submit(ran.append, 1, on_done=lambda _: ran.append(2))
    runner.wait()
    qtbot.wait(50)
    assert ran == []

class _Listener(QObject):
    told = Signal(object)


def test_an_answer_to_a_signal_whose_object_was_deleted_is_dropped(qtbot):
    """The monitor answers some jobs by emitting its own signal; a monitor deleted while
    such a job ran must not raise from Qt's event loop."""
    runner = JobRunner()
    listener = _Listener()
    release = threading.Event()
    runner.submit(release.wait, 5, on_done=lambda v: listener.told.emit(v))
    shiboken6.delete(listener)
    release.set()
    runner.wait()
    qtbot.wait(50)  # pytest-qt fails the test on an exception raised in the loop
    assert not runner.busy


def test_cyclic_garbage_a_job_makes_is_collected_on_the_gui_thread(qtbot):
    """Collected in a job thread, a closed window's cycles would delete Qt objects from
    the wrong thread (segfaults under load): only the GUI thread collects."""
    runner = JobRunner()
    assert not gc.isenabled()
    finalized: list[threading.Thread] = []

    class Cycle:
        def __del__(self) -> None:
            finalized.append(threading.current_thread())

    def make_garbage() -> None:
        for _ in range(5000):  # far past the collector's first threshold (700)
            cycle = Cycle()
            cycle.me = cycle

    runner.submit(make_garbage)
    runner.wait()
    qtbot.waitUntil(lambda: len(finalized) >= 4000, timeout=10000)
    assert set(finalized) == {threading.main_thread()}
