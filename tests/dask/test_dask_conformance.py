"""The ``dask`` compute passes the compute conformance suite on a real cluster (a
scheduler and two workers, separate processes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dask_util import make_project

import lamina
from lamina.testing import ComputeSuite


class TestDaskCompute(ComputeSuite):
    @pytest.fixture
    def compute_stack(self, dask_cluster: Any, tmp_path: Path) -> Iterator[Any]:
        root = make_project(tmp_path / "p", dask_cluster.address)
        with lamina.load_stack("dask", cwd=root, env={}) as stack:
            yield stack
        # the dying and timeout tests cost workers their process: leave the cluster whole
        # for the tests that come next
        dask_cluster.wait_for_workers(2)
