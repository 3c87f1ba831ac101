"""Session fixtures: one SeaweedFS and one moto server on loopback, started once, always
stopped; ``server`` runs a test against each of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envs_util import running
from s3_util import MotoServer, S3Server, SeaweedServer, clean_aws_env


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with running(SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))) as server:
        yield server


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with running(MotoServer(tmp_path_factory.mktemp("moto"))) as server:
        yield server


@pytest.fixture(params=["seaweedfs", "moto"])
def server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 server in turn: the same test runs against both."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def bucket(server: S3Server) -> str:
    """A fresh, empty bucket on ``server``."""
    return server.make_bucket()


@pytest.fixture
def aws_env(tmp_path: Path, server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's and subprocesses' environment: the server's credentials, no AWS
    setting of the machine's user, a private read cache."""
    env = {**clean_aws_env(tmp_path), **server.env()}
    for key in list(os.environ):
        if key.startswith(("AWS_", "LAMINA_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def make_store(
    server: S3Server, bucket: str, aws_env: dict[str, str], tmp_path: Path
) -> Iterator[Any]:
    """``make_store(**options)``: an S3Datastore on the test's bucket (closed at the end)."""
    from lamina_datastore_s3.datastore import S3Datastore
    from lamina_datastore_s3.plugin import S3DatastoreOptions

    made: list[Any] = []

    def make(**options: Any) -> S3Datastore:
        options.setdefault("url", f"s3://{bucket}/lamina")
        options.setdefault("endpoint_url", server.endpoint)
        options.setdefault("cache_dir", str(tmp_path / f"cache{len(made)}"))
        store = S3Datastore(S3DatastoreOptions(**options))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def proxy_to(server: Any) -> Iterator[Any]:
    """A loopback proxy in front of the server that cuts, strips or delays on demand
    (``s3_util.LoopbackProxy``); every one made is closed after the test."""
    from s3_util import LoopbackProxy

    made: list[LoopbackProxy] = []

    def make(**kw: Any) -> LoopbackProxy:
        made.append(LoopbackProxy(server.port, **kw))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()
