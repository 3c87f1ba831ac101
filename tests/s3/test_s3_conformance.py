"""The S3 datastore passes the datastore conformance suite on both loopback servers
(SeaweedFS and moto): ``make_store`` runs each test against each of them."""

from __future__ import annotations

from typing import Any

import pytest
from envs_util import free_port

from lamina.testing import DatastoreSuite


class TestS3Datastore(DatastoreSuite):
    @pytest.fixture
    def datastore(self, make_store: Any) -> Any:
        return make_store()

    @pytest.fixture
    def datastore_reader(self, make_store: Any, datastore: Any) -> Any:
        # another instance with an empty read cache: what it reads came from the server
        return make_store()

    @pytest.fixture
    def unreachable_datastore(self, make_store: Any) -> Any:
        # nothing listens on the port; one attempt, so that the test is quick
        return make_store(endpoint_url=f"http://127.0.0.1:{free_port()}", retries=1,
                          connect_timeout=2.0)
