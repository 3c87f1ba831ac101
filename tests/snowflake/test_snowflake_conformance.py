"""The data-source conformance suite on the Snowflake source, through the real connector
against fakesnow's server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lamina.testing import DataSourceSuite


class TestSnowflakeSource(DataSourceSuite):
    versions = False
    time_travel = False
    queries = True
    param_query = "select * from {table} where id >= %(min_id)s"
    # fakesnow 0.12's server answers a NULL TIMESTAMP_TZ/NTZ as 1970-01-01 (its own
    # Arrow encoding, not the connector's): tested with non-null timestamps here
    null_timestamps = False

    @pytest.fixture
    def data_source(self, source_name: str, snowflake_options: dict[str, Any]) -> Iterator[Any]:
        from lamina_data_snowflake.plugin import SnowflakeOptions
        from lamina_data_snowflake.source import SnowflakeSource

        source = SnowflakeSource(source_name, SnowflakeOptions(**snowflake_options))
        yield source
        source.close()

    @pytest.fixture
    def unreachable_data_source(self, source_name: str, fakesnow_server: Any) -> Any:
        from envs_util import free_port
        from lamina_data_snowflake.plugin import SnowflakeOptions
        from lamina_data_snowflake.source import SnowflakeSource

        options = fakesnow_server.options(port=free_port(), login_timeout=3,
                                          network_timeout=3)
        return SnowflakeSource(source_name, SnowflakeOptions(**options))
