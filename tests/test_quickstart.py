"""The README's first command, ``scripts/quickstart.sh``, as a newcomer sees it: one run
summary, then the answer (the winner, its score, the runner-up) and what to try next."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from lamina import Client, Stack

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_prints_one_summary_and_names_the_winner(tmp_path: Path) -> None:
    # The script works in the repository; the config sends its records to tmp_path.
    config = tmp_path / "lamina.toml"
    config.write_text('[stacks.local]\ndatastore = "file://.lamina"\n')
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "quickstart.sh")], capture_output=True, text=True,
        env={**os.environ, "LAMINA_CONFIG": str(config), "LAMINA_STACK": "local"}, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert (tmp_path / ".lamina" / "metadata.db").exists()  # nothing written to the repository

    # one run summary, not two
    assert len(re.findall(r"^run \S+  flow quickstart  succeeded$", out, re.M)) == 1
    assert len(re.findall(r"^step +tasks +status", out, re.M)) == 1

    # the answer agrees with what the run recorded
    run = Client(Stack.load(config_file=config)).run("quickstart/latest")
    accuracies = sorted((t.value["accuracy"] for t in run["train"].tasks), reverse=True)
    best = run["best"].value
    family = best["candidate"]["family"]
    winner = re.search(r"^Winner: +(.+), accuracy (\d\.\d{4})$", out, re.M)
    assert winner, out
    assert winner[1].startswith(family) and float(winner[2]) == round(best["accuracy"], 4)
    runner_up = re.search(r"^Runner-up: +(.+), accuracy (\d\.\d{4})", out, re.M)
    assert runner_up and float(runner_up[2]) == round(accuracies[1], 4)
    ranks = re.findall(r"^  (\d)\. .+  (\d\.\d{4})$", out, re.M)
    assert [int(r) for r, _ in ranks] == [1, 2, 3, 4, 5, 6]
    assert [float(a) for _, a in ranks] == [round(a, 4) for a in accuracies]
    assert out.rstrip().splitlines()[-4] == "Next, try:"
    assert f"lamina diff {run.record.run_id} quickstart/latest" in out
