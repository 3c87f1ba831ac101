"""What a monitor may be told: the ``[stacks.NAME.monitoring]`` table and per-column
overrides. Only attrs here, so the builtin plugin can import it on every ``lamina`` call.
"""

from __future__ import annotations

from typing import Any

import attrs

#: Drift methods. ``auto`` picks by column kind: ``ks`` for numeric, ``chi2`` for categorical.
METHODS = ("auto", "ks", "wasserstein", "chi2", "jensenshannon", "psi")
#: Methods that are hypothesis tests (their p-values are corrected for multiple comparisons).
TEST_METHODS = ("ks", "chi2")
#: Default thresholds of the distance methods (flag when the distance is at least this).
DEFAULT_DISTANCE_THRESHOLDS = {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.2}
SEVERITIES = ("info", "warning", "critical")


def _fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class ColumnOptions:
    """How one column is compared (``[stacks.S.monitoring.columns.NAME]``).

    :param kind: ``numeric`` or ``categorical``; default: from the Arrow type (numbers are
        numeric, strings, booleans and dictionaries categorical). Set ``categorical`` for
        integer codes.
    :param method: ``auto``, ``ks``, ``wasserstein``, ``chi2``, ``jensenshannon`` or ``psi``.
    :param threshold: for a distance method, flag at or above it (defaults: wasserstein 0.1
        reference standard deviations, jensenshannon 0.1, psi 0.2); for a test, the
        column's own family-wise alpha (default: the monitor's ``alpha``).
    :param min_effect: for a test, the smallest effect worth flagging (default: the
        monitor's ``numeric_min_effect`` / ``categorical_min_effect``).
    :param ignore: leave the column out of drift and quality checks.
    """

    kind: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(("numeric", "categorical")))
    )
    method: str = attrs.field(default="auto", validator=attrs.validators.in_(METHODS))
    threshold: float | None = attrs.field(default=None, validator=_non_negative)
    min_effect: float | None = attrs.field(default=None, validator=_non_negative)
    ignore: bool = False


@attrs.frozen
class MonitorOptions:
    """Options of the builtin ``monitoring`` component: drift tests, quality limits,
    performance floors and alerts. Every default is documented in docs/monitoring.md.

    :param alpha: family-wise significance level of the drift tests. p-values of all
        tested columns are adjusted together (Holm), so unchanged columns are flagged
        with probability at most ``alpha`` per report, not per column.
    :param numeric_min_effect: a numeric column is flagged only if its distribution also
        moved by at least this Wasserstein distance, in reference standard deviations.
        With 100k rows a test finds differences nobody cares about; this is the floor.
    :param categorical_min_effect: the same floor for categorical columns, as a
        Jensen-Shannon distance (base 2, between 0 and 1).
    :param min_rows: fewer non-null rows than this on either side: no test, status
        ``insufficient``.
    :param psi_bins: quantile bins of the reference for PSI and the plots.
    :param max_null_increase: quality: flag when a column's null share grows by more.
    :param max_out_of_range: quality: flag when more than this share of a numeric column
        falls outside the reference's [min, max].
    :param max_new_categories: quality: flag when more than this share of a categorical
        column holds values the reference never had.
    :param drift_share: dataset drift when at least this share of columns drifted.
    :param min_accuracy: performance: alert when a variant's accuracy is below.
    :param min_auc: performance: alert when a variant's AUC is below.
    :param max_rmse: performance: alert when a variant's RMSE is above.
    :param window: the prediction-log window ``lamina monitor DEPLOYMENT`` reads by
        default: a number and a unit (``30m``, ``12h``, ``1d``, ``7d``).
    :param time_buckets: how many time slices the drift-over-time plot has.
    :param alerts: raise alerts through the ``lamina_alert`` hook after each report.
    :param alert_severity: the severity of a drifted column; dataset drift and
        performance breaches are ``critical``.
    :param columns: per-column overrides, ``[stacks.S.monitoring.columns.age]``.
    """

    alpha: float = attrs.field(default=0.05, validator=_fraction)
    numeric_min_effect: float = attrs.field(default=0.02, validator=_non_negative)
    categorical_min_effect: float = attrs.field(default=0.01, validator=_non_negative)
    min_rows: int = attrs.field(default=30, validator=_non_negative)
    psi_bins: int = attrs.field(default=10, validator=attrs.validators.ge(2))
    max_null_increase: float = attrs.field(default=0.01, validator=_fraction)
    max_out_of_range: float = attrs.field(default=0.01, validator=_fraction)
    max_new_categories: float = attrs.field(default=0.001, validator=_fraction)
    drift_share: float = attrs.field(default=0.5, validator=_fraction)
    min_accuracy: float | None = attrs.field(default=None, validator=_fraction)
    min_auc: float | None = attrs.field(default=None, validator=_fraction)
    max_rmse: float | None = attrs.field(default=None, validator=_non_negative)
    window: str = "1d"
    time_buckets: int = attrs.field(default=12, validator=attrs.validators.ge(1))
    alerts: bool = True
    alert_severity: str = attrs.field(default="warning", validator=attrs.validators.in_(SEVERITIES))
    columns: dict[str, ColumnOptions] = attrs.field(factory=dict)

    def column(self, name: str) -> ColumnOptions:
        """The overrides of ``name`` (defaults when none are set)."""
        return self.columns.get(name) or ColumnOptions()
