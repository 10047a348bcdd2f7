"""Python's cyclic garbage is collected on the GUI thread only.

The garbage collector runs in whichever thread happens to allocate when a threshold is
crossed: often a job thread (a status check, a health check). Cycles that hold Qt
objects (a closed window's widgets and the lambdas connected to them) are then finalized
there, deleting QObjects that belong to the GUI thread from another thread, which
crashes Qt (seen as segfaults and heap corruption under load, "Garbage-collecting" in the
job thread's stack). So automatic collection is switched off and the same thresholds are
checked by a timer on the GUI thread, which collects the generation Python would have.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QCoreApplication, QObject, QTimer

CHECK_MS = 250  # how often the GUI thread looks at the collector's counts


class GuiThreadCollector(QObject):
    """Collects cyclic garbage on the thread it lives on, at Python's own thresholds."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def check(self) -> None:
        """Collect the oldest generation whose threshold is crossed, as Python does."""
        first, second, third = gc.get_threshold()
        young, middle, old = gc.get_count()
        if first <= 0 or young <= first:
            return
        generation = 0
        if middle > second:
            generation = 1
            if old > third:
                generation = 2
        gc.collect(generation)


_collector: GuiThreadCollector | None = None


def collect_on_gui_thread() -> None:
    """From now on, collect garbage on the GUI thread only (once per application; called
    where job threads are made). Does nothing off the main thread or without an app."""
    global _collector
    app = QCoreApplication.instance()
    if _collector is not None or app is None or \
            threading.current_thread() is not threading.main_thread():
        return
    _collector = GuiThreadCollector(app)
    _collector.start()
