"""Run blocking core calls off the GUI thread and get their results back as signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)  # the exception


class _Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple, signals: _Signals) -> None:
        super().__init__()
        self.fn = fn
        self.args = args
        self.signals = signals

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # reported to the GUI, never lost in a thread
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


class JobRunner(QObject):
    """Submits work to a thread pool; callbacks run on the GUI thread."""

    def __init__(self, parent: QObject | None = None, threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._pending: set[_Signals] = set()

    def submit(self, fn: Callable[..., Any], *args: Any,
               on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[Exception], None] | None = None) -> None:
        signals = _Signals()
        self._pending.add(signals)

        def finish() -> None:
            self._pending.discard(signals)

        if on_done is not None:
            signals.done.connect(on_done)
        if on_error is not None:
            signals.failed.connect(on_error)
        signals.done.connect(finish)
        signals.failed.connect(finish)
        self.pool.start(_Job(fn, args, signals))

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def wait(self, msecs: int = 30000) -> bool:
        """Wait for every job (used at shutdown and by tests)."""
        return self.pool.waitForDone(msecs)
