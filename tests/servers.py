"""What the tests that start real servers share: a free loopback port, and the Debian
package a test needs (skipped without it, required where CI sets REQUIRE_<NAME>_TESTS=1)."""

from __future__ import annotations

import os
import socket
from typing import TypeVar

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
