"""The ``batch`` compute passes the compute conformance suite against a real moto server
(the AWS Batch API); the container's part, running each job's own command, is played by
batch_util.ContainerEmulator, so every task really runs ``python -m lamina task``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_util import CREDENTIALS, ContainerEmulator, MotoBatch, write_project

import lamina
from lamina.testing import ComputeSuite

pytestmark = pytest.mark.slow  # a moto server takes seconds to start on this machine


@pytest.fixture(scope="module")
def emulated_batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoBatch]:
    """One moto server for the module, and one container emulator running its jobs."""
    server = MotoBatch(tmp_path_factory.mktemp("moto"))
    containers = tmp_path_factory.mktemp("containers")
    try:
        with ContainerEmulator(server, containers):
            yield server
    finally:
        server.stop()


class TestBatchCompute(ComputeSuite):
    compute_name = "batch"

    @pytest.fixture
    def compute_stack(
        self, emulated_batch: MotoBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Any]:
        for key, value in CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        # moto marks a job SUCCEEDED at once: wait for the outcome the task writes
        root = write_project(tmp_path / "project", emulated_batch, outcome_grace=120.0).parent
        with lamina.load_stack("batch", cwd=root, env={}) as stack:
            yield stack

    @pytest.mark.skip(reason="moto marks every job SUCCEEDED whatever its container did, so "
                      "a dead container shows only after outcome_grace (120 s here); the "
                      "no-outcome failure is tested in test_batch_moto.py")
    def test_a_task_whose_process_dies_is_reported_failed(self, compute_stack: Any) -> None:
        raise AssertionError("skipped")

    @pytest.mark.skip(reason="AWS Batch enforces a step's timeout (attemptDurationSeconds); "
                      "moto does not emulate it and its emulated container runs to the end")
    def test_a_task_over_its_timeout_is_stopped(self, compute_stack: Any) -> None:
        raise AssertionError("skipped")
