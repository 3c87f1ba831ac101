"""lamina.statistics against SciPy's reference implementations, and the guarantees the
A/B report rests on, shown by simulation with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from lamina.statistics import classical, sequential
from lamina.statistics.multiple import benjamini_hochberg, holm
from lamina.statistics.variance import cuped_adjust

ALPHA = 0.05


def test_classical_tests_match_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 40), rng.normal(11, 4, 25)
    ma, va = classical.mean_and_var(a.size, a.sum(), (a * a).sum())
    mb, vb = classical.mean_and_var(b.size, b.sum(), (b * b).sum())
    t, _df, p = classical.welch(ma, va, a.size, mb, vb, b.size)
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert (t, p) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))
    lo, hi = classical.mean_ci(ma, np.sqrt(va), a.size)
    assert (lo, hi) == pytest.approx(sps.t.interval(0.95, a.size - 1, loc=a.mean(), scale=sps.sem(a)))
    z, p = classical.two_proportions(30, 200, 45, 210)
    table = np.array([[30, 170], [45, 165]])
    chi2 = sps.chi2_contingency(table, correction=False)
    assert z**2 == pytest.approx(chi2.statistic) and p == pytest.approx(chi2.pvalue)
    lo, hi = classical.wilson_ci(30, 200)
    ref_ci = sps.binomtest(30, 200).proportion_ci(method="wilson")
    assert (lo, hi) == (pytest.approx(ref_ci.low), pytest.approx(ref_ci.high))
    stat, p = classical.chi_square_gof([520, 480, 1010], [0.25, 0.25, 0.5])
    ref = sps.chisquare([520, 480, 1010], np.array([0.25, 0.25, 0.5]) * 2010)
    assert (stat, p) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))


def test_multiple_comparison_adjustments_match_scipy() -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert benjamini_hochberg(p) == pytest.approx(sps.false_discovery_control(p).tolist())
    ranked = sorted(p)
    manual = np.maximum.accumulate([min(1.0, (5 - i) * x) for i, x in enumerate(ranked)])
    assert sorted(holm(p)) == pytest.approx(manual.tolist())


def test_sample_ratio_mismatch_is_flagged_only_when_real() -> None:
    # a 50/50 split that delivered 50.5/49.5 at 200k users: flagged
    _, p_broken = classical.chi_square_gof([101_000, 99_000], [0.5, 0.5])
    # 50.1/49.9 at 20k users: chance, not flagged
    _, p_fine = classical.chi_square_gof([10_020, 9_980], [0.5, 0.5])
    assert p_broken < 0.001 < p_fine


def test_the_mixture_is_tightest_at_the_planned_size() -> None:
    planned = 0.01
    tau2 = sequential.mixing_variance(planned, ALPHA)
    at_plan = sequential.half_width(planned, tau2, ALPHA)
    for other in (0.5, 2.0):
        assert at_plan < sequential.half_width(planned, sequential.mixing_variance(
            planned * other, ALPHA), ALPHA)
    # the sequence is wider than the fixed interval at every size: the price of peeking
    for var in (1e-4, 1e-2, 1.0):
        assert sequential.half_width(var, tau2, ALPHA) > 1.96 * np.sqrt(var)


def _daily_experiments(rng: np.random.Generator, sims: int, days: int, per_day: int,
                       p_control: float, p_variant: float) -> tuple[np.ndarray, ...]:
    """Cumulative conversions and users per arm, shape (sims, days)."""
    xa = rng.binomial(per_day, p_control, size=(sims, days)).cumsum(axis=1)
    xb = rng.binomial(per_day, p_variant, size=(sims, days)).cumsum(axis=1)
    n = np.arange(1, days + 1) * per_day * np.ones((sims, 1))
    return xa, xb, n


def _peeked(xa: np.ndarray, xb: np.ndarray, n: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Read every day: the day each test first rejects (-1: never)."""
    ma, va = classical.mean_and_var(n, xa, xa)  # 0/1 data: the sum of squares is the sum
    mb, vb = classical.mean_and_var(n, xb, xb)
    diff, var = mb - ma, va / n + vb / n
    tau2 = sequential.mixing_variance((va[:, -1:] + vb[:, -1:]) / horizon, ALPHA)
    seq = sequential.running_p_value(diff, var, tau2, axis=1) < ALPHA
    _, p_fixed = classical.two_proportions(xa, n, xb, n)
    fixed = np.nan_to_num(p_fixed, nan=1.0) < ALPHA

    def first(hit: np.ndarray) -> np.ndarray:
        return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)

    return {"sequential": first(seq), "fixed": first(fixed)}


def test_read_daily_the_sequential_test_keeps_its_alpha_and_the_fixed_one_does_not() -> None:
    """2,000 A/A experiments read every day for 14 days."""
    rng = np.random.default_rng(20261203)
    sims, days, per_day = 2_000, 14, 500
    stops = _peeked(*_daily_experiments(rng, sims, days, per_day, 0.1, 0.1),
                    horizon=days * per_day)
    fpr = {k: float((v >= 0).mean()) for k, v in stops.items()}
    error = 2 * np.sqrt(ALPHA * (1 - ALPHA) / sims)  # two standard errors of a 5% rate
    print(f"A/A false-positive rate, read daily for {days} days: {fpr}")
    assert fpr["sequential"] <= ALPHA + error
    assert fpr["fixed"] > 2 * ALPHA  # peeking at a fixed-horizon test: far above alpha


def test_with_a_true_lift_the_sequential_test_finds_it_and_says_when() -> None:
    rng = np.random.default_rng(7)
    sims, days, per_day = 1_000, 14, 2_000
    stops = _peeked(*_daily_experiments(rng, sims, days, per_day, 0.10, 0.11),
                    horizon=days * per_day)["sequential"]
    power = float((stops >= 0).mean())
    day = float(stops[stops >= 0].mean() + 1)
    print(f"10% relative lift: power {power:.1%} within {days} days, mean stopping day {day:.1f}")
    assert power > 0.5 and 1 < day < days


def test_cuped_with_a_covariate_of_correlation_06_cuts_the_variance_by_30_percent() -> None:
    rng = np.random.default_rng(11)
    sims, n = 400, 2_000
    rho = 0.6
    x = rng.normal(size=(sims, n))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(sims, n))
    arm = np.arange(n) % 2 == 1
    y = y + 0.05 * arm  # a true effect, unchanged by the adjustment
    plain, adjusted = [], []
    for i in range(sims):
        adj, _theta = cuped_adjust(x[i], y[i])
        plain.append(y[i][arm].mean() - y[i][~arm].mean())
        adjusted.append(adj[arm].mean() - adj[~arm].mean())
    reduction = 1 - np.var(adjusted) / np.var(plain)
    print(f"CUPED variance reduction at correlation {rho}: {reduction:.1%}")
    assert reduction >= 0.30
    assert np.mean(adjusted) == pytest.approx(0.05, abs=0.01)  # still unbiased


@pytest.mark.parametrize(("diff", "var", "tau2"), [(0.01, 1e-4, 4e-4), (-0.3, 0.02, 0.005),
                                                   (0.0, 1.0, 3.0)])
def test_the_mixture_likelihood_ratio_is_the_published_integral(diff, var, tau2) -> None:
    """Lambda = integral of N(d; theta, V) N(theta; 0, tau2) dtheta / N(d; 0, V), computed
    numerically (Johari et al. 2017, eq. for the normal mixture), against the closed form."""
    from scipy import integrate

    sd = np.sqrt(var)
    numerator, _err = integrate.quad(
        lambda t: sps.norm.pdf(diff, t, sd) * sps.norm.pdf(t, 0, np.sqrt(tau2)),
        -20 * np.sqrt(tau2 + var), 20 * np.sqrt(tau2 + var), points=[diff, 0.0], limit=200)
    expected = numerator / sps.norm.pdf(diff, 0, sd)
    assert sequential.likelihood_ratio(diff, var, tau2) == pytest.approx(expected, rel=1e-6)
    # the confidence sequence is exactly the set of differences the test does not reject
    half = sequential.half_width(var, tau2, ALPHA)
    at_edge = sequential.likelihood_ratio(half, var, tau2)
    assert at_edge == pytest.approx(1 / ALPHA, rel=1e-9)
