"""A real Dask cluster (scheduler + two workers, separate processes) for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dask_util import DaskCluster
from envs_util import running


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    with running(DaskCluster(tmp_path_factory.mktemp("dask-cluster"))) as cluster:
        yield cluster
