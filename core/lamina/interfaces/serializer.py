"""How values become bytes and back. Serializers are plugins too (``lamina_serializers``)."""

from __future__ import annotations

from typing import IO, Any, Protocol, runtime_checkable


@runtime_checkable
class Serializer(Protocol):
    """Turns one family of values into a file and back.

    The first serializer (highest ``priority``) whose :meth:`handles` says yes writes the
    value; its ``name`` is recorded with the artifact and picks the reader later.
    """

    #: Recorded with every artifact it writes, e.g. ``"numpy.npy"``; never change it.
    name: str
    #: Higher wins. Builtins: arrow/pandas/numpy 100, cloudpickle 0 (the fallback).
    priority: int

    def handles(self, value: Any) -> bool:
        """Whether this serializer can write ``value``. Must not import heavy modules
        unless the value's type already comes from them."""

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        """Write ``value`` to ``file`` without building a second in-memory copy of a big
        value. Return cheap facts to record (shape, dtype, rows...)."""

    def load(self, path: str) -> Any:
        """Read the value back from a local file; may memory-map it."""
