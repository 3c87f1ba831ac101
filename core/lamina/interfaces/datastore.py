"""The data layer: where bytes live.

The core builds content addressing, serializers, integrity checks and run records on top
of these few primitives, so a new backend (S3, GCS, an in-house object store) implements
storage only, and gets everything else right for free.

Keys are ``/``-separated relative paths (``objects/ab/abcd...``, ``runs/R/tasks/s/0.json``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Datastore(Protocol):
    """Storage for immutable blobs and small JSON records."""

    #: The URL users wrote, e.g. ``file:///home/me/project/.lamina`` or ``s3://b/p``.
    url: str

    def staging_dir(self) -> str:
        """A local directory where the core writes a blob before :meth:`commit_blob`.

        For a local store it is on the same filesystem as the objects, so that committing
        is a rename and a big artifact is written exactly once.
        """

    def commit_blob(self, staged_path: str, key: str) -> bool:
        """Make the staged file the object ``key``, atomically; consume the staged file.

        A reader never sees a partial object. If ``key`` already exists the staged file is
        discarded. Returns True if the object was newly written.
        """

    def has_blob(self, key: str) -> bool:
        """Whether object ``key`` exists."""

    def blob_path(self, key: str) -> str:
        """A local file path holding object ``key`` (downloaded to a cache if remote), so
        readers can memory-map it. Raises :class:`lamina.errors.ArtifactNotFoundError`."""

    def put_record(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Write a small record atomically. With ``exclusive``, do nothing and return False
        if it exists (records that must never be overwritten)."""

    def get_record(self, key: str) -> bytes | None:
        """The record's bytes, or None if absent."""

    def list_records(self, prefix: str) -> list[str]:
        """Keys of the records under ``prefix`` (a folder), sorted."""

    def check(self) -> str:
        """Reach the backend (create/read/delete a probe). Return a one-line summary;
        raise :class:`lamina.errors.BackendUnreachableError` saying what is wrong."""


# -- saving from memory ----------------------------------------------------------------


@runtime_checkable
class BufferDatastore(Protocol):
    """A datastore that stores an object from buffers in memory, beyond
    :class:`Datastore`. The artifact store uses it for a big value whose serializer gives
    its bytes as buffers (:class:`lamina.interfaces.BufferSerializer`, e.g. a numpy
    array): the value is hashed in memory and handed over, with no staged file written
    first. A remote store can send the buffers as they are; a store without this method
    gets a staged file and :meth:`Datastore.commit_blob`, as for any other value.
    """

    def commit_buffers(self, buffers: Sequence[memoryview], key: str) -> bool:
        """Make the concatenation of ``buffers`` the object ``key``, atomically, as
        :meth:`Datastore.commit_blob` does with a staged file: a reader never sees a
        partial object, an existing object is kept as it is (False), a new one is written
        (True). ``key`` is the hash of the bytes, computed by the caller. The buffers are
        only read, and not after the call returns or raises."""


# -- retention (lamina gc) ------------------------------------------------------------------


@runtime_checkable
class CollectableDatastore(Protocol):
    """What ``lamina gc`` and ``lamina runs --delete`` need of a datastore, beyond
    :class:`Datastore`. A store without these methods can be read and written, but not
    collected (``lamina gc`` says which method is missing).

    The safety argument (docs/retention.md) rests on two promises: a writer that finds an
    object already stored calls :meth:`touch_blob` (so the object looks young again), and
    :meth:`delete_blob` removes an object only if it was not touched since ``older_than``.
    A store that skips the touch of an object written recently (to save a request) says
    for how long in an optional ``fresh_for`` attribute (seconds); gc then refuses a grace
    period shorter than twice that.
    """

    def scan(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """Stream ``(key, size, mtime)`` of every object or record under the folder
        ``prefix`` (``"objects"``: every object, as ``objects/ab/abcd...``; ``"runs"``:
        every run record; ``""``: every record, never an object), in no particular order, without holding the listing in memory.
        ``mtime`` is seconds since the epoch (the last write or :meth:`touch_blob`)."""

    def touch_blob(self, key: str) -> bool:
        """Make object ``key`` look freshly written (its mtime becomes now), because a
        writer reuses it. False if it is not stored (then the writer stores it again, or
        computes it again)."""

    def delete_blob(self, key: str, *, older_than: float) -> int | None:
        """Delete object ``key`` if its mtime is still before ``older_than`` (epoch
        seconds) at the moment it goes; the bytes freed, or None when it was kept (touched
        since, or already gone). A writer's :meth:`touch_blob` racing with it either
        lands first (the object is kept) or finds the object gone (and stores it again)."""

    def delete_record(self, key: str) -> bool:
        """Remove record ``key``; True if it existed."""
