"""The ``postgres`` and ``mysql`` data sources: option classes and the hook that offers
them. Drivers are imported when a stack builds a source, never here."""

from __future__ import annotations

from typing import Any

import attrs

from lamina.sdk import DataSourceSpec, hookimpl


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class PostgresSourceOptions:
    """Options of the ``postgres`` data source (PostgreSQL; Redshift and Aurora
    PostgreSQL through the same protocol), read through ADBC.

    :param url: ``postgresql://user@host:5432/dbname``; give the password as
        ``postgresql://user:${PGPASSWORD}@host/db`` (read from the environment, never
        recorded) or through ``~/.pgpass``/``PGPASSWORD``.
    :param connect_timeout: seconds to wait for the server to answer.
    :param search_path: a schema search path set on each connection (``"analytics,public"``).
    """

    url: str
    connect_timeout: int = attrs.field(default=10, validator=_positive)
    search_path: str | None = None


@attrs.frozen
class MysqlSourceOptions:
    """Options of the ``mysql`` data source (MySQL, MariaDB, Aurora MySQL), read through
    SQLAlchemy and PyMySQL.

    :param url: ``mysql://user@host:3306/dbname`` (or ``mysql+pymysql://...``,
        ``mariadb://...``); give the password as ``mysql://user:${MYSQL_PWD}@host/db``.
    :param connect_timeout: seconds to wait for the server to answer.
    """

    url: str
    connect_timeout: int = attrs.field(default=10, validator=_positive)


def _postgres(name: str, options: PostgresSourceOptions, stack: Any) -> Any:
    from lamina_data_sql.postgres import PostgresSource

    return PostgresSource(name, options)


def _mysql(name: str, options: MysqlSourceOptions, stack: Any) -> Any:
    from lamina_data_sql.mysql import MysqlSource

    return MysqlSource(name, options)


@hookimpl
def lamina_data_sources() -> list[DataSourceSpec]:
    return [
        DataSourceSpec(
            name="postgres", config=PostgresSourceOptions, factory=_postgres,
            description="PostgreSQL (also Redshift, Aurora PostgreSQL) into Arrow through ADBC",
            install_hint="pip install lamina-data-sql",
            url_schemes=("postgresql", "postgres", "redshift"),
        ),
        DataSourceSpec(
            name="mysql", config=MysqlSourceOptions, factory=_mysql,
            description="MySQL, MariaDB, Aurora MySQL into Arrow through SQLAlchemy + PyMySQL",
            install_hint="pip install lamina-data-sql",
            url_schemes=("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"),
        ),
    ]
