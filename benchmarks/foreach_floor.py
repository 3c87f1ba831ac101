"""The wide foreach against its bare floor, measured in the same run.

The flow: start -> foreach over N integers (y = x * 2) -> join (sum). lamina runs it from
the CLI (``python -m lamina run wide.py --set n=N``, two workers, the embedded stack).

The **floor** is what the same durable work costs with nothing of lamina around it, in a
fresh interpreter of the same Python (``python floor.py N``): a ``multiprocessing`` pool of
two forked workers, fed in chunks; the N elements written as content-addressed objects
(pickle, SHA-256, staged file linked into ``objects/AB/...`` unless present); per task the
element read back, the result written the same way and an outcome record
``runs/RUN/tasks/STEP/INDEX.json`` written by rename; the parent inserting one SQLite row
per task into a table of the same shape as lamina's, with its cache-key index (WAL,
``synchronous=NORMAL``, a transaction every 0.5 s or 2,000 rows); the join reading the N results and storing the sum.

Each size alternates the two sides (lamina, floor, lamina, floor...) so that the load of a
shared machine hits both; the table shows every run and the medians. The 20,000-task row
adds lamina's runtime-process peak RSS (sampled every 50 ms). Run from the repository
root::

    python benchmarks/foreach_floor.py                     # 1,000 x 5 runs, 20,000 x 2
    python benchmarks/foreach_floor.py --quick             # N=50, one run each, no doc update
"""

from __future__ import annotations

import argparse
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
    lamina_toml,
    median,
    run_timed,
    table,
    versions,
)
from report import machine_line, write_section

LAMINA_FLOW = '''
from lamina import Flow

flow = Flow("wide")


@flow.step
def start(n: int = 100) -> list[int]:
    return list(range(n))


@flow.step(foreach="start")
def double(start: int) -> int:
    return start * 2


@flow.step
def join(double: list[int]) -> int:
    return sum(double)
'''

FLOOR = r'''
import hashlib, json, multiprocessing, os, pickle, socket, sqlite3, sys, time

ROOT = sys.argv[2]
OBJECTS = os.path.join(ROOT, "objects")
TMP = os.path.join(ROOT, "tmp")
RUN = "floor-run"
TASKS = os.path.join(ROOT, "runs", RUN, "tasks", "double")


def put(value):
    data = pickle.dumps(value, protocol=5)
    digest = hashlib.sha256(data).hexdigest()
    final = os.path.join(OBJECTS, digest[:2], digest[2:])
    if not os.path.exists(final):
        os.makedirs(os.path.dirname(final), exist_ok=True)
        staged = os.path.join(TMP, f"{os.getpid()}-{digest[:16]}")
        with open(staged, "wb") as f:
            f.write(data)
        try:
            os.link(staged, final)
        except FileExistsError:
            pass
        os.unlink(staged)
    return digest, len(data)


def get(digest):
    with open(os.path.join(OBJECTS, digest[:2], digest[2:]), "rb") as f:
        return pickle.loads(f.read())


def task(job):
    index, element = job
    started = time.time()
    key, size = put(get(element) * 2)
    record = {"run_id": RUN, "step": "double", "index": index, "attempt": 1,
              "status": "succeeded", "started_at": started, "finished_at": time.time(),
              "output": {"key": key, "size": size, "serializer": "pickle"},
              "host": socket.gethostname(), "pid": os.getpid()}
    tmp = os.path.join(TASKS, f".{index}.json.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(TASKS, f"{index}.json"))
    return index, started, record["finished_at"], key, element


def main():
    n = int(sys.argv[1])
    os.makedirs(TMP, exist_ok=True)
    os.makedirs(TASKS, exist_ok=True)
    db = sqlite3.connect(os.path.join(ROOT, "metadata.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    cols = ("run_id, step, \"index\", status, attempt, started_at, finished_at, output, "
            "inputs, element, error, error_type, location, traceback, exit_reason, "
            "stdout_key, stderr_key, cache_key, reused_from, metrics, data_inputs")
    db.execute(f"CREATE TABLE IF NOT EXISTS tasks ({cols}, PRIMARY KEY (run_id, step, \"index\"))")
    db.execute("CREATE INDEX IF NOT EXISTS by_key ON tasks (cache_key) WHERE cache_key != ''")
    rows = []

    def row(step, index, started, finished, key, inputs, element):
        cache = hashlib.sha256(f"{step}{inputs}".encode()).hexdigest()
        rows.append((RUN, step, index, "succeeded", 1, started, finished,
                     json.dumps({"key": key}), json.dumps(inputs), element, "", "", "", "",
                     "", "", "", cache, "", "{}", "[]"))

    def flush():
        db.execute("BEGIN")
        db.executemany(f"INSERT OR REPLACE INTO tasks VALUES ({', '.join('?' * 21)})", rows)
        db.execute("COMMIT")
        rows.clear()

    t = time.time()
    start_key, _ = put(list(range(n)))
    row("start", 0, t, time.time(), start_key, {}, "")
    elements = [put(x)[0] for x in range(n)]
    results = [None] * n
    last = time.monotonic()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        for index, started, finished, key, element in pool.imap_unordered(
                task, enumerate(elements), chunksize=16):
            results[index] = key
            row("double", index, started, finished, key, {"start": element}, str(index))
            if len(rows) >= 2000 or time.monotonic() - last > 0.5:
                flush()
                last = time.monotonic()
    t = time.time()
    total_key, _ = put(sum(get(k) for k in results))
    row("join", 0, t, time.time(), total_key, {"double": results}, "")
    flush()
    print(get(total_key))


if __name__ == "__main__":
    main()
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=50, one run each, no doc update")
    parser.add_argument("--runs", type=int, default=None, help="runs per side at 1,000 (5)")
    parser.add_argument("--big-runs", type=int, default=None, help="runs per side at 20,000 (2)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None,
                        help="task counts (default 1000 20000)")
    args = parser.parse_args(argv)
    runs = {1000: args.runs or 5, 20000: args.big_runs or 2}
    sizes = [(50, 1)] if args.quick else [
        (n, runs.get(n, args.runs or 3)) for n in (args.sizes or [1000, 20000])]
    rows = []
    machine = machine_line()  # the load before the runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "wide.py").write_text(LAMINA_FLOW)
        (root / "lamina.toml").write_text(lamina_toml(2))
        (root / "floor.py").write_text(FLOOR)
        for n, runs in sizes:
            rss: list[float] = []
            count = [0]
            cpu: dict[str, list[float]] = {"lamina": [], "floor": []}

            def run_lamina(n: int = n, rss: list[float] = rss, cpu: dict = cpu) -> float:
                out = run_timed([sys.executable, "-m", "lamina", "run", "wide.py", "--set",
                                 f"n={n}"], cwd=root, env=lamina_env(), memory=True)
                rss.append(out["rss_root_mb"])
                cpu["lamina"].append(out["cpu"])
                return float(out["wall"])

            def run_floor(n: int = n, count: list[int] = count, cpu: dict = cpu) -> float:
                count[0] += 1
                store = root / f"floor-{n}-{count[0]}"  # a fresh store: no object exists yet
                out = run_timed([sys.executable, "floor.py", str(n), str(store)], cwd=root,
                                env=lamina_env())
                assert out["stdout"].strip() == str(n * (n - 1)), out["stdout"]
                cpu["floor"].append(out["cpu"])
                return float(out["wall"])

            times = alternate({"lamina": run_lamina, "floor": run_floor},
                              {"lamina": runs, "floor": runs})
            lam, floor = median(times["lamina"]), median(times["floor"])
            lam_cpu, floor_cpu = median(cpu["lamina"]), median(cpu["floor"])
            print(f"N={n}: lamina {times['lamina']} floor {times['floor']} rss {rss} "
                  f"cpu {cpu}", flush=True)
            rows.append([
                f"{n:,}", ", ".join(fmt_s(t) for t in times["lamina"]), fmt_s(lam),
                ", ".join(fmt_s(t) for t in times["floor"]), fmt_s(floor),
                f"{lam / floor:.2f}x", f"{fmt_s(lam_cpu)} / {fmt_s(floor_cpu)}",
                f"{lam_cpu / floor_cpu:.2f}x", f"{max(rss):.0f} MB",
            ])
    load_after = os.getloadavg()[0]
    text = "\n".join([
        "## Wide foreach against the bare floor",
        "",
        "start -> foreach over N integers (y = x * 2) -> join (sum). lamina: the whole "
        "`python -m lamina run wide.py --set n=N` command, two workers, the embedded stack. "
        "Floor: a fresh `python floor.py N` doing the same durable work with nothing of "
        "lamina around it (a pool of two forked workers fed in chunks, the same "
        "content-addressed object writes, one outcome record per task, one SQLite row per "
        "task in batches). The two sides alternate; every run is shown, then the median.",
        "",
        f"Produced by `{command_line()}` on {machine}, {load_after:.1f} at the end; "
        f"{versions(None)}.",
        "",
        table(["tasks", "lamina runs", "lamina (median)", "floor runs", "floor (median)",
               "lamina / floor", "CPU lamina / floor (median)", "CPU ratio",
               "lamina runtime RSS (peak)"], rows),
        "",
        "CPU is user + system time of the command and its workers: on a shared machine "
        "it moves less with the load than the wall clock does.",
        "",
        "Targets: 1,000 tasks at most 2x the floor; 20,000 tasks under 10 s with the "
        "runtime process under 200 MB. See [performance](performance.md#the-wide-foreach-"
        "against-its-floor) for where the difference goes.",
    ])
    print(text)
    if not args.quick:
        write_section("foreach-floor", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
