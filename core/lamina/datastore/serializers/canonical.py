"""Canonical pickles: the same value gives the same bytes in every process and machine.

Why: artifacts are addressed by the hash of their bytes, and pickle's bytes depend on
*object identity*, not only on the value. Pickle writes an object the first time it sees it
and a back-reference (``BINGET``) every later time, keyed by ``id()``. Two equal strings
that happen to be one object in one process (a literal in the code, an interned name, a
one-letter string) and two objects in another (each read from the datastore) therefore
pickle to different bytes: a dict holding a fitted model and its config hashed differently
locally and on Airflow, ``lamina diff`` reported a change that was none, and cache keys
downstream stopped matching.

The fix is a memo keyed by *value* for immutable atoms: :class:`CanonicalPickler` (the
pure-Python pickler with cloudpickle's reductions) writes every equal ``str``, ``bytes`` and
tuple of such atoms once and refers back to it after, whichever objects hold them,
including the strings an object's ``__reduce__`` makes up while it is being pickled. Sharing
of mutable objects (two references to one list) is part of the value and is kept as it
is. Big buffers (numpy arrays) are written straight from their memory, never copied.

Limits, documented in ``docs/artifacts.md``: a ``set`` or ``frozenset`` of strings is
written in its iteration order, which depends on the process's string hashing
(``PYTHONHASHSEED``), so return a sorted list or tuple where the hash must be stable; a value
whose own ``__reduce__`` is not deterministic (it writes a timestamp, a random id) stays so;
the pure-Python pickler follows about a quarter of the nesting depth the C one does.
"""

from __future__ import annotations

import pickle
from typing import IO, Any

#: Types a pickle stream holds by value: canonical when they are equal.
_ATOM_TYPES = (str, bytes, int, float, bool, complex, type(None))
#: Types whose objects pickle memoizes, and which are shared by value here.
_SHARED_TYPES = (str, bytes, tuple)
#: In-band buffers at least this big are written from their memory, not copied first.
_LARGE_BUFFER = 64 * 1024


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


#: Lists of at least this many numbers are written in bulk (the per-item path of the
#: pure-Python pickler costs microseconds an item).
_BULK_MIN = 32
_NUMBERS = (int, float, bool, type(None))


def _number_ops(items: list[Any]) -> bytes:
    """The opcodes of ``items`` (exact ints, floats, bools, None), as pickle writes them."""
    import struct

    out: list[bytes] = []
    for x in items:
        kind = type(x)
        if kind is float:
            out.append(pickle.BINFLOAT + struct.pack(">d", x))
        elif kind is bool:
            out.append(pickle.NEWTRUE if x else pickle.NEWFALSE)
        elif x is None:
            out.append(pickle.NONE)
        elif 0 <= x <= 0xFF:
            out.append(pickle.BININT1 + struct.pack("<B", x))
        elif 0 <= x <= 0xFFFF:
            out.append(pickle.BININT2 + struct.pack("<H", x))
        elif -0x80000000 <= x <= 0x7FFFFFFF:
            out.append(pickle.BININT + struct.pack("<i", x))
        else:
            encoded = pickle.encode_long(x)  # type: ignore[attr-defined]
            size = len(encoded)
            out.append(pickle.LONG1 + struct.pack("<B", size) + encoded if size < 256
                       else pickle.LONG4 + struct.pack("<i", size) + encoded)
    return b"".join(out)


def _pickler_class() -> type:
    """The canonical pickler: Python's own pickler, taught cloudpickle's reductions
    (functions and classes defined in ``__main__`` or a notebook are pickled by value)."""
    import cloudpickle

    base: Any = cloudpickle.Pickler
    python_pickler: Any = pickle._Pickler  # type: ignore[attr-defined]

    class CanonicalPickler(python_pickler):  # type: ignore[misc,valid-type]
        dispatch = dict(python_pickler.dispatch)
        dispatch_table = base.dispatch_table
        reducer_override = base.reducer_override
        _function_reduce = base._function_reduce
        _dynamic_function_reduce = base._dynamic_function_reduce
        _function_getnewargs = base._function_getnewargs

        def __init__(self, file: IO[bytes], protocol: int) -> None:
            super().__init__(file, protocol=protocol)
            self.globals_ref: dict[int, Any] = {}
            self._atoms: dict[Any, Any] = {}

        def save(self, obj: Any, save_persistent_id: bool = True) -> None:
            if type(obj) in _SHARED_TYPES:
                key = _atom_key(obj)
                if key is not None:
                    obj = self._atoms.setdefault(key, obj)  # kept alive: its id is stable
            super().save(obj, save_persistent_id)

        def save_picklebuffer(self, obj: pickle.PickleBuffer) -> None:
            # Python's own version memoizes a temporary bytes object: two empty buffers
            # are then one object (b"" is a singleton) and its memo check fails. Here the
            # bytes are written from the buffer's memory and the buffer is memoized.
            with obj.raw() as view:
                size = view.nbytes
                if not view.readonly:
                    header = pickle.BYTEARRAY8 + size.to_bytes(8, "little")
                elif size < 256:
                    header = pickle.SHORT_BINBYTES + size.to_bytes(1, "little")
                elif size <= 0xFFFFFFFF:
                    header = pickle.BINBYTES + size.to_bytes(4, "little")
                else:
                    header = pickle.BINBYTES8 + size.to_bytes(8, "little")
                if size >= _LARGE_BUFFER:
                    self._write_large_bytes(header, view)
                else:
                    self.write(header + view.tobytes())
            self.memoize(obj)

        dispatch[pickle.PickleBuffer] = save_picklebuffer

        def save_list(self, obj: list[Any]) -> None:
            if len(obj) < _BULK_MIN or not all(type(x) in _NUMBERS for x in obj):
                python_pickler.save_list(self, obj)
                return
            self.write(pickle.EMPTY_LIST)
            self.memoize(obj)
            for start in range(0, len(obj), 1000):  # the batches pickle itself writes
                chunk = obj[start:start + 1000]
                if len(chunk) == 1:
                    self.write(_number_ops(chunk) + pickle.APPEND)
                else:
                    self.write(pickle.MARK + _number_ops(chunk) + pickle.APPENDS)

        dispatch[list] = save_list

    return CanonicalPickler


_PICKLER: type | None = None


#: Values the C pickler writes exactly as the canonical one does (a lone atom has nothing
#: to share), in one call instead of the pure-Python pickler's many: most task results and
#: foreach elements are one of these.
_FAST_TYPES = frozenset((int, float, bool, type(None), str, bytes))
_FAST_MAX = 64 * 1024  # below pickle's frame size: the same framing in both picklers


def canonical_dump(value: Any, file: IO[bytes], *, protocol: int) -> None:
    """Write the canonical pickle of ``value`` to ``file``: equal values, equal bytes."""
    global _PICKLER
    if type(value) in _FAST_TYPES and (
            not isinstance(value, (str, bytes)) or len(value) < _FAST_MAX // 4):
        file.write(pickle.dumps(value, protocol=protocol))
        return
    if _PICKLER is None:
        _PICKLER = _pickler_class()
    _PICKLER(file, protocol).dump(value)


def canonical_dumps(value: Any, *, protocol: int) -> bytes:
    """The canonical pickle of ``value`` as bytes (see :func:`canonical_dump`)."""
    import io

    out = io.BytesIO()
    canonical_dump(value, out, protocol=protocol)
    return out.getvalue()
