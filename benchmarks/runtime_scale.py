"""The mission's scale, lamina alone: a 200 x 100 product foreach (20,000 tasks), and the
same flow at 1,000 tasks (20 x 50) to show that the per-task cost does not grow with the
number of tasks. (Metaflow would take close to an hour for 20,000 tasks here.)

Wall time of the whole ``lamina run`` command, peak resident memory of the runtime process
and of all its processes together (sampled every 50 ms), two workers. Run from the
repository root::

    python benchmarks/runtime_scale.py                 # 20 x 50 and 200 x 100
    python benchmarks/runtime_scale.py --quick         # 10 x 10, no doc update
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, fmt_s, lamina_env, lamina_toml, median, run_timed, table, versions
from report import machine_line, write_section

FLOW = '''
from lamina import Flow

flow = Flow("grid")


@flow.step
def countries(c: int = 200) -> list[str]:
    return [f"c{i:03d}" for i in range(c)]


@flow.step
def grid(g: int = 100) -> list[dict]:
    return [{"alpha": i / g, "depth": i % 7} for i in range(g)]


@flow.step(foreach=("countries", "grid"))
def model(countries: str, grid: dict) -> float:
    return len(countries) * grid["alpha"] + grid["depth"]


@flow.step
def best(model: list[float]) -> float:
    return max(model)
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 x 10 only, no doc update")
    parser.add_argument("--runs", type=int, default=None, help="runs per size (default 2)")
    args = parser.parse_args(argv)
    shapes = [(10, 10)] if args.quick else [(20, 50), (200, 100)]
    runs = args.runs or (1 if args.quick else 2)
    rows = []
    per_task: dict[int, float] = {}
    cpu_per_task: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "grid.py").write_text(FLOW)
        (project / "lamina.toml").write_text(lamina_toml(2))
        for c, g in shapes:
            n = c * g
            results = [
                run_timed(
                    [sys.executable, "-m", "lamina", "run", "grid.py", "--set", f"c={c}",
                     "--set", f"g={g}"],
                    cwd=project, env=lamina_env(), memory=True,
                )
                for _ in range(runs)
            ]
            wall = median([r["wall"] for r in results])
            cpu = median([r["cpu"] for r in results])
            per_task[n] = wall / n
            cpu_per_task[n] = cpu / n
            rows.append([
                f"{c} x {g} = {n:,}", fmt_s(wall), f"{wall / n * 1000:.2f} ms",
                fmt_s(cpu), f"{cpu / n * 1000:.2f} ms",
                f"{max(r['rss_root_mb'] for r in results):.0f} MB",
                f"{max(r['rss_tree_mb'] for r in results):.0f} MB", runs,
            ])
            print(rows[-1], flush=True)
    sizes = sorted(per_task)
    growth = per_task[sizes[-1]] / per_task[sizes[0]] if len(sizes) > 1 else 1.0
    cpu_growth = cpu_per_task[sizes[-1]] / cpu_per_task[sizes[0]] if len(sizes) > 1 else 1.0
    text = "\n".join([
        "## Scale: a 20,000-task product foreach (lamina alone)",
        "",
        "`foreach=(\"countries\", \"grid\")` over 200 countries x 100 parameter sets, a "
        "trivial model per task, then a join over the 20,000 results; two workers. Wall "
        "time of the whole `lamina run` command; peak resident memory (RSS) of the runtime "
        "process and of the runtime plus its workers, sampled every 50 ms.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}; {versions(None)}.",
        "",
        table(["tasks", "wall (median)", "wall per task", "CPU, all processes",
               "CPU per task", "runtime RSS (peak)", "all processes RSS (peak)", "runs"],
              rows),
        "",
        f"Per-task time at the largest size / at the smallest: wall {growth:.2f}, CPU "
        f"{cpu_growth:.2f} (target: within 1.5). Targets: 20,000 tasks under 30 s, runtime "
        "under 500 MB. CPU is user + system time of the runtime and its workers: on a "
        "loaded machine the wall clock mostly measures waiting for a core.",
    ])
    print(text)
    if not args.quick:
        write_section("runtime-scale", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
