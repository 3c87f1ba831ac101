"""A project with a trained iris model, shared by the Seldon tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from seldon_util import train_iris


@pytest.fixture(scope="session")
def iris_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    project = tmp_path_factory.mktemp("seldon-project")
    return project, train_iris(project)
