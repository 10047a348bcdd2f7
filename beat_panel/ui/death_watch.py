"""Knowing the moment a beat process ends: a pidfd per known process, readable once it
exits, watched by the event loop; a once-a-second check where pidfds are not available."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

from beat_panel import process
from beat_panel.process import BeatProcess

FALLBACK_POLL_MS = 1000  # where pidfd is not available: known pids checked this often


class DeathWatch(QObject):
    """Says the moment a known beat process ends.

    Each process gets a pidfd (Linux 5.3+), which becomes readable when the process
    exits, whoever its parent is: no polling, and a reused pid can never be mistaken for
    it. Where pidfds are not available, the known pids are checked once a second.
    """

    ended = Signal(int)  # pid

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._watched: dict[int, tuple[float, int | None, QSocketNotifier | None]] = {}
        self._poll = QTimer(self)
        self._poll.setInterval(FALLBACK_POLL_MS)
        self._poll.timeout.connect(self._poll_known)

    @property
    def pids(self) -> list[int]:
        return sorted(self._watched)

    def watch(self, beats: list[BeatProcess]) -> None:
        """Watch exactly these processes (from the latest status)."""
        wanted = {b.pid: b.create_time for b in beats}
        for pid in [p for p, (ct, _, _) in self._watched.items() if wanted.get(p) != ct]:
            self._forget(pid)
        for pid, create_time in wanted.items():
            if pid not in self._watched:
                self._add(pid, create_time)
        polled = any(notifier is None for _, _, notifier in self._watched.values())
        if polled and not self._poll.isActive():
            self._poll.start()
        elif not polled:
            self._poll.stop()

    def clear(self) -> None:
        for pid in list(self._watched):
            self._forget(pid)
        self._poll.stop()

    def _add(self, pid: int, create_time: float) -> None:
        fd: int | None
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError) as exc:
            # ESRCH: it is already gone; others (old kernel, seccomp): poll instead.
            if isinstance(exc, ProcessLookupError):
                # Told from the event loop; with the watch as context, a watch deleted
                # meanwhile (its window closed) is never called.
                QTimer.singleShot(0, self, lambda: self.ended.emit(pid))
                return
            fd = None
        # The pid may have been reused between the scan and pidfd_open: the pidfd then
        # refers to another process, so make sure it is still the one the scan saw.
        if not process.is_alive(pid, create_time):
            if fd is not None:
                os.close(fd)
            QTimer.singleShot(0, self, lambda: self.ended.emit(pid))
            return
        notifier = None
        if fd is not None:
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
            notifier.activated.connect(lambda *_: self._fired(pid))
        self._watched[pid] = (create_time, fd, notifier)

    def _forget(self, pid: int) -> None:
        _, fd, notifier = self._watched.pop(pid)
        if notifier is not None:
            notifier.setEnabled(False)
            notifier.deleteLater()
        if fd is not None:
            os.close(fd)

    def _fired(self, pid: int) -> None:
        if pid in self._watched:
            self._forget(pid)
            self.ended.emit(pid)

    def _poll_known(self) -> None:
        for pid, (create_time, _, notifier) in list(self._watched.items()):
            if notifier is None and not process.is_alive(pid, create_time):
                self._forget(pid)
                self.ended.emit(pid)
