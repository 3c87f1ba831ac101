"""A 64-bit hash of every string of an Arrow array, computed by numpy over the array's own
buffers (no Python object per value).

Why: the A/B report counts distinct sticky keys and finds outcomes posted twice over logs
of tens of millions of rows. Arrow's hash tables over that many strings cost a few
seconds each (one thread, a cache miss per value); hashing the bytes word by word in
numpy and then sorting or counting plain integers costs a tenth of it.

The hash depends only on the bytes (no per-process seed), so hashes of different chunks
and parts compare. It is not cryptographic: distinct strings collide with
probability about n**2 / 2**65 (1e-8 for a million distinct strings). Callers that must
be exact check the strings of the few equal hashes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_BLOCK = 1 << 18
#: The hash of a null (a fixed value; nulls are told apart by the array's validity).
NULL_HASH = 0


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: every input bit moves every output bit."""
    import numpy as np

    h ^= h >> np.uint64(30)
    h *= np.uint64(_MIX1)
    h ^= h >> np.uint64(27)
    h *= np.uint64(_MIX2)
    h ^= h >> np.uint64(31)
    return h


def hash_strings(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The stable 64-bit hash (int64) of each string of ``values``; a null hashes to
    :data:`NULL_HASH`. Equal strings have equal hashes in any array, chunk or slice."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 0:
            return np.zeros(0, np.int64)
        if values.num_chunks > 1:
            return np.concatenate([hash_strings(c) for c in values.chunks])
        values = values.chunk(0)
    if pa.types.is_dictionary(values.type):
        entries = np.append(hash_strings(values.dictionary), NULL_HASH)  # last: a null's
        index = values.indices.fill_null(len(values.dictionary))
        return entries[index.to_numpy(zero_copy_only=False)]
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    n = len(values)
    if n > _BLOCK:  # in blocks: a dozen temporaries of a block stay in cache and are reused
        return np.concatenate([hash_strings(values.slice(at, _BLOCK))
                               for at in range(0, n, _BLOCK)])
    if n == 0:
        return np.zeros(0, np.int64)
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, width, n + 1, values.offset * np.dtype(width).itemsize)
    starts = offsets[:-1].astype(np.int64)
    lengths = offsets[1:].astype(np.int64) - starts
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    # eight zero bytes past the end, so a word read at any start stays inside the buffer
    padded = np.concatenate([data[int(offsets[0]): int(offsets[-1])], np.zeros(8, np.uint8)])
    starts = starts - int(offsets[0])
    # the 8 bytes starting at each byte offset: an unaligned, overlapping view, no copy
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    h = (lengths.astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)  # "" is not a null
    longest = int(lengths.max())
    with np.errstate(over="ignore"):
        for at in range(0, longest, 8):
            left = lengths - at
            live = left > 0
            word = words[np.where(live, starts + at, 0)]
            bits = np.clip(left, 0, 8).astype(np.uint64) * np.uint64(8)
            # the bytes of this string only: 8 bytes keep all, fewer keep their low bytes
            keep = np.where(bits >= 64, np.uint64(0xFFFFFFFFFFFFFFFF),
                            (np.uint64(1) << (bits & np.uint64(63))) - np.uint64(1))
            mixed = _mix((h ^ (word & keep)) + np.uint64(_GOLDEN))
            h = np.where(live, mixed, h)
        h = _mix(h)
    out = h.view(np.int64)
    if values.null_count:
        out[~_valid(values)] = NULL_HASH
    return out


def _valid(values: pa.Array) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.is_valid(values).to_numpy(zero_copy_only=False)
