"""Storing and loading a large numpy array on S3 through lamina versus plain boto3.

Against one SeaweedFS server (``weed mini`` on loopback, started here), for each size and
round:

- lamina store: ``ArtifactStore.save(array)`` on the ``s3`` datastore (hash the array
  in memory, HEAD, multipart upload of views of it, the read-cache copy written beside);
- boto3 upload: ``client.upload_file`` of the very bytes lamina stores, from a file
  written (untimed) just before, so in the page cache, by a process that holds the array
  in memory as lamina's does (the same footprint: on this virtual machine a process
  holding 512 MiB more uploaded 512 MiB 0.1-0.2 s slower, 2.62-2.82 s against
  2.47-2.62 s for ``upload_file``);
- lamina load: ``ArtifactStore.load(ref)`` through an empty cache (download hashed as it
  arrives, memory-map);
- boto3 download: ``client.download_file`` of the same object.

Every operation runs in a fresh process so its peak memory and CPU time are its own; the
time is measured inside the process around the operation only. Both sides use the same
transfer settings (8 MiB parts, 10 threads: the defaults of both). Which side goes first
alternates from round to round, over an even number of rounds so that each side goes
first equally often (the first operation of a round follows the preparation of boto3's
file: a save right after it took 2.95-3.38 s at 512 MiB, after another save 2.66-3.05
s). The bucket's first write is made before any measured one, and every operation starts
after a ``sync``. What an operation leaves on the local disk is removed before the next
one starts. Every round is printed and written, with the medians.

Memory is warmed before every operation (``--warm``, the default): just before its clock
starts, the process touches and frees the array's size plus 128 MiB, at most 640 MiB. On
a virtual machine that hands freed memory back to its host, the first touch of memory the
guest does not hold costs a host page fault: writing 512 MiB into the page cache took
0.9-1.3 s that way against 0.11 s in memory touched a moment before, and it fell on
whichever side needed new memory (without the warm-up, the second operation of a round,
mostly: lamina's load 0.77-1.47 s first and 1.7-1.9 s second, boto3's download 0.76-1.32 s
and 1.6-1.9 s). Warmed, each operation starts with the same touched memory free. The cap:
this machine's host takes back freed memory beyond about 1 GiB at once, so a larger
warm-up was handed back while the operation ran (at 1 GiB, 50-130 MiB reported back during
operations, and the times scattered again); above 640 MiB both sides meet new memory
alike. Peak RSS is measured from after the warm-up (Linux: ``VmHWM`` reset through
``/proc/self/clear_refs``).

    python benchmarks/s3_transfer.py --sizes 64,512,2048 --rounds 6   # docs/benchmarks.md
    python benchmarks/s3_transfer.py --quick    # 16 MiB, 1 round
    python benchmarks/s3_transfer.py --no-warm  # without the warm-up, to see the effect
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
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
CHUNK = 8 * MIB  # both libraries' default part size and threshold
CONCURRENCY = 10
WARM_MAX = 640 * MIB  # the warm-up's cap (see the module's docstring)


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK,
                          max_concurrency=CONCURRENCY, use_threads=True)


def _store(endpoint: str, bucket: str, cache: str, timed: list[float] | None = None):
    """The artifact store on the s3 datastore; with ``timed``, the datastore's commit
    calls (the upload part of a save) append their seconds to it."""
    from lamina_datastore_s3.datastore import S3Datastore
    from lamina_datastore_s3.plugin import S3DatastoreOptions

    from lamina.datastore.artifacts import ArtifactStore
    from lamina.datastore.serializers import builtin_serializers

    datastore = S3Datastore(S3DatastoreOptions(
        url=f"s3://{bucket}/bench", endpoint_url=endpoint, cache_dir=cache,
        multipart_threshold=CHUNK, multipart_chunksize=CHUNK, max_concurrency=CONCURRENCY,
    ))
    if timed is not None:
        for method in ("commit_blob", "commit_buffers"):
            setattr(datastore, method, _timing(getattr(datastore, method), timed))
    return ArtifactStore(datastore, builtin_serializers())


def _timing(call, spent: list[float]):
    def timed(*args):
        t0 = time.perf_counter()
        try:
            return call(*args)
        finally:
            spent.append(time.perf_counter() - t0)

    return timed


def warm_memory(nbytes: int) -> None:
    """Touch ``nbytes`` of fresh memory, then free it: the pages the operation is about to
    use (its own, the page cache's, the server's) are ones the machine already holds."""
    if nbytes <= 0:
        return
    block = mmap.mmap(-1, nbytes)
    view = memoryview(block)
    zeros = bytes(MIB)
    try:
        for start in range(0, nbytes, MIB):
            view[start : start + MIB] = zeros[: min(MIB, nbytes - start)]
    finally:
        view.release()
        block.close()


def reset_peak_rss() -> None:
    """From here on, the peak RSS counts only what follows (Linux; elsewhere a no-op and
    the peak includes the warm-up)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss() -> int:
    """This process's peak RSS in bytes (since :func:`reset_peak_rss` on Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def start_clock(args: dict) -> tuple[float, float]:
    """Warm the memory (when asked), reset the peak RSS, and start the clocks: (CPU, wall)."""
    warm_memory(args.get("warm", 0))
    reset_peak_rss()
    return _cpu(), time.perf_counter()


def _array(args: dict):
    """The array of this round: the same bytes in every process that makes it."""
    import numpy as np

    return np.random.default_rng(args["seed"]).integers(0, 255, size=args["size"],
                                                        dtype=np.uint8)


def child(op: str, args: dict) -> dict:
    """One measured operation (in its own process)."""
    import boto3

    result: dict = {"loadavg": os.getloadavg()[0]}
    if op == "prepare":  # the bytes lamina stores, for boto3 to upload (untimed)
        from lamina.datastore.hashing import file_digest
        from lamina.datastore.serializers.numpy import NumpySerializer

        array = _array(args)
        with open(args["path"], "wb") as f:
            NumpySerializer().dump(array, f)
        result["key"], result["bytes"] = file_digest(args["path"])
        return result
    if op == "lamina-save":
        array = _array(args)
        spent: list[float] = []  # the upload part of a save
        store = _store(args["endpoint"], args["bucket"], args["cache"], spent)
        store.datastore.client  # noqa: B018 - created before the clock, as boto3's is
        cpu0, started = start_clock(args)
        ref, created = store.save(array, name="bench")
        result["seconds"] = time.perf_counter() - started
        result["upload_seconds"] = sum(spent)
        assert created
        result["key"] = ref.key
        result["bytes"] = ref.size
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
        cpu0, started = start_clock(args)
        value = store.load(ref)
        result["seconds"] = time.perf_counter() - started
        result["download_seconds"] = sum(fetched)
        assert value.nbytes == args["size"]
    else:
        client = boto3.client("s3", endpoint_url=args["endpoint"])
        held = _array(args) if op == "boto3-upload" else None  # as lamina's save holds it
        cpu0, started = start_clock(args)
        if op == "boto3-upload":
            client.upload_file(args["path"], args["bucket"], args["key"],
                               Config=_transfer_config())
        else:
            client.download_file(args["bucket"], args["key"], args["path"],
                                 Config=_transfer_config())
        result["seconds"] = time.perf_counter() - started
        del held
    result["cpu"] = _cpu() - cpu0  # the operation's, every thread of the process
    result["maxrss"] = peak_rss()
    return result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(op: str, env: dict, **args) -> dict:
    os.sync()  # every operation starts with no dirty pages of the one before pending
    proc = subprocess.run(
        [sys.executable, __file__, "--child", op, json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{op} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one_round(server, env: dict, bucket: str, work: Path, size: int, r: int,
              warm: bool = True) -> dict:
    """Store and load one array both ways; which side goes first alternates by round."""
    source = str(work / f"source-{r}")
    prepared = run_child("prepare", env, path=source, size=size, seed=r)
    args = dict(endpoint=server.endpoint, bucket=bucket,
                warm=min(size + 128 * MIB, WARM_MAX) if warm else 0)
    cache_w, cache_r, down = work / f"cache-w{r}", work / f"cache-r{r}", work / f"down-{r}"
    plain_key = f"plain/{prepared['key']}"
    lamina_key = f"bench/objects/{prepared['key'][:2]}/{prepared['key']}"
    writes = [("lamina-save", dict(cache=str(cache_w), size=size, seed=r)),
              ("boto3-upload", dict(path=source, key=plain_key, size=size, seed=r))]
    reads = [("lamina-load", dict(key=prepared["key"], bytes=prepared["bytes"],
                                  cache=str(cache_r), size=size)),
             ("boto3-download", dict(key=plain_key, path=str(down)))]
    if r % 2:
        writes.reverse()
        reads.reverse()
    # what each operation leaves on the local disk, removed as soon as it is done: every
    # operation starts with the same files in the page cache (a load's 512 MiB left there
    # made the next one meet new memory, as the warm-up describes)
    leaves = {"lamina-save": cache_w, "boto3-upload": Path(source), "lamina-load": cache_r,
              "boto3-download": down}
    result = {}
    for op, extra in writes + reads:
        result[op] = run_child(op, env, **args, **extra)
        _remove(leaves[op])
    assert result["lamina-save"]["key"] == prepared["key"], "lamina stored other bytes"
    admin = server.client()  # the next round starts empty: no content-addressed shortcut
    admin.delete_object(Bucket=bucket, Key=lamina_key)
    admin.delete_object(Bucket=bucket, Key=plain_key)
    return result


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB, one round")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated sizes in MiB (default 64,512,2048)")
    parser.add_argument("--size-mib", type=int, default=None, help="one size in MiB")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per size (default 6: an even number puts each side "
                        "first equally often)")
    parser.add_argument("--doc", default=None, help="write the section to this file")
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True,
                        help="touch and free the array's size + 128 MiB (at most 640 MiB) "
                        "before each operation (default: on; see the module's docstring)")
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

    sizes = [16] if opts.quick else [64, 512, 2048]
    if opts.size_mib:
        sizes = [opts.size_mib]
    if opts.sizes:
        try:
            sizes = [int(part) for part in opts.sizes.split(",") if part.strip()]
        except ValueError:
            parser.error(f"--sizes {opts.sizes!r}: give sizes in MiB separated by commas, "
                         "like --sizes 64,512,2048")
    if not sizes or min(sizes) < 1:
        parser.error(f"--sizes {opts.sizes!r}: every size must be at least 1 MiB")
    rounds = opts.rounds or (1 if opts.quick else 6)
    machine = machine_line()
    work = Path(tempfile.mkdtemp(prefix="lamina-s3-bench-"))
    server = SeaweedServer(work / "server")
    results: dict[int, list[dict]] = {}
    try:
        server.start()
        env = {**clean_aws_env(work), **server.env()}
        bucket = server.make_bucket("bench")
        # the bucket's first write makes its volumes: pay it before any measured write
        server.client().put_object(Bucket=bucket, Key="warm-up", Body=b"x" * MIB)
        for mib in sizes:
            results[mib] = []
            for r in range(rounds):
                res = one_round(server, env, bucket, work, mib * MIB, r, opts.warm)
                results[mib].append(res)
                print(round_line(mib, r, res), flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    command = "python benchmarks/s3_transfer.py" + (" --quick" if opts.quick else "")
    if opts.sizes:
        command += f" --sizes {opts.sizes}"
    elif opts.size_mib:
        command += f" --size-mib {opts.size_mib}"
    if opts.rounds:
        command += f" --rounds {opts.rounds}"
    if not opts.warm:
        command += " --no-warm"
    table = report(results, rounds, command, machine, lamina.__version__, opts.warm,
                   f"boto3 {boto3.__version__} / botocore {botocore.__version__}")
    write_section("s3_transfer", table, **({"doc": Path(opts.doc)} if opts.doc else {}))
    print(table)


def ratios(res: dict) -> tuple[float, float]:
    """lamina / boto3 throughput: (store, load)."""
    return (res["boto3-upload"]["seconds"] / res["lamina-save"]["seconds"],
            res["boto3-download"]["seconds"] / res["lamina-load"]["seconds"])


def round_line(mib: int, r: int, res: dict) -> str:
    up, down = ratios(res)
    return (f"{mib} MiB round {r + 1}: store {res['lamina-save']['seconds']:.2f} s "
            f"(upload {res['lamina-save']['upload_seconds']:.2f}) vs boto3 "
            f"{res['boto3-upload']['seconds']:.2f} s = {up:.2f}x; load "
            f"{res['lamina-load']['seconds']:.2f} s vs boto3 "
            f"{res['boto3-download']['seconds']:.2f} s = {down:.2f}x; "
            f"load average {res['lamina-save']['loadavg']:.1f}")


def report(results: dict[int, list[dict]], rounds: int, command: str, machine: str,
           version: str, warm: bool, boto: str) -> str:
    lines = [
        "## S3 transfer: lamina's s3 datastore vs plain boto3",
        "",
        f"`{command}` — {machine}. SeaweedFS {server_version()} (`weed mini`) on loopback; "
        f"lamina {version} with {boto}; a numpy array (uint8) of each size, "
        f"{CHUNK // MIB} MiB parts, {CONCURRENCY} threads on both sides; {rounds} round(s) "
        "per size, each operation in a fresh process, the side that goes first alternating "
        "from round to round"
        + (", the array's size + 128 MiB (at most 640 MiB) of memory touched and freed "
           "before each (the warm-up: see the script's docstring)" if warm
           else ", no warm-up (`--no-warm`)")
        + ", what each leaves on the local disk removed before the next.",
        "",
        "lamina store = `ArtifactStore.save` (hash in memory + upload + read-cache copy); boto3 upload = "
        "`upload_file` of the same bytes from a file in the page cache, by a process that "
        "holds the array as lamina's does; lamina load = "
        "`ArtifactStore.load` through an empty cache (download + verify + memory-map); "
        "boto3 download = `download_file`. Ratio = lamina's throughput / boto3's (time "
        "boto3 / time lamina); the median row gives the median time of each operation and "
        "the median of the rounds' ratios. Load average at the start of each round.",
        "",
        "| size | round | lamina store | boto3 upload | store ratio | lamina load | "
        "boto3 download | load ratio | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for mib, runs in results.items():
        for r, res in enumerate(runs):
            up, down = ratios(res)
            lines.append(
                f"| {mib:,} MiB | {r + 1} | {res['lamina-save']['seconds']:.2f} s | "
                f"{res['boto3-upload']['seconds']:.2f} s | {up:.2f}x | "
                f"{res['lamina-load']['seconds']:.2f} s | "
                f"{res['boto3-download']['seconds']:.2f} s | {down:.2f}x | "
                f"{res['lamina-save']['loadavg']:.1f} |")

        def med(op: str, field: str = "seconds", runs: list[dict] = runs) -> float:
            return statistics.median(res[op][field] for res in runs)

        # the median of the rounds' ratios: each round pairs two operations run back to
        # back, where a ratio of medians would pair times from different rounds
        up = statistics.median(ratios(res)[0] for res in runs)
        down = statistics.median(ratios(res)[1] for res in runs)
        lines.append(f"| {mib:,} MiB | **median** | {med('lamina-save'):.2f} s | "
                     f"{med('boto3-upload'):.2f} s | **{up:.2f}x** | {med('lamina-load'):.2f} s"
                     f" | {med('boto3-download'):.2f} s | **{down:.2f}x** | |")
        nbytes = mib * MIB
        summary.append(
            f"| {mib:,} MiB | {med('lamina-save', 'upload_seconds'):.2f} s | "
            f"{med('lamina-load', 'download_seconds'):.2f} s | "
            + " | ".join(f"{med(op, 'maxrss') / MIB:,.0f} MiB ({med(op, 'maxrss') / nbytes:.2f}x)"
                         for op in ("lamina-save", "boto3-upload", "lamina-load",
                                    "boto3-download"))
            + " | " + " / ".join(f"{med(op, 'cpu'):.2f}" for op in
                                 ("lamina-save", "boto3-upload", "lamina-load",
                                  "boto3-download")) + " |")
    lines += [
        "",
        "Medians per size: the part of lamina's store that is the upload (HEAD + multipart "
        "+ the read-cache copy; the rest is serializing and hashing the array in memory), the part of lamina's "
        "load that is the download (hashed as it arrives; the rest is mapping the array), "
        "peak RSS of each operation's process (x the array), and CPU seconds of each "
        "(user + system: on a shared machine the steadier measure of what each side costs).",
        "",
        "| size | store: upload | load: download | RSS lamina store | RSS boto3 upload | "
        "RSS lamina load | RSS boto3 download | CPU s (store / upload / load / download) |",
        "|---|---|---|---|---|---|---|---|",
        *summary,
        "",
        "Targets: store >= 0.9x, load >= 0.95x. Both stores' peak RSS include the array, "
        "which both processes hold (a step holds it anyway); the load maps the array "
        "without reading it, so its pages are not counted.",
    ]
    return "\n".join(lines)


def server_version() -> str:
    from s3_util import BIN

    weed = shutil.which("weed", path=str(BIN)) or "weed"
    out = subprocess.run([weed, "version"], capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "?"


if __name__ == "__main__":
    main()
