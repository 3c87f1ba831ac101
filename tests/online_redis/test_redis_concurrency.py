"""Two serving processes read while a materialization writes: neither ever sees an entity
with values from two different rows (each row is written by one atomic script)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import redis

FEATURES = ["a", "b", "c", "d", "e"]
KEYS = 300
ROUNDS = 30

READER = """
import json, sys, time
from lamina_online_redis.store import RedisOnlineStore

url, prefix = sys.argv[1], sys.argv[2]
store = RedisOnlineStore(url, prefix=prefix)
client = store._client
keys = [(k,) for k in range(%(keys)d)]
features = %(features)r
reads = torn = 0
versions = set()
print("ready", flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline and not client.exists(prefix + ":stop"):
    for key, (event, values) in store.read("live__v1", features, keys).items():
        reads += 1
        versions.add(event)
        # every value of a row equals its event time: a mix means a half-written entity
        if any(v != event for v in values) or len(set(values)) != 1:
            torn += 1
print(json.dumps({"reads": reads, "torn": torn, "versions": len(versions)}), flush=True)
store.close()
"""


def test_readers_never_see_a_half_written_entity(redis_url: str, redis_prefix: str) -> None:
    from lamina_online_redis.store import RedisOnlineStore

    script = READER % {"keys": KEYS, "features": FEATURES}
    readers = [subprocess.Popen([sys.executable, "-c", script, redis_url, redis_prefix],
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in readers:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        writer = RedisOnlineStore(redis_url, prefix=redis_prefix, batch=100)
        for round_ in range(1, ROUNDS + 1):
            # a materialization: every key gets a new row whose values all equal its time
            rows = [((k,), round_, round_, *([round_] * len(FEATURES))) for k in range(KEYS)]
            writer.write("live__v1", FEATURES, rows)
            time.sleep(0.01)  # let the readers interleave with the next round's writes
        client = redis.Redis.from_url(redis_url)
        client.set(f"{redis_prefix}:stop", 1)
        client.close()
        results = [json.loads(proc.communicate(timeout=180)[0].splitlines()[-1])
                   for proc in readers]
        final = writer.read("live__v1", FEATURES, [(k,) for k in range(KEYS)])
        writer.close()
    finally:
        for proc in readers:
            if proc.poll() is None:
                proc.kill()
    for result in results:
        assert result["reads"] > 0
        assert result["torn"] == 0, result
    # the readers did read while the writes went on: they saw several versions
    assert max(r["versions"] for r in results) > 1, results
    assert all(v == (ROUNDS, tuple([ROUNDS] * len(FEATURES))) for v in final.values())
