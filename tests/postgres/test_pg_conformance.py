"""The PostgreSQL metadata store passes lamina's metadata conformance suite, unchanged:
the same suite the builtin SQLite store passes (tests/conformance)."""

from __future__ import annotations

import pytest
from lamina_metadata_postgres.store import PostgresMetadataStore

from lamina.testing import MetadataSuite


class TestPostgresMetadataStore(MetadataSuite):
    @pytest.fixture
    def metadata_store(self, pg_store: PostgresMetadataStore) -> PostgresMetadataStore:
        return pg_store  # a fresh schema of the session's database

    @pytest.fixture
    def unreachable_metadata_store(self) -> PostgresMetadataStore:
        return PostgresMetadataStore("postgresql://lamina@127.0.0.1:1/lamina", stack="test",
                                     connect_timeout=2)
