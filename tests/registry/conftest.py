"""A project with registered churn model versions, shared by the registry tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

FLOW = Path(__file__).with_name("churn_flow.py")


@attrs.define
class Trained:
    """The project folder and the refs (FLOW/RUN/STEP) of its model runs by variant."""

    project: Path
    refs: dict[str, str]
    holdout: Path


def run_flow(project: Path, **params: Any) -> str:
    """Run the churn flow in ``project``; the ``FLOW/RUN/model`` ref of its model."""
    from lamina.flow.loader import load_flow_file
    from lamina.stack import Stack

    flow = load_flow_file(str(project / "churn_flow.py"))
    run = flow.run(stack=Stack.load(cwd=project, env={}), **params)
    return f"churn/{run.id}/model"


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
