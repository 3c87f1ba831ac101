"""Run ids: unique, readable, and sorted by creation time as plain strings.

A run id looks like ``20261127T044315123-a1b2c3``: the UTC time to the millisecond, a dash
and six hex digits. Sorting ids as strings sorts runs by when they started, so "newest
first" needs no extra column and a prefix such as ``20261127T04`` selects a time window.

Why they never collide: the six hex digits are the process id scrambled with a hash of
the host name (a bijection on one host, and unrelated values on different hosts), and one
process never hands out two ids in the same millisecond (a second id in the same
millisecond takes the next one). So two processes of one machine cannot make the same
id, and ids from different machines differ in their suffix with overwhelming odds. The
metadata store also refuses a duplicate run id rather than overwrite a run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import threading
import time

RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{9}-[0-9a-f]{6}$")

_lock = threading.Lock()
_last = {"pid": 0, "ms": -1}


@functools.cache
def _host_salt() -> int:
    return int.from_bytes(hashlib.blake2b(socket.gethostname().encode(), digest_size=3).digest())


def _format_ms(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{millis:03d}"


def new_run_id() -> str:
    """A new run id, later (as a string) than every id this process made before.

    A process gets at most one id per millisecond: a burst of calls borrows the following
    milliseconds, so the time in an id can run slightly ahead of the clock in that case.
    """
    with _lock:
        pid = os.getpid()
        if _last["pid"] != pid:  # a forked child has its own suffix and its own sequence
            _last.update(pid=pid, ms=-1)
        ms = max(time.time_ns() // 1_000_000, _last["ms"] + 1)
        _last["ms"] = ms
        suffix = (pid & 0xFFFFFF) ^ _host_salt()
        return f"{_format_ms(ms)}-{suffix:06x}"


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a full run id (not a prefix)."""
    return bool(RUN_ID_PATTERN.match(text))
