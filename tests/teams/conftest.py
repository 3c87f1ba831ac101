"""The teams tests need the team's servers together: PostgreSQL (the fixtures of
``tests/postgres``) and an S3 server (moto, from ``tests/s3``), both real."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "s3"))

from envs_util import running  # noqa: E402
from s3_util import MotoServer  # noqa: E402


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_pg = _load("lamina_tests_pg_fixtures", HERE.parent / "postgres" / "conftest.py")
pg_server = _pg.pg_server  # type: ignore[attr-defined]
pg_database = _pg.pg_database  # type: ignore[attr-defined]
pg_url = _pg.pg_url  # type: ignore[attr-defined]
pg_schema = _pg.pg_schema  # type: ignore[attr-defined]
throwaway_server = _pg.throwaway_server  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto S3 server on loopback for the session."""
    with running(MotoServer(tmp_path_factory.mktemp("moto"))) as server:
        yield server
