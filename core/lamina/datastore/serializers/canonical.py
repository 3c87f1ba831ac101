"""Canonical pickles: the same value gives the same bytes in every process and machine.

Why: artifacts are addressed by the hash of their bytes, and pickle's bytes depend on
*object identity*, not only on the value. Pickle writes an object the first time it sees it
and a back-reference (``BINGET``) every later time, keyed by ``id()``. Two equal strings
that happen to be one object in one process (a literal in the code, an interned name) and
two objects in another (each read from the datastore) therefore pickle to different bytes:
a dict holding a fitted model and its config hashed differently locally and on Airflow,
``lamina diff`` reported a change that was none, and cache keys downstream stopped matching.

The fix is a normal form for the identity of immutable atoms. The value is pickled once
with big buffers (numpy arrays and the like) passed out of band, so nothing big is copied;
that stream is read back by an unpickler that makes every equal ``str``, ``bytes`` and
tuple of such atoms one object (:class:`CanonicalUnpickler`); the result is pickled again.
In the canonical value equal atoms are always shared, so the back-references, and with them
the bytes, no longer depend on the history of the process. Sharing of mutable objects (two
references to one list) is part of the value and is kept as it is.

Limits, documented in ``docs/artifacts.md``: a ``set`` or ``frozenset`` of strings is
written in its iteration order, which depends on the process's string hashing
(``PYTHONHASHSEED``), so return a sorted list or tuple where the hash must be stable; a value
whose own ``__reduce__`` is not deterministic (it writes a timestamp, a random id) stays so.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

#: Types a pickle stream holds by value: canonical when they are equal.
_ATOM_TYPES = (str, bytes, int, float, bool, complex, type(None))


def _atom_key(value: Any) -> Any:
    """A hashable key equal for equal atoms of the same type (``1``, ``1.0`` and ``True``
    differ; ``0.0`` and ``-0.0`` differ), or None when ``value`` is not an atom."""
    kind = type(value)
    if kind is float:
        return (kind, value.hex())
    if kind is tuple:
        parts = []
        for item in value:
            key = _atom_key(item)
            if key is None:
                return None
            parts.append(key)
        return (kind, tuple(parts))
    if kind is complex:
        return (kind, value.real.hex(), value.imag.hex())
    if kind in _ATOM_TYPES:
        return (kind, value)
    return None


class CanonicalUnpickler(pickle._Unpickler):
    """An unpickler that returns one object for all equal strings, bytes and tuples of
    atoms in a stream (the pure-Python unpickler, whose opcodes can be extended)."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    stack: list[Any]

    def __init__(self, file: IO[bytes], *, buffers: Any = None) -> None:
        super().__init__(file, buffers=buffers)
        self._atoms: dict[Any, Any] = {}

    def _share_top(self) -> None:
        value = self.stack[-1]
        key = _atom_key(value)
        if key is not None:
            self.stack[-1] = self._atoms.setdefault(key, value)


def _sharing(opcode: bytes) -> None:
    load = pickle._Unpickler.dispatch[opcode[0]]  # type: ignore[attr-defined]

    def load_shared(self: Any) -> None:
        load(self)
        self._share_top()

    CanonicalUnpickler.dispatch[opcode[0]] = load_shared


for _name in (
    "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
):
    _sharing(getattr(pickle, _name))


def canonical_value(value: Any, *, protocol: int) -> Any:
    """``value`` rebuilt through a pickle round trip with equal atoms shared. Big buffers
    (protocol 5 ``PickleBuffer``) are passed out of band: the rebuilt arrays are views of
    the original memory, never copies."""
    import cloudpickle

    if type(value) in _ATOM_TYPES:
        return value  # one atom: nothing to share
    buffers: list[pickle.PickleBuffer] = []
    stream = cloudpickle.dumps(value, protocol=protocol, buffer_callback=buffers.append)
    return CanonicalUnpickler(io.BytesIO(stream), buffers=buffers).load()


def canonical_dump(value: Any, file: IO[bytes], *, protocol: int) -> None:
    """Write the canonical pickle of ``value`` to ``file``: equal values, equal bytes."""
    import cloudpickle

    cloudpickle.dump(canonical_value(value, protocol=protocol), file, protocol=protocol)
