"""Helpers of the registry tests: the churn flow and running it in a project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

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
