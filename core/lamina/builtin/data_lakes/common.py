"""What the lake sources share: options, filters, the S3 connection, Arrow conversion and
the record of a read.

Credentials never pass through here as options: every source reaches S3 with the
standard AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``~/.aws``, an instance role), read when the source is built and never recorded.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import attrs

from lamina.errors import DataSourceError
from lamina.interfaces.data_source import DataInput, DataRead, VersionKind, arrow_table
from lamina.sqltext import FILTER_OPERATORS, dnf_filter, filter_text

#: Comparison operators of a DNF filter, as pyarrow's dataset filters spell them.
OPERATORS = FILTER_OPERATORS
_dnf = dnf_filter
#: URL schemes served by S3 (s3fs).
S3_SCHEMES = ("s3", "s3a")


def _no_credentials(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if "://" in value and "@" in value.split("://", 1)[1].split("/", 1)[0]:
        raise ValueError(f"{attribute.name} {value!r} holds credentials: remove them and "
                         "set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile)")


def _non_empty(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not str(value).strip():
        raise ValueError(f"{attribute.name} must not be empty")


@attrs.frozen
class LakeOptions:
    """Options of a ``parquet`` or ``delta`` source (``[stacks.S.data.NAME]``).

    :param url: the lake's root: a local folder (``data/lake``, ``file:///srv/lake``) or
        ``s3://bucket/prefix``. Table ``T`` is the folder ``URL/T``.
    :param endpoint_url: an S3-compatible server (MinIO, SeaweedFS, Ceph); default AWS or
        ``AWS_ENDPOINT_URL``.
    :param region: the bucket's region; default ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.
    :param partition_by: columns a new table is partitioned by when it is first written
        (hive layout, ``day=2026-01-01/``); an existing table keeps its own.
    :param connect_timeout: seconds to wait for the S3 server before giving up.
    :param profile: a named profile of ``~/.aws/config``; default the standard chain.
    :param access_key_id: explicit credentials, for stores outside AWS; write
        ``"${MY_KEY_ID}"`` so the value comes from the environment, never the file.
    :param secret_access_key: the secret paired with ``access_key_id`` (use ``${VAR}``).
    :param session_token: a temporary session token (use ``${VAR}``).
    """

    url: str = attrs.field(validator=[_non_empty, _no_credentials])
    endpoint_url: str | None = None
    region: str | None = None
    partition_by: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    connect_timeout: float = 10.0
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = attrs.field(default=None, repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class IcebergOptions:
    """Options of an ``iceberg`` source: a SQL catalog (pyiceberg's ``SqlCatalog``).

    :param url: the warehouse, where new tables' files go: a local folder or
        ``s3://bucket/prefix``.
    :param catalog: the catalog database, a SQLAlchemy URL (``sqlite:///catalog.db``, or
        ``postgresql+psycopg://host/db`` with psycopg installed); default
        ``URL/catalog.db`` for a local warehouse (required for one on S3). Keep passwords
        out of it: use ``"${VAR}"``.
    :param catalog_name: the catalog's name inside that database (several share one).
    :param namespace: the namespace of unqualified table names (``T`` is ``NAMESPACE.T``);
        created on the first write.
    :param endpoint_url: an S3-compatible server; default AWS or ``AWS_ENDPOINT_URL``.
    :param region: the bucket's region; default ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.
    :param connect_timeout: seconds to wait for the S3 server before giving up.
    :param access_key_id: explicit S3 credentials; write ``"${MY_KEY_ID}"``. Default the
        environment's ``AWS_ACCESS_KEY_ID`` (and an instance role).
    :param secret_access_key: the secret paired with ``access_key_id`` (use ``${VAR}``).
    :param session_token: a temporary session token (use ``${VAR}``).
    """

    url: str = attrs.field(validator=[_non_empty, _no_credentials])
    catalog: str | None = attrs.field(default=None, repr=False)
    catalog_name: str = "lamina"
    namespace: str = attrs.field(default="default", validator=_non_empty)
    endpoint_url: str | None = None
    region: str | None = None
    connect_timeout: float = 10.0
    access_key_id: str | None = None
    secret_access_key: str | None = attrs.field(default=None, repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)


# ------------------------------------------------------------------------- locations


def is_s3(url: str) -> bool:
    return url.split("://", 1)[0].lower() in S3_SCHEMES if "://" in url else False


def local_root(url: str) -> str:
    """The absolute local path of a ``file://`` URL or a plain path."""
    path = url[len("file://"):] if url.startswith("file://") else url
    return os.path.abspath(os.path.expanduser(path))


def table_url(root: str, table: str) -> str:
    return f"{root.rstrip('/')}/{table}"


def check_table_name(source: str, table: str | None) -> str:
    if not table or not isinstance(table, str):
        raise DataSourceError(f"data source {source!r}: read or write without a table name",
                              hint="pass table='NAME'")
    bad = [part for part in table.split("/") if part in ("", ".", "..")]
    if bad or table.startswith("/") or "\\" in table:
        raise DataSourceError(f"data source {source!r}: table name {table!r} is not a "
                              "relative name inside the lake",
                              hint="name a table as NAME or FOLDER/NAME, without '..'")
    return table


def region_of(options: Any) -> str | None:
    return (options.region or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION"))


def endpoint_of(options: Any) -> str | None:
    return options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") \
        or os.environ.get("AWS_ENDPOINT_URL")


def credentials(options: Any) -> dict[str, str]:
    """The explicit S3 credentials of the options (``key``, ``secret``, ``token``), else
    the environment's; empty when neither has any (an instance role, a profile)."""
    explicit = getattr(options, "access_key_id", None)
    found = {
        "key": explicit if explicit else os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret": (options.secret_access_key if explicit
                   else os.environ.get("AWS_SECRET_ACCESS_KEY")),
        "token": options.session_token if explicit else os.environ.get("AWS_SESSION_TOKEN"),
    }
    if getattr(options, "profile", None) and not explicit:
        return {}
    return {k: v for k, v in found.items() if v}


def s3_filesystem(options: Any) -> Any:
    """An s3fs filesystem for the options: explicit credentials or a profile when the
    options name them, else the standard AWS chain."""
    import s3fs

    auth: dict[str, Any] = {}
    if getattr(options, "access_key_id", None):
        auth = credentials(options)
    elif getattr(options, "profile", None):
        auth = {"profile": options.profile}
    client_kwargs: dict[str, Any] = {}
    if endpoint_of(options):
        client_kwargs["endpoint_url"] = endpoint_of(options)
    if region_of(options):
        client_kwargs["region_name"] = region_of(options)
    return s3fs.S3FileSystem(
        **auth, client_kwargs=client_kwargs, skip_instance_cache=True,
        config_kwargs={"connect_timeout": options.connect_timeout,
                       "read_timeout": max(options.connect_timeout, 30.0),
                       "retries": {"max_attempts": 2, "mode": "standard"}},
    )


def check_s3(source: str, plugin: str, options: Any) -> None:
    """List the bucket of an S3 lake, or raise the error of an unreachable one."""
    if not is_s3(options.url):
        return
    bucket = strip_scheme(options.url).split("/", 1)[0]
    try:
        s3_filesystem(options).ls(bucket)
    except FileNotFoundError:
        raise DataSourceError(f"data source {source!r} ({plugin}): bucket {bucket!r} of "
                              f"{options.url!r} does not exist",
                              hint="create the bucket, or fix the url") from None
    except Exception as exc:
        raise (storage_error(source, plugin, options.url, exc)
               or unreachable(source, plugin, options.url, exc)) from None


def strip_scheme(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def unreachable(source: str, plugin: str, url: str, exc: BaseException) -> DataSourceError:
    """The error of a lake whose storage did not answer."""
    return DataSourceError(
        f"data source {source!r} ({plugin}): cannot reach {url!r} "
        f"({type(exc).__name__}: {first_line(exc)})",
        hint="check the URL, endpoint_url and that the server is up (and AWS credentials)",
    )


def denied(source: str, plugin: str, url: str, exc: BaseException) -> DataSourceError:
    """The error of a lake whose storage refused the credentials or the request."""
    return DataSourceError(
        f"data source {source!r} ({plugin}): {url!r} refused access "
        f"({type(exc).__name__}: {first_line(exc)})",
        hint="check the credentials (access_key_id / secret_access_key, AWS_* variables or "
        "the profile) and that they may read (and write) this bucket",
    )


def storage_error(source: str, plugin: str, url: str,
                  exc: BaseException) -> DataSourceError | None:
    """The one-line error of a storage that did not answer or refused access, else None."""
    if is_connection_error(exc):
        return unreachable(source, plugin, url, exc)
    if is_access_error(exc):
        return denied(source, plugin, url, exc)
    return None


def is_access_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is S3 refusing the credentials or the request."""
    words = ("AccessDenied", "ACCESS_DENIED", "SignatureDoesNotMatch", "InvalidAccessKeyId",
             "lacked the necessary privileges", "403 Forbidden", "Forbidden",
             "InvalidClientTokenId", "ExpiredToken")
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PermissionError) or any(w in str(current) for w in words):
            return True
        current = current.__cause__ or current.__context__
    return False


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says a server could not be reached."""
    names = ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionError",
             "ClientConnectorError", "ConnectionRefusedError", "ReadTimeoutError",
             "ServerDisconnectedError")
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in names or isinstance(exc, ConnectionError):
            return True
        text = str(exc)
        if any(word in text for word in ("Connection refused", "connection refused",
                                         "Failed to connect", "error trying to connect",
                                         "Could not connect", "timed out")):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


# ---------------------------------------------------------------------------- filters


def bad_filter(source: str, value: Any) -> DataSourceError:
    return DataSourceError(
        f"data source {source!r}: filter {value!r} is neither a pyarrow expression nor a "
        "list of (column, op, value) tuples",
        hint="write filter=[('day', '=', '2026-01-01')] (a list of lists is an OR of ANDs); "
        f"operators: {', '.join(OPERATORS)}",
    )


def arrow_filter(source: str, value: Any) -> Any:
    """``value`` (a pyarrow compute Expression or a DNF list) as an Expression, or None."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if value is None:
        return None
    if isinstance(value, pc.Expression):
        return value
    if not isinstance(value, list | tuple):
        raise bad_filter(source, value)
    try:
        dnf = _dnf(value)
    except TypeError:
        raise bad_filter(source, value) from None
    # pyarrow's own DNF translation (the one pyarrow.parquet uses)
    import pyarrow.parquet as pq

    expr = pq.filters_to_expression([[tuple(t) for t in conj] for conj in dnf])
    assert isinstance(expr, ds.Expression)
    return expr


def dnf_terms(source: str, value: Any) -> list[list[tuple[str, str, Any]]]:
    """A DNF filter as a list of conjunctions of ``(column, op, value)``."""
    try:
        return [[(c, op, v) for c, op, v in conj] for conj in _dnf(value)]
    except TypeError:
        raise bad_filter(source, value) from None


def check_columns(source: str, table: str, columns: Sequence[str] | None,
                  available: Sequence[str]) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        raise DataSourceError(f"data source {source!r}: columns={columns!r} is one string",
                              hint=f"pass a list: columns=[{columns!r}]")
    missing = [c for c in columns if c not in available]
    if missing:
        raise DataSourceError(
            f"data source {source!r}: table {table!r} has no column "
            f"{', '.join(map(repr, missing))} (it has {', '.join(available)})",
            hint="name columns the table has",
        )
    return list(columns)


def no_query(source: str, plugin: str, query: str | None) -> None:
    if query is not None:
        raise DataSourceError(
            f"data source {source!r} ({plugin}) reads tables, not SQL queries",
            hint="read(table='NAME', filter=[...], columns=[...]); query the result with "
            "DuckDB or pandas if you need SQL",
        )


# ----------------------------------------------------------------------------- arrow


def to_arrow(source: str, table: str, data: Any) -> Any:
    """``data`` as a ``pyarrow.Table``; a column with no Arrow type is named in the error."""
    return arrow_table(source, table, data)


def finish_read(*, source: str, plugin: str, table_name: str, result: Any, filter: Any,
                columns: Sequence[str] | None, version: str | None,
                version_kind: VersionKind) -> DataRead:
    """The :class:`DataRead` of a table read, its :class:`DataInput` filled in."""
    from lamina.datastore.hashing import table_digest

    record = DataInput(
        source=source, plugin=plugin, table=table_name, filter=filter_text(filter),
        columns=tuple(columns) if columns is not None else None,
        version=version, version_kind=version_kind if version is not None else "none",
        rows=result.num_rows, content_hash=table_digest(result),
        read_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
    )
    return DataRead(table=result, input=record)
