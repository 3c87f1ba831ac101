"""The data layer: where bytes live.

The core builds content addressing, serializers, integrity checks and run records on top
of these few primitives, so a new backend (S3, GCS, an in-house object store) implements
storage only, and gets everything else right for free.

Keys are ``/``-separated relative paths (``objects/ab/abcd...``, ``runs/R/tasks/s/0.json``).
"""

from __future__ import annotations

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
