"""A real Redis for the rate-limit tests: Debian's `redis-server`, on a free loopback port,
nothing saved, stopped at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.browser import free_port


def require_redis() -> str:
    """The redis-server binary; skip without it, unless REQUIRE_REDIS_TESTS=1 (CI)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.environ.get("REQUIRE_REDIS_TESTS") == "1":
        raise RuntimeError("redis-server is missing: apt-get install redis-server")
    pytest.skip("redis-server is not installed (apt-get install redis-server)")


@contextmanager
def redis_server() -> Iterator[str]:
    """A running server; yields its address."""
    import redis

    port = free_port()
    process = subprocess.Popen(
        [require_redis(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
