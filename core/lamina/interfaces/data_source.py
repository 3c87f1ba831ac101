"""The data-sources layer: named warehouses and lakes read into Arrow inside steps.

A stack names its sources (``[stacks.prod.data.warehouse] plugin = "postgres", url = ...``);
a step reads one with ``lamina.data.read("warehouse", ...)``. Each source is offered by a
plugin through the ``lamina_data_sources`` hook as a :class:`DataSourceSpec`, so a
warehouse an organization runs in-house is one plugin away. Every read returns a
:class:`DataRead`: the table and a :class:`DataInput` that the run records, so "what
changed?" can be answered when the answer is "the table".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

#: How a source identified the version of what it read:
#: ``delta`` (a Delta table version), ``iceberg`` (a snapshot id), ``files`` (a listing's
#: paths, sizes and mtimes, hashed), ``none`` (the source cannot tell: a plain SQL query).
VersionKind = Literal["delta", "iceberg", "files", "none"]


@attrs.frozen
class DataInput:
    """What one read was, recorded with the task that made it. Never holds a credential.

    :param source: the source's name in the stack (``"warehouse"``).
    :param plugin: the plugin that served it (``"postgres"``).
    :param query: the query text, or None for a table read.
    :param params: the query's parameters, JSON-safe (values as strings where not).
    :param table: the table read, or None for a query.
    :param filter: the row filter of a table read, as text, or None.
    :param columns: the columns asked for, or None for all.
    :param version: the table's version where the source has one (Delta version, Iceberg
        snapshot id, the hash of a file listing), else None.
    :param version_kind: how ``version`` was found; ``"none"`` when it could not be.
    :param rows: rows returned.
    :param content_hash: the hash of the result's content (``lamina.sdk.table_digest``:
        BLAKE3 of its Arrow IPC stream), so two reads can be compared even where no version
        exists.
    :param read_at: when it was read, ISO 8601 UTC.
    """

    source: str
    plugin: str
    query: str | None = None
    params: Mapping[str, Any] | None = None
    table: str | None = None
    filter: str | None = None
    columns: tuple[str, ...] | None = None
    version: str | None = None
    version_kind: VersionKind = "none"
    rows: int = 0
    content_hash: str = ""
    read_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape a task record keeps (``tasks.data_inputs``)."""
        data = attrs.asdict(self, recurse=False)
        data["params"] = dict(self.params) if self.params is not None else None
        data["columns"] = list(self.columns) if self.columns is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataInput:
        """The record back from its JSON shape (unknown keys ignored, for records written
        by a newer lamina)."""
        names = {a.name for a in attrs.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if values.get("columns") is not None:
            values["columns"] = tuple(values["columns"])
        return cls(**values)

    def describe(self) -> str:
        """One line: the source, what was read and its version (for ``lamina show``)."""
        what = self.table or " ".join((self.query or "").split())
        if len(what) > 80:
            what = what[:77] + "..."
        version = (f"{self.version_kind} version {self.version}" if self.version
                   else "no version (the source cannot tell)")
        return f"{self.source} ({self.plugin}): {what} -> {self.rows} rows, {version}"


@attrs.frozen
class DataRead:
    """A read's result: the Arrow table and the record of what was read."""

    table: Any  # pyarrow.Table (not imported here: the kernel stays light)
    input: DataInput


@runtime_checkable
class DataSource(Protocol):
    """One named warehouse or lake. Implementations raise :class:`lamina.errors.LaminaError`
    subclasses whose one-line message names the source and the fix."""

    def read(
        self,
        query: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        table: str | None = None,
        filter: Any = None,
        columns: Sequence[str] | None = None,
        as_of: str | None = None,
    ) -> DataRead:
        """Run ``query`` (with ``params`` bound by the driver, never by string formatting)
        or read ``table`` (with an optional pushed-down ``filter`` and ``columns``);
        ``as_of`` reads the table at a recorded version where the source can (time travel).
        """

    def write(self, table: str, data: Any, *, mode: Literal["append", "overwrite"] = "append"
              ) -> int:
        """Write an Arrow table (or anything ``pyarrow.table()`` accepts) to ``table``,
        atomically where the target allows. Returns the rows written."""

    def version_of(self, read: DataInput) -> str | None:
        """The current version of what ``read`` read (same table, query and version kind),
        or None when the source cannot tell (a plain SQL query). The step cache and
        ``resume`` call it to decide whether a recorded result is still valid, so it must
        be cheap: a Delta log version, an Iceberg snapshot id, a file listing's hash."""

    def check(self) -> str:
        """Reach the source; a one-line summary or raise."""


@attrs.frozen
class DataSourceSpec:
    """A kind of data source offered by a plugin.

    :param name: what a stack's ``plugin = "..."`` names (``"postgres"``, ``"parquet"``).
    :param config: an attrs class of its options (the source's table in the stack, less
        ``plugin``); built strictly like every component's options.
    :param factory: ``factory(name, options, stack) -> DataSource``; import heavy drivers
        inside it.
    :param description: one line for ``lamina plugins``.
    :param install_hint: the ``pip install`` line for its driver.
    :param url_schemes: URL schemes it serves (``("postgresql", "postgres")``), so
        ``url = "..."`` alone can pick it.
    """

    name: str
    config: type
    factory: Callable[[str, Any, Any], DataSource]
    description: str = ""
    install_hint: str = ""
    url_schemes: tuple[str, ...] = ()


def jsonable_params(params: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, Any] | None:
    """Query parameters as a read records them: JSON values kept, anything else (a date, a
    Decimal) written as its ``str``; positional parameters keyed ``"1"``, ``"2"``..."""
    if params is None:
        return None
    items = (params.items() if isinstance(params, Mapping)
             else ((str(i), v) for i, v in enumerate(params, 1)))
    out: dict[str, Any] = {}
    for key, value in items:
        if value is None or isinstance(value, (bool, int, float, str)):
            out[str(key)] = value
        elif isinstance(value, (list, tuple)):
            out[str(key)] = [v if v is None or isinstance(v, (bool, int, float, str))
                             else str(v) for v in value]
        else:
            out[str(key)] = str(value)
    return out


def safe_url(url: str) -> str:
    """``url`` without its password (``postgresql://bob:s3cret@db/x`` ->
    ``postgresql://bob@db/x``) and without query values that look like credentials: what a
    source may show or record of where it reads."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    query = parts.query
    if query:
        words = ("password", "passwd", "secret", "token", "key", "credential")
        pairs = [(k, "****" if any(w in k.lower() for w in words) else v)
                 for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def arrow_table(source: str, table: str, data: Any) -> Any:
    """``data`` (an Arrow table or record batch, or anything ``pyarrow.table()`` takes) as
    a ``pyarrow.Table`` to write to ``table`` of data source ``source``.

    :raises lamina.errors.DataSourceError: a column has no Arrow type; the message names
        the source, the table and the column.
    """
    import pyarrow as pa

    from lamina.errors import DataSourceError

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        return pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError,
            ValueError) as exc:
        column = _bad_column(data)
        what = f"column {column!r}" if column else "the data"
        reason = " ".join(str(exc).split())
        raise DataSourceError(
            f"data source {source!r}: cannot write {what} to table {table!r}: it has no "
            f"Arrow type ({reason[:200]})", source=source,
            hint="convert the column to numbers, strings, decimals, timestamps or bytes "
            "(json.dumps for nested Python objects)",
        ) from None


def _bad_column(data: Any) -> str | None:
    """The first column of ``data`` (a mapping or a frame) that has no Arrow type."""
    import pyarrow as pa

    try:
        items = data.items() if isinstance(data, Mapping) else (
            (name, data[name]) for name in data.columns)
    except Exception:
        return None
    for name, values in items:
        try:
            pa.array(values, from_pandas=True)
        except Exception:
            return str(name)
    return None
