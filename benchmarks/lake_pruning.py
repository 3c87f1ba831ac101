"""Partition pruning on S3: a filtered read of one partition of a 100-partition Parquet
lake, through lamina's ``parquet`` source and through bare ``pyarrow.dataset``.

A SeaweedFS server (``weed mini`` on loopback, started here) holds a hive-partitioned
lake (``day=D/``, 100 days, one file each, 6 columns); both readers reach it through a
loopback proxy that counts every byte the server sends (object data, listings, headers),
so "bytes read" is measured at the server's side of the wire, not estimated. Each reader
reads ``filter day == <one day>``; rounds alternate between the two, medians are reported.
The bare reader uses pyarrow's own S3 filesystem, as a user without lamina would.

    python benchmarks/lake_pruning.py            # 100 partitions x 40,000 rows, 5 rounds
    python benchmarks/lake_pruning.py --quick    # 100 partitions x 4,000 rows, 3 rounds
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT / "tests" / "s3")]
from report import machine_line, write_section  # noqa: E402

PARTITIONS = 100
#: The bar from the issue: one partition's read moves less than this share of the lake.
LIMIT = 0.03


class CountingProxy:
    """A loopback TCP proxy that counts the bytes its upstream server sends back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.received = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> int:
        with self._lock:
            count, self.received = self.received, 0
        return count

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(262144):
                if count:
                    with self._lock:
                        self.received += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def day(i: int) -> str:
    return f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}"


def make_lake(source: Any, rows: int) -> None:
    """Write the lake through lamina's source: 100 days, one file each."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(7)
    for i in range(PARTITIONS):
        source.write("events", pa.table({
            "id": pa.array(np.arange(i * rows, (i + 1) * rows), pa.int64()),
            "user": pa.array(rng.integers(0, 1_000_000, rows), pa.int64()),
            "amount": rng.random(rows) * 100,
            "score": rng.random(rows),
            "country": pa.array(rng.choice(["fi", "se", "no", "dk", "is"], rows)),
            "day": pa.array([day(i)] * rows),
        }))


def lake_bytes(fs: Any, path: str) -> int:
    return sum(info["size"] for info in fs.find(path, detail=True).values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small lake, three rounds")
    parser.add_argument("--rows", type=int, default=40_000, help="rows per partition")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--doc", help="write the section into this file instead")
    args = parser.parse_args(argv)
    rows = 4_000 if args.quick else args.rows
    rounds = 3 if args.quick else args.rounds

    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from envs_util import running
    from pyarrow import fs as pafs
    from s3_util import SeaweedServer, clean_aws_env

    from lamina.builtin.data_lakes.common import LakeOptions
    from lamina.builtin.data_lakes.parquet import ParquetSource

    with tempfile.TemporaryDirectory() as folder, \
            running(SeaweedServer(Path(folder) / "weed")) as server:
        os.environ.update({k: v for k, v in {**clean_aws_env(Path(folder)), **server.env(),
                                             "AWS_REGION": "us-east-1"}.items()
                           if k.startswith("AWS_")})
        bucket = server.make_bucket("lake")
        writer = ParquetSource("lake", LakeOptions(url=f"s3://{bucket}/lake",
                                                   endpoint_url=server.endpoint,
                                                   partition_by=("day",)))
        make_lake(writer, rows)
        total = lake_bytes(writer.fs, f"{bucket}/lake/events")
        proxy = CountingProxy(server.port)
        target = day(PARTITIONS // 2)
        expected = rows

        # each reader's client is made before the clock (a step makes it once)
        lamina_source = ParquetSource("lake", LakeOptions(url=f"s3://{bucket}/lake",
                                                          endpoint_url=proxy.endpoint))
        bare_s3 = pafs.S3FileSystem(endpoint_override=proxy.endpoint, scheme="http",
                                    region="us-east-1")

        def lamina_read() -> int:
            got = lamina_source.read(table="events", filter=[("day", "=", target)])
            return int(got.table.num_rows)

        def bare_read() -> int:
            dataset = ds.dataset(f"{bucket}/lake/events", filesystem=bare_s3,
                                 format="parquet", partitioning="hive")
            return int(dataset.to_table(filter=pc.field("day") == target).num_rows)

        readers = {"lamina `parquet` source": lamina_read,
                   "bare pyarrow.dataset (pyarrow S3)": bare_read}
        timings: dict[str, list[float]] = {name: [] for name in readers}
        moved: dict[str, list[int]] = {name: [] for name in readers}
        first: dict[str, float] = {}
        for name, read in readers.items():  # the first read opens the client's connections
            started = time.perf_counter()
            read()
            first[name] = time.perf_counter() - started
        proxy.reset()
        for _ in range(rounds):
            for name, read in readers.items():
                proxy.reset()
                started = time.perf_counter()
                count = read()
                timings[name].append(time.perf_counter() - started)
                moved[name].append(proxy.reset())
                assert count == expected, f"{name} read {count} rows, expected {expected}"
        proxy.close()

    command = "python benchmarks/lake_pruning.py" + (" --quick" if args.quick else "")
    lines = [
        "## Lake partition pruning (Parquet on S3)",
        "",
        f"{machine_line()}. Command: `{command}`.",
        "",
        f"A hive-partitioned Parquet lake on SeaweedFS: {PARTITIONS} partitions (`day=`), "
        f"{rows:,} rows x 6 columns each, {total / 1e6:.1f} MB in all. Each reader reads "
        f"`day == {target}` (one partition, {expected:,} rows); bytes are every byte the S3 "
        "server sent (listings and headers included), counted by a loopback proxy. "
        f"Median of {rounds} rounds, readers alternating, after one first read each (which "
        "also opens the client's connections: s3fs's session start costs lamina's reader "
        "more there).",
        "",
        "| reader | bytes from the server | share of the lake | time (median) | first read |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in readers:
        bytes_read = int(statistics.median(moved[name]))
        lines.append(f"| {name} | {bytes_read:,} | {bytes_read / total:.2%} | "
                     f"{statistics.median(timings[name]) * 1000:.0f} ms | "
                     f"{first[name] * 1000:.0f} ms |")
    share = statistics.median(moved["lamina `parquet` source"]) / total
    lines += ["", f"lamina's read moved {share:.2%} of the lake's bytes: "
              f"{'under' if share < LIMIT else 'OVER'} the {LIMIT:.0%} bar. Its extra time "
              "is what it records: the table's listing through s3fs (sizes and ETags, hashed "
              "into the version) and the content hash of the result; the bytes read are the "
              "same."]
    markdown = "\n".join(lines)
    print(markdown)
    write_section("lake_pruning", markdown, **({"doc": Path(args.doc)} if args.doc else {}))
    return 0 if share < LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
