"""The online-store conformance suite: :class:`OnlineStoreSuite`."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.interfaces.feature_store import OnlineStore
from lamina.testing.flows import missing_fixture

FEATURES = ("rate", "trips", "city")
SECOND = 1_000_000  # microseconds


class OnlineStoreSuite:
    """Conformance of a :class:`lamina.interfaces.feature_store.OnlineStore`.

    Override the ``online_store`` fixture to return a fresh, empty store (the suite calls
    ``close`` itself in no test; close it in the fixture's teardown).

    The contract, beyond the Protocol's docstrings:

    - A key is a tuple of join-key values (one or several; ints and strings). Feature
      values are floats, ints, strings or None and read back equal, in the order of the
      ``features`` asked for (which may be a subset of those written, in any order).
    - ``write`` returns how many rows it was given. Of two rows of one key, the one with
      the later event time is kept; with equal event times, the later created one. Writing
      an older row after a newer one changes nothing.
    - ``read`` returns only the keys that have a row; a table never written reads as
      ``{}`` (no error). Tables are independent: one key in two tables is two rows.
    - A thousand keys are read in one call.
    """

    @pytest.fixture
    def online_store(self) -> Any:
        """The component under test: a fresh, empty online store. Override it."""
        missing_fixture(self, "online_store", "yield MyOnlineStore(tmp_path / 'online.db')")

    def test_it_is_an_online_store(self, online_store: Any) -> None:
        assert isinstance(online_store, OnlineStore), (
            f"{type(online_store).__name__} lacks methods of "
            "lamina.interfaces.feature_store.OnlineStore"
        )
        summary = online_store.check()
        assert isinstance(summary, str) and summary.strip()

    def test_rows_read_back_equal(self, online_store: Any) -> None:
        rows = [((1,), 10 * SECOND, 11 * SECOND, 0.5, 7, "oslo"),
                ((2,), 20 * SECOND, 21 * SECOND, None, 0, ""),
                ((3,), 30 * SECOND, None, -1.25, 123456789, None)]
        assert online_store.write("stats__v1", FEATURES, rows) == 3
        got = online_store.read("stats__v1", FEATURES, [(2,), (1,), (3,), (4,)])
        assert got == {
            (1,): (10 * SECOND, (0.5, 7, "oslo")),
            (2,): (20 * SECOND, (None, 0, "")),
            (3,): (30 * SECOND, (-1.25, 123456789, None)),
        }
        subset = online_store.read("stats__v1", ("city", "rate"), [(1,)])
        assert subset == {(1,): (10 * SECOND, ("oslo", 0.5))}, "values in the order asked for"

    def test_a_newer_row_replaces_an_older_one_never_the_reverse(self, online_store: Any) -> None:
        table = "stats__v1"
        online_store.write(table, FEATURES, [((1,), 50 * SECOND, 50 * SECOND, 5.0, 5, "new")])
        online_store.write(table, FEATURES, [((1,), 40 * SECOND, 90 * SECOND, 4.0, 4, "old")])
        assert online_store.read(table, FEATURES, [(1,)])[(1,)] == (50 * SECOND, (5.0, 5, "new"))
        # same event time, created later: replaces
        online_store.write(table, FEATURES, [((1,), 50 * SECOND, 60 * SECOND, 6.0, 6, "fix")])
        assert online_store.read(table, FEATURES, [(1,)])[(1,)] == (50 * SECOND, (6.0, 6, "fix"))
        # same event time, created earlier: does not
        online_store.write(table, FEATURES, [((1,), 50 * SECOND, 55 * SECOND, 0.0, 0, "no")])
        assert online_store.read(table, FEATURES, [(1,)])[(1,)] == (50 * SECOND, (6.0, 6, "fix"))
        # later event time: replaces
        online_store.write(table, FEATURES, [((1,), 70 * SECOND, 1 * SECOND, 7.0, 7, "next")])
        assert online_store.read(table, FEATURES, [(1,)])[(1,)] == (70 * SECOND, (7.0, 7, "next"))

    def test_absent_keys_and_tables_read_as_nothing(self, online_store: Any) -> None:
        assert online_store.read("never_written__v1", FEATURES, [(1,), (2,)]) == {}
        online_store.write("stats__v1", FEATURES, [((1,), SECOND, SECOND, 1.0, 1, "a")])
        assert online_store.read("stats__v1", FEATURES, [(9,)]) == {}
        assert online_store.read("stats__v1", FEATURES, []) == {}

    def test_tables_are_independent(self, online_store: Any) -> None:
        online_store.write("stats__v1", FEATURES, [((1,), SECOND, SECOND, 1.0, 1, "v1")])
        online_store.write("stats__v2", FEATURES, [((1,), SECOND, SECOND, 2.0, 2, "v2")])
        assert online_store.read("stats__v1", FEATURES, [(1,)])[(1,)][1] == (1.0, 1, "v1")
        assert online_store.read("stats__v2", FEATURES, [(1,)])[(1,)][1] == (2.0, 2, "v2")

    def test_keys_of_several_join_keys(self, online_store: Any) -> None:
        rows = [((1, "fi"), SECOND, SECOND, 0.1, 1, "x"), ((1, "se"), SECOND, SECOND, 0.2, 2, "y"),
                (("1", "fi"), SECOND, SECOND, 0.3, 3, "z")]
        online_store.write("trips__v1", FEATURES, rows)
        got = online_store.read("trips__v1", ("rate",), [(1, "se"), (1, "no"), (1, "fi")])
        assert got == {(1, "se"): (SECOND, (0.2,)), (1, "fi"): (SECOND, (0.1,))}

    def test_a_thousand_keys_in_one_read(self, online_store: Any) -> None:
        rows = [((k,), k * SECOND, k * SECOND, k / 10, k, f"c{k}") for k in range(1500)]
        assert online_store.write("big__v1", FEATURES, rows) == 1500
        keys = [(k,) for k in range(0, 3000, 3)]  # 1000 keys, half of them absent
        got = online_store.read("big__v1", ("trips",), keys)
        assert got == {(k,): (k * SECOND, (k,)) for k in range(0, 1500, 3)}
