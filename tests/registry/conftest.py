"""A project with registered churn model versions, shared by the registry tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from registry_util import FLOW, Trained, run_flow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """Runs of the good, premium-blind and flipped churn models (nothing registered) and a
    holdout Parquet file."""
    import os

    project = tmp_path_factory.mktemp("registry-project")
    shutil.copy(FLOW, project / "churn_flow.py")
    old = os.getcwd()
    os.chdir(project)
    try:
        refs = {v: run_flow(project, variant=v, n=3000)
                for v in ("good", "premium_blind", "flipped")}
        import churn_flow

        holdout = project / "holdout.parquet"
        churn_flow.make_data(3000, seed=7).to_parquet(holdout)
        yield Trained(project, refs, holdout)
    finally:
        os.chdir(old)
