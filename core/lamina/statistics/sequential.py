"""Always-valid inference: the mixture sequential probability ratio test (mSPRT).

A fixed-horizon test read every day inflates its false-positive rate far beyond alpha.
The mSPRT's p-value and confidence sequence stay valid however often they are read and
whenever the experiment stops (Johari, Koomen, Pekelis and Walsh, *Peeking at A/B Tests*,
KDD 2017; Johari, Pekelis and Walsh, *Always Valid Inference*, 2015). With a normal
mixture ``N(0, tau2)`` over the true difference ``theta``, and the estimate ``d`` of the
difference with variance ``V``::

    Lambda = sqrt(V / (V + tau2)) * exp(tau2 * d**2 / (2 * V * (V + tau2)))

rejects ``theta = 0`` once ``Lambda >= 1/alpha``; the always-valid p-value is the running
minimum of ``1/Lambda``, and the confidence sequence is every ``theta`` the same test
would not reject::

    d +- sqrt(2 * V * (V + tau2) / tau2 * (log(1/alpha) + log((V + tau2) / V) / 2))

``tau2`` only decides *when* the test is most sensitive, never its validity: it is chosen
so the sequence is narrowest at a planned sample size (Howard, Ramdas, McAuliffe and
Sekhon, *Time-uniform, nonparametric, nonasymptotic confidence sequences*, 2021, section
3.5), where the tightest mixture satisfies ``r = 2 log(1/alpha) + log(1 + r)`` with
``r = tau2 / V_planned``. Variances are plug-in estimates, as in the papers' A/B setting:
the guarantee holds for the normal approximation of the difference of means.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def tightest_ratio(alpha: float) -> float:
    """``tau2 / V`` that makes the confidence sequence narrowest where the variance of
    the estimate is ``V``: the fixed point of ``r = 2 log(1/alpha) + log(1 + r)``."""
    c = 2 * math.log(1 / alpha)
    r = c
    for _ in range(100):
        nxt = c + math.log1p(r)
        if abs(nxt - r) < 1e-12:
            break
        r = nxt
    return r


def mixing_variance(planned_var: Any, alpha: float) -> Any:
    """``tau2`` for a planned variance of the estimate (the variance of the difference
    at the sample size the experiment is expected to reach)."""
    return tightest_ratio(alpha) * np.asarray(planned_var, dtype=float)


def likelihood_ratio(diff: Any, var: Any, tau2: Any) -> Any:
    """The mixture likelihood ratio ``Lambda`` of ``theta = 0`` (vectorized; computed in
    logs, so a large statistic does not overflow)."""
    diff, var, tau2 = (np.asarray(x, dtype=float) for x in (diff, var, tau2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        log_lr = 0.5 * np.log(var / (var + tau2)) + tau2 * diff**2 / (2 * var * (var + tau2))
        return np.exp(np.minimum(log_lr, 700.0))


def p_value(diff: Any, var: Any, tau2: Any) -> Any:
    """``min(1, 1/Lambda)`` at one look; take the running minimum over looks (see
    :func:`running_p_value`) for the always-valid p-value."""
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, 1.0 / likelihood_ratio(diff, var, tau2))


def running_p_value(diff: Any, var: Any, tau2: Any, axis: int = -1) -> Any:
    """The always-valid p-value after each look (looks along ``axis``): the running
    minimum of the per-look p-values. Undefined looks (no data yet) count as 1."""
    p = np.nan_to_num(p_value(diff, var, tau2), nan=1.0)
    return np.minimum.accumulate(p, axis=axis)


def half_width(var: Any, tau2: Any, alpha: float) -> Any:
    """Half the width of the (1 - alpha) confidence sequence at one look."""
    var, tau2 = np.asarray(var, dtype=float), np.asarray(tau2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(
            2 * var * (var + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * np.log((var + tau2) / var))
        )
