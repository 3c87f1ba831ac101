"""The local runtime's start methods side by side: the wide foreach (start -> N tasks of
y = x * 2 -> join -> end, two workers) with workers forked (Linux's default), started by a
fork server, and spawned (macOS's and Windows' default).

Each run is a fresh command, timed from the outside (interpreter start-up included):
``LAMINA_START_METHOD=M python wide.py N``. The methods alternate (fork, forkserver,
spawn, fork...) so that a load change on a shared machine hits them alike; the table
shows medians. N=10 shows the fixed cost of a run (worker start-up above all), and the
per-task cost is (wall at N=1,000 - wall at N=10) / 990. Run from the repository root::

    python benchmarks/runtime_start_methods.py            # N=10 and 1,000, 5 runs each
    python benchmarks/runtime_start_methods.py --quick    # N=10, one run each, no doc update
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import alternate, command_line, fmt_s, lamina_env, lamina_toml, median, run_timed, table
from report import machine_line, write_section
from runtime_foreach import LAMINA_FLOW

METHODS = [m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]
SECTION = "runtime-start-methods"


def _uptime() -> str:
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return "load average" + out.strip().rsplit("load average", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=10, one run each, no doc update")
    parser.add_argument("--runs", type=int, default=None, help="runs per method and size")
    args = parser.parse_args(argv)
    sizes = [10] if args.quick else [10, 1000]
    runs = args.runs or (1 if args.quick else 5)
    load_before = _uptime()
    walls: dict[tuple[str, int], list[float]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "wide.py").write_text(LAMINA_FLOW)
        (folder / "lamina.toml").write_text(lamina_toml(2))
        for n in sizes:
            sides = {}
            for method in METHODS:
                def run(method: str = method, n: int = n) -> float:
                    env = lamina_env()
                    env["LAMINA_START_METHOD"] = method
                    out = run_timed([sys.executable, "wide.py", str(n)], cwd=folder, env=env)
                    cpus.setdefault((method, n), []).append(out["cpu"])
                    return float(out["wall"])

                sides[method] = run
            times = alternate(sides, dict.fromkeys(METHODS, runs))
            for method, values in times.items():
                walls[(method, n)] = values
                print(f"N={n} {method}: {[round(v, 3) for v in values]}", flush=True)
    load_after = _uptime()
    text = _section(sizes, walls, cpus, load_before, load_after)
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0


def _section(sizes: list[int], walls: dict, cpus: dict, before: str, after: str) -> str:
    big, small = sizes[-1], sizes[0]
    fork_big = median(walls[("fork", big)]) if ("fork", big) in walls else float("nan")
    rows = []
    for method in METHODS:
        w_small, w_big = median(walls[(method, small)]), median(walls[(method, big)])
        per_task = (w_big - w_small) / (big - small) if big != small else float("nan")
        rows.append([
            f"`{method}`", fmt_s(w_small), fmt_s(w_big), f"{w_big / fork_big:.2f}x",
            f"{per_task * 1000:.2f} ms" if per_task == per_task else "—",
            fmt_s(median(cpus[(method, big)])), len(walls[(method, big)]),
        ])
    return "\n".join([
        "## Runtime start methods: fork, forkserver, spawn",
        "",
        "The wide foreach (start -> N tasks of y = x * 2 -> join -> end, two workers) with "
        "the local compute's workers forked, started by a fork server, and spawned "
        "(`LAMINA_START_METHOD`). Wall time of the whole command (`python wide.py N`: "
        "interpreter start-up, run record, worker start-up, every task and its artifacts), "
        "median of the runs, the methods alternating. Per task: (wall at N = "
        f"{big:,} - wall at N = {small}) / {big - small}.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}; `uptime` before the runs: "
        f"{before}; after: {after}.",
        "",
        table(["start method", f"N = {small}", f"N = {big:,}", f"vs fork at N = {big:,}",
               "per task", f"CPU at N = {big:,}", "runs"], rows),
        "",
        "Target: `spawn` at most 2x `fork`'s wall time at N = 1,000. A spawned worker "
        "starts a Python interpreter, imports lamina and the flow file and rebuilds the "
        "stack (once per worker per run, the two workers in parallel); after that a task "
        "costs the same in every mode. The CPU column counts the command and the processes "
        "it waited for: `forkserver`'s workers are children of the fork server, so their CPU "
        "is missing there.",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
