"""Run blocking core calls off the GUI thread and get their results back on it.

One dispatcher object per runner carries every job's result back as a queued signal,
keyed by job number, so a long-running window creates no Qt object per job (a window
runs thousands of jobs a day: status checks, log polls).
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from beat_panel.ui import gc_guard

log = logging.getLogger(__name__)

# What PySide raises when an answer reaches a Qt object that was deleted meanwhile.
_DELETED = ("already deleted", "Signal source has been deleted")

# How long a job thread may keep the GIL while the GUI thread waits for it. Python's
# default (5 ms) lets a busy job stall the event loop by 5 ms each time a Qt event calls
# into Python, often twice per turn of the loop: 10-17 ms measured with a job computing
# "Will run?" answers. At 1 ms the longest gap is about 3.5 ms and the job is no slower.
GUI_SWITCH_INTERVAL_S = 0.001

Done = Callable[[Any], None]
Failed = Callable[[Exception], None]


class _Dispatcher(QObject):
    finished = Signal(int, bool, object)  # job number, succeeded, result or exception


class _Job(QRunnable):
    def __init__(self, number: int, fn: Callable[..., Any], args: tuple,
                 dispatcher: _Dispatcher) -> None:
        super().__init__()
        self.number = number
        self.fn = fn
        self.args = args
        self.dispatcher = dispatcher

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # reported to the GUI, never lost in a thread
            self.dispatcher.finished.emit(self.number, False, exc)
        else:
            self.dispatcher.finished.emit(self.number, True, result)


class JobRunner(QObject):
    """Submits work to a thread pool; callbacks run on the GUI thread."""

    def __init__(self, parent: QObject | None = None, threads: int = 4) -> None:
        super().__init__(parent)
        gc_guard.collect_on_gui_thread()  # never in a job thread: see gc_guard
        if sys.getswitchinterval() > GUI_SWITCH_INTERVAL_S:
            sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._numbers = itertools.count()
        self._closed = False
        self._callbacks: dict[int, tuple[Done | None, Failed | None]] = {}
        self._dispatcher = _Dispatcher(self)
        self._dispatcher.finished.connect(self._finished)

    def close(self) -> None:
        """Take no more jobs (the panel is shutting down): one submitted later, say by a
        status check whose answer lands after the shutdown, is dropped, so no job runs
        while the process exits."""
        self._closed = True

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Done | None = None,
               on_error: Failed | None = None) -> None:
        if self._closed:
            log.debug("Job %s dropped: the runner is closed", fn)
            return
        if not shiboken6.isValid(self.pool):
            # The runner's window is being destroyed and a timer of one of its views
            # fired meanwhile: there is nobody left to give the answer to.
            log.debug("Job %s dropped: its runner is being destroyed", fn)
            return
        number = next(self._numbers)
        self._callbacks[number] = (on_done, on_error)
        self.pool.start(_Job(number, fn, args, self._dispatcher))

    def _finished(self, number: int, succeeded: bool, value: object) -> None:
        on_done, on_error = self._callbacks.pop(number, (None, None))
        try:
            self._answer(succeeded, value, on_done, on_error)
        except RuntimeError as exc:
            # The view that asked was deleted while its job ran (a window closed while
            # the panel, its runner and its tray live on): nobody is left to tell.
            # PySide says so in two ways: a deleted view's method, a deleted signal's
            # source.
            if not any(said in str(exc) for said in _DELETED):
                raise
            log.debug("A job's answer came after its view was deleted: %s", exc)

    def _answer(self, succeeded: bool, value: object, on_done: Done | None,
                on_error: Failed | None) -> None:
        if succeeded and on_done is not None:
            on_done(value)
        elif not succeeded:
            if on_error is not None:
                on_error(value)  # type: ignore[arg-type]
            else:  # nobody handles it: never lost, always in the panel's log
                error: BaseException = value  # type: ignore[assignment]
                log.error("A background job failed", exc_info=(type(error), error,
                                                                error.__traceback__))

    @property
    def busy(self) -> bool:
        return bool(self._callbacks)

    def wait(self, msecs: int = 30000) -> bool:
        """Wait for every job (used at shutdown and by tests)."""
        return self.pool.waitForDone(msecs)
