"""Keep beat alive: restart it when it dies, but at most a few times in a window of
time, then stop trying and say so (a beat that keeps dying needs a person)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_RESTARTS = 3
WINDOW_SECONDS = 600.0


class KeepAlive:
    """Decides whether another automatic restart is allowed now."""

    def __init__(self, max_restarts: int = MAX_RESTARTS, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_restarts = max_restarts
        self.window = window
        self.clock = clock
        self.attempts: deque[float] = deque()
        self.gave_up = False

    def _forget_old(self) -> None:
        now = self.clock()
        while self.attempts and now - self.attempts[0] > self.window:
            self.attempts.popleft()

    def allow(self) -> bool:
        """True, and counted, when one more restart fits in the window. Once it has
        given up it stays so until a person takes over (`reset`)."""
        if self.gave_up:
            return False
        self._forget_old()
        if len(self.attempts) >= self.max_restarts:
            self.gave_up = True
            return False
        self.attempts.append(self.clock())
        return True

    def reset(self) -> None:
        """A person took over (started or stopped beat by hand): start counting afresh."""
        self.attempts.clear()
        self.gave_up = False

    def describe_limit(self) -> str:
        return (f"Beat died again after {self.max_restarts} restarts within "
                f"{self.window / 60:g} minutes, so Beat Panel stopped restarting it and "
                "turned keep-alive off. Look at the log, then start it by hand.")
