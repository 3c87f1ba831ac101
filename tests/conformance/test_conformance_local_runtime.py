"""The builtin ``local`` compute (a pool of worker processes) and ``local`` orchestrator
(the in-process scheduler) pass their conformance suites, on one stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lamina
from lamina.testing import ComputeSuite, OrchestratorSuite


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "lamina.toml").write_text(
        '[stacks.local]\ndatastore = "file://.lamina"\n'
        'compute = { plugin = "local", workers = 2 }\n'
        'orchestrator = { plugin = "local", progress = "off" }\n'
    )
    with lamina.load_stack("local", cwd=tmp_path, env={}) as stack:
        yield stack


class TestLocalCompute(ComputeSuite):
    @pytest.fixture
    def compute_stack(self, local_stack: Any) -> Any:
        return local_stack


class TestLocalOrchestrator(OrchestratorSuite):
    @pytest.fixture
    def orchestrator_stack(self, local_stack: Any) -> Any:
        return local_stack
