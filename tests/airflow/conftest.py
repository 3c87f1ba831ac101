"""One migrated AIRFLOW_HOME for the session, shared by every Airflow test module
(``airflow db migrate`` takes seconds)."""

from __future__ import annotations

import pytest
from airflow_util import AirflowHome


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    home = AirflowHome(tmp_path_factory.mktemp("airflow-home"))
    home.migrate()
    return home
