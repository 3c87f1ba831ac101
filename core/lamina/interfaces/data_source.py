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
