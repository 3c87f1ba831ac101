"""The environments benchmark runs end to end on its tiny size (``--quick``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_environments_benchmark_quick(session_envs, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "environments.py"), "--quick"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| lamina, warm (the environment exists) |" in done.stdout
    assert "the lock pinned tabulate==" in done.stdout
    numbers = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(numbers) == {"cold", "warm", "foreach_env", "foreach_base"}
