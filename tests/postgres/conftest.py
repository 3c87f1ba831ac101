"""PostgreSQL for the metadata-store tests: a real server, never a skip.

The server is the one on 127.0.0.1:5432 when it answers (development and CI machines run
one with trust auth); else a throwaway server is started from the PostgreSQL binaries
(``initdb -A trust``; ``pg_ctl`` on a free port with its socket in a temp folder, as user
``postgres`` when the tests run as root). ``LAMINA_TEST_POSTGRES=throwaway`` forces the
throwaway server. Each test session works in a fresh database with a random name, dropped
at the end; each test in a fresh PostgreSQL schema of it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

psycopg = pytest.importorskip("psycopg")  # a dev dependency: only absent outside the repo


@attrs.define
class PgServer:
    """A PostgreSQL server the tests may use: where it is, and whether we started it."""

    host: str
    port: int
    user: str
    data_dir: str = ""
    socket_dir: str = ""
    run_as: str = ""
    password: str = ""

    def url(self, dbname: str = "postgres", *, user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            self.url(dbname), autocommit=True, connect_timeout=5,
            **({"password": self.password} if self.password else {}),
        )

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        """Run ``pg_ctl`` on a throwaway server (start, stop, restart)."""
        assert self.data_dir, "only a throwaway server can be stopped and started"
        cmd = [_binary("pg_ctl"), "-D", self.data_dir, "-w", "-t", "30", *args]
        if args and args[0] in ("start", "restart"):
            cmd[1:1] = ["-l", os.path.join(self.socket_dir, "server.log"), "-o",
                        f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"]
        _run(cmd, self.run_as, timeout=timeout)


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        raise RuntimeError(
            f"no PostgreSQL server on 127.0.0.1:5432 and no {name} to start one: install "
            "Debian's postgresql package (apt-get install postgresql)"
        )
    return candidates[0]


def _run(cmd: list[str], run_as: str, timeout: float = 120) -> None:
    if run_as:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_throwaway(*, password: str = "") -> PgServer:
    """initdb + pg_ctl start in a temp folder, on a free port; trust auth, or
    scram-sha-256 for every TCP connection when ``password`` is given."""
    root = tempfile.mkdtemp(prefix="lamina-pg-")
    run_as = ""
    if os.geteuid() == 0:  # the server refuses to run as root
        run_as = "postgres"
        owner = pwd.getpwnam(run_as)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data = os.path.join(root, "data")
    cmd = [_binary("initdb"), "-D", data, "-U", "postgres", "--no-sync", "-E", "UTF8"]
    if password:
        pwfile = os.path.join(root, "pw")
        Path(pwfile).write_text(password + "\n")
        if run_as:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        cmd += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
    else:
        cmd += ["-A", "trust"]
    _run(cmd, run_as)
    server = PgServer(host="127.0.0.1", port=_free_port(), user="postgres", data_dir=data,
                      socket_dir=root, run_as=run_as, password=password)
    server.pg_ctl("start")
    return server


def stop_throwaway(server: PgServer) -> None:
    try:
        server.pg_ctl("stop", "-m", "immediate")
    except Exception:  # already stopped
        pass
    shutil.rmtree(server.socket_dir, ignore_errors=True)


def _local_server() -> PgServer | None:
    if os.environ.get("LAMINA_TEST_POSTGRES") == "throwaway":
        return None
    for user in ("postgres", pwd.getpwuid(os.geteuid()).pw_name):
        server = PgServer(host="127.0.0.1", port=5432, user=user)
        try:
            server.connect().close()
        except psycopg.Error:
            continue
        return server
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL server of this test session (local one, else a throwaway one)."""
    server = _local_server()
    if server is not None:
        yield server
        return
    server = start_throwaway()
    try:
        yield server
    finally:
        stop_throwaway(server)


@pytest.fixture(scope="session")
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with a random name for this session, dropped at the end."""
    name = f"lamina_test_{uuid.uuid4().hex[:12]}"
    with pg_server.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with pg_server.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: PgServer, pg_database: str) -> str:
    """The URL of the session's database (no password: trust auth)."""
    return pg_server.url(pg_database)


@pytest.fixture
def pg_schema(pg_server: PgServer, pg_database: str) -> Iterator[str]:
    """A schema name no other test uses; the schema is dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with pg_server.connect(pg_database) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_store(pg_url: str, pg_schema: str) -> Iterator[object]:
    """A PostgresMetadataStore on a fresh schema, closed after the test."""
    from lamina_metadata_postgres.store import PostgresMetadataStore

    store = PostgresMetadataStore(pg_url, schema=pg_schema, stack="test", retry_wait=0.05)
    yield store
    store.close()


@pytest.fixture(scope="module")
def throwaway_server() -> Iterator[PgServer]:
    """A server of our own, started for this module: it may be stopped and restarted."""
    server = start_throwaway()
    try:
        yield server
    finally:
        stop_throwaway(server)


@pytest.fixture(scope="module")
def password_server() -> Iterator[PgServer]:
    """A server of our own that asks every TCP client for a password (scram-sha-256):
    user ``postgres``, password ``right-horse-battery``."""
    server = start_throwaway(password="right-horse-battery")
    try:
        yield server
    finally:
        stop_throwaway(server)
