"""The data layer's core: content addressing, integrity checks and serializers, built on
top of any :class:`lamina.interfaces.Datastore`.

A datastore backend only moves bytes (:mod:`lamina.interfaces.datastore`); everything that
must be right for every backend (hashing, verification, choosing a serializer, lifecycle
hooks) lives here, in :class:`lamina.datastore.artifacts.ArtifactStore`.
"""

from lamina.datastore.hashing import (
    HashingWriter,
    bytes_digest,
    file_digest,
    is_object_key,
    object_key,
)

__all__ = ["HashingWriter", "bytes_digest", "file_digest", "is_object_key", "object_key"]
