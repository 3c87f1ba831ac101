"""The ``snowflake`` data source: options and registration.

Imported whenever lamina collects plugins, so it holds only the options class;
``snowflake-connector-python`` is imported when a stack builds the source.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from lamina.sdk import DataSourceSpec, hookimpl

INSTALL_HINT = "pip install lamina-data-snowflake"


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _url(instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme != "snowflake" or not parts.hostname:
        raise ValueError(f"url {value!r} is not a Snowflake URL: write "
                         "snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=W&role=R")
    if parts.password:
        raise ValueError("url holds a password: remove it and set password = \"${VAR}\"")


def _protocol(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in ("https", "http"):
        raise ValueError(f"protocol must be 'https' or 'http', got {value!r}")


@attrs.frozen
class SnowflakeOptions:
    """Options of a ``snowflake`` source (``[stacks.S.data.NAME] plugin = "snowflake"``).

    :param url: ``snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=W&role=R``, a
        shorthand for the options below (which win where both are given). Never a password.
    :param account: the account identifier (``myorg-myaccount``).
    :param user: the login name.
    :param password: the password, if that is how the user logs in; write ``"${VAR}"`` or
        put it in ``lamina.secrets.toml``. Never printed or recorded.
    :param authenticator: ``snowflake`` (password), ``externalbrowser``, ``snowflake_jwt``
        (key pair, with ``private_key_file``), ``oauth`` (with ``token``)...
    :param private_key_file: a PKCS#8 key file for key-pair login.
    :param token: an OAuth token (``"${VAR}"``).
    :param role: the role to use.
    :param warehouse: the virtual warehouse that runs the queries.
    :param database: the default database.
    :param schema: the default schema; unqualified tables are looked up there.
    :param host: a host other than the account's (PrivateLink, an emulator).
    :param port: its port.
    :param protocol: ``https`` (``http`` only for an emulator on loopback).
    :param login_timeout: seconds to wait for the login.
    :param network_timeout: seconds to wait for a query's response.
    :param insert_batch: rows per INSERT statement of a write.
    """

    url: str | None = attrs.field(default=None, validator=_url)
    account: str | None = None
    user: str | None = None
    password: str | None = None
    authenticator: str | None = None
    private_key_file: str | None = None
    token: str | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None
    host: str | None = None
    port: int | None = attrs.field(default=None, validator=_positive)
    protocol: str = attrs.field(default="https", validator=_protocol)
    login_timeout: float = attrs.field(default=60.0, validator=_positive)
    network_timeout: float | None = attrs.field(default=None, validator=_positive)
    insert_batch: int = attrs.field(default=10_000, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not (self.account or self.url):
            raise ValueError("account is required: set account = \"ORG-ACCOUNT\" (or url = "
                             "\"snowflake://USER@ACCOUNT/DB/SCHEMA\")")

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``snowflake.connector.connect`` (with credentials:
        never log or record them)."""
        kwargs: dict[str, Any] = {}
        if self.url:
            parts = urlsplit(self.url)
            kwargs["account"] = parts.hostname
            if parts.username:
                kwargs["user"] = unquote(parts.username)
            path = [unquote(p) for p in parts.path.split("/") if p]
            if path:
                kwargs["database"] = path[0]
            if len(path) > 1:
                kwargs["schema"] = path[1]
            kwargs.update({k: v for k, v in parse_qsl(parts.query)
                           if k in ("warehouse", "role", "authenticator")})
        for key in ("account", "user", "password", "authenticator", "private_key_file",
                    "token", "role", "warehouse", "database", "schema", "host", "port",
                    "login_timeout", "network_timeout"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        if self.protocol != "https":
            kwargs["protocol"] = self.protocol
        kwargs["session_parameters"] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
                                        "TIMEZONE": "UTC"}
        return kwargs


def _snowflake(name: str, options: SnowflakeOptions, stack: Any) -> Any:
    from lamina_data_snowflake.source import SnowflakeSource

    return SnowflakeSource(name, options)


@hookimpl
def lamina_data_sources() -> list[DataSourceSpec]:
    return [
        DataSourceSpec(
            name="snowflake",
            config=SnowflakeOptions,
            factory=_snowflake,
            description="Snowflake through the official connector, results fetched as Arrow",
            install_hint=INSTALL_HINT,
            url_schemes=("snowflake",),
        )
    ]
