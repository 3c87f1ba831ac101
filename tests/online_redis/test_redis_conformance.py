"""The Redis online store passes the online-store conformance suite on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lamina.testing.online_store import OnlineStoreSuite


class TestRedisOnlineStore(OnlineStoreSuite):
    @pytest.fixture
    def online_store(self, redis_url: str, redis_prefix: str) -> Iterator[Any]:
        from lamina_online_redis.store import RedisOnlineStore

        store = RedisOnlineStore(redis_url, prefix=redis_prefix)
        yield store
        store.close()
