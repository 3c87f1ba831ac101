"""Hashing while writing: the bytes that reach the file are the bytes that were hashed."""

from __future__ import annotations

import io
import os
import sys

import pytest
from blake3 import blake3

from lamina.datastore.hashing import PARALLEL_MIN, HashingWriter, SpillingHashWriter


def test_a_big_write_reaches_the_file_whole_and_in_order(tmp_path):
    data = bytes(range(256)) * ((PARALLEL_MIN * 3 + 12345) // 256)
    path = tmp_path / "out"
    with open(path, "wb") as f:
        writer = HashingWriter(f)
        writer.write(b"head")
        writer.write(memoryview(data))
        writer.flush()
    assert path.read_bytes() == b"head" + data
    assert writer.hexdigest() == blake3(b"head" + data).hexdigest()
    assert writer.size == len(data) + 4


class FullDisk(io.RawIOBase):
    def __init__(self, room: int) -> None:
        self.room = room
        self.calls = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.calls += 1
        self.room -= len(data)
        if self.room < 0:
            raise OSError(28, "No space left on device")
        return len(data)


def test_a_failing_write_is_raised_to_the_caller_and_stops_the_writes():
    disk = FullDisk(room=PARALLEL_MIN // 2)
    writer = SpillingHashWriter(lambda: disk, limit=1024)
    with pytest.raises(OSError, match="No space left"):
        writer.write(b"\0" * (PARALLEL_MIN * 4))
    assert disk.calls < PARALLEL_MIN * 4 // (1024 * 1024)  # gave up early


@pytest.mark.parametrize("second_core", [True, False])
def test_both_pipelines_write_and_hash_the_same_bytes(tmp_path, monkeypatch, second_core):
    import lamina.datastore.hashing as hashing

    monkeypatch.setattr(hashing, "_second_core_free", lambda: second_core)
    data = bytes(range(251)) * ((PARALLEL_MIN * 2 + 7777) // 251)
    path = tmp_path / "out"
    with open(path, "wb") as f:
        writer = HashingWriter(f)
        writer.write(memoryview(data))
    assert path.read_bytes() == data
    assert writer.hexdigest() == blake3(data).hexdigest()


def test_the_second_core_is_used_only_when_free(monkeypatch):
    import os

    import lamina.datastore.hashing as hashing

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.9, 0.0, 0.0))
    assert hashing._second_core_free()
    monkeypatch.setattr(os, "getloadavg", lambda: (4.5, 0.0, 0.0))
    assert not hashing._second_core_free()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not hashing._second_core_free()


def test_the_writer_never_waits_for_the_hash(monkeypatch):
    # A hash slower than the writes (a busy core, say): the writes still run at their own
    # pace, and the hash catches up afterwards, slice by slice in order.
    import time

    import lamina.datastore.hashing as hashing
    from lamina.datastore.hashing import CHUNK, _hash_and_write

    monkeypatch.setattr(hashing, "_second_core_free", lambda: True)

    class SlowHash:
        def __init__(self) -> None:
            self.seen = bytearray()
            self.done_at = 0.0

        def update(self, chunk: memoryview) -> None:
            time.sleep(0.01)
            self.seen += chunk
            self.done_at = time.perf_counter()

    data = bytes(range(256)) * (PARALLEL_MIN * 2 // 256)  # 32 slices: 0.32 s of hashing
    written = bytearray()
    last_write = 0.0

    def write(chunk: memoryview) -> None:
        nonlocal last_write
        written.extend(chunk)
        last_write = time.perf_counter()

    digest = SlowHash()
    start = time.perf_counter()
    _hash_and_write(digest, write, memoryview(data))
    assert written == data and digest.seen == data
    assert len(data) // CHUNK == 32
    # every write was done before the hash was half-way (a writer paced by the hash, as
    # when it followed through a queue of 8 slices, finishes 8 slices before the end)
    assert last_write - start < (digest.done_at - start) / 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fallocate is Linux's")
def test_a_big_write_reserves_its_blocks_first_and_keeps_the_size(tmp_path):
    from lamina.datastore.hashing import reserve

    path = tmp_path / "reserved"
    with open(path, "wb") as f:
        f.write(b"head")
        if not reserve(f, 4, 64 * 1024 * 1024):
            pytest.skip("this file system cannot reserve blocks")
        f.flush()
        st = os.stat(path)
        assert st.st_size == 4  # nothing written, the size unchanged
        assert st.st_blocks * 512 >= 64 * 1024 * 1024  # but the blocks are there
    # and through the spilling writer: every byte lands, the size is what was written
    staged = tmp_path / "staged"
    writer = SpillingHashWriter(lambda: open(staged, "wb"), limit=1024)  # noqa: SIM115
    data = bytes(range(256)) * (PARALLEL_MIN // 256 + 3)
    writer.write(b"x" * 100)
    writer.write(memoryview(data))
    assert writer.spilled_file is not None
    writer.spilled_file.close()
    assert staged.read_bytes() == b"x" * 100 + data
    assert writer.hexdigest() == blake3(b"x" * 100 + data).hexdigest()
