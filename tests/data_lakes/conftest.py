"""Fixtures of the lake sources' tests: a SeaweedFS S3 server on loopback (started once per
session, always stopped), a fresh bucket per test, and that server's credentials in the
environment as a deployed step would have them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "s3"))

from envs_util import running
from s3_util import SeaweedServer, clean_aws_env


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with running(SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))) as server:
        yield server


@pytest.fixture
def s3_env(seaweedfs: SeaweedServer, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The SeaweedFS server's credentials in this process's environment (and nothing of
    the machine's own AWS setup)."""
    env = {**clean_aws_env(tmp_path), **seaweedfs.env(), "AWS_REGION": "us-east-1"}
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedServer, s3_env: dict[str, str]) -> str:
    """A fresh, empty bucket on SeaweedFS."""
    return seaweedfs.make_bucket("lake")
