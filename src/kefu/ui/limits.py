"""Per-IP and per-conversation rate limits: a sliding one-minute window (the `limits`
library), counted in this process's memory, or in Redis (store.redis_url) so that several
kefu workers share one count."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerMinute
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from kefu.errors import ConfigError
from kefu.ui.errors import ApiError

log = logging.getLogger(__name__)


def limit_storage(redis_url: str) -> Storage:
    """Where the counts live: this process's memory, or the Redis at redis_url."""
    if not redis_url:
        return MemoryStorage()
    try:
        storage = storage_from_string(redis_url)
    except ConfigurationError as exc:
        raise ConfigError(f"store.redis_url {redis_url.split('@')[-1]!r} cannot be used: "
                          f"{exc} (pip install 'kefu[redis]')") from exc
    assert isinstance(storage, Storage)
    return storage


class RateLimiter:
    """At most per_minute uses a minute per key; scope keeps the keys of different limits
    apart in a shared storage."""

    def __init__(self, per_minute: int, storage: Storage | None = None,
                 scope: str = "limit") -> None:
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._scope = scope

    def check(self, key: str) -> int:
        """0 when key may go on (and counts this use), else the seconds to wait. When the
        shared storage (Redis) fails, customers are served and the failure logged."""
        try:
            if self._limiter.hit(self._item, self._scope, key):
                return 0
            reset, _ = self._limiter.get_window_stats(self._item, self._scope, key)
        except Exception as exc:  # noqa: BLE001 - the storage's own errors (redis, sockets)
            log.warning("rate limit not checked (%s): %s", type(exc).__name__, exc)
            return 0
        return max(1, math.ceil(reset - time.time()))


def limit(limiter: RateLimiter, key: str, what: str) -> None:
    """429 with Retry-After when key is over its limit."""
    wait = limiter.check(key)
    if wait:
        raise ApiError(429, "rate_limited", f"Too many messages {what}; please wait {wait} s.",
                       headers={"Retry-After": str(wait)})


def per_ip(per_minute: int, storage: Storage | None = None,
           scope: str = "ip") -> Callable[[Request], None]:
    """A FastAPI dependency: at most per_minute requests a minute from one IP address."""
    limiter = RateLimiter(per_minute, storage, scope)

    def limited(request: Request) -> None:
        limit(limiter, request.client.host if request.client else "?", "from this address")

    return limited


def sign_in_limit(per_minute: int, pages: tuple[str, ...], storage: Storage | None = None
                  ) -> Callable[[Request, Callable[[Request], Awaitable[Response]]],
                                Awaitable[Response]]:
    """An HTTP middleware: at most per_minute sign-in attempts a minute from one IP address
    on the Gradio pages at `pages` ('/admin', '/inbox'), so that passwords cannot be
    guessed at speed (and each guess costs a password hash)."""
    limiter = RateLimiter(per_minute, storage, "sign-in-ip")
    paths = {f"{page}/login{end}" for page in pages for end in ("", "/")}

    async def limited(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST" and request.url.path in paths:
            wait = limiter.check(request.client.host if request.client else "?")
            if wait:
                return JSONResponse(
                    {"code": "rate_limited",
                     "message": f"Too many sign-in attempts; please wait {wait} s."},
                    status_code=429, headers={"Retry-After": str(wait)})
        return await call_next(request)

    return limited
