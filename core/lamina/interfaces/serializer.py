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


@runtime_checkable
class BufferSerializer(Protocol):
    """A serializer whose output is a few buffers it already holds (a small header, then
    the value's own memory), offered besides :meth:`Serializer.dump`.

    With it, and a datastore that offers
    :meth:`~lamina.interfaces.BufferDatastore.commit_buffers`, a big value is hashed and
    sent from memory, never written to a staged file first.
    """

    def dump_buffers(self, value: Any) -> tuple[list[memoryview], dict[str, Any]] | None:
        """The bytes :meth:`Serializer.dump` would write, as buffers to be concatenated
        in order (views of ``value``'s memory, not copies), and the facts ``dump`` would
        return; or None when that needs a copy (then ``dump`` is used). The caller
        reads the buffers only while ``value`` is alive and unchanged."""
