"""Subprocess worker for the datastore tests: each mode does one thing that the parent
test kills, races or measures. Run as ``python ds_worker.py MODE ARGS...``."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import IO, Any

from lamina.builtin.file_datastore import FileDatastore
from lamina.datastore.artifacts import ArtifactStore
from lamina.datastore.serializers import builtin_serializers


class Stuck:
    """A value whose serializer writes half of it, says so, then hangs."""

    def __init__(self, marker: str) -> None:
        self.marker = marker


class HangingSerializer:
    name = "test.hanging"
    priority = 500

    def handles(self, value: Any) -> bool:
        return isinstance(value, Stuck)

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        chunk = b"x" * (1024 * 1024)
        for _ in range(4):
            file.write(chunk)
        file.flush()
        with open(value.marker, "w") as f:
            f.write("halfway")
        time.sleep(120)
        return {}

    def load(self, path: str) -> Any:
        raise AssertionError("never loaded")


def _peak_rss() -> int:
    """This process's own peak RSS. Not ``ru_maxrss``: Linux carries that over from the
    parent across fork and exec, so a big test runner would set the floor."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _datastore(url: str) -> FileDatastore:
    """DS_HARD_LINKS=0: as on a filesystem without hard links (FAT/exFAT, some shares);
    DS_RENAME=locked: and without a no-replace rename either (the lock-file path)."""
    if os.environ.get("DS_RENAME") == "locked":
        from lamina.builtin import file_datastore

        file_datastore._native_rename_noreplace = lambda: None  # type: ignore[assignment]
    hard_links = None if os.environ.get("DS_HARD_LINKS", "1") == "1" else False
    return FileDatastore(url, hard_links=hard_links)


def main(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    store = ArtifactStore(_datastore(url), [HangingSerializer(), *builtin_serializers()])
    if mode == "hang-save":
        store.save(Stuck(argv[2]), name="run/stuck/0")
    elif mode == "save-loop":
        import numpy as np

        i = 0
        while True:  # distinct 16 MiB arrays until killed
            store.save(np.full(2 * 1024 * 1024, float(i)), name=f"run/loop/{i}")
            i += 1
    elif mode == "record-loop":
        key, size = argv[2], int(argv[3])
        i = 0
        while True:  # overwrite the same record with uniform contents until killed
            store.datastore.put_record(key, bytes([i % 256]) * size)
            i += 1
    elif mode == "race":
        prefix, count, who, go = argv[2], int(argv[3]), argv[4], argv[5]
        while not os.path.exists(go):
            time.sleep(0.001)
        won = [
            store.datastore.put_record(f"{prefix}/{i}", who.encode(), exclusive=True)
            for i in range(count)
        ]
        print(json.dumps(won))
    elif mode == "commit-race":  # the same objects, committed by every racer at once
        count, go = int(argv[2]), argv[3]
        from lamina.datastore.hashing import bytes_digest

        payloads = [f"object {i} ".encode() * 4096 for i in range(count)]
        while not os.path.exists(go):
            time.sleep(0.001)
        created = []
        for data in payloads:
            staged = os.path.join(store.datastore.staging_dir(), f"s-{os.getpid()}-{len(created)}")
            with open(staged, "wb") as f:
                f.write(data)
            created.append(store.datastore.commit_blob(staged, bytes_digest(data)))
        print(json.dumps(created))
    elif mode == "big-loop":  # distinct uniform 4 MiB objects until killed
        from lamina.datastore.hashing import bytes_digest

        i = 0
        while True:
            data = bytes([i % 251]) * (4 * 1024 * 1024) + i.to_bytes(8, "big")
            if i % 2:  # both ways an object is written: from memory, and from a staged file
                store.datastore.put_blob(bytes_digest(data), data)
            else:
                staged = os.path.join(store.datastore.staging_dir(), f"b-{i}")
                with open(staged, "wb") as f:
                    f.write(data)
                store.datastore.commit_blob(staged, bytes_digest(data))
            i += 1
    elif mode == "memory":
        import numpy as np

        n, kind = int(argv[2]), argv[3]
        array = np.random.default_rng(0).random(n // 8)
        expected = float(array.sum())
        if kind == "pandas":
            import pandas as pd

            value: Any = pd.DataFrame({"x": array}, copy=False)
        elif kind == "arrow":
            import pyarrow as pa

            value = pa.table({"x": array})
        else:
            value = array
        baseline = _peak_rss()
        ref, created = store.save(value, name="run/big/0")
        after_save = _peak_rss()
        del array, value
        loaded = store.load(ref, name="run/big/0")
        column = loaded if kind == "numpy" else loaded["x"]
        total = float(column.sum() if kind != "arrow" else column.to_numpy().sum())
        after_load = _peak_rss()
        print(
            json.dumps(
                {
                    "baseline": baseline,
                    "after_save": after_save,
                    "after_load": after_load,
                    "created": created,
                    "size": ref.size,
                    "sum_ok": total == expected,
                    "memmap": type(loaded).__name__,
                }
            )
        )
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
