"""Start-up cost of lamina: ``import lamina`` and the ``lamina`` command line.

Times, as wall-clock medians of N fresh processes each (after one warm-up run):

* ``python -c pass``                (the interpreter alone, the baseline)
* ``python -c "import lamina"``     (budget: at most 100 ms over the baseline)
* ``lamina --help``                 (budget: under 300 ms in total)
* ``lamina plugins`` and ``lamina stack show`` (for information)

and prints a Markdown table. Run from the repository root::

    python benchmarks/startup.py --runs 30            # add --check to fail over budget

Every command runs in an empty temporary folder (no config file is found) with the
plugins installed in the environment.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORT_BUDGET_MS = 100.0
HELP_BUDGET_MS = 300.0


def lamina_command(python: str) -> list[str]:
    """The ``lamina`` console script next to ``python``, else ``python -m lamina``."""
    script = Path(python).parent / ("lamina.exe" if os.name == "nt" else "lamina")
    if script.exists():
        return [str(script)]
    found = shutil.which("lamina")
    return [found] if found else [python, "-m", "lamina"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(
    cmd: list[str], runs: int, cwd: str, env: dict[str, str]
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user+system) milliseconds of ``runs`` executions, after one
    warm-up. CPU time is the steadier number on a machine shared with other work."""
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True)
    wall, cpu = [], []
    for _ in range(runs):
        cpu0 = _children_cpu()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((_children_cpu() - cpu0) * 1000)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to time")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a budget is exceeded")
    args = parser.parse_args(argv)

    lamina = lamina_command(args.python)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    commands = [
        ("python -c pass", [args.python, "-c", "pass"]),
        ('python -c "import lamina"', [args.python, "-c", "import lamina"]),
        ("lamina --help", [*lamina, "--help"]),
        ("lamina plugins", [*lamina, "plugins"]),
        ("lamina stack show", [*lamina, "stack", "show"]),
    ]
    results: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as cwd:
        for label, cmd in commands:
            results[label], cpu[label] = time_command(cmd, args.runs, cwd, env)

    base = statistics.median(results["python -c pass"])
    print(f"Start-up, median of {args.runs} runs (Python "
          f"{sys.version_info.major}.{sys.version_info.minor}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print("| command | wall median (ms) | wall min (ms) | over `python -c pass` (ms) "
          "| CPU median (ms) |")
    print("|---|---:|---:|---:|---:|")
    for label, times in results.items():
        med = statistics.median(times)
        over = "" if label == "python -c pass" else f"{med - base:.0f}"
        print(f"| `{label}` | {med:.0f} | {min(times):.0f} | {over} "
              f"| {statistics.median(cpu[label]):.0f} |")

    import_over = statistics.median(results['python -c "import lamina"']) - base
    help_total = statistics.median(results["lamina --help"])
    print(f"\nBudgets: import lamina over baseline {import_over:.0f} ms "
          f"(<= {IMPORT_BUDGET_MS:.0f}), lamina --help {help_total:.0f} ms "
          f"(< {HELP_BUDGET_MS:.0f})")
    if args.check and (import_over > IMPORT_BUDGET_MS or help_total >= HELP_BUDGET_MS):
        print("over budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
