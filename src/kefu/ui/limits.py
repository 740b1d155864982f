"""Per-IP and per-conversation rate limits: a sliding one-minute window in memory."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from fastapi import Request

from kefu.ui.errors import ApiError

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key: str) -> int:
        """0 when key may go on (and counts this use), else the seconds to wait."""
        now = self._clock()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - WINDOW_S:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[0] + WINDOW_S - now))
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle keys now and then
                for stale in [k for k, v in self._hits.items() if not v]:
                    del self._hits[stale]
            return 0


def limit(limiter: RateLimiter, key: str, what: str) -> None:
    """429 with Retry-After when key is over its limit."""
    wait = limiter.check(key)
    if wait:
        raise ApiError(429, "rate_limited", f"Too many messages {what}; please wait {wait} s.",
                       headers={"Retry-After": str(wait)})


def per_ip(per_minute: int) -> Callable[[Request], None]:
    """A FastAPI dependency: at most per_minute requests a minute from one IP address."""
    limiter = RateLimiter(per_minute)

    def limited(request: Request) -> None:
        limit(limiter, request.client.host if request.client else "?", "from this address")

    return limited
