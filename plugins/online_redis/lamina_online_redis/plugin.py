"""The ``redis`` online store: options and registration.

Imported whenever lamina collects plugins, so it holds only the options class; redis-py is
imported when a feature store builds the online store.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.sdk import OnlineStoreSpec, hookimpl


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"url {value!r} is not a Redis URL: write redis://HOST:PORT/DB")


def _prefix(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"prefix {value!r} must be a non-empty word without spaces")


@attrs.frozen
class RedisOnlineOptions:
    """Options of the ``redis`` online store (``online_options`` of a feature store).

    :param url: ``redis://HOST:PORT/DB`` (``rediss://`` for TLS). No password here: use
        ``password``.
    :param password: the server's password when it asks for one; write ``"${VAR}"`` (or
        put it in ``lamina.secrets.toml``). Never printed.
    :param prefix: the first part of every key (``PREFIX:TABLE:KEY``), so several projects
        share one server; the feature store names the table (view, version and, on a
        branch, the branch).
    :param expire: set each key's Redis expiry to when its row turns older than the view's
        TTL, so stale rows leave memory; lookups apply the TTL either way.
    :param batch: rows written per pipeline (one round trip each).
    :param socket_timeout: seconds to wait for the server.
    """

    url: str = attrs.field(default="redis://127.0.0.1:6379/0", validator=_url)
    password: str | None = None
    prefix: str = attrs.field(default="lamina", validator=_prefix)
    expire: bool = True
    batch: int = attrs.field(default=1000, validator=_positive)
    socket_timeout: float = attrs.field(default=10.0, validator=_positive)


def _redis_online(options: RedisOnlineOptions, stack: Any) -> Any:
    from lamina_online_redis.store import RedisOnlineStore

    return RedisOnlineStore(options.url, prefix=options.prefix, password=options.password,
                            expire=options.expire, batch=options.batch,
                            socket_timeout=options.socket_timeout)


@hookimpl
def lamina_online_stores() -> list[OnlineStoreSpec]:
    return [
        OnlineStoreSpec(
            name="redis",
            config=RedisOnlineOptions,
            factory=_redis_online,
            description="newest values per key in Redis, shared by every serving process",
        )
    ]
