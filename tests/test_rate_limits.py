"""Rate limits counted in one process, or in a real Redis shared by several workers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kefu.agent.factory import build_agent
from kefu.config import LLMSettings, ServerSettings, StoreSettings
from kefu.errors import ConfigError
from kefu.ui.app import create_app
from kefu.ui.limits import RateLimiter, limit_storage
from tests.redis_server import redis_server


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


def test_a_limit_counts_each_key_apart_and_says_how_long_to_wait():
    limiter = RateLimiter(2)
    assert [limiter.check("a"), limiter.check("a"), limiter.check("b")] == [0, 0, 0]
    assert 1 <= limiter.check("a") <= 60


def test_workers_without_redis_count_apart_and_with_redis_together(redis_url):
    alone = [RateLimiter(3), RateLimiter(3)]  # two workers, each its own memory
    assert [w.check("1.2.3.4") for w in alone * 2] == [0, 0, 0, 0]
    shared = [RateLimiter(3, limit_storage(redis_url)) for _ in range(2)]
    assert [shared[0].check("1.2.3.4"), shared[1].check("1.2.3.4"),
            shared[0].check("1.2.3.4")] == [0, 0, 0]
    assert shared[1].check("1.2.3.4") > 0 and shared[0].check("1.2.3.4") > 0
    other = RateLimiter(3, limit_storage(redis_url), scope="session")
    assert other.check("1.2.3.4") == 0  # another limit's count is its own


def test_two_servers_sharing_redis_refuse_an_address_over_its_limit(settings, tiny_kb,
                                                                     redis_url):
    settings = settings.model_copy(update={
        "server": ServerSettings(kb="tiny", rate_per_ip=3),
        "store": StoreSettings(redis_url=redis_url.replace("/0", "/1")),
        "llm": LLMSettings(backend="none")})
    apps = [create_app(settings, build_agent(settings, kb=tiny_kb), warm=False)
            for _ in range(2)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        codes = [client.post("/api/v1/chat", json={"message": "hi"}).status_code
                 for client in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]


def test_an_unreachable_redis_serves_customers_and_logs_it(caplog):
    limiter = RateLimiter(1, limit_storage("redis://127.0.0.1:1/0"))
    assert [limiter.check("a"), limiter.check("a")] == [0, 0]
    assert "rate limit not checked" in caplog.text


def test_a_storage_address_kefu_cannot_use_is_a_config_error():
    with pytest.raises(ConfigError, match="store.redis_url"):
        limit_storage("nosuch://127.0.0.1:1")
