"""``lamina.data``: read the stack's named warehouses and lakes into Arrow, write back.

::

    import lamina.data

    @flow.step
    def events(day: str = "2026-11-30"):
        return lamina.data.read("warehouse", "select * from events where day = %(day)s",
                                params={"day": day})

Inside a step, every read is recorded with the task (source, query and parameters, table
version where the source has one, rows, content hash; never a credential): ``lamina show``
lists it, ``lamina diff`` compares it, and the step cache and ``resume`` recompute a step
whose versioned input changed. Outside a step (a notebook, a test) the same calls read and
write but record nothing. See docs/data.md.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from lamina.errors import DataSourceError, LaminaError
from lamina.interfaces.data_source import DataInput, DataRead, DataSource
from lamina.runtime.current import current, record_data_input
from lamina.stack import Stack, resolve_stack

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DataInput",
    "DataRead",
    "DataSource",
    "DataSourceError",
    "parse_ref",
    "read",
    "read_recorded",
    "read_ref",
    "ref",
    "source",
    "sources",
    "write",
]


def _stack(stack: Stack | str | None) -> tuple[Stack, bool]:
    """The stack to read with and whether this call owns it (and closes it)."""
    if isinstance(stack, Stack):
        return stack, False
    if stack is None:
        ctx = current.context
        if ctx is not None:
            return ctx.stack, False
    return resolve_stack(stack), True


def _in_step(exc: LaminaError, source_name: str, stack: Stack | None = None) -> LaminaError:
    """``exc`` with the running step's name in front (inside a step) and every value the
    stack read from ``${VAR}`` or the secrets file written back as its reference; ``exc``
    itself when that changes nothing."""
    step = current.step
    text = exc.message if step is None else f"step {step!r}: {exc.message}"
    hint = exc.hint
    if stack is not None:
        text, hint = stack.redact(text), stack.redact(hint) if hint else hint
    if text == exc.message and hint == exc.hint:
        return exc
    return DataSourceError(text, source=getattr(exc, "source", "") or source_name, hint=hint)


def _check_source_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise DataSourceError(
            f"lamina.data: the source must be a source's name (a string), got {name!r}",
            hint='name a [stacks.S.data.NAME] table of the config: lamina.data.read("warehouse", ...)',
        )


def source(name: str, *, stack: Stack | str | None = None) -> DataSource:
    """The data source ``name`` of the stack (the running task's, else ``stack``, else the
    configured default stack) for calls beyond ``read``/``write`` (``check()``)."""
    _check_source_name(name)
    st, _owned = _stack(stack)
    return st.data_source(name)  # type: ignore[no-any-return]


def sources(*, stack: Stack | str | None = None) -> list[str]:
    """The names of the stack's data sources."""
    st, owned = _stack(stack)
    try:
        return st.data_source_names()
    finally:
        if owned:
            st.close()


def _complete(read: DataRead, name: str, plugin: str) -> DataRead:
    """The read with what every record holds filled in where the source left it out:
    the source's name, rows, content hash and the time of the read."""
    from lamina.datastore.hashing import table_digest

    table = read.table
    info = read.input
    changes: dict[str, Any] = {}
    if info.source != name:
        changes["source"] = name
    if not info.plugin:
        changes["plugin"] = plugin
    rows = int(getattr(table, "num_rows", 0))
    if info.rows != rows:
        changes["rows"] = rows
    if not info.content_hash:
        changes["content_hash"] = table_digest(table)
    if not info.read_at:
        changes["read_at"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    if changes:
        info = attrs.evolve(info, **changes)
    return DataRead(table=table, input=info)


def read_recorded(
    name: str,
    query: str | None = None,
    *,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    table: str | None = None,
    filter: Any = None,
    columns: Sequence[str] | None = None,
    as_of: str | None = None,
    stack: Stack | str | None = None,
) -> DataRead:
    """Like :func:`read`, and return the :class:`DataRead`: the table and the record of
    what was read (the same record the task keeps)."""
    _check_source_name(name)
    if (query is None) == (table is None):
        raise _in_step(DataSourceError(
            f"data source {name!r}: give either a query or table=..., "
            + ("not both" if query is not None else "got neither"),
            source=name,
            hint=f'lamina.data.read({name!r}, "select ...", params={{...}}) or '
            f'lamina.data.read({name!r}, table="events", columns=[...])',
        ), name)
    if query is not None and not isinstance(query, str):
        raise _in_step(DataSourceError(
            f"data source {name!r}: the query must be a string, got {type(query).__name__}",
            source=name, hint="pass the SQL text; values go in params=",
        ), name)
    st, owned = _stack(stack)
    try:
        src = st.data_source(name)
        plugin = st.data_source_spec(name).name
        result = src.read(query, params=params, table=table, filter=filter,
                          columns=list(columns) if columns is not None else None, as_of=as_of)
        done = _complete(result, name, plugin)
    except LaminaError as exc:
        wrapped = _in_step(exc, name, st)
        if wrapped is exc:
            raise
        raise wrapped from exc
    finally:
        if owned:
            st.close()
    record_data_input(done.input)
    return done


def read(
    name: str,
    query: str | None = None,
    *,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    table: str | None = None,
    filter: Any = None,
    columns: Sequence[str] | None = None,
    as_of: str | None = None,
    stack: Stack | str | None = None,
) -> pa.Table:
    """Read from data source ``name`` into a ``pyarrow.Table``.

    :param name: the source's name in the stack (``[stacks.S.data.NAME]``).
    :param query: SQL text; values go in ``params`` and are bound by the driver, never
        formatted into the text (``%(day)s`` or ``:day`` placeholders, as the source's
        documentation says; docs/data.md).
    :param params: the query's parameters (a mapping, or a sequence for ``?``).
    :param table: read a table instead of a query.
    :param filter: a table read's row filter, a DNF list (``[("day", "=", "b")]``; a list
        of lists is an OR of ANDs), pushed down (a ``WHERE`` on SQL sources).
    :param columns: a table read's columns.
    :param as_of: a table read at a recorded version (Delta/Iceberg time travel).
    :param stack: the stack (default: the running step's, else the configured one).
    :raises lamina.errors.DataSourceError: unknown source, bad credentials, unreachable
        server, SQL error, a type with no Arrow mapping...: one line naming the source (and,
        inside a step, the step) and the fix.

    Inside a step the read is recorded with the task; outside a step nothing is recorded.
    ``.to_pandas()`` or ``polars.from_arrow(...)`` turn the result into a frame.
    """
    return read_recorded(name, query, params=params, table=table, filter=filter,
                         columns=columns, as_of=as_of, stack=stack).table


def write(
    name: str,
    table: str,
    data: Any,
    *,
    mode: Literal["append", "overwrite"] = "append",
    stack: Stack | str | None = None,
) -> int:
    """Write ``data`` (an Arrow table, a pandas frame, or anything ``pyarrow.table()``
    takes) to ``table`` of source ``name``, atomically where the target allows (one
    transaction on SQL databases). Returns the rows written.

    :param mode: ``append`` adds rows (creating the table when it does not exist);
        ``overwrite`` replaces its rows.
    """
    _check_source_name(name)
    if mode not in ("append", "overwrite"):
        raise _in_step(DataSourceError(
            f"data source {name!r}: mode must be 'append' or 'overwrite', got {mode!r}",
            source=name, hint='lamina.data.write(source, table, data, mode="append")',
        ), name)
    if not isinstance(table, str) or not table:
        raise _in_step(DataSourceError(
            f"data source {name!r}: the table to write must be a name, got {table!r}",
            source=name, hint=f'lamina.data.write({name!r}, "predictions", data)',
        ), name)
    st, owned = _stack(stack)
    try:
        return int(st.data_source(name).write(table, to_arrow(data, name), mode=mode))
    except LaminaError as exc:
        wrapped = _in_step(exc, name, st)
        if wrapped is exc:
            raise
        raise wrapped from exc
    finally:
        if owned:
            st.close()


def to_arrow(data: Any, source_name: str = "") -> pa.Table:
    """``data`` as a ``pyarrow.Table`` (a table as is; a pandas or polars frame, a dict of
    columns, a record batch converted)."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    try:
        if type(data).__module__.startswith("pandas"):
            return pa.Table.from_pandas(data, preserve_index=False)
        return pa.table(data)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise DataSourceError(
            f"data source {source_name!r}: cannot turn a {type(data).__name__} into an Arrow "
            f"table to write ({exc})", source=source_name,
            hint="pass a pyarrow.Table, a pandas DataFrame or a dict of columns",
        ) from None


#: A feature view's source naming a data source: ``data://SOURCE?query=...`` or
#: ``data://SOURCE/TABLE`` (see :func:`ref`).
REF_SCHEME = "data://"


def ref(
    name: str,
    query: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    table: str | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """A read of data source ``name`` written as one string, for where a URL goes (a
    feature view's ``source=``): ``data://warehouse?query=...&params=...`` or
    ``data://lake/events?columns=a,b``. Reading it (:func:`read_ref`) runs
    :func:`read` with the same arguments, recorded the same way.

    :param params: JSON values only (they are stored in the string).
    """
    import json
    from urllib.parse import quote, urlencode

    _check_source_name(name)
    if (query is None) == (table is None):
        raise DataSourceError(
            f"data source {name!r}: a reference names either a query or table=...",
            source=name, hint=f'lamina.data.ref({name!r}, "select ...") or '
            f'lamina.data.ref({name!r}, table="events")')
    fields: dict[str, str] = {}
    if query is not None:
        fields["query"] = query
    if params:
        try:
            fields["params"] = json.dumps(dict(params), sort_keys=True)
        except TypeError:
            raise DataSourceError(
                f"data source {name!r}: a reference's params must be JSON values (they are "
                f"stored in the reference), got {params!r}", source=name,
                hint="pass dates and decimals as strings and cast them in the query") from None
    if columns:
        fields["columns"] = ",".join(columns)
    path = f"/{quote(table, safe='.')}" if table is not None else ""
    return f"{REF_SCHEME}{quote(name, safe='')}{path}" + (f"?{urlencode(fields)}" if fields
                                                          else "")


def parse_ref(text: str) -> dict[str, Any]:
    """The arguments of :func:`read` a :func:`ref` string holds (``name``, ``query``,
    ``params``, ``table``, ``columns``).

    :raises lamina.errors.DataSourceError: not a ``data://`` reference.
    """
    import json
    from urllib.parse import parse_qs, unquote, urlsplit

    if not isinstance(text, str) or not text.startswith(REF_SCHEME):
        raise DataSourceError(f"{text!r} is not a data source reference (data://SOURCE...)",
                              hint='build one with lamina.data.ref("warehouse", "select ...")')
    parts = urlsplit(text)
    fields = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    table = unquote(parts.path[1:]) if parts.path.strip("/") else None
    try:
        params = json.loads(fields["params"]) if "params" in fields else None
    except ValueError:
        raise DataSourceError(f"data source reference {text[:80]!r}: params is not JSON",
                              hint="build the reference with lamina.data.ref(...)") from None
    return {"name": unquote(parts.netloc), "query": fields.get("query"), "params": params,
            "table": table,
            "columns": fields["columns"].split(",") if fields.get("columns") else None}


def read_ref(text: str, *, stack: Stack | str | None = None) -> DataRead:
    """Read what a :func:`ref` string names (recorded inside a step, like :func:`read`)."""
    args = parse_ref(text)
    return read_recorded(args.pop("name"), args.pop("query"), stack=stack, **args)
