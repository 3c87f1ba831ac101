"""The real servers the hardening tests need: a moto S3 server (from tests/s3) and the
PostgreSQL of tests/postgres (its fixtures, loaded from that folder)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_TESTS / "s3"))

from envs_util import running  # noqa: E402
from s3_util import MotoServer  # noqa: E402


def _load(name: str, path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_pg = _load("lamina_tests_pg_fixtures", _TESTS / "postgres" / "conftest.py")
pg_server = _pg.pg_server
pg_database = _pg.pg_database


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with running(MotoServer(tmp_path_factory.mktemp("moto"))) as server:
        yield server
