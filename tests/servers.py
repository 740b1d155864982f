"""What the tests that start real servers share: a free loopback port, the Debian package
a test needs (skipped without it, required where CI sets REQUIRE_<NAME>_TESTS=1), and one
chat message to a running kefu."""

from __future__ import annotations

import os
import socket
from typing import TypeVar

import httpx
import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require(found: T | None, name: str, package: str) -> T:
    """found (a path to the program); without it, skip the calling test or module, or fail
    when REQUIRE_<NAME>_TESTS=1 (CI installs the package, so its tests must run)."""
    if found:
        return found
    install = f"apt-get install {package}"
    if os.environ.get(f"REQUIRE_{name}_TESTS") == "1":
        raise RuntimeError(f"{package} is missing: {install}")
    pytest.skip(f"{package} is not installed ({install})", allow_module_level=True)


def ask(base: str, message: str, session_id: str | None = None,
        timeout: float = 60.0) -> tuple[dict, str]:
    """One chat message on a new connection (so a load balancer or the OS may hand it to
    any worker): the reply, and the worker that answered (X-Kefu-Worker). Anything but 200
    raises httpx.HTTPStatusError with the reply's text."""
    with httpx.Client(base_url=base, timeout=timeout) as client:
        reply = client.post("/api/v1/chat", json={"message": message,
                                                  "session_id": session_id})
    if reply.status_code != 200:
        raise httpx.HTTPStatusError(f"{reply.status_code}: {reply.text[:500]}",
                                    request=reply.request, response=reply)
    return reply.json(), reply.headers["X-Kefu-Worker"]
