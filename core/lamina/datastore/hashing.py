"""BLAKE3 content addressing: hash bytes as they are written, re-hash files in parallel.

Object keys are the lowercase hex BLAKE3 (32-byte digest) of an object's bytes. Every
datastore stores object ``KEY`` under ``objects/KEY[:2]/KEY`` (:func:`object_key`), so
that a store written by one backend can be copied to another and still be read.

Why BLAKE3 and not SHA-256: an artifact is hashed on every save and every verified read,
so the hash bounds both. BLAKE3 is a tree hash, as collision-resistant as SHA-256 for
this use, runs at about 2x SHA-256's speed on one core (SIMD) and spreads a big buffer or
file over all cores. Objects written by earlier versions, which addressed by SHA-256, are
still read: a key that does not match its bytes' BLAKE3 is checked against their SHA-256
(:func:`legacy_digest`) before the object is called corrupt.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from typing import IO, Any

from blake3 import blake3

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: The name of the content hash, as shown to users next to a key.
ALGORITHM = "blake3"

#: How many bytes a single write hands to the file and the hash at a time; big buffers
#: are sliced (zero-copy) so that no step ever needs a second copy of a big value. Small
#: enough that a slice is still in the CPU cache when it is written after being hashed:
#: with 8 MiB slices, saving a 1 GB table cost twice the CPU time.
CHUNK = 1024 * 1024

#: In-memory buffers at least this big are hashed on every core.
_THREADED_MIN = 8 * CHUNK


def new_hash() -> Any:
    """A fresh incremental content hash (``update``/``hexdigest``), for one thread."""
    return blake3()


def is_object_key(key: str) -> bool:
    """Whether ``key`` has the shape of an object key (64 lowercase hex digits)."""
    return bool(_HEX64.fullmatch(key))


def check_object_key(key: str) -> str:
    """``key`` if it is an object key; else the error a datastore backend raises for it."""
    if not is_object_key(key):
        from lamina.errors import DatastoreError

        raise DatastoreError(
            f"object key {key!r} is not 64 lowercase hex digits (the {ALGORITHM} of the "
            "object's bytes)",
            hint="objects are named by the hash of their bytes; store values through "
            "ArtifactStore, which computes it",
        )
    return key


def object_key(key: str) -> str:
    """The datastore-relative path of object ``key``: ``objects/ab/abcdef...``."""
    return f"objects/{key[:2]}/{key}"


def bytes_digest(data: bytes | bytearray | memoryview) -> str:
    """Hex content hash (object key) of in-memory bytes; a big buffer uses every core."""
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    threads = blake3.AUTO if size >= _THREADED_MIN else 1
    return str(blake3(data, max_threads=threads).hexdigest())


def buffers_digest(buffers: Any) -> str:
    """Hex content hash of the concatenation of ``buffers`` (no copy is made); a big one is
    hashed on every core."""
    total = sum(memoryview(b).nbytes for b in buffers)
    digest = blake3(max_threads=blake3.AUTO if total >= _THREADED_MIN else 1)
    for buffer in buffers:
        digest.update(buffer)
    return str(digest.hexdigest())


class TableDigest:
    """The content hash of an Arrow table fed batch by batch (``update``), equal to
    :func:`table_digest` of the whole table: a source can hash batches as they arrive
    (on another thread) instead of after the read."""

    #: rows per hashed batch: the same batches whatever the input's chunking
    STEP = 64 * 1024

    def __init__(self, schema: Any) -> None:
        import pyarrow as pa

        self._hash = new_hash()
        outer = self

        class _Sink(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: Any) -> int:
                view = memoryview(b).cast("B")
                outer._hash.update(view)
                return len(view)

        self._schema = schema
        self._writer = pa.ipc.new_stream(_Sink(), schema)
        self._pending: list[Any] = []
        self._rows = 0
        self._done: str | None = None

    def update(self, batch: Any) -> None:
        """Add the next rows (a record batch or a table of this schema)."""
        import pyarrow as pa

        batches = batch.to_batches() if isinstance(batch, pa.Table) else [batch]
        for b in batches:
            if b.num_rows:
                self._pending.append(b)
                self._rows += b.num_rows
            while self._rows >= self.STEP:
                self._emit(self.STEP)

    def _emit(self, rows: int) -> None:
        import pyarrow as pa

        table = pa.Table.from_batches(self._pending, schema=self._schema)
        piece = table.slice(0, rows)
        # one batch whose buffers hold only its own values: a copy of at most one batch,
        # never of the table, and the same bytes however the rows were chunked
        self._writer.write_batch(pa.RecordBatch.from_arrays(
            [_compact(column) for column in piece.columns], schema=self._schema))
        rest = table.slice(rows)
        self._pending = rest.to_batches() if rest.num_rows else []
        self._rows -= rows

    def hexdigest(self) -> str:
        """The hash (the stream is closed: no more rows may be added)."""
        if self._done is None:
            if self._rows:
                self._emit(self._rows)
            self._writer.close()
            self._done = str(self._hash.hexdigest())
        return self._done


def table_digest(table: Any) -> str:
    """The content hash of an Arrow table: BLAKE3 of its IPC stream, written in batches
    of 64 Ki rows, so no second copy of the table is made. Two reads of the same rows in
    the same order with the same schema have the same digest, whatever their chunking
    (:class:`TableDigest` computes it batch by batch)."""
    digest = TableDigest(table.schema)
    digest.update(table)
    return digest.hexdigest()


def _compact(column: Any) -> Any:
    """One chunked column as one array whose buffers hold only its own values (a copy of
    at most one batch), so equal values hash equally however they were chunked."""
    import pyarrow as pa

    return pa.concat_arrays([*column.chunks, pa.array([], type=column.type)])


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hex content hash and size of a file, memory-mapped and hashed on every core
    (never read whole into memory); read in chunks where a file cannot be mapped."""
    size = os.path.getsize(path)
    digest = blake3(max_threads=blake3.AUTO)
    try:
        digest.update_mmap(path)
        return str(digest.hexdigest()), size
    except (OSError, ValueError):  # not mappable (a pipe, a special file system)
        pass
    digest = blake3()
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
    return str(digest.hexdigest()), size


def legacy_digest(path: str | os.PathLike[str] | None, data: bytes | None) -> str:
    """The SHA-256 that earlier versions used as the object key, of ``data`` or of the file:
    consulted only when an object does not match its BLAKE3 key."""
    if data is not None:
        return hashlib.sha256(data).hexdigest()
    assert path is not None
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _byte_view(data: Any) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.ndim != 1 or view.format not in ("B", "b", "c"):
        view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    return view


def _second_core_free() -> bool:
    """Whether a second thread is likely to get a core for the hash: more than one core
    for this process, and a 1-minute load average (which counts this process too) of at
    most twice the cores. Where the system cannot tell, yes.

    Measured on 2 cores, saving a 1 GB Arrow table against feather's time: at load 4 two
    threads took 1.32x and one thread 1.41x (the second thread finds idle moments); at
    load 7, 1.56x and 1.35x (each of the thousand hand-overs per GB waited for the other
    thread to get a core back)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux only
    cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    if cores < 2:
        return False
    loadavg = getattr(os, "getloadavg", None)  # not on Windows
    if loadavg is None:
        return True
    try:
        return bool(loadavg()[0] <= 2 * cores)
    except OSError:
        return True


def _hash_and_write(digest: Any, write: Any, view: memoryview) -> None:
    """Feed ``view`` to ``write`` and to the hash in CHUNK slices, each slice hashed and
    written while it is still in the CPU cache (on this kind of machine a second pass
    over a big buffer in memory cost more than the hash itself).

    For a big buffer, when a second core is free (:func:`_second_core_free`), the calling
    thread writes the slices in order and hands each, once written, to a helper thread
    that hashes it (both release the GIL): the save costs about max(write, hash), not
    their sum. The writer leads and never waits for the hash: the queue between them
    holds views of the caller's buffer, not copies, so it may grow without costing memory.

    On a busier machine one thread hashes and writes each slice in turn: there, two
    threads were slower than one (see :func:`_second_core_free`). An earlier version
    always used two threads, the hash leading and the writer following through a queue
    of 8 slices: 1.16x feather's time on an idle machine, 1.6x at load 1.4."""
    total = view.nbytes
    if total < PARALLEL_MIN or not _second_core_free():
        for start in range(0, total, CHUNK):
            chunk = view[start : start + CHUNK]
            digest.update(chunk)
            write(chunk)
        return
    import queue
    import threading

    slices: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()

    def hasher() -> None:
        while (chunk := slices.get()) is not None:
            digest.update(chunk)

    thread = threading.Thread(target=hasher, name="lamina-hash", daemon=True)
    thread.start()
    try:
        for start in range(0, total, CHUNK):
            chunk = view[start : start + CHUNK]
            write(chunk)
            slices.put(chunk)  # in order: the hash sees the bytes as the file does
    finally:
        slices.put(None)
        thread.join()  # the digest is whole (or the write failed) before anyone reads it


#: Writes at least this big write and hash in parallel (see _hash_and_write).
PARALLEL_MIN = 16 * CHUNK


_FALLOC_FL_KEEP_SIZE = 1
_fallocate: Any = None  # libc's fallocate, looked up on the first big write; False: none


def reserve(file: Any, offset: int, nbytes: int) -> bool:
    """Allocate the disk blocks of ``file``'s bytes ``[offset, offset + nbytes)`` before
    they are written (Linux ``fallocate`` with ``FALLOC_FL_KEEP_SIZE``: the file's size
    does not change, and nothing is written). Returns whether it was done; where the
    system or the file system cannot, nothing happens (never glibc's emulation, which
    writes zeros).

    Why: on ext4 the same 1 GB write into the page cache cost from 0.26 s to 1.9 s of CPU
    from one process to the next, depending on what the rest of the machine was writing
    (delayed block allocation); with its blocks reserved first it cost 0.20-0.22 s every
    time. A big artifact's size is known when it is written, so it is reserved."""
    global _fallocate
    if _fallocate is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            function = libc.fallocate
            function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            function.restype = ctypes.c_int
            _fallocate = function
        except (OSError, AttributeError):  # not Linux
            _fallocate = False
    if not _fallocate or nbytes <= 0:
        return False
    try:
        fd = file.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return bool(_fallocate(fd, _FALLOC_FL_KEEP_SIZE, offset, nbytes) == 0)


class HashingWriter(io.RawIOBase):
    """A write-only file that hashes every byte on its way to the wrapped file.

    Serializers write straight into it, so a value is hashed and stored in one pass
    without the serialized bytes ever being held in memory. It deliberately has no
    ``fileno()``: a library that found one would write around the hash.
    """

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__()
        self._file = file
        self._hash = new_hash()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        view = _byte_view(data)
        total = view.nbytes
        if total >= PARALLEL_MIN:
            try:
                reserve(self._file, self._file.tell(), total)
            except (AttributeError, OSError, ValueError):  # not a seekable file
                pass
        _hash_and_write(self._hash, self._file.write, view)
        self.size += total
        return total

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        # ``close()`` flushes too, also when the writer is collected after its owner
        # closed the wrapped file: nothing is left to flush then.
        if not self.closed and not self._file.closed:
            self._file.flush()

    def hexdigest(self) -> str:
        """The content hash (object key) of everything written so far."""
        return self._hash.hexdigest()


#: Serialized values up to this size are kept in memory, hashed, and written in one call
#: (no staged file unless the datastore needs one); bigger ones spill to a staged file.
SMALL_OBJECT = 1024 * 1024


class SpillingHashWriter(HashingWriter):
    """A :class:`HashingWriter` that keeps the bytes in memory until they exceed
    ``limit``, then moves them to the file ``open_spill()`` returns and streams the rest.

    Most task results are a few bytes: for them a save costs no temporary file at all.
    """

    def __init__(self, open_spill: Any, limit: int = SMALL_OBJECT) -> None:
        self._memory: bytearray | None = bytearray()
        self._open_spill = open_spill
        self._limit = limit
        io.RawIOBase.__init__(self)
        self._hash = new_hash()
        self.size = 0
        self.spilled_file: IO[bytes] | None = None

    @property
    def in_memory(self) -> bytes | None:
        """The bytes written so far if they never spilled, else None."""
        return bytes(self._memory) if self._memory is not None else None

    def _sink(self, chunk: memoryview) -> None:
        if self._memory is not None:
            if len(self._memory) + chunk.nbytes <= self._limit:
                self._memory += chunk
                return
            self.spilled_file = self._open_spill()
            self.spilled_file.write(self._memory)
            self._memory = None
        assert self.spilled_file is not None
        self.spilled_file.write(chunk)

    def write(self, data: Any) -> int:  # type: ignore[override]
        view = _byte_view(data)
        total = view.nbytes
        if total >= PARALLEL_MIN:  # big: to the file at once, its blocks reserved first
            if self._memory is not None:
                self.spilled_file = self._open_spill()
                self.spilled_file.write(self._memory)
                self._memory = None
            reserve(self.spilled_file, self.size, total)  # the file holds every byte so far
        _hash_and_write(self._hash, self._sink, view)
        self.size += total
        return total

    def flush(self) -> None:
        # As above: the staged file may have been closed by its owner already.
        if self.spilled_file is not None and not self.spilled_file.closed:
            self.spilled_file.flush()


# -- stamps: skip re-hashing a big object nobody touched since it was hashed -----------------

#: Objects at least this big are stamped when committed; smaller ones are always re-hashed.
STAMP_MIN_SIZE = 8 * 1024 * 1024
_STAMP_ATTR = "user.lamina.blake3"


def _stamp_value(key: str, st: os.stat_result) -> bytes:
    return f"{key}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()


def stamp(path: str, key: str) -> bool:
    """Record on the file (an extended attribute) that its bytes hash to ``key`` as of its
    current size, inode and modification time. Call only right after hashing the bytes.
    Returns False where extended attributes are not supported (reads then re-hash)."""
    setxattr = getattr(os, "setxattr", None)
    if setxattr is None:
        return False
    try:
        setxattr(path, _STAMP_ATTR, _stamp_value(key, os.stat(path)))
        return True
    except OSError:
        return False


def stamp_matches(path: str, key: str) -> bool:
    """Whether the file still carries a stamp for ``key`` and was not written, truncated or
    replaced since (same size, inode and modification time)."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return False
    try:
        return bool(getxattr(path, _STAMP_ATTR) == _stamp_value(key, os.stat(path)))
    except OSError:
        return False
