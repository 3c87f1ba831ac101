"""SHA-256 content addressing: hash bytes as they are written, re-hash files in chunks.

Object keys are the lowercase hex SHA-256 of an object's bytes. Every datastore stores
object ``KEY`` under ``objects/KEY[:2]/KEY`` (:func:`object_key`), so that a store written
by one backend can be copied to another and still be read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from typing import IO, Any

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: How many bytes a single write hands to the file and the hash at a time; big buffers
#: are sliced (zero-copy) so that no step ever needs a second copy of a big value.
CHUNK = 8 * 1024 * 1024


def is_object_key(key: str) -> bool:
    """Whether ``key`` has the shape of an object key (64 lowercase hex digits)."""
    return bool(_HEX64.fullmatch(key))


def object_key(key: str) -> str:
    """The datastore-relative path of object ``key``: ``objects/ab/abcdef...``."""
    return f"objects/{key[:2]}/{key}"


def bytes_sha256(data: bytes | bytearray | memoryview) -> str:
    """Hex SHA-256 of in-memory bytes."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hex SHA-256 and size of a file, read in chunks (never whole into memory)."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(1024 * 1024)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


class HashingWriter(io.RawIOBase):
    """A write-only file that hashes every byte on its way to the wrapped file.

    Serializers write straight into it, so a value is hashed and stored in one pass
    without the serialized bytes ever being held in memory. It deliberately has no
    ``fileno()``: a library that found one would write around the hash.
    """

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__()
        self._file = file
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        total = view.nbytes
        for start in range(0, total, CHUNK):
            chunk = view[start : start + CHUNK]
            self._hash.update(chunk)
            self._file.write(chunk)
        self.size += total
        return total

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if not self.closed:
            self._file.flush()

    def hexdigest(self) -> str:
        """The SHA-256 of everything written so far."""
        return self._hash.hexdigest()
