"""Run every benchmark in this folder, one after the other; each writes its own section of
``docs/benchmarks.md``. Run from the repository root::

    python benchmarks/run_all.py                     # everything (takes a long while)
    python benchmarks/run_all.py --quick             # every script on its tiny size
    python benchmarks/run_all.py runtime_foreach startup   # only these

A benchmark is any ``benchmarks/*.py`` with a ``main`` function (helpers such as
``common.py`` and ``report.py`` have none). Extra arguments after ``--`` are passed to
every script. One failing benchmark does not stop the others; the exit code says whether
all succeeded.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmark_scripts() -> list[Path]:
    """The scripts that define a top-level ``main`` function, by name."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name == Path(__file__).name:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these benchmarks (file stems)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    scripts = benchmark_scripts()
    if args.names:
        unknown = set(args.names) - {p.stem for p in scripts}
        if unknown:
            print(f"unknown benchmarks: {', '.join(sorted(unknown))}; known: "
                  f"{', '.join(p.stem for p in scripts)}", file=sys.stderr)
            return 2
        scripts = [p for p in scripts if p.stem in args.names]
    failed = []
    for script in scripts:
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else []), *extra]
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=HERE.parent)
        print(f"== {script.name}: exit {done.returncode} after "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
