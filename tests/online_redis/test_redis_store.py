"""The Redis online store behind a feature store: materialization, the TTL at its boundary
(at lookup and as Redis expiry), idempotence, branch-qualified tables, bad options."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import redis
from redis_util import HOUR_US, now_hour_us, redis_project, write_source

from lamina.errors import BackendUnreachableError, FeatureStoreError
from lamina.features import get_store
from lamina.stack import load_stack

US = dt.timedelta(microseconds=1)
EPOCH = dt.datetime(1970, 1, 1)


def at(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def store_for(project: Path):  # type: ignore[no-untyped-def]
    import importlib.util

    stack = load_stack(cwd=project)
    store = get_store(stack)
    spec = importlib.util.spec_from_file_location("defs", project / "features.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    store.apply([module.driver, module.stats, module.service])
    return store


def test_materialize_and_ttl_at_the_boundary(tmp_path: Path, redis_url: str,
                                             redis_prefix: str) -> None:
    t = now_hour_us() - HOUR_US  # an hour ago: the 2 h TTL keeps it alive in Redis
    project = redis_project(tmp_path, redis_url, redis_prefix)
    write_source(project, [(1, t - HOUR_US, t - HOUR_US, 0.1, 1),
                           (1, t, t, 0.5, 5), (1, t, t + 1, 0.6, 6),  # tie: created later wins
                           (2, t, t, 0.2, 2)])
    store = store_for(project)
    assert "redis online store" in store.check()
    assert store.materialize(None, at(t + 1)) == {"stats": 2}
    rows = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}]
    got = store.get_online_features("driver_service", rows, now=at(t))
    assert got == {"driver_id": [1, 2, 3], "rate": [0.6, 0.2, None], "trips": [6, 2, None]}
    ttl = 2 * HOUR_US
    # exactly ttl old still counts, a microsecond more does not
    assert store.get_online_features(["stats:rate"], rows[:1], now=at(t + ttl))["rate"] == [0.6]
    assert store.get_online_features(["stats:rate"], rows[:1],
                                     now=at(t + ttl + 1))["rate"] == [None]
    # the same boundary as Redis expiry: the key lives through event + ttl (ms resolution)
    online = store.online
    table = store._online_table(store._view("stats"), store.registry.get("feature_view", "stats"))
    client = redis.Redis.from_url(redis_url)
    assert client.pexpiretime(online.key(table, (1,))) == (t + ttl) // 1000 + 1
    # idempotent: the same window again writes the same rows and changes nothing
    assert store.materialize(None, at(t + 1)) == {"stats": 2}
    assert store.get_online_features("driver_service", rows, now=at(t))["rate"] == [0.6, 0.2, None]
    assert len(list(client.scan_iter(match=f"{redis_prefix}:*"))) == 2
    client.close()
    store.close()


@pytest.mark.parametrize("expire", [True, False])
def test_rows_past_their_ttl_leave_redis(tmp_path: Path, redis_url: str, redis_prefix: str,
                                         expire: bool) -> None:
    t = now_hour_us()
    project = redis_project(tmp_path, redis_url, redis_prefix, expire=expire)
    # driver 1's newest row is 3 h old, past the 2 h TTL: with expiry Redis drops it at once
    write_source(project, [(1, t - 3 * HOUR_US, t - 3 * HOUR_US, 0.1, 1), (2, t, t, 0.2, 2)])
    store = store_for(project)
    assert store.materialize(None, at(t + 1)) == {"stats": 2}
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{redis_prefix}:*"))
    rows = [{"driver_id": 1}, {"driver_id": 2}]
    # a lookup as of 3 h ago would still accept driver 1's row by its TTL
    past = store.get_online_features(["stats:rate"], rows, now=at(t - 3 * HOUR_US))["rate"]
    if expire:
        assert [k.rsplit(":", 1)[1] for k in keys] == ["[2]"]
        assert past == [None, 0.2]
    else:
        assert [k.rsplit(":", 1)[1] for k in keys] == ["[1]", "[2]"]
        assert past == [0.1, 0.2]
        assert client.pexpiretime(keys[0]) == -1  # no expiry set
    # at the current time the TTL at lookup hides driver 1 either way
    assert store.get_online_features(["stats:rate"], rows, now=at(t))["rate"] == [None, 0.2]
    client.close()
    store.close()


def test_keys_are_prefix_table_and_key(redis_url: str, redis_prefix: str) -> None:
    from lamina_online_redis.store import RedisOnlineStore

    store = RedisOnlineStore(redis_url, prefix=redis_prefix)
    # the table comes from the feature store (qualified there for a branch), as given
    assert store.key("churn.alice.stats__ab12", (1, "fi")) == (
        f'{redis_prefix}:churn.alice.stats__ab12:[1,"fi"]')
    assert store.key("stats__ab12", ("1",)) != store.key("stats__ab12", (1,))
    store.close()


def test_bad_options_and_unreachable_server_are_named(tmp_path: Path) -> None:
    from lamina_online_redis.store import RedisOnlineStore

    project = redis_project(tmp_path / "bad", "http://127.0.0.1:1/0", "p")
    with pytest.raises(FeatureStoreError, match=r"online_options \(redis\).*url.*redis://"):
        get_store(load_stack(cwd=project)).online  # noqa: B018
    store = RedisOnlineStore("redis://:secret@127.0.0.1:1/0", socket_timeout=2)
    with pytest.raises(BackendUnreachableError, match=r"redis://:\*\*\*\*@127.0.0.1:1/0") as err:
        store.check()
    assert "secret" not in str(err.value)
    assert "online_options.url" in (err.value.hint or "")
    store.close()


def test_a_value_of_an_unsupported_type_is_named(redis_url: str, redis_prefix: str) -> None:
    from lamina_online_redis.store import RedisOnlineStore

    store = RedisOnlineStore(redis_url, prefix=redis_prefix)
    with pytest.raises(FeatureStoreError, match=r"table .t__v1., feature .f.: cannot write a value of type object"):
        store.write("t__v1", ["f"], [((1,), 1, 1, object())])
    store.close()


def test_without_the_plugin_the_error_names_the_distribution(tmp_path: Path) -> None:
    from lamina.features import LocalFeatureStore
    from lamina.features.options import FeatureStoreOptions

    # a store built without a stack knows only the builtin sqlite online store
    store = LocalFeatureStore(FeatureStoreOptions(online_store="redis"), root=tmp_path)
    with pytest.raises(FeatureStoreError, match="online store 'redis' is not offered") as err:
        store.online  # noqa: B018
    assert err.value.hint == "pip install lamina-online-redis"
