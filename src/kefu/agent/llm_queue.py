"""One generation at a time per in-process model: later questions wait their turn, in order.

A waiting question knows how many are ahead of it (the chat shows it); one that waits
longer than `max_wait_s` gives up with QueueTimeout, and the agent answers it with an
apology and the offer of a human. Nothing is dropped silently.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from kefu.errors import QueueTimeout

POLL_S = 0.5  # how often a waiting question re-checks its place


class GenerationQueue:
    def __init__(self, slots: int = 1, max_wait_s: float = 30.0) -> None:
        self.slots = slots
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._waiting: deque[int] = deque()
        self._running = 0
        self._numbers = itertools.count()

    def turn(self) -> Turn:
        return Turn(self)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """The LLM for one piece of background work (a twin, a tuning probe): its turn
        waited for without showing a place, and given back after it."""
        turn = self.turn()
        try:
            for _ahead in turn.acquire():
                pass
            yield
        finally:
            turn.release()

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def _wait(self, number: int) -> Iterator[int]:
        """Yield the number of questions ahead whenever it changes; return once running.

        A caller that stops listening (the customer left) gives up its place."""
        deadline = time.monotonic() + self.max_wait_s
        shown = -1
        with self._cond:
            self._waiting.append(number)
        try:
            while True:
                with self._cond:
                    place = self._waiting.index(number)
                    if place == 0 and self._running < self.slots:
                        self._waiting.popleft()
                        self._running += 1
                        self._cond.notify_all()  # the others moved up a place
                        return
                    ahead = place + self._running
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise QueueTimeout(f"waited {self.max_wait_s:.0f} s with {ahead} ahead")
                    if ahead == shown:
                        self._cond.wait(min(remaining, POLL_S))
                        continue
                shown = ahead
                yield ahead
        except BaseException:
            with self._cond:
                if number in self._waiting:
                    self._waiting.remove(number)
                    self._cond.notify_all()
            raise

    def _done(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()


class Turn:
    """One question's use of the LLM: taken on its first generation, given back at the end."""

    def __init__(self, queue: GenerationQueue) -> None:
        self._queue = queue
        self._number = next(queue._numbers)
        self.held = False

    def acquire(self) -> Iterator[int]:
        """Wait for the LLM (a no-op once held), yielding the questions ahead while waiting."""
        if not self.held:
            yield from self._queue._wait(self._number)
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._queue._done()
