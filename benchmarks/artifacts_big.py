"""Big artifacts: a 100 MB float64 numpy array saved and loaded (lamina, Metaflow, and the
physical floor: ``np.save`` plus a SHA-256 of the bytes / ``np.load``), and a 1 GB Arrow
table (lamina against ``pyarrow.feather`` on the same disk). Storing the same value twice
must write no new bytes.

lamina is timed through its artifact store (the code a task runs to save its result and
to load an input), each measurement in a fresh process, median of the runs. Metaflow is
timed inside a flow: the load is the first access of ``self.arr`` in the next step (its
artifacts load lazily), the save is the time between the end of the first step's code and
the start of the next step's, minus the same gap for a flow whose artifact is tiny. "load"
includes summing the array (or every column of the table) so that a lazy, memory-mapped
read pays for reading its bytes. Run from the repository root::

    python benchmarks/artifacts_big.py              # 100 MB array, 1 GB table
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
elif kind in ("arrow-lamina", "arrow-floor"):
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.feather as feather
    import numpy as np
    rows = size // 32
    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.random(rows) for i in range(4)})
    def touch(t):
        return sum(pc.sum(t.column(i)).as_py() for i in range(t.num_columns))
    if kind == "arrow-floor":
        path = os.path.join(root, "floor.feather")
        t = time.perf_counter()
        feather.write_feather(table, path, compression="uncompressed")
        out["save"] = time.perf_counter() - t
        os.sync()
        t = time.perf_counter()
        touch(feather.read_table(path))
        out["load"] = time.perf_counter() - t
        os.unlink(path)
    else:
        from lamina.datastore.artifacts import ArtifactStore
        from lamina.builtin.file_datastore import FileDatastore
        from lamina.datastore.serializers import builtin_serializers
        ds = FileDatastore(os.path.join(root, "store"))
        store = ArtifactStore(ds, builtin_serializers())
        t = time.perf_counter()
        ref, created = store.save(table, name="bench/table/0")
        out["save"] = time.perf_counter() - t
        before = ds.count_objects()
        t = time.perf_counter()
        ref2, created2 = store.save(table, name="bench/table/0")
        out["save_again"] = time.perf_counter() - t
        out["created"], out["created_again"] = created, created2
        out["new_objects"] = ds.count_objects() - before
        os.sync()
        t = time.perf_counter()
        touch(store.load(ref, name="bench/table/0"))
        out["load"] = time.perf_counter() - t
        out["load_key"] = ref.key
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
    args = parser.parse_args(argv)
    np_size = 1_000_000 if args.quick else 100_000_000
    arrow_size = 10_000_000 if args.quick else 1_000_000_000
    runs = args.runs or (1 if args.quick else 5)
    mf_runs = args.metaflow_runs or (1 if args.quick else 3)
    use_mf = not args.no_metaflow and (not args.quick or metaflow_built())
    mf_python = metaflow_python() if use_mf else None

    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:  # same disk as the project
        root = Path(tmp)
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
        arrow_sides = {
            "arrow-lamina": side("arrow-lamina", lambda: _probe("arrow-lamina", root, arrow_size)),
            "arrow-floor": side("arrow-floor", lambda: _probe("arrow-floor", root, arrow_size)),
        }
        alternate(arrow_sides, {"arrow-lamina": max(1, runs - 2), "arrow-floor": max(1, runs - 2)})  # type: ignore[arg-type]

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
    arrow_rows = [
        ["lamina", fmt_s(med("arrow-lamina", "save")), fmt_s(med("arrow-lamina", "load"))],
        ["floor: `feather.write_feather` (uncompressed) / `feather.read_table`",
         fmt_s(med("arrow-floor", "save")), fmt_s(med("arrow-floor", "load"))],
        ["lamina / floor",
         f"{med('arrow-lamina', 'save') / med('arrow-floor', 'save'):.2f}",
         f"{med('arrow-lamina', 'load') / med('arrow-floor', 'load'):.2f}"],
    ]
    arrow_again = results["arrow-lamina"][0]
    text = "\n".join([
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
        f"A {arrow_size / 1e9:g} GB Arrow table (4 float64 columns), saved and read back "
        "(every column summed), against plain feather on the same disk:",
        "",
        table(["", "save", "load + sum"], arrow_rows),
        "",
        f"Saving the same table again: {fmt_s(arrow_again['save_again'])}, new objects: "
        f"{arrow_again['new_objects']}.",
        "",
        "Targets: numpy save and load within 2x of the floor and at least 20x faster than "
        "Metaflow; Arrow within 1.5x of feather; the same value twice writes no new bytes.",
    ])
    print(text)
    if not args.quick:
        write_section("artifacts-big", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
