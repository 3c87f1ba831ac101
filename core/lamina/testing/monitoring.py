"""The monitoring conformance suite: :class:`MonitorSuite`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.interfaces import Monitor
from lamina.testing.flows import missing_fixture

ROWS = 2000


def _tables() -> tuple[Any, Any, Any]:
    """A reference, an identical copy, and a current table in which ``amount`` shifted by
    three standard deviations and ``color`` changed its mix, while ``age`` did not."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(17)
    age = rng.normal(40, 10, ROWS)
    amount = rng.normal(100, 15, ROWS)
    color = rng.choice(["red", "green", "blue"], ROWS, p=[0.6, 0.3, 0.1])
    reference = pa.table({"age": age, "amount": amount, "color": color})
    copy = pa.table({"age": age.copy(), "amount": amount.copy(), "color": color.copy()})
    current = pa.table({
        "age": rng.permutation(age),  # the same values: no drift
        "amount": amount + 45,
        "color": rng.choice(["red", "green", "blue"], ROWS, p=[0.1, 0.3, 0.6]),
    })
    return reference, copy, current


class MonitorSuite:
    """Conformance of a :class:`lamina.interfaces.Monitor`.

    Override the ``monitor`` fixture to return the component under test.

    The contract, beyond the Protocol's docstring:

    - ``analyze`` reports every column the two tables share (``columns``: one mapping per
      column with at least ``column`` and ``drifted``); ``drifted_columns`` lists the
      drifted ones' names. Identical data never drifts; a numeric column shifted by
      three standard deviations, or a categorical one whose mix turned around, does.
    - ``quality_issues`` is a list of mappings with ``column`` and ``problem``: a column
      with nulls the reference did not have, a column missing from the current data and a
      column new in it are each reported, naming the column.
    - A prediction log's ``in.<feature>`` columns are compared under the feature's name.
    - ``to_dict()`` is JSON-serializable (no NaN: missing statistics are null);
      ``to_html()`` is a self-contained page that names the drifted columns.
    """

    @pytest.fixture
    def monitor(self) -> Any:
        """The component under test. Override it."""
        missing_fixture(self, "monitor", "return MyMonitor()")

    def test_it_is_a_monitor(self, monitor: Any) -> None:
        assert isinstance(monitor, Monitor), (
            f"{type(monitor).__name__} lacks methods of lamina.interfaces.Monitor"
        )
        summary = monitor.check()
        assert isinstance(summary, str) and summary.strip()

    def test_identical_data_does_not_drift(self, monitor: Any) -> None:
        reference, copy, _ = _tables()
        report = monitor.analyze(reference, copy)
        assert sorted(c["column"] for c in report.columns) == ["age", "amount", "color"]
        assert report.drifted_columns == []
        assert not [c for c in report.columns if c["drifted"]]
        assert report.quality_issues == []

    def test_shifted_columns_drift_and_only_those(self, monitor: Any) -> None:
        reference, _, current = _tables()
        report = monitor.analyze(reference, current)
        assert sorted(report.drifted_columns) == ["amount", "color"]
        flags = {c["column"]: bool(c["drifted"]) for c in report.columns}
        assert flags == {"age": False, "amount": True, "color": True}

    def test_quality_problems_name_the_column(self, monitor: Any) -> None:
        import pyarrow as pa

        reference, copy, _ = _tables()
        amount = copy.column("amount").to_pylist()
        holes = pa.array([None if i % 3 == 0 else v for i, v in enumerate(amount)], pa.float64())
        current = pa.table({"amount": holes, "color": copy.column("color"),
                            "extra": pa.array([1.0] * ROWS)})
        report = monitor.analyze(reference, current)
        problems: dict[str, list[str]] = {}
        for issue in report.quality_issues:
            problems.setdefault(issue["column"], []).append(issue["problem"])
        assert set(problems) == {"amount", "age", "extra"}, problems

    def test_a_prediction_log_is_compared_by_its_inputs(self, monitor: Any) -> None:
        import pyarrow as pa

        reference, copy, _ = _tables()
        log = pa.table({
            "request_id": [f"r{i}" for i in range(ROWS)],
            "in.age": copy.column("age"), "in.amount": copy.column("amount"),
            "in.color": copy.column("color"), "out.score": pa.array([0.5] * ROWS),
            "status": pa.array([200] * ROWS, pa.int32()),
        })
        report = monitor.analyze(reference, log)
        assert sorted(c["column"] for c in report.columns) == ["age", "amount", "color"]
        assert report.drifted_columns == []

    def test_the_report_serializes(self, monitor: Any) -> None:
        reference, _, current = _tables()
        report = monitor.analyze(reference, current)
        summary = report.to_dict()
        text = json.dumps(summary, allow_nan=False)  # strict JSON: no NaN or Infinity
        assert "amount" in text
        page = report.to_html()
        assert "<html" in page.lower() and "</html>" in page.lower()
        assert "amount" in page and "color" in page
        assert "<script src=" not in page.lower() and "<link " not in page.lower(), (
            "the page fetches nothing"
        )
