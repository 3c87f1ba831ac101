"""The ``redis`` online store: one Redis hash per feature-view table and entity key.

Keys are ``PREFIX:TABLE:KEY`` where ``TABLE`` is the name the feature store gives (the view
and its version, qualified by the feature store for a branch) and ``KEY`` the entity key as
JSON. A hash holds the row's event and created times and one field per feature.

A write is one Lua script per row, run atomically by Redis: it compares the stored event
and created times, replaces the whole hash only with a newer row and sets the key's expiry
to the moment the view's TTL makes the row stale. Rows go in pipelines of ``batch``
scripts, so a materialization costs one round trip per batch; a reader never sees half of
a row, because a script runs alone. A lookup of many keys is one read script per 500
keys (``HMGET`` of each key on the server), pipelined: one round trip, one reply to parse
per 500 keys rather than one per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lamina.sdk import BackendUnreachableError, FeatureStoreError
from lamina_online_redis.codec import decode_value, encode_key, encode_value

#: Hash fields of a row's event and created times (a NUL byte: never a feature's name).
EVENT = b"\x00e"
CREATED = b"\x00c"

# KEYS[1]: the hash. ARGV: event_us, created_us ('' for none), expire-at ms ('' for none),
# then field, value pairs. A stored row is replaced only by a newer one (event time, then
# created time, a missing created time counting as 0); equal rows replace (idempotent).
_UPSERT = """
local cur = redis.call('HMGET', KEYS[1], ARGV[4], ARGV[6])
if cur[1] then
  local e, ne = tonumber(cur[1]), tonumber(ARGV[5])
  if ne < e then return 0 end
  if ne == e and (tonumber(ARGV[7]) or 0) < (tonumber(cur[2]) or 0) then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if ARGV[3] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
"""


# KEYS: the hashes. ARGV: the fields (the event time first). One flat array back, len(ARGV)
# values per key (nil where absent): a whole batch of keys is one command and one reply.
_READ = """
local out, n = {}, 0
for i = 1, #KEYS do
  local values = redis.call('HMGET', KEYS[i], unpack(ARGV))
  for j = 1, #ARGV do
    n = n + 1
    out[n] = values[j]
  end
end
return out
"""
#: Keys per read script; a read of more keys pipelines several scripts (one round trip).
READ_BATCH = 500


def safe_url(url: str) -> str:
    """``url`` with any password in it masked, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:****@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def expire_at_ms(event_us: int, ttl_seconds: float) -> int:
    """The Redis expiry (epoch ms) of a row: the key lives while a lookup could still
    return the row, i.e. through ``event + ttl`` inclusive (a row exactly ``ttl`` old
    still counts at lookup)."""
    return (event_us + round(ttl_seconds * 1_000_000)) // 1000 + 1


class RedisOnlineStore:
    """Implements :class:`lamina.sdk.OnlineStore` on a Redis server.

    :param url: ``redis://HOST:PORT/DB`` (``rediss://`` for TLS).
    :param prefix: the first part of every key, so several projects share one server.
    :param password: the server's password, if it asks for one.
    :param expire: set each key's Redis expiry from the view's TTL (lookups apply the
        TTL either way).
    :param batch: rows per pipeline when writing.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "lamina",
                 password: str | None = None, expire: bool = True, batch: int = 1000,
                 socket_timeout: float = 10.0) -> None:
        import redis

        self.url = url
        self.where = safe_url(url)
        self.prefix = prefix
        self.expire = expire
        self.batch = max(1, batch)
        self._client = redis.Redis.from_url(url, password=password,
                                            socket_timeout=socket_timeout,
                                            socket_connect_timeout=socket_timeout)
        self._upsert = self._client.register_script(_UPSERT)
        self._read = self._client.register_script(_READ)

    def key(self, table: str, key: tuple) -> str:
        """The Redis key of one entity's row of ``table``."""
        return f"{self.prefix}:{table}:{encode_key(key)}"

    def _unreachable(self, exc: Exception) -> BackendUnreachableError:
        return BackendUnreachableError(
            f"redis online store {self.where}: {type(exc).__name__}: {exc}",
            hint="start Redis or fix online_options.url (redis://HOST:PORT/DB) and password",
        )

    def write(self, table: str, features: Sequence[str], rows: Sequence[tuple], *,
              ttl_seconds: float | None = None) -> int:
        """Upsert rows of ``(key, event_us, created_us, *values)``; a newer stored row is
        kept. With ``ttl_seconds`` (and ``expire``) each key expires when its row turns
        older than the TTL."""
        import redis

        names = [f.encode() for f in features]
        expiry = ttl_seconds if self.expire else None
        try:
            for start in range(0, len(rows), self.batch):
                pipe = self._client.pipeline(transaction=False)
                for row in rows[start:start + self.batch]:
                    key, event_us, created_us, *values = row
                    if len(values) != len(names):
                        raise FeatureStoreError(
                            f"redis online store, table {table!r}: a row has {len(values)} "
                            f"values for {len(names)} features",
                            hint="write rows of (key, event_us, created_us, *values)",
                        )
                    args: list[Any] = [
                        event_us, "" if created_us is None else created_us,
                        "" if expiry is None else expire_at_ms(event_us, expiry),
                        EVENT, event_us, CREATED, "" if created_us is None else created_us,
                    ]
                    for name, value in zip(names, values, strict=True):
                        args.append(name)
                        try:
                            args.append(encode_value(value))
                        except TypeError as exc:
                            raise FeatureStoreError(
                                f"redis online store, table {table!r}, feature "
                                f"{name.decode()!r}: cannot write a value of type {exc}",
                                hint="give the feature a number, string, bool, date, time "
                                "or decimal type",
                            ) from None
                    self._upsert(keys=[self.key(table, key)], args=args, client=pipe)
                pipe.execute()
        except redis.RedisError as exc:
            raise self._unreachable(exc) from exc
        return len(rows)

    def read(self, table: str, features: Sequence[str], keys: Sequence[tuple]
             ) -> dict[tuple, tuple[int, tuple]]:
        """For the keys present: key -> (event_us, values in ``features`` order). One
        script of ``HMGET`` per 500 keys, pipelined: one round trip."""
        import redis

        if not keys:
            return {}
        fields = [EVENT, *(f.encode() for f in features)]
        width = len(fields)
        names = [self.key(table, key) for key in keys]
        try:
            if len(names) <= READ_BATCH:
                flat = self._read(keys=names, args=fields)
            else:
                pipe = self._client.pipeline(transaction=False)
                for start in range(0, len(names), READ_BATCH):
                    self._read(keys=names[start:start + READ_BATCH], args=fields, client=pipe)
                flat = [v for reply in pipe.execute() for v in reply]
        except redis.RedisError as exc:
            raise self._unreachable(exc) from exc
        found: dict[tuple, tuple[int, tuple]] = {}
        for i, key in enumerate(keys):
            at = i * width
            event = flat[at]
            if event is None:
                continue
            found[key] = (int(event), tuple(decode_value(v) for v in flat[at + 1:at + width]))
        return found

    def delete_table(self, table: str) -> int:
        """Remove every row of ``table`` (a view version no longer served); keys removed."""
        import redis

        removed = 0
        try:
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=f"{self.prefix}:{table}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += self._client.unlink(*batch)
                    batch = []
            if batch:
                removed += self._client.unlink(*batch)
        except redis.RedisError as exc:
            raise self._unreachable(exc) from exc
        return removed

    def check(self) -> str:
        """Ping the server; one line with its version and the number of keys in its
        database."""
        import redis

        try:
            self._client.ping()
            version = self._client.info("server").get("redis_version", "?")
            size = self._client.dbsize()
        except redis.RedisError as exc:
            raise self._unreachable(exc) from exc
        return (f"redis online store {self.where} (Redis {version}, prefix {self.prefix!r}, "
                f"{size} keys in the database)")

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
