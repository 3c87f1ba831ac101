"""Start-up cost of lamina: ``import lamina`` and the ``lamina`` command line.

Times, as wall-clock medians of N fresh processes each (after one warm-up run):

* ``python -c pass``                (the interpreter alone, the baseline)
* ``python -c "import lamina"``     (budget: at most 100 ms over the baseline)
* ``lamina --help``                 (budget: under 300 ms in total)
* ``lamina plugins`` and ``lamina stack show`` (for information)

and prints a Markdown table. Run from the repository root::

    python benchmarks/startup.py --runs 30            # add --check to fail over budget
    python benchmarks/startup.py --quick              # 3 runs, no doc update

Every command runs in an empty temporary folder (no config file is found) with the
plugins installed in the environment. When Metaflow's benchmark environment exists (or
unless ``--no-metaflow``), ``import metaflow`` in it is timed too, against its own
interpreter's ``python -c pass``. The table is written to the "Start-up" section of
``docs/benchmarks.md`` (not with ``--quick``).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import metaflow_built, metaflow_env, metaflow_python
from report import machine_line, write_section

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


_SECTION = """## Start-up

What a user pays before lamina does any work: `import lamina` in a notebook or a script,
and the `lamina` command line. Budgets: `import lamina` at most 100 ms more than the bare
interpreter, `lamina --help` under 300 ms. Every command runs in an empty folder (no config
file is found), median of {runs} fresh processes after one warm-up; CPU time is the steadier
column when the machine is loaded.

Produced by `{command}` on {machine}.

{table}

{budget}

What keeps it there:

- `import lamina` imports the hook markers only (pluggy); `Flow`, `Client`, `Stack`... are
  imported on first use.
- The command line reads the `lamina` entry points straight from the `*.dist-info`
  folders on `sys.path` instead of importing `importlib.metadata` (which pulls in `email`,
  `zipfile` and `csv` and alone cost more than the rest of the start-up).
- Plugin modules hold option classes and hook functions only; a component's heavy
  libraries are imported by its factory, when a stack first uses it. `lamina --help`
  imports no pyarrow, numpy, pandas, networkx, fsspec, cloudpickle, rich or structlog
  (a test asserts it).
- Logging is configured by the command line, but structlog (which imports rich) is
  imported only when the first log record is written.
- Subcommands import their work inside their handler.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to time")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a budget is exceeded")
    parser.add_argument("--quick", action="store_true", help="3 runs, no doc update")
    parser.add_argument("--no-metaflow", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 3)
    use_mf = not args.no_metaflow and (not args.quick or metaflow_built())
    mf_python = metaflow_python() if use_mf else None

    lamina = lamina_command(args.python)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    commands = [
        ("python -c pass", [args.python, "-c", "pass"]),
        ('python -c "import lamina"', [args.python, "-c", "import lamina"]),
        ("lamina --help", [*lamina, "--help"]),
        ("lamina plugins", [*lamina, "plugins"]),
        ("lamina stack show", [*lamina, "stack", "show"]),
    ]
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are reused
    results: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as cwd:
        for label, cmd in commands:
            results[label], cpu[label] = time_command(cmd, args.runs, cwd, env)
        mf_base = mf_import = None
        if mf_python:
            mf_env = metaflow_env(Path(cwd))
            mf_base, _ = time_command([mf_python, "-c", "pass"], args.runs, cwd, mf_env)
            mf_import, _ = time_command([mf_python, "-c", "import metaflow"], args.runs, cwd,
                                        mf_env)

    base = statistics.median(results["python -c pass"])
    lines = [
        "| command | wall median (ms) | wall min (ms) | over `python -c pass` (ms) "
        "| CPU median (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, times in results.items():
        med = statistics.median(times)
        over = "" if label == "python -c pass" else f"{med - base:.0f}"
        lines.append(f"| `{label}` | {med:.0f} | {min(times):.0f} | {over} "
                     f"| {statistics.median(cpu[label]):.0f} |")
    if mf_base and mf_import:
        mf_over = statistics.median(mf_import) - statistics.median(mf_base)
        lines.append(f"| `import metaflow` (its own environment) | "
                     f"{statistics.median(mf_import):.0f} | {min(mf_import):.0f} | "
                     f"{mf_over:.0f} | |")

    import_over = statistics.median(results['python -c "import lamina"']) - base
    help_total = statistics.median(results["lamina --help"])
    budget = (f"Budgets: `import lamina` costs {import_over:.0f} ms over the interpreter "
              f"(budget {IMPORT_BUDGET_MS:.0f}), `lamina --help` {help_total:.0f} ms in total "
              f"(budget {HELP_BUDGET_MS:.0f}).")
    table_text = "\n".join(lines)
    print(table_text + "\n\n" + budget)
    if not args.quick:
        command = "python benchmarks/startup.py " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
        write_section("startup", _SECTION.format(
            command=command.strip(), machine=machine_line(), runs=args.runs,
            table=table_text, budget=budget,
        ))
    if args.check and (import_over > IMPORT_BUDGET_MS or help_total >= HELP_BUDGET_MS):
        print("over budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
