"""The data-source conformance suite: :class:`DataSourceSuite`."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from lamina.errors import LaminaError
from lamina.interfaces.data_source import DataInput, DataRead, DataSource
from lamina.testing.flows import missing_fixture

UTC = dt.UTC
HELSINKI = dt.timezone(dt.timedelta(hours=2))


def sample_table(*, null_timestamps: bool = True) -> Any:
    """Four rows of every type the suite round-trips: ints, decimals, timestamps with
    zones (UTC and another), strings, and a null in each column (but the timestamps',
    with ``null_timestamps=False``)."""
    import pyarrow as pa

    table = pa.table({
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "qty": pa.array([10, -20, None, 2**40], pa.int64()),
        "amount": pa.array([decimal.Decimal("1.25"), decimal.Decimal("-3.50"), None,
                            decimal.Decimal("1234567890.12")], pa.decimal128(12, 2)),
        "at": pa.array([dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
                        dt.datetime(2026, 6, 30, 23, 59, 59, 123456, tzinfo=UTC), None,
                        dt.datetime(1999, 12, 31, 0, 0, tzinfo=UTC)], pa.timestamp("us", "UTC")),
        "local": pa.array([dt.datetime(2026, 1, 1, 14, 0, tzinfo=HELSINKI), None,
                           dt.datetime(2026, 3, 1, 2, 30, tzinfo=HELSINKI),
                           dt.datetime(2026, 7, 1, 0, 0, tzinfo=HELSINKI)],
                          pa.timestamp("us", "+02:00")),
        "name": pa.array(["ada", "", None, "Åsa ✓"], pa.string()),
        "day": pa.array(["a", "b", "b", "c"], pa.string()),
    })
    if not null_timestamps:
        for name in ("at", "local"):
            column = table.column(name)
            filled = column.fill_null(pa.scalar(dt.datetime(2000, 1, 1, tzinfo=UTC),
                                                column.type))
            table = table.set_column(table.schema.get_field_index(name), name, filled)
    return table


def normalized(table: Any, key: str = "id") -> list[dict[str, Any]]:
    """Rows as plain Python values sorted by ``key``: column names lower-cased, ints as
    int, decimals as Decimal, timestamps as aware UTC datetimes (the instant, not the
    zone's name, is what every backend keeps)."""
    rows = []
    for row in table.to_pylist():
        out: dict[str, Any] = {}
        for name, value in row.items():
            if isinstance(value, dt.datetime):
                value = (value.replace(tzinfo=UTC) if value.tzinfo is None
                         else value.astimezone(UTC))
            elif isinstance(value, decimal.Decimal) and value == value.to_integral_value() \
                    and name.lower() in ("id", "qty"):
                value = int(value)
            out[name.lower()] = value
        rows.append(out)
    return sorted(rows, key=lambda r: r[key])


class DataSourceSuite:
    """Conformance of a :class:`lamina.interfaces.data_source.DataSource`.

    Override the ``data_source`` fixture to return a source named ``source_name`` (a
    fixture, ``"conformance"`` by default) that can create tables; each test writes tables
    named from the ``table_name`` fixture (unique per test), so sources sharing a server
    do not collide. Set the class attributes to what the backend can do:

    - ``versions``: ``version_of`` tells a table's version (Delta, Iceberg, a file
      listing); else it returns None and reads record ``version_kind="none"``.
    - ``time_travel``: ``read(as_of=...)`` reads a recorded older version; else such a read
      raises a :class:`lamina.errors.LaminaError` that says so.
    - ``queries``: the source runs SQL; ``param_query`` is a query over ``{table}`` with one
      parameter ``min_id`` in the driver's style (``"... where id >= %(min_id)s"``).
      A source that does not take queries raises a clear error for one.
    - ``null_timestamps``: leave True. Set it False only for an emulator known to return a
      NULL timestamp as 1970-01-01 (say so where you set it): the round trips then use
      non-null timestamps.

    The contract, beyond the Protocol's docstrings:

    - ``write`` creates a table on first use; ``append`` adds rows, ``overwrite`` replaces
      them; both return the rows written. Ints, decimals, timestamps with zones (as
      instants), strings and nulls read back equal.
    - ``filter`` takes a DNF list (``[("day", "=", "b")]``; a list of lists is an OR of
      ANDs); a zoned ``datetime`` in it is compared as its instant; ``columns`` returns
      exactly those columns, in that order.
    - Every read's :class:`DataInput` is complete: source, plugin, table, the filter as
      text, columns, version and version kind, rows, ``content_hash`` equal to
      ``lamina.sdk.table_digest`` of the result, ``read_at`` in ISO 8601 UTC.
    - A versioned source's ``version_of`` is stable while the table is unchanged and
      changes after a write.
    - An unknown table, an unknown write mode and a column with no Arrow type are each a
      ``LaminaError`` whose message names the source (and the table or column) and whose
      hint says the fix. With an ``unreachable_data_source`` fixture (a source pointing
      at a server that is down), a read fails the same way, naming the source.
    """

    versions: bool = True
    time_travel: bool = True
    queries: bool = False
    param_query: str = ""
    #: False only where the server under test is an emulator known to return a NULL
    #: timestamp as 1970-01-01 (say so where it is set); real backends keep True.
    null_timestamps: bool = True

    @pytest.fixture
    def source_name(self) -> str:
        """The name the ``data_source`` fixture gives its source."""
        return "conformance"

    @pytest.fixture
    def data_source(self, source_name: str) -> Any:
        """The component under test. Override it."""
        missing_fixture(self, "data_source",
                        "return MySource(source_name, MyOptions(url=str(tmp_path)))")

    @pytest.fixture
    def table_name(self) -> str:
        """A table name no other test uses."""
        return f"t_{uuid.uuid4().hex[:10]}"

    # ------------------------------------------------------------------ helpers

    def _sample(self) -> Any:
        return sample_table(null_timestamps=self.null_timestamps)

    def _read(self, source: Any, **kwargs: Any) -> DataRead:
        read = source.read(**kwargs)
        assert isinstance(read, DataRead), f"read returned {type(read).__name__}"
        return read

    # -------------------------------------------------------------------- tests

    def test_it_is_a_data_source(self, data_source: Any) -> None:
        assert isinstance(data_source, DataSource), (
            f"{type(data_source).__name__} lacks methods of "
            "lamina.interfaces.data_source.DataSource"
        )
        summary = data_source.check()
        assert isinstance(summary, str) and summary.strip()

    def test_types_round_trip(self, data_source: Any, table_name: str) -> None:
        data = self._sample()
        assert data_source.write(table_name, data) == 4
        got = self._read(data_source, table=table_name)
        assert got.table.num_rows == 4
        assert normalized(got.table) == normalized(data)

    def test_append_adds_rows_and_overwrite_replaces_them(self, data_source: Any,
                                                          table_name: str) -> None:
        data = self._sample()
        data_source.write(table_name, data.slice(0, 2))
        assert data_source.write(table_name, data.slice(2, 2), mode="append") == 2
        assert normalized(self._read(data_source, table=table_name).table) == normalized(data)
        assert data_source.write(table_name, data.slice(3, 1), mode="overwrite") == 1
        assert normalized(self._read(data_source, table=table_name).table) == \
            normalized(data.slice(3, 1))

    def test_filter_and_columns(self, data_source: Any, table_name: str) -> None:
        data_source.write(table_name, self._sample())
        got = self._read(data_source, table=table_name, filter=[("day", "=", "b")],
                         columns=["id", "name"])
        assert [c.lower() for c in got.table.column_names] == ["id", "name"]
        assert [r["id"] for r in normalized(got.table)] == [2, 3]
        either = self._read(data_source, table=table_name,
                            filter=[[("day", "=", "a")], [("id", ">=", 4)]], columns=["id"])
        assert [r["id"] for r in normalized(either.table)] == [1, 4]
        both = self._read(data_source, table=table_name,
                          filter=[("day", "in", ["b", "c"]), ("id", "!=", 3)], columns=["id"])
        assert [r["id"] for r in normalized(both.table)] == [2, 4]
        none = self._read(data_source, table=table_name, filter=[("day", "=", "zzz")])
        assert none.table.num_rows == 0 and none.input.rows == 0

    def test_a_zoned_timestamp_in_a_filter_is_an_instant(self, data_source: Any,
                                                       table_name: str) -> None:
        data_source.write(table_name, self._sample())
        at = dt.datetime(2026, 1, 1, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        got = self._read(data_source, table=table_name, filter=[("at", ">=", at)],
                         columns=["id"])
        assert [r["id"] for r in normalized(got.table)] == [1, 2]  # 11:30 UTC and later

    def test_query_with_params(self, data_source: Any, table_name: str,
                               source_name: str) -> None:
        data_source.write(table_name, self._sample())
        if not self.queries:
            with pytest.raises(LaminaError) as err:
                data_source.read(f"select * from {table_name}", params={"min_id": 3})
            assert source_name in str(err.value) and err.value.hint
            return
        query = self.param_query.format(table=table_name)
        got = self._read(data_source, query=query, params={"min_id": 3})
        assert [r["id"] for r in normalized(got.table)] == [3, 4]
        assert got.input.query == query and dict(got.input.params or {}) == {"min_id": 3}
        assert got.input.rows == 2

    def test_a_read_records_everything(self, data_source: Any, table_name: str,
                                       source_name: str) -> None:
        from lamina.sdk import table_digest

        data_source.write(table_name, self._sample())
        before = dt.datetime.now(UTC)
        got = self._read(data_source, table=table_name, filter=[("day", "=", "b")],
                         columns=["id", "day"])
        record = got.input
        assert isinstance(record, DataInput)
        assert record.source == source_name
        assert record.plugin and isinstance(record.plugin, str)
        assert record.table == table_name and record.query is None
        assert record.filter and "day" in record.filter and "b" in record.filter
        assert record.columns == ("id", "day")
        assert record.rows == got.table.num_rows == 2
        assert record.content_hash == table_digest(got.table)
        read_at = dt.datetime.fromisoformat(record.read_at)
        assert read_at.utcoffset() == dt.timedelta(0)
        assert before - dt.timedelta(seconds=5) <= read_at <= dt.datetime.now(UTC)
        if self.versions:
            assert record.version and record.version_kind != "none"
        else:
            assert record.version is None and record.version_kind == "none"
        again = self._read(data_source, table=table_name, filter=[("day", "=", "b")],
                           columns=["id", "day"])
        assert again.input.content_hash == record.content_hash
        assert again.input.version == record.version

    def test_version_of_is_stable_until_a_write(self, data_source: Any,
                                                table_name: str) -> None:
        data = self._sample()
        data_source.write(table_name, data.slice(0, 2))
        record = self._read(data_source, table=table_name).input
        if not self.versions:
            assert data_source.version_of(record) is None
            return
        assert data_source.version_of(record) == record.version
        assert data_source.version_of(record) == record.version, "stable when unchanged"
        data_source.write(table_name, data.slice(2, 1))
        changed = data_source.version_of(record)
        assert changed and changed != record.version
        assert self._read(data_source, table=table_name).input.version == changed

    def test_as_of_reads_a_recorded_version(self, data_source: Any, table_name: str,
                                            source_name: str) -> None:
        data = self._sample()
        data_source.write(table_name, data.slice(0, 2))
        first = self._read(data_source, table=table_name)
        data_source.write(table_name, data.slice(2, 2))
        if not self.time_travel:
            with pytest.raises(LaminaError) as err:
                data_source.read(table=table_name, as_of=first.input.version or "1")
            assert source_name in str(err.value) and err.value.hint
            return
        old = self._read(data_source, table=table_name, as_of=first.input.version)
        assert normalized(old.table) == normalized(data.slice(0, 2))
        assert old.input.version == first.input.version
        assert old.input.content_hash == first.input.content_hash
        assert self._read(data_source, table=table_name).input.rows == 4

    def test_an_unknown_table_is_a_clear_error(self, data_source: Any,
                                               source_name: str) -> None:
        with pytest.raises(LaminaError) as err:
            data_source.read(table="no_such_table_here")
        message = str(err.value)
        assert source_name in message and "no_such_table_here" in message
        assert err.value.hint and "\n" not in err.value.message

    def test_a_column_with_no_arrow_type_is_named(self, data_source: Any, table_name: str,
                                                  source_name: str) -> None:
        with pytest.raises(LaminaError) as err:
            data_source.write(table_name, {"id": [1], "blob": [object()]})
        assert source_name in str(err.value) and "'blob'" in str(err.value)
        assert err.value.hint

    def test_an_unknown_write_mode_is_refused(self, data_source: Any, table_name: str,
                                              source_name: str) -> None:
        with pytest.raises(LaminaError) as err:
            data_source.write(table_name, self._sample(), mode="upsert")
        assert source_name in str(err.value) and "upsert" in str(err.value)

    def test_an_unreachable_server_is_a_clear_error(self, request: pytest.FixtureRequest,
                                                    source_name: str) -> None:
        try:
            source = request.getfixturevalue("unreachable_data_source")
        except pytest.FixtureLookupError:
            pytest.skip(f"{type(self).__name__} defines no unreachable_data_source fixture")
        with pytest.raises(LaminaError) as err:
            source.read(table="events")
        assert source_name in str(err.value) and err.value.hint
        assert "\n" not in err.value.message
