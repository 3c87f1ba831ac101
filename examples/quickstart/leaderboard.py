"""The quickstart's answer: which model won, by how much, and what to try next.

Reads the latest successful ``quickstart`` run back with the Client, exactly as a notebook
would, and prints every candidate ranked by held-out accuracy, the winner and the runner-up::

    lamina run examples/quickstart/flow.py
    python examples/quickstart/leaderboard.py          # or: ... leaderboard.py RUN_ID
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from lamina import Client


def describe(candidate: dict[str, Any]) -> str:
    """``{"family": "forest", "max_depth": 8}`` as ``forest (max_depth=8)``."""
    options = ", ".join(f"{k}={v}" for k, v in candidate.items() if k != "family")
    return f"{candidate['family']} ({options})" if options else str(candidate["family"])


def ranked(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``train`` results, best first; a tie keeps the candidates' order, as ``best`` does."""
    return sorted(results, key=lambda result: -result["accuracy"])


def lamina_command() -> str:
    """How to call ``lamina`` from here: ``lamina`` when it is on PATH, else the venv's path."""
    beside = Path(sys.executable).parent / "lamina"
    on_path = shutil.which("lamina")
    if on_path and Path(on_path).resolve() == beside.resolve():
        return "lamina"
    try:
        relative = os.path.relpath(beside)
    except ValueError:  # another drive on Windows
        return str(beside)
    return str(beside) if relative.startswith("..") else relative


def report(run_ref: str = "quickstart/latest") -> str:
    """The leaderboard of one quickstart run, as text."""
    run = Client().run(run_ref)
    winner = run["best"].value  # the flow's own choice
    results = ranked(run["train"].value)
    runner_up = next(r for r in results if r["candidate"] != winner["candidate"])
    test_rows = len(run["dataset"].value["y_test"])
    lamina = lamina_command()
    lines = [f"Leaderboard of run {run.record.run_id} (accuracy on {test_rows} held-out rows):"]
    width = max(len(describe(r["candidate"])) for r in results)
    for rank, result in enumerate(results, 1):
        lines.append(f"  {rank}. {describe(result['candidate']):<{width}}  {result['accuracy']:.4f}")
    margin = winner["accuracy"] - runner_up["accuracy"]
    behind = f"{margin:.4f} behind" if margin else "a tie: the first candidate listed wins"
    lines += [
        "",
        f"Winner:    {describe(winner['candidate'])}, accuracy {winner['accuracy']:.4f}",
        f"Runner-up: {describe(runner_up['candidate'])}, accuracy {runner_up['accuracy']:.4f}"
        f" ({behind})",
        "",
        "Next, try:",
        f"  {lamina} run examples/quickstart/flow.py --set test_size=0.4"
        "   # a new run on a bigger test split",
        f"  {lamina} diff {run.record.run_id} quickstart/latest"
        "   # what that changed: params, results, timings",
        f"  {lamina} logs quickstart/latest/train"
        "   # what each training task printed",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(*sys.argv[1:2]))
