"""A type checker sees through ``@flow.step``: the decorated function keeps its type, so
IDEs complete it and mypy catches a wrong call, with no stub package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = '''
from lamina import Flow

flow = Flow("typed")

@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(n))

@flow.step(foreach="numbers", retries=1)
def square(numbers: int) -> int:
    return numbers * numbers

reveal_type(numbers)
reveal_type(square)
total: int = square(4)
wrong: str = square(4)
square("four")
'''


@pytest.mark.slow
def test_mypy_sees_through_the_step_decorator(tmp_path: Path) -> None:
    if shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy").exists():
        pytest.skip("mypy is not installed")
    sample = tmp_path / "typed_flow.py"
    sample.write_text(SAMPLE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict-optional",
         "--cache-dir", str(tmp_path / ".mypy"), str(sample)],
        capture_output=True, text=True, timeout=300,
    )
    out = result.stdout
    assert 'Revealed type is "def (n: int =) -> list[int]"' in out, out
    assert 'Revealed type is "def (numbers: int) -> int"' in out, out
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' in out
    assert 'Argument 1 to "square" has incompatible type "str"; expected "int"' in out
    # the two deliberate mistakes above, and nothing about lamina itself
    assert out.count("error:") == 2, out
