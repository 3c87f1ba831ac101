"""The retention tests on S3 need a real S3 server: SeaweedFS (from ``tests/s3``),
started once for the session when a test asks for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "s3"))

from envs_util import running
from s3_util import SeaweedServer


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with running(SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))) as server:
        yield server
