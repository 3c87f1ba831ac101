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


def _load(name: str, path: Path) -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# PostgreSQL (the fixtures of tests/postgres): the server on loopback, or a throwaway one
_pg = _load("lamina_retention_pg_fixtures",
            Path(__file__).resolve().parent.parent / "postgres" / "conftest.py")
pg_server = _pg.pg_server  # type: ignore[attr-defined]
pg_database = _pg.pg_database  # type: ignore[attr-defined]
pg_url = _pg.pg_url  # type: ignore[attr-defined]
pg_schema = _pg.pg_schema  # type: ignore[attr-defined]
