"""The builtin ``local`` compute (a pool of forked worker processes) passes the compute
conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lamina
from lamina.testing import ComputeSuite


class TestLocalCompute(ComputeSuite):
    @pytest.fixture
    def compute_stack(self, tmp_path: Path) -> Iterator[Any]:
        (tmp_path / "lamina.toml").write_text(
            '[stacks.local]\ndatastore = "file://.lamina"\n'
            'compute = { plugin = "local", workers = 2 }\n'
            'orchestrator = { plugin = "local", progress = "off" }\n'
        )
        with lamina.load_stack("local", cwd=tmp_path, env={}) as stack:
            yield stack
