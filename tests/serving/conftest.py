"""A project with two trained iris model versions, shared by the serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_util import train


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(project folder, ref of model version 1, ref of model version 2)."""
    project = tmp_path_factory.mktemp("serving-project")
    ref_a, ref_b = train(project)
    return project, ref_a, ref_b
