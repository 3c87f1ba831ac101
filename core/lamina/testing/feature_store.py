"""The feature-store conformance suite: :class:`FeatureStoreSuite`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from lamina.errors import LaminaError
from lamina.interfaces.feature_store import FeatureStore
from lamina.testing.flows import missing_fixture

#: The reference time of the historical tests (naive datetimes are UTC).
T0 = dt.datetime(2026, 1, 1)
US = dt.timedelta(microseconds=1)


def hours(h: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=h)


def _table(columns: dict[str, list[Any]], times: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.table({
        name: pa.array(values, pa.timestamp("us")) if name in times
        else pa.array(values, pa.int64()) if name == "driver_id"
        else pa.array(values, pa.float64())
        for name, values in columns.items()
    })


def _definitions(source: Any, ttl: dt.timedelta | None = dt.timedelta(hours=2)) -> list[Any]:
    from lamina.features import Entity, Feature, FeatureService, FeatureView

    # typed Any: mypy's attrs plugin cannot read a ``converter=tuple`` field's type
    join_keys: Any = ["driver_id"]
    service_features: Any = ["stats:*"]
    driver = Entity("driver", join_keys)
    stats = FeatureView("stats", entities=[driver], source=source,
                        features=[Feature("rate", "float64"), Feature("trips", "float64")],
                        timestamp_field="event_timestamp", created_timestamp_field="created",
                        ttl=ttl)
    return [driver, stats, FeatureService("driver_service", service_features)]


class FeatureStoreSuite:
    """Conformance of a :class:`lamina.interfaces.FeatureStore`.

    Override the ``feature_store`` fixture to return a fresh, empty feature store. The
    suite applies definitions from :mod:`lamina.features` (an entity ``driver`` keyed by
    ``driver_id``, a view ``stats`` whose source is an in-memory Arrow table, a service)
    and calls only the Protocol's methods.

    The contract, beyond the Protocol's docstrings:

    - ``apply`` refuses a view whose source lacks one of its columns (a feature, the
      timestamp, a join key) with a :class:`lamina.errors.LaminaError` naming the column.
    - A feature is requested as ``"view:feature"``; a feature service's name stands for
      its features. An unknown view, feature or service raises a
      :class:`lamina.errors.LaminaError` naming it.
    - ``get_historical_features`` keeps the entity rows and their columns, in their order,
      and adds one column per feature (named after the feature). Each value is the one of
      the newest source row of the same key whose event time is at or before the entity
      row's timestamp; of rows with the same event time, the one created last wins. A
      row exactly ``ttl`` older than the entity row still counts, one microsecond older
      does not. No match: null.
    - ``materialize(start, end)`` loads the newest row per key with event time in
      ``[start, end)``; materializing an older window afterwards never replaces a newer
      stored value. ``get_online_features`` returns, per requested feature, one value
      per entity row (None for an unknown key or a value older than the view's ``ttl``).
    """

    @pytest.fixture
    def feature_store(self) -> Any:
        """The component under test: a fresh, empty feature store. Override it."""
        missing_fixture(self, "feature_store", "return MyFeatureStore(root=tmp_path)")

    def test_it_is_a_feature_store(self, feature_store: Any) -> None:
        assert isinstance(feature_store, FeatureStore), (
            f"{type(feature_store).__name__} lacks methods of lamina.interfaces.FeatureStore"
        )
        summary = feature_store.check()
        assert isinstance(summary, str) and summary.strip()

    def _historical_source(self) -> Any:
        rows = [  # driver, event hour, created hour, rate
            (1, 1.0, 1.0, 0.1), (1, 3.0, 3.0, 0.3), (2, 2.0, 2.0, 0.2),
            (1, 5.0, 6.0, 0.6), (1, 5.0, 5.0, 0.5),  # a tie: the later-created row wins
            (1, 9.0, 9.0, 0.9),  # after every entity row: never seen
        ]
        return _table({
            "driver_id": [r[0] for r in rows],
            "event_timestamp": [hours(r[1]) for r in rows],
            "created": [hours(r[2]) for r in rows],
            "rate": [r[3] for r in rows],
            "trips": [r[3] * 100 for r in rows],
        }, ("event_timestamp", "created"))

    def test_training_sets_are_point_in_time_correct(self, feature_store: Any) -> None:
        feature_store.apply(_definitions(self._historical_source()))
        cases = [  # driver, when, expected rate
            (1, hours(2.0), 0.1),
            (1, hours(3.0), 0.3),  # exactly at a row's event time: that row
            (1, hours(3.0) - US, 0.1),  # a microsecond before it: the row before
            (2, hours(1.0), None),  # before the key's first row
            (3, hours(4.0), None),  # a key never seen
            (1, hours(5.5), 0.6),  # the tie at 5 h
            (2, hours(4.0), 0.2),  # exactly ttl (2 h) old: still valid
            (2, hours(4.0) + US, None),  # a microsecond past the ttl
        ]
        order = [5, 0, 7, 2, 4, 1, 6, 3]  # not sorted by key or time
        entities = _table({
            "driver_id": [cases[i][0] for i in order],
            "event_timestamp": [cases[i][1] for i in order],
            "label": [float(i) for i in order],
        }, ("event_timestamp",))
        result = feature_store.get_historical_features(entities, ["stats:rate", "stats:trips"])
        assert result.num_rows == len(cases)
        assert result.column("label").to_pylist() == [float(i) for i in order], "row order kept"
        assert result.column("driver_id").to_pylist() == entities.column("driver_id").to_pylist()
        got = result.column("rate").to_pylist()
        expected = [cases[i][2] for i in order]
        assert got == pytest.approx(expected), list(zip(order, got, expected, strict=True))
        trips = result.column("trips").to_pylist()
        assert trips == pytest.approx([None if e is None else e * 100 for e in expected])
        by_service = feature_store.get_historical_features(entities, "driver_service")
        assert by_service.column("rate").to_pylist() == pytest.approx(expected)

    def test_unknown_features_are_named(self, feature_store: Any) -> None:
        feature_store.apply(_definitions(self._historical_source()))
        entities = _table({"driver_id": [1], "event_timestamp": [hours(2)]},
                          ("event_timestamp",))
        for ref, named in (("stats:nope", "nope"), ("nostats:rate", "nostats"),
                           ("no_service", "no_service")):
            with pytest.raises(LaminaError) as info:
                feature_store.get_historical_features(entities, [ref] if ":" in ref else ref)
            assert named in str(info.value)

    def test_a_view_whose_source_lacks_a_column_is_refused(self, feature_store: Any) -> None:
        from lamina.features import Entity, Feature, FeatureView

        source = self._historical_source()
        driver_keys: Any = ["driver_id"]
        vehicle_keys: Any = ["vehicle_id"]
        driver, vehicle = Entity("driver", driver_keys), Entity("vehicle", vehicle_keys)
        rate = [Feature("rate", "float64")]
        broken = {  # the missing column -> a view that needs it
            "speed": FeatureView("broken", entities=[driver], source=source,
                                 features=[Feature("speed", "float64")]),
            "ts": FeatureView("broken", entities=[driver], source=source, features=rate,
                              timestamp_field="ts"),
            "vehicle_id": FeatureView("broken", entities=[vehicle], source=source,
                                      features=rate),
        }
        for column, view in broken.items():
            with pytest.raises(LaminaError) as info:
                feature_store.apply([view])
            assert column in str(info.value), f"the error names the missing column {column!r}"

    def test_materialized_values_are_served_online(self, feature_store: Any) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ago = [  # driver, hours before now, rate
            (1, 3.0, 0.1), (1, 0.5, 0.2), (2, 3.0, 0.3), (3, -1.0, 0.9),
        ]
        source = _table({
            "driver_id": [r[0] for r in ago],
            "event_timestamp": [now - dt.timedelta(hours=r[1]) for r in ago],
            "created": [now - dt.timedelta(hours=r[1]) for r in ago],
            "rate": [r[2] for r in ago],
            "trips": [r[2] * 100 for r in ago],
        }, ("event_timestamp", "created"))
        feature_store.apply(_definitions(source))
        rows = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}, {"driver_id": 4}]
        feature_store.materialize(now - dt.timedelta(days=1), now)
        got = feature_store.get_online_features(["stats:rate", "stats:trips"], rows)
        # 1: its newest row; 2: older than the ttl; 3: after the window; 4: unknown
        assert got["rate"] == pytest.approx([0.2, None, None, None]), got
        assert got["trips"] == pytest.approx([20.0, None, None, None]), got
        # an older window materialized again does not bring back the older value
        feature_store.materialize(now - dt.timedelta(days=1), now - dt.timedelta(hours=2))
        assert feature_store.get_online_features(["stats:rate"], rows[:1])["rate"] == (
            pytest.approx([0.2])
        )
