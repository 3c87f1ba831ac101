"""The S3 datastore passes the datastore conformance suite on both loopback servers
(SeaweedFS and moto): ``make_store`` runs each test against each of them."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.testing import DatastoreSuite


class TestS3Datastore(DatastoreSuite):
    @pytest.fixture
    def datastore(self, make_store: Any) -> Any:
        return make_store()

    @pytest.fixture
    def datastore_reader(self, make_store: Any, datastore: Any) -> Any:
        # another instance with an empty read cache: what it reads came from the server
        return make_store()
