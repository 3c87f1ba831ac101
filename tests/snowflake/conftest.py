"""Snowflake for the plugin's tests: fakesnow's server, an emulator that answers the real
``snowflake-connector-python`` over HTTP from DuckDB (no real Snowflake is reached). It
runs in its own process on a free loopback port, once per session; each test gets a
database of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envs_util import free_port, stop_process, wait_for_port

pytest.importorskip("fakesnow")  # a dev dependency: only absent outside the repo


class FakeSnow:
    """``fakesnow -s`` on loopback and the options that reach it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("fakesnow", path=str(Path(sys.executable).parent))
        assert exe, "fakesnow (a dev dependency) is not installed"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "fakesnow.log", "ab") as log:
            self.process = subprocess.Popen(
                [exe, "-s", "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.workdir,
                env={k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")},
            )
        wait_for_port(self.port, timeout=60, process=self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # fakesnow stops on SIGINT
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                stop_process(self.process)
        self.process = None

    def options(self, **extra: Any) -> dict[str, Any]:
        return {"account": "fakesnow", "user": "fake", "password": "snow",
                "host": "127.0.0.1", "port": self.port, "protocol": "http",
                "login_timeout": 20, "network_timeout": 30, **extra}


@pytest.fixture(scope="session")
def fakesnow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeSnow]:
    server = FakeSnow(tmp_path_factory.mktemp("fakesnow"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def snowflake_options(fakesnow_server: FakeSnow) -> dict[str, Any]:
    """Options of a source on a database and schema of this test's own."""
    import snowflake.connector

    database = f"DB_{uuid.uuid4().hex[:10].upper()}"
    with snowflake.connector.connect(**fakesnow_server.options()) as conn:
        conn.cursor().execute(f"CREATE DATABASE {database}")
        conn.cursor().execute(f"CREATE SCHEMA {database}.LAKE")
    return fakesnow_server.options(database=database, schema="LAKE")
