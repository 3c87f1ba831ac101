"""MariaDB (MySQL protocol) for the data-source tests: a real server, never a skip.

The server on 127.0.0.1:3306 when it answers (development and CI machines run one, user
``root`` with no password); else a throwaway server started from Debian's ``mariadbd``
(``mariadb-install-db`` into a temp folder, on a free port, as user ``mysql`` when the
tests run as root). ``LAMINA_TEST_MARIADB=throwaway`` forces the throwaway server. Each
test gets a fresh database with a random name, dropped after it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import attrs
import pytest

pymysql = pytest.importorskip("pymysql")  # lamina-data-sql's driver: in the dev environment


@attrs.define
class MariaServer:
    host: str
    port: int
    user: str = "root"
    root: str = ""
    process: subprocess.Popen | None = None

    def url(self, database: str = "", *, scheme: str = "mysql", user: str | None = None) -> str:
        return f"{scheme}://{user or self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               database=database, autocommit=True, connect_timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(f"no MariaDB on 127.0.0.1:3306 and no {name} to start one: install "
                       "Debian's mariadb-server package (apt-get install mariadb-server)")


def start_throwaway() -> MariaServer:
    root = tempfile.mkdtemp(prefix="lamina-maria-")
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    if user:
        shutil.chown(root, "mysql", "mysql")
    data = os.path.join(root, "data")
    subprocess.run([_binary("mariadb-install-db"), *user, f"--datadir={data}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    process = subprocess.Popen(
        [_binary("mariadbd"), *user, f"--datadir={data}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={root}/mysqld.sock",
         f"--pid-file={root}/mysqld.pid", "--innodb-buffer-pool-size=16M",
         f"--log-error={root}/error.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaServer("127.0.0.1", port, root=root, process=process)
    deadline = time.time() + 60
    while True:
        try:
            server.connect().close()
            return server
        except pymysql.MySQLError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"the throwaway MariaDB did not start (see {root}/error.log)"
                                   ) from None
            time.sleep(0.2)


def _local_server() -> MariaServer | None:
    if os.environ.get("LAMINA_TEST_MARIADB") == "throwaway":
        return None
    server = MariaServer("127.0.0.1", 3306)
    try:
        server.connect().close()
    except pymysql.MySQLError:
        return None
    return server


@pytest.fixture(scope="session")
def maria_server() -> Iterator[MariaServer]:
    """The MariaDB server of this test session (the local one, else a throwaway one)."""
    server = _local_server() or start_throwaway()
    yield server
    if server.process is not None:
        server.process.terminate()
        server.process.wait(timeout=60)
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def maria_database(maria_server: MariaServer) -> Iterator[str]:
    """A fresh database with a random name, dropped after the test."""
    name = f"lamina_test_{uuid.uuid4().hex[:12]}"
    conn = maria_server.connect()
    try:
        conn.cursor().execute(f"CREATE DATABASE `{name}`")
    finally:
        conn.close()
    yield name
    conn = maria_server.connect()
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()
