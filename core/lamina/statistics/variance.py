"""CUPED: variance reduction with a pre-experiment covariate (Deng, Xu, Kohavi and Walker,
*Improving the Sensitivity of Online Controlled Experiments by Utilizing Pre-Experiment
Data*, WSDM 2013).

``y_adj = y - theta * (x - mean(x))`` with ``theta = cov(x, y) / var(x)`` pooled over all
variants: the adjusted metric has the same expected difference between variants (the
covariate is measured before assignment, so it does not depend on the variant) and a
variance smaller by the factor ``1 - corr(x, y)**2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def cuped_theta(x: Any, y: Any) -> float:
    """The pooled regression coefficient of the metric on the covariate (0 when the
    covariate does not vary)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2:
        return 0.0
    var = float(np.var(x))
    if var == 0.0:
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / var)


def cuped_adjust(x: Any, y: Any, *, theta: float | None = None) -> tuple[Any, float]:
    """The adjusted metric and the ``theta`` used. A unit without a covariate value
    (nan) is left unadjusted (its ``x`` is taken as the mean)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    present = ~np.isnan(x)
    if theta is None:
        theta = cuped_theta(x[present], y[present])
    center = float(x[present].mean()) if present.any() else 0.0
    filled = np.where(present, x, center)
    return y - theta * (filled - center), theta
