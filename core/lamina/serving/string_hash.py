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


def _mix(h: np.ndarray, scratch: np.ndarray) -> None:
    """splitmix64's finalizer, in place: every input bit moves every output bit."""
    import numpy as np

    for shift, factor in ((30, _MIX1), (27, _MIX2), (31, None)):
        np.right_shift(h, np.uint64(shift), out=scratch)
        np.bitwise_xor(h, scratch, out=h)
        if factor is not None:
            np.multiply(h, np.uint64(factor), out=h)


class _Work:
    """The temporaries of one block, allocated once per call: a fresh array per step
    would fault in new pages every time (a third of the time, measured)."""

    def __init__(self, size: int) -> None:
        import numpy as np

        self.starts = np.empty(size, np.int64)
        self.lengths = np.empty(size, np.int64)
        self.left = np.empty(size, np.int64)
        self.live = np.empty(size, bool)
        self.word = np.empty(size, np.uint64)
        self.keep = np.empty(size, np.uint64)
        self.scratch = np.empty(size, np.uint64)


def hash_strings(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The 64-bit hash (int64) of each string of ``values``; a null hashes to
    :data:`NULL_HASH`. Equal strings have equal hashes in any array, chunk or slice."""
    import numpy as np
    import pyarrow as pa

    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out = np.empty(sum(len(c) for c in chunks), np.int64)
    work = _Work(min(len(out), _BLOCK))
    at = 0
    for chunk in chunks:
        _hash_array(chunk, out[at: at + len(chunk)], work)
        at += len(chunk)
    return out


def _hash_array(values: pa.Array, out: np.ndarray, work: _Work) -> None:
    import numpy as np
    import pyarrow as pa

    if pa.types.is_dictionary(values.type):
        entries = np.append(hash_strings(values.dictionary), NULL_HASH)  # last: a null's
        index = values.indices.fill_null(len(values.dictionary))
        np.take(entries, index.to_numpy(zero_copy_only=False), out=out)
        return
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    for at in range(0, len(values), _BLOCK):
        _hash_block(values.slice(at, _BLOCK), out[at: at + _BLOCK], work)
    if values.null_count:
        out[~_valid(values)] = NULL_HASH


#: the low ``i`` bytes of a word
_BYTE_MASKS = tuple((1 << (8 * i)) - 1 for i in range(9))


def _hash_block(values: pa.Array, out: np.ndarray, work: _Work) -> None:
    import numpy as np
    import pyarrow as pa

    n = len(values)
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, width, n + 1, values.offset * np.dtype(width).itemsize)
    first, end = int(offsets[0]), int(offsets[-1])
    starts, lengths = work.starts[:n], work.lengths[:n]
    np.subtract(offsets[:-1], first, out=starts, casting="unsafe")
    np.subtract(offsets[1:], offsets[:-1], out=lengths, casting="unsafe")
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    # a word read at any start must stay inside the buffer: eight bytes past the end
    # (Arrow pads its buffers, so a copy is rare)
    padded = (data[first:] if len(data) >= end + 8
              else np.concatenate([data[first:end], np.zeros(8, np.uint8)]))
    # the 8 bytes starting at each byte offset: an unaligned, overlapping view, no copy
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    masks = np.array(_BYTE_MASKS, np.uint64)
    h = out.view(np.uint64)
    left, live, word, keep, scratch = (work.left[:n], work.live[:n], work.word[:n],
                                       work.keep[:n], work.scratch[:n])
    with np.errstate(over="ignore"):
        np.add(lengths, 1, out=h, casting="unsafe")  # "" is not a null
        np.multiply(h, np.uint64(_GOLDEN), out=h)
        for at in range(0, int(lengths.max()) if n else 0, 8):
            np.subtract(lengths, at, out=left)
            np.greater(left, 0, out=live)
            np.add(starts, at, out=left)
            np.multiply(left, live, out=left)  # a string already ended reads word 0
            np.take(words, left, out=word)
            np.subtract(lengths, at, out=left)
            np.clip(left, 0, 8, out=left)
            np.take(masks, left, out=keep)  # the bytes of this string only
            np.bitwise_and(word, keep, out=word)
            np.bitwise_xor(word, h, out=word)
            np.add(word, np.uint64(_GOLDEN), out=word)
            _mix(word, scratch)
            np.copyto(h, word, where=live)
        _mix(h, scratch)


def _valid(values: pa.Array) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.is_valid(values).to_numpy(zero_copy_only=False)
