"""Fixed-horizon tests and intervals: valid when the data is read once, at a sample size
chosen in advance. Read daily, they declare far more false winners than their alpha;
:mod:`lamina.statistics.sequential` is the test to read at any time."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

ArrayLike = Any  # a float or a numpy array: every function here is vectorized


def normal_sf2(z: ArrayLike) -> Any:
    """Two-sided p-value of a standard normal statistic."""
    return special.erfc(np.abs(z) / np.sqrt(2.0))


def normal_quantile(p: ArrayLike) -> Any:
    """The standard normal quantile (inverse CDF)."""
    return special.ndtri(p)


def mean_and_var(n: ArrayLike, total: ArrayLike, total_sq: ArrayLike) -> tuple[Any, Any]:
    """Sample mean and unbiased variance from a count, a sum and a sum of squares (nan
    where undefined)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.asarray(total, dtype=float) / n
        var = (np.asarray(total_sq, dtype=float) - n * mean**2) / (n - 1)
    return mean, np.maximum(var, 0.0)


def mean_ci(mean: ArrayLike, sd: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Any, Any]:
    """Student-t confidence interval of a mean."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = special.stdtrit(n - 1, 0.5 + level / 2) * np.asarray(sd) / np.sqrt(n)
    return mean - half, mean + half


def wilson_ci(successes: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval of a proportion (sound near 0 and 1, unlike the Wald one)."""
    n = np.asarray(n, dtype=float)
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(successes, dtype=float) / n
        center = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return center - half, center + half


def welch(
    m1: ArrayLike, v1: ArrayLike, n1: ArrayLike, m2: ArrayLike, v2: ArrayLike, n2: ArrayLike
) -> tuple[Any, Any, Any]:
    """Welch's t-test of ``m2 - m1`` from means, variances and counts: ``(t, df, p)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = np.asarray(v1) / n1, np.asarray(v2) / n2
        t = (np.asarray(m2) - m1) / np.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (np.asarray(n1) - 1) + b * b / (np.asarray(n2) - 1))
        p = 2 * special.stdtr(df, -np.abs(t))
    return t, df, p


def two_proportions(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike) -> tuple[Any, Any]:
    """Two-proportion z-test (pooled variance) of ``x2/n2 - x1/n1``: ``(z, p)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
        pool = (np.asarray(x1) + x2) / (n1 + n2)
        se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
        z = (np.asarray(x2) / n2 - np.asarray(x1) / n1) / se
    return z, normal_sf2(z)


def chi_square_gof(observed: ArrayLike, expected_share: ArrayLike) -> tuple[float, float]:
    """Pearson's chi-square goodness of fit of counts against expected shares (summing to
    1): ``(statistic, p)``. The sample-ratio-mismatch check."""
    observed = np.asarray(observed, dtype=float)
    share = np.asarray(expected_share, dtype=float)
    expected = observed.sum() * share / share.sum()
    keep = expected > 0
    stat = float((((observed - expected) ** 2)[keep] / expected[keep]).sum())
    df = int(keep.sum()) - 1
    if df < 1:
        return 0.0, 1.0
    return stat, float(special.chdtrc(df, stat))
