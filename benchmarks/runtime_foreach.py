"""Wide foreach, side by side with Metaflow: start -> foreach over N items (y = x * 2) ->
join (sum) -> end, two workers on both sides.

Each run is a fresh command, timed from the outside (interpreter start-up included):
``lamina run wide.py --set n=N`` against ``python wide_mf.py run --max-workers 2
--max-num-splits N --n N``. The two sides alternate (A, B, A, B...) so that a load change
on a shared machine hits both; the table shows medians. Run from the repository root::

    python benchmarks/runtime_foreach.py                  # N=100 and 1,000
    python benchmarks/runtime_foreach.py --quick          # N=10, one run each, no doc update
"""

from __future__ import annotations

import argparse
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
    metaflow_built,
    metaflow_env,
    metaflow_python,
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


@flow.step
def end(join: int) -> int:
    return join


if __name__ == "__main__":
    import sys

    flow.run(n=int(sys.argv[1]))
'''

METAFLOW_FLOW = '''
from metaflow import FlowSpec, Parameter, step


class WideFlow(FlowSpec):
    n = Parameter("n", default=100)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.double, foreach="items")

    @step
    def double(self):
        self.y = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WideFlow()
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=10, one run each, no doc update")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--lamina-runs", type=int, default=None)
    parser.add_argument("--metaflow-runs", default=None,
                        help="runs of Metaflow per size, e.g. 3 or 3,2 (one per size)")
    parser.add_argument("--no-metaflow", action="store_true")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10] if args.quick else [100, 1000])
    section = "runtime-foreach"
    lamina_runs = args.lamina_runs or (1 if args.quick else 5)
    mf_counts = [int(x) for x in str(args.metaflow_runs or (1 if args.quick else 3)).split(",")]
    mf_counts += [mf_counts[-1]] * (len(sizes) - len(mf_counts))
    use_mf = not args.no_metaflow and (not args.quick or metaflow_built())
    mf_python = metaflow_python() if use_mf else None

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lam_dir, mf_dir = root / "lamina", root / "metaflow"
        lam_dir.mkdir()
        mf_dir.mkdir()
        (lam_dir / "wide.py").write_text(LAMINA_FLOW)
        (lam_dir / "lamina.toml").write_text(lamina_toml(2))
        (mf_dir / "wide_mf.py").write_text(METAFLOW_FLOW)
        # `python wide.py N` runs the flow, as `python wide_mf.py run` does for Metaflow
        lamina_cmd = [sys.executable, "wide.py"]
        for n, mf_runs in zip(sizes, mf_counts, strict=False):
            cpu: dict[str, list[float]] = {"lamina": [], "metaflow": []}

            def run_lamina(n: int = n, cpu: dict = cpu) -> float:
                out = run_timed([*lamina_cmd, str(n)], cwd=lam_dir,
                                env=lamina_env())
                cpu["lamina"].append(out["cpu"])
                return out["wall"]

            def run_metaflow(n: int = n, cpu: dict = cpu) -> float:
                cmd = [mf_python or "", "wide_mf.py", "--no-pylint", "run", "--max-workers",
                       "2", "--max-num-splits", str(max(n, 100)), "--n", str(n)]
                out = run_timed(cmd, cwd=mf_dir, env=metaflow_env(mf_dir))
                cpu["metaflow"].append(out["cpu"])
                return out["wall"]

            sides = {"lamina": run_lamina}
            if mf_python:
                sides["metaflow"] = run_metaflow
            times = alternate(sides, {"lamina": lamina_runs, "metaflow": mf_runs})
            lam = median(times["lamina"])
            mf = median(times.get("metaflow", []))
            ratio = f"{mf / lam:.0f}x" if mf_python else "—"
            lam_cpu, mf_cpu = median(cpu["lamina"]), median(cpu["metaflow"])
            cpu_ratio = f"{mf_cpu / lam_cpu:.0f}x" if mf_python else "—"
            print(f"N={n}: lamina {times['lamina']} metaflow {times.get('metaflow')}",
                  flush=True)
            rows.append([
                f"{n:,}", fmt_s(lam), f"{lam / n * 1000:.2f} ms", fmt_s(mf),
                f"{mf / n * 1000:.0f} ms" if mf_python else "—", ratio,
                f"{fmt_s(lam_cpu)} / {fmt_s(mf_cpu)}", cpu_ratio,
                f"{len(times['lamina'])} / {len(times.get('metaflow', []))}",
            ])
            if not args.quick:  # after each size: a long run still leaves its results
                write_section(section, _section(rows, mf_python))
    text = _section(rows, mf_python)
    print(text)
    if not args.quick:
        write_section(section, text)
    return 0


def _section(rows: list[list[str]], mf_python: str | None) -> str:
    return "\n".join([
        "## Wide foreach (lamina vs Metaflow)",
        "",
        "start -> foreach over N items (y = x * 2) -> join (sum) -> end, two workers on both "
        "sides. Wall time of the whole command (`python wide.py N` calling `flow.run`, against "
        "`python wide_mf.py run`: interpreter start-up, run record, every task "
        "and its artifacts), median of the runs, the two sides alternating.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}; {versions(mf_python)}.",
        "",
        table(["N", "lamina", "lamina per task", "Metaflow", "Metaflow per task",
               "Metaflow / lamina", "CPU (lamina / Metaflow)", "CPU ratio",
               "runs (lamina / Metaflow)"], rows),
        "",
        "CPU is user + system time of the command and the processes it waited for (the "
        "workers); on a loaded machine the wall clock mostly measures waiting for a core.",
        "",
        "Target: lamina at least 100x faster than Metaflow at N=1,000.",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
