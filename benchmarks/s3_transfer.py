"""Storing and loading a large numpy artifact on S3 through lamina versus plain boto3.

Against one SeaweedFS server (``weed mini`` on loopback, started here), rounds alternate:

- lamina store: ``ArtifactStore.save(array)`` on the ``s3`` datastore (serialize + hash
  into a staged file, HEAD, multipart upload);
- boto3 upload: ``client.upload_file`` of the very bytes lamina stored;
- lamina load: ``ArtifactStore.load(ref)`` through an empty cache (download, re-hash,
  memory-map);
- boto3 download: ``client.download_file`` of the same object.

Every operation runs in a fresh process so its peak memory (``ru_maxrss``) is its own;
the time is measured inside the process around the operation only. Both sides use the
same transfer settings (16 MiB parts, 10 threads). Medians over the rounds.

    python benchmarks/s3_transfer.py            # 1 GiB, 3 rounds, writes docs/benchmarks.md
    python benchmarks/s3_transfer.py --quick    # 16 MiB, 1 round
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT / "tests" / "s3")]

MIB = 1024 * 1024
CHUNK = 16 * MIB
CONCURRENCY = 10


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK,
                          max_concurrency=CONCURRENCY, use_threads=True)


def _store(endpoint: str, bucket: str, cache: str):
    from lamina_datastore_s3.datastore import S3Datastore
    from lamina_datastore_s3.plugin import S3DatastoreOptions

    from lamina.datastore.artifacts import ArtifactStore
    from lamina.datastore.serializers import builtin_serializers

    datastore = S3Datastore(S3DatastoreOptions(
        url=f"s3://{bucket}/bench", endpoint_url=endpoint, cache_dir=cache,
        multipart_threshold=CHUNK, multipart_chunksize=CHUNK, max_concurrency=CONCURRENCY,
    ))
    return ArtifactStore(datastore, builtin_serializers())


def child(op: str, args: dict) -> dict:
    """One measured operation (in its own process)."""
    import boto3

    result: dict = {}
    if op == "lamina-save":
        import numpy as np

        array = np.random.default_rng(args["seed"]).integers(
            0, 255, size=args["size"], dtype=np.uint8)
        store = _store(args["endpoint"], args["bucket"], args["cache"])
        store.datastore.client  # noqa: B018 - created before the clock, as boto3's is
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        commit = store.datastore.commit_blob
        spent: list[float] = []

        def timed_commit(staged: str, key: str) -> bool:  # the upload part of a save
            t0 = time.perf_counter()
            try:
                return commit(staged, key)
            finally:
                spent.append(time.perf_counter() - t0)

        store.datastore.commit_blob = timed_commit
        started = time.perf_counter()
        ref, created = store.save(array, name="bench")
        result["seconds"] = time.perf_counter() - started
        result["upload_seconds"] = sum(spent)
        assert created
        result["key"] = ref.key
        result["bytes"] = ref.size
        result["path"] = store.datastore.blob_path(ref.key)  # kept from the upload
        result["rss_before"] = base * 1024
    elif op == "lamina-load":
        import numpy  # noqa: F401 - imported before the clock, like the client

        from lamina.records import ArtifactRef

        store = _store(args["endpoint"], args["bucket"], args["cache"])
        store.datastore.client  # noqa: B018
        store.serializers.get("numpy.npy")
        ref = ArtifactRef(key=args["key"], serializer="numpy.npy", size=args["bytes"])
        fetch = store.datastore.blob_path
        fetched: list[float] = []

        def timed_fetch(key: str) -> str:  # the download part of a load
            t0 = time.perf_counter()
            try:
                return fetch(key)
            finally:
                fetched.append(time.perf_counter() - t0)

        store.datastore.blob_path = timed_fetch
        started = time.perf_counter()
        value = store.load(ref)
        result["seconds"] = time.perf_counter() - started
        result["download_seconds"] = sum(fetched)
        assert value.nbytes == args["size"]
    else:
        client = boto3.client("s3", endpoint_url=args["endpoint"])
        started = time.perf_counter()
        if op == "boto3-upload":
            client.upload_file(args["path"], args["bucket"], args["key"],
                               Config=_transfer_config())
        else:
            client.download_file(args["bucket"], args["key"], args["path"],
                                 Config=_transfer_config())
        result["seconds"] = time.perf_counter() - started
    result["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def run_child(op: str, env: dict, **args) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", op, json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{op} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB, one round")
    parser.add_argument("--size-mib", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--doc", default=None, help="write the section to this file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(child(opts.child[0], json.loads(opts.child[1]))))
        return

    import boto3
    import botocore
    from report import machine_line, write_section
    from s3_util import SeaweedServer, clean_aws_env

    import lamina

    size = (opts.size_mib or (16 if opts.quick else 1024)) * MIB
    rounds = opts.rounds or (1 if opts.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="lamina-s3-bench-"))
    server = SeaweedServer(work / "server")
    samples: dict[str, list[dict]] = {k: [] for k in
                                      ("lamina-save", "boto3-upload", "lamina-load", "boto3-download")}
    try:
        server.start()
        env = {**clean_aws_env(work), **server.env()}
        bucket = server.make_bucket("bench")
        admin = server.client()
        for r in range(rounds):
            cache = str(work / f"cache-w{r}")
            saved = run_child("lamina-save", env, endpoint=server.endpoint, bucket=bucket,
                              cache=cache, size=size, seed=r)
            lamina_key = f"bench/objects/{saved['key'][:2]}/{saved['key']}"
            plain_key = f"plain/{saved['key']}"
            pair = [
                ("boto3-upload", dict(path=saved["path"], key=plain_key)),
                ("lamina-load", dict(key=saved["key"], bytes=saved["bytes"],
                                     cache=str(work / f"cache-r{r}"), size=size)),
                ("boto3-download", dict(key=plain_key, path=str(work / f"down-{r}"))),
            ]
            samples["lamina-save"].append(saved)
            for op, extra in pair:
                samples[op].append(run_child(op, env, endpoint=server.endpoint,
                                             bucket=bucket, **extra))
            # next round starts empty: no content-addressed shortcut, no cached file
            admin.delete_object(Bucket=bucket, Key=lamina_key)
            admin.delete_object(Bucket=bucket, Key=plain_key)
            for path in (cache, work / f"cache-r{r}", work / f"down-{r}"):
                shutil.rmtree(path, ignore_errors=True) if Path(path).is_dir() else (
                    Path(path).unlink(missing_ok=True))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    def med(op: str, field: str = "seconds") -> float:
        return statistics.median(s[field] for s in samples[op])

    nbytes = samples["lamina-save"][0]["bytes"]
    up_ratio = med("boto3-upload") / med("lamina-save")
    down_ratio = med("boto3-download") / med("lamina-load")
    mb = nbytes / 1e6

    def row(op: str, what: str) -> str:
        mem = med(op, "maxrss")
        return (f"| {what} | {med(op):.2f} s | {mb / med(op):.0f} MB/s | {mem / MIB:.0f} MiB "
                f"({mem / nbytes:.2f}x) |")

    command = "python benchmarks/s3_transfer.py" + (" --quick" if opts.quick else "")
    if opts.size_mib:
        command += f" --size-mib {opts.size_mib}"
    if opts.rounds:
        command += f" --rounds {opts.rounds}"
    table = "\n".join([
        "## S3 transfer: lamina's s3 datastore vs plain boto3",
        "",
        f"`{command}` — {machine_line()}. SeaweedFS {server_version()} (`weed mini`) on "
        f"loopback; lamina {lamina.__version__} with boto3 {boto3.__version__} / botocore "
        f"{botocore.__version__}; a {nbytes / MIB:,.0f} MiB numpy array (uint8), "
        f"{CHUNK // MIB} MiB parts, {CONCURRENCY} threads on both sides; median of "
        f"{rounds} alternating round(s), each operation in a fresh process.",
        "",
        "| operation | time | throughput | peak RSS (x artifact) |",
        "|---|---|---|---|",
        row("lamina-save", "lamina store (`ArtifactStore.save`: serialize + hash + upload)"),
        row("boto3-upload", "boto3 `upload_file` (same bytes)"),
        row("lamina-load", "lamina load (`ArtifactStore.load`: download + verify + mmap)"),
        row("boto3-download", "boto3 `download_file`"),
        "",
        f"Of lamina's store, {med('lamina-save', 'upload_seconds'):.2f} s is the upload "
        "(HEAD + multipart); the rest is serializing and hashing into the staged file. "
        f"Of lamina's load, {med('lamina-load', 'download_seconds'):.2f} s is the download "
        "into the read cache; the rest is verifying the hash and mapping the array.",
        "",
        f"Throughput ratio lamina / boto3: store **{up_ratio:.2f}x**, load "
        f"**{down_ratio:.2f}x** (target >= 0.8). The store's peak RSS includes the array "
        "itself, which the step holds in memory anyway.",
    ])
    write_section("s3_transfer", table, **({"doc": Path(opts.doc)} if opts.doc else {}))
    print(table)


def server_version() -> str:
    from s3_util import BIN

    weed = shutil.which("weed", path=str(BIN)) or "weed"
    out = subprocess.run([weed, "version"], capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "?"


if __name__ == "__main__":
    main()
