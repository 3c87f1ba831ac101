"""Version numbers of the model registry under real concurrency: processes registering
the same name at once each get their own number, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WRITER = textwrap.dedent("""
    import sys
    from lamina.registry import get_registry
    from lamina.stack import Stack

    registry = get_registry(Stack.load("team"))
    sys.stdin.readline()                    # start together
    print(" ".join(str(registry.register("race", "race/r/train").version)
                   for _ in range(int(sys.argv[1]))))
""")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_registering_at_once_never_share_a_version_number(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url, schema = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")
        metadata = f'{{ plugin = "postgres", url = "{url}", schema = "{schema}" }}'
    else:
        metadata = f'{{ plugin = "sqlite", path = "{tmp_path / "metadata.db"}" }}'
    (tmp_path / "lamina.toml").write_text(
        f'[stacks.team]\ndatastore = "{tmp_path / "store"}"\nmetadata = {metadata}\n')
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, "10"], cwd=tmp_path,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = []
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
        outputs.append([int(n) for n in out.split()])
    numbers = sorted(n for out in outputs for n in out)
    assert numbers == list(range(1, 41))  # 40 registrations, 40 distinct numbers, no gap
    assert all(out == sorted(out) for out in outputs)  # each process saw its numbers grow
