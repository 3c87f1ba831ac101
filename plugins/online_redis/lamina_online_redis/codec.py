"""How keys and feature values are written in Redis: one tagged byte string per value, so
an int, a float, a string and None read back as what was written."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from typing import Any


def encode_key(key: tuple) -> str:
    """An entity key as text: JSON of its values, so ``(1,)`` and ``("1",)`` differ."""
    return json.dumps(list(key), separators=(",", ":"), default=str)


def encode_value(value: Any) -> bytes:
    """A feature value as tagged bytes (``i42``, ``f0.5``, ``soslo``, ``n`` for None);
    a ``TypeError`` naming the type for a value of any other kind."""
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, int):
        return b"i%d" % value
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, str):
        return b"s" + value.encode()
    if isinstance(value, dt.datetime):
        return b"t" + value.isoformat().encode()
    if isinstance(value, dt.date):
        return b"d" + value.isoformat().encode()
    if isinstance(value, decimal.Decimal):
        return b"D" + str(value).encode()
    if isinstance(value, bytes):
        return b"x" + value
    item = getattr(value, "item", None)  # a numpy scalar
    if callable(item):
        return encode_value(item())
    raise TypeError(type(value).__name__)


_DECODE: dict[int, Callable[[bytes], Any]] = {
    ord("i"): lambda b: int(b),
    ord("f"): lambda b: float(b),
    ord("s"): lambda b: b.decode(),
    ord("b"): lambda b: b == b"1",
    ord("t"): lambda b: dt.datetime.fromisoformat(b.decode()),
    ord("d"): lambda b: dt.date.fromisoformat(b.decode()),
    ord("D"): lambda b: decimal.Decimal(b.decode()),
    ord("x"): lambda b: bytes(b),
}


def decode_value(raw: bytes | None) -> Any:
    """The value :func:`encode_value` wrote (None for a missing field)."""
    if raw is None or raw == b"n":
        return None
    return _DECODE[raw[0]](raw[1:])
