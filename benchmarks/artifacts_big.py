"""Big artifacts: a 100 MB float64 numpy array saved and loaded (lamina, Metaflow, and the
physical floor: ``np.save`` plus a SHA-256 of the bytes / ``np.load``), and a 1 GB Arrow
table (lamina against ``pyarrow.feather`` on the same disk). Storing the same value twice
must write no new bytes.

The Arrow comparison is paired: each probe process builds the table once, writes 1 GB
to a scratch file (not timed: a process's first big write cost up to 2 s more kernel time
here, whoever made it), then saves the table four times, lamina, feather, feather,
lamina, each into a new folder after ``os.sync()`` (so no save pays for an earlier one's
writeback), and loads each side's file the same way. Both sides thus meet the same load and the same page-cache state, which on a shared
machine varied more between two processes than lamina and feather differ. A run is
``--runs - 2`` probes (at least 1); ``--arrow-runs`` consecutive runs (default 5) are
reported one by one, with the load average at the start of each.

lamina is timed through its artifact store (the code a task runs to save its result and
to load an input), each measurement in a fresh process, median of the runs. Metaflow is
timed inside a flow: the load is the first access of ``self.arr`` in the next step (its
artifacts load lazily), the save is the time between the end of the first step's code and
the start of the next step's, minus the same gap for a flow whose artifact is tiny. "load"
includes summing the array (or every column of the table) so that a lazy, memory-mapped
read pays for reading its bytes. Run from the repository root::

    python benchmarks/artifacts_big.py              # 100 MB array, 1 GB table
    python benchmarks/artifacts_big.py --arrow-only # only the five runs of the 1 GB table
    python benchmarks/artifacts_big.py --quick      # 1 MB / 10 MB, one run, no doc update
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    alternate,
    command_line,
    fmt_s,
    lamina_env,
    median,
    metaflow_built,
    metaflow_env,
    metaflow_python,
    run_timed,
    table,
    versions,
)
from report import machine_line, write_section

# One measurement per process; prints a JSON line. argv: kind, store folder, size.
PROBE = r'''
import hashlib, json, os, sys, time
kind, root, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
if kind in ("np-lamina", "np-floor"):
    import numpy as np
    arr = np.random.default_rng(0).random(size // 8)
    path = os.path.join(root, "floor.npy")
    if kind == "np-floor":
        t = time.perf_counter()
        np.save(path, arr)
        hashlib.sha256(memoryview(arr).cast("B")).hexdigest()
        out["save"] = time.perf_counter() - t
        os.sync()
        t = time.perf_counter()
        float(np.load(path).sum())
        out["load"] = time.perf_counter() - t
        os.unlink(path)
    else:
        from lamina.datastore.artifacts import ArtifactStore
        from lamina.builtin.file_datastore import FileDatastore
        from lamina.datastore.serializers import builtin_serializers
        store = ArtifactStore(FileDatastore(os.path.join(root, "store")), builtin_serializers())
        t = time.perf_counter()
        ref, created = store.save(arr, name="bench/array/0")
        out["save"] = time.perf_counter() - t
        t = time.perf_counter()
        ref2, created2 = store.save(arr, name="bench/array/0")
        out["save_again"] = time.perf_counter() - t
        out["created"], out["created_again"] = created, created2
        os.sync()
        t = time.perf_counter()
        float(store.load(ref, name="bench/array/0").sum())
        out["load"] = time.perf_counter() - t
        out["load_key"] = ref.key
elif kind == "arrow-pair":
    import shutil
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.feather as feather
    import numpy as np
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.builtin.file_datastore import FileDatastore
    from lamina.datastore.serializers import builtin_serializers
    rows = size // 32
    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.random(rows) for i in range(4)})
    def touch(t):
        return sum(pc.sum(t.column(i)).as_py() for i in range(t.num_columns))
    out = {"lamina_save": [], "floor_save": [], "lamina_load": [], "floor_load": []}
    # not timed: the first big write of a process cost up to 2 s more kernel time than
    # the next ones here, whoever made it; without this the first save of the sequence
    # (lamina's) paid for it
    warm = os.path.join(root, "warm-up")
    with open(warm, "wb") as f:
        view = memoryview(table.column(0).chunks[0].buffers()[1])
        for i in range(4):
            f.write(view)
    os.unlink(warm)
    for n, side in enumerate(("lamina", "floor", "floor", "lamina")):
        folder = os.path.join(root, f"{side}{n}")
        os.makedirs(folder)
        os.sync()
        if side == "floor":
            path = os.path.join(folder, "floor.feather")
            t = time.perf_counter()
            feather.write_feather(table, path, compression="uncompressed")
            out["floor_save"].append(time.perf_counter() - t)
            os.sync()
            t = time.perf_counter()
            touch(feather.read_table(path))
            out["floor_load"].append(time.perf_counter() - t)
        else:
            ds = FileDatastore(os.path.join(folder, "store"))
            store = ArtifactStore(ds, builtin_serializers())
            t = time.perf_counter()
            ref, created = store.save(table, name="bench/table/0")
            out["lamina_save"].append(time.perf_counter() - t)
            if "save_again" not in out:
                before = ds.count_objects()
                t = time.perf_counter()
                ref2, created2 = store.save(table, name="bench/table/0")
                out["save_again"] = time.perf_counter() - t
                out["created"], out["created_again"] = created, created2
                out["new_objects"] = ds.count_objects() - before
            os.sync()
            t = time.perf_counter()
            touch(store.load(ref, name="bench/table/0"))
            out["lamina_load"].append(time.perf_counter() - t)
            del store, ds
        shutil.rmtree(folder)
print(json.dumps(out))
'''

# Metaflow: argv size, "big"|"tiny". Prints the gap and the load time from the next step.
METAFLOW_FLOW = '''
import json, os, time
import numpy as np
from metaflow import FlowSpec, Parameter, step


class BigFlow(FlowSpec):
    size = Parameter("size", default=100_000_000)
    tiny = Parameter("tiny", default=False, type=bool)
    seed = Parameter("seed", default=0)

    @step
    def start(self):
        arr = np.random.default_rng(self.seed).random(self.size // 8)
        self.arr = arr[:1].copy() if self.tiny else arr
        self.t_end = time.time()
        self.next(self.load)

    @step
    def load(self):
        now = time.time()
        gap = now - self.t_end
        t = time.perf_counter()
        total = float(self.arr.sum())
        loaded = time.perf_counter() - t
        print("BENCH " + json.dumps({"gap": gap, "load": loaded, "sum": total}))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BigFlow()
'''


def _probe(kind: str, root: Path, size: int) -> dict:
    folder = Path(tempfile.mkdtemp(dir=root))
    out = run_timed([sys.executable, "-c", PROBE, kind, str(folder), str(size)], cwd=folder,
                    env=lamina_env())
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return json.loads(out["stdout"].strip().splitlines()[-1])


def _metaflow(python: str, project: Path, size: int, tiny: bool) -> dict:
    # a new array every run: Metaflow stores artifacts by content, so the same array a
    # second time would skip the write, where every lamina probe stores a new object
    cmd = [python, "big_mf.py", "--no-pylint", "run", "--size", str(size),
           "--seed", str(int.from_bytes(os.urandom(4), "little"))]
    if tiny:
        cmd += ["--tiny", "True"]
    out = run_timed(cmd, cwd=project, env=metaflow_env(project))
    for line in (out["stdout"] + out["stderr"]).splitlines():
        if "BENCH " in line:
            return json.loads(line.split("BENCH ", 1)[1])
    raise RuntimeError(f"no BENCH line in Metaflow's output:\n{out['stdout']}\n{out['stderr']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no doc update")
    parser.add_argument("--runs", type=int, default=None, help="runs per side (default 5)")
    parser.add_argument("--metaflow-runs", type=int, default=None, help="default 3")
    parser.add_argument("--no-metaflow", action="store_true")
    parser.add_argument("--arrow-runs", type=int, default=None,
                        help="consecutive runs of the Arrow comparison (default 5)")
    parser.add_argument("--arrow-only", action="store_true",
                        help="only the Arrow comparison (its own section of the page)")
    args = parser.parse_args(argv)
    np_size = 1_000_000 if args.quick else 100_000_000
    arrow_size = 10_000_000 if args.quick else 1_000_000_000
    runs = args.runs or (1 if args.quick else 5)
    mf_runs = args.metaflow_runs or (1 if args.quick else 3)
    use_mf = not args.no_metaflow and (not args.quick or metaflow_built())
    mf_python = metaflow_python() if use_mf else None

    arrow_runs = args.arrow_runs or (1 if args.quick else 5)
    probes = max(1, runs - 2)
    results: dict[str, list[dict]] = {}
    arrow_results: list[tuple[float, list[dict]]] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:  # same disk as the project
        root = Path(tmp)
        if not args.arrow_only:
            text = _numpy_section(root, results, np_size, runs, mf_python, mf_runs)
            print(text)
            if not args.quick:
                write_section("artifacts-big", text)
        for n in range(1, arrow_runs + 1):
            load = os.getloadavg()[0]
            arrow_results.append(
                (load, [_probe("arrow-pair", root, arrow_size) for _ in range(probes)]))
            _print_arrow_run(n, *arrow_results[-1])
    text = _arrow_section(arrow_results, arrow_size, probes)
    print(text)
    if not args.quick:
        write_section("artifacts-arrow", text)
    return 0


def _numpy_section(root: Path, results: dict[str, list[dict]], np_size: int, runs: int,
                   mf_python: str | None, mf_runs: int) -> str:
    """The 100 MB numpy comparison (lamina, the floor, Metaflow), as Markdown."""
    mf_dir = root / "metaflow"
    mf_dir.mkdir()
    (mf_dir / "big_mf.py").write_text(METAFLOW_FLOW)

    def side(name: str, fn) -> object:
        def call() -> float:
            res = fn()
            results.setdefault(name, []).append(res)
            return 0.0
        return call

    sides = {
        "np-lamina": side("np-lamina", lambda: _probe("np-lamina", root, np_size)),
        "np-floor": side("np-floor", lambda: _probe("np-floor", root, np_size)),
    }
    counts = {"np-lamina": runs, "np-floor": runs}
    if mf_python:
        sides["mf-big"] = side("mf-big", lambda: _metaflow(mf_python, mf_dir, np_size, False))
        sides["mf-tiny"] = side("mf-tiny", lambda: _metaflow(mf_python, mf_dir, np_size, True))
        counts.update({"mf-big": mf_runs, "mf-tiny": mf_runs})
    alternate(sides, counts)  # type: ignore[arg-type]

    def med(name: str, field: str) -> float:
        return median([r[field] for r in results.get(name, [])])

    lam_save, lam_load = med("np-lamina", "save"), med("np-lamina", "load")
    floor_save, floor_load = med("np-floor", "save"), med("np-floor", "load")
    rows = [
        ["lamina", fmt_s(lam_save), fmt_s(lam_load), "", ""],
        ["floor: `np.save` + sha256 / `np.load`", fmt_s(floor_save), fmt_s(floor_load),
         f"{lam_save / floor_save:.2f}", f"{lam_load / floor_load:.2f}"],
    ]
    if mf_python:
        mf_load = med("mf-big", "load")
        mf_save = med("mf-big", "gap") - med("mf-tiny", "gap")
        rows.append(["Metaflow", fmt_s(mf_save), fmt_s(mf_load),
                     f"{mf_save / lam_save:.0f}x slower", f"{mf_load / lam_load:.0f}x slower"])
    again = results["np-lamina"][0]
    return "\n".join([
        "## Big artifacts",
        "",
        f"A {np_size / 1e6:.0f} MB float64 numpy array saved by one step and loaded (and "
        "summed) by the next; lamina through its artifact store in a fresh process, the "
        "floor with plain numpy on the same disk, Metaflow inside a flow (save = the gap "
        "between the two steps minus the same gap with a tiny artifact). Medians.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}; {versions(mf_python)}.",
        "",
        table(["", "save", "load + sum", "save vs lamina", "load vs lamina"], rows),
        "",
        f"Saving the same array again: {fmt_s(again['save_again'])}, new bytes written: "
        f"{'yes' if again['created_again'] else 'none'}.",
        "",
        "Targets: numpy save and load within 2x of the floor and at least 20x faster than "
        "Metaflow; the same value twice writes no new bytes. The 1 GB Arrow table has a "
        "section of its own, below.",
    ])


def _arrow_numbers(probes: list[dict]) -> dict[str, float]:
    """Medians over a run's probes (two saves and two loads per side in each)."""
    return {f: median([v for p in probes for v in p[f]])
            for f in ("lamina_save", "floor_save", "lamina_load", "floor_load")}


def _print_arrow_run(n: int, load: float, probes: list[dict]) -> None:
    m = _arrow_numbers(probes)
    print(f"arrow run {n}: load {load:.1f}, save lamina {fmt_s(m['lamina_save'])} / feather "
          f"{fmt_s(m['floor_save'])} = {m['lamina_save'] / m['floor_save']:.2f}x, load "
          f"{m['lamina_load'] / m['floor_load']:.2f}x", file=sys.stderr, flush=True)


def _arrow_section(arrow_results: list[tuple[float, list[dict]]], arrow_size: int,
                   probes: int) -> str:
    """The consecutive runs of the paired 1 GB Arrow comparison, as Markdown."""
    rows = []
    held = 0
    for n, (load, run) in enumerate(arrow_results, 1):
        m = _arrow_numbers(run)
        ratio = m["lamina_save"] / m["floor_save"]
        held += ratio <= 1.5
        rows.append([str(n), f"{load:.1f}", fmt_s(m["lamina_save"]), fmt_s(m["floor_save"]),
                     f"**{ratio:.2f}x**", fmt_s(m["lamina_load"]), fmt_s(m["floor_load"]),
                     f"{m['lamina_load'] / m['floor_load']:.2f}x"])
    again = arrow_results[0][1][0]
    return "\n".join([
        f"## Big artifacts: a {arrow_size / 1e9:g} GB Arrow table against feather",
        "",
        f"A {arrow_size / 1e9:g} GB Arrow table (4 float64 columns) saved through lamina's "
        "artifact store and with `feather.write_feather` (uncompressed) on the same disk, "
        "then read back with every column summed. Paired: each probe process builds the "
        "table once, writes as many bytes to a scratch file (not timed: a process's first "
        "big write cost up to 2 s more kernel time here), then saves the table lamina, "
        "feather, feather, lamina, each after `os.sync()` into a new folder. "
        f"{len(arrow_results)} consecutive runs of {probes} probe"
        f"{'s' if probes > 1 else ''} each; each row is one run (medians of its saves and "
        "loads), with the 1-minute load average of the 2-CPU machine when it started.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}.",
        "",
        table(["run", "load", "lamina save", "feather save", "save ratio",
               "lamina load + sum", "feather load + sum", "load ratio"], rows),
        "",
        f"Within 1.5x of feather in {held} of {len(arrow_results)} runs. Saving the same "
        f"table again: {fmt_s(again['save_again'])}, new objects: {again['new_objects']}.",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
