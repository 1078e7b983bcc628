"""stats.py (paired intervals, three-outcome decisions, power-law exponents) against independent oracles.

Oracles: a published textbook example (Student's sleep data, paired t test: mean -1.58, 95% interval
(-2.4598858, -0.7001142), df 9); scipy's ``ttest_rel(...).confidence_interval`` and ``t.interval`` written
independently; coverage by simulation within Monte Carlo error; the bootstrap distribution of a mean enumerated
exactly for n = 3; per-seed ordinary least-squares slopes in the small-noise limit.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from mixup_repro import stats as st

# Cushny and Peebles' sleep data as analysed by Student (1908): extra hours of sleep, same 10 patients, two drugs.
SLEEP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


def test_paired_t_interval_matches_the_textbook_sleep_example():
    iv = st.paired_interval(SLEEP_1, SLEEP_2, 0.95)
    assert iv.estimate == pytest.approx(-1.58, abs=1e-12)
    assert (iv.ci_low, iv.ci_high) == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)
    assert (iv.level, iv.n, iv.method) == (0.95, 10, "t interval")
    d = st.compare_paired(SLEEP_2, SLEEP_1, "greater")  # drug 2 gives more sleep
    assert d.outcome == "PASS" and d.criterion == "> 0"
    assert d.numbers() == {"estimate": pytest.approx(1.58), "ci_low": pytest.approx(0.7001142, abs=1e-7),
                           "ci_high": pytest.approx(2.4598858, abs=1e-7), "level": 0.95, "n": 10,
                           "method": "t interval", "criterion": "> 0"}


@pytest.mark.parametrize("level", [0.8, 0.9, 0.99])
def test_t_interval_agrees_with_scipy(level):
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.3, 1.0, 7), rng.normal(0.0, 1.0, 7)
    iv = st.paired_interval(a, b, level)
    ci = stats.ttest_rel(a, b).confidence_interval(level)
    assert (iv.ci_low, iv.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    d = a - b
    lo, hi = stats.t.interval(level, d.size - 1, loc=d.mean(), scale=stats.sem(d))
    assert (iv.ci_low, iv.ci_high) == pytest.approx((lo, hi), rel=1e-12)


def test_t_interval_coverage_by_simulation():
    # 2,000 normal samples of 6 seeds; the count of intervals covering the mean is Binomial(2000, level).
    rng = np.random.default_rng(2)
    level, trials = 0.9, 2000
    covered = 0
    for _ in range(trials):
        iv = st.t_interval(rng.normal(1.0, 2.0, 6), level)
        covered += iv.ci_low < 1.0 < iv.ci_high
    se = math.sqrt(level * (1 - level) / trials)
    assert abs(covered / trials - level) < 4 * se


def test_three_outcomes_including_a_tie():
    rng = np.random.default_rng(3)
    base = rng.normal(12.0, 1.0, 5)
    better = base + 2.0 + rng.normal(0, 0.2, 5)
    worse = base - 2.0 + rng.normal(0, 0.2, 5)
    # Figure 1a's tie: 12.0 +/- 1.3 vs 12.3 +/- 0.9 over seeds, paired differences straddling 0
    tie = base + np.array([0.9, -1.1, 1.4, -0.8, 1.1])
    assert st.compare_paired(better, base, "greater").outcome == "PASS"
    assert st.compare_paired(worse, base, "greater").outcome == "FAIL"
    tied = st.compare_paired(tie, base, "greater")
    assert tied.outcome == "INCONCLUSIVE" and tied.interval.ci_low < 0 < tied.interval.ci_high
    assert st.compare_paired(worse, base, "less").outcome == "PASS"
    assert st.compare_paired(better, base, "less").outcome == "FAIL"
    # a margin stated up front: better by about 2, claimed better by more than 5 -> FAIL; by more than 1 -> PASS
    assert st.compare_paired(better, base, "greater", margin=5.0).outcome == "FAIL"
    assert st.compare_paired(better, base, "greater", margin=1.0).outcome == "PASS"
    assert "INCONCLUSIVE" in tied.describe() and "(95% t interval, n = 5)" in tied.describe()


def test_edge_cases_one_seed_zero_spread_and_an_endpoint_on_the_margin():
    one = st.compare_paired([3.0], [1.0], "greater")
    assert one.outcome == "INCONCLUSIVE" and one.interval.ci_low == -math.inf and one.interval.ci_high == math.inf
    assert one.interval.estimate == 2.0 and one.interval.n == 1
    assert "[-inf, inf]" in one.interval.describe()
    same = st.paired_interval([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (same.estimate, same.ci_low, same.ci_high) == (1.0, 1.0, 1.0)
    assert st.decide(same, "greater").outcome == "PASS"
    assert st.decide(same, "greater", margin=1.0).outcome == "INCONCLUSIVE"  # exactly on the margin
    zeros = st.compare_paired([1.0, 1.0], [1.0, 1.0], "greater")
    assert zeros.outcome == "INCONCLUSIVE"
    rng = np.random.default_rng(0)
    assert st.bootstrap_interval([5.0], generator=rng).ci_high == math.inf


def test_bootstrap_interval_matches_the_enumerated_bootstrap_distribution():
    # n = 3: the 27 equally likely resamples give the exact bootstrap distribution of the mean.
    x = np.array([0.3, 1.9, 4.0])
    means = np.sort([np.mean(c) for c in itertools.product(x, repeat=3)])
    exact_lo, exact_hi = np.quantile(means, [0.1, 0.9])
    iv = st.bootstrap_interval(x, 0.8, n_boot=200_000, generator=np.random.default_rng(4))
    # the 10% / 90% quantiles of a 27-point distribution: the Monte Carlo estimate lands between neighbours
    assert means[1] <= iv.ci_low <= means[4] and means[-5] <= iv.ci_high <= means[-2]
    assert iv.ci_low == pytest.approx(exact_lo, abs=0.35) and iv.ci_high == pytest.approx(exact_hi, abs=0.35)
    again = st.bootstrap_interval(x, 0.8, n_boot=200_000, generator=np.random.default_rng(4))
    assert again == iv  # seeded
    big = np.random.default_rng(5).normal(0, 1, 400)
    t, b = st.t_interval(big, 0.95), st.paired_interval(big, np.zeros(400), 0.95, method="bootstrap",
                                                         generator=np.random.default_rng(6))
    assert b.method == "percentile bootstrap"
    assert (b.ci_low, b.ci_high) == pytest.approx((t.ci_low, t.ci_high), abs=0.02)


def test_decide_within_an_equivalence_band():
    iv = lambda lo, hi: st.Interval(0.5 * (lo + hi), lo, hi, 0.95, 5, "t interval")  # noqa: E731
    assert st.decide_within(iv(-0.6, -0.45), -0.7, -0.3).outcome == "PASS"
    assert st.decide_within(iv(-1.2, -0.9), -0.7, -0.3).outcome == "FAIL"
    assert st.decide_within(iv(-0.9, -0.5), -0.7, -0.3).outcome == "INCONCLUSIVE"
    assert st.decide_within(iv(-0.6, -0.45), -0.7, -0.3).criterion == "in [-0.7, -0.3]"


def test_loglog_exponent_exact_power_law_and_per_seed_slopes_in_the_small_noise_limit():
    x = np.array([50.0, 100.0, 200.0, 400.0, 800.0])
    Y = 3.0 * x[:, None] ** -0.5 * np.ones((1, 4))
    e = st.loglog_exponent(x, Y)
    assert e.interval.estimate == pytest.approx(-0.5, abs=1e-12)
    assert e.interval.ci_high - e.interval.ci_low < 1e-12 and e.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    # with small multiplicative noise the linearised per-seed slopes are the per-seed OLS slopes up to O(noise^2)
    rng = np.random.default_rng(7)
    noise = 1e-4 * rng.standard_normal((5, 6))
    Y = x[:, None] ** -1.0 * np.exp(noise)
    e = st.loglog_exponent(x, Y)
    ols = np.array([np.polyfit(np.log(x), np.log(Y[:, s]), 1)[0] for s in range(6)])
    np.testing.assert_allclose(e.pseudo, ols, atol=1e-7)
    assert e.pseudo.mean() == pytest.approx(e.interval.estimate, abs=1e-14)


def test_loglog_exponent_coverage_by_simulation_and_non_positive_single_seeds():
    rng = np.random.default_rng(8)
    x = np.array([50.0, 100.0, 200.0, 400.0, 800.0])
    level, trials, covered = 0.9, 1000, 0
    for _ in range(trials):
        Y = 2.0 * x[:, None] ** 1.3 * np.exp(rng.normal(0, 0.2, (5, 5)))  # same noise law at every x: exponent 1.3
        iv = st.loglog_exponent(x, Y, level).interval
        covered += iv.ci_low < 1.3 < iv.ci_high
    assert abs(covered / trials - level) < 4 * math.sqrt(level * (1 - level) / trials)
    Y = x[:, None] ** -1.0 * np.array([[1.5, -0.2, 1.7]])  # one seed negative everywhere, means positive
    assert st.loglog_exponent(x, Y).interval.estimate == pytest.approx(-1.0, abs=1e-12)


def test_bad_input_is_refused_with_clear_messages():
    with pytest.raises(ValueError, match=r"paired samples need one value per seed for both, got 3 and 2"):
        st.paired_interval([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"holds NaN or infinite values"):
        st.t_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match=r"must be a non-empty 1-D array"):
        st.t_interval([])
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\)"):
        st.t_interval([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match=r"side must be one of \('greater', 'less'\)"):
        st.compare_paired([1.0, 2.0], [0.0, 0.0], "bigger")
    with pytest.raises(ValueError, match=r"margin must be a finite number"):
        st.decide(st.t_interval([1.0, 2.0]), "greater", margin=math.inf)
    with pytest.raises(ValueError, match=r"method must be 't' or 'bootstrap'"):
        st.paired_interval([1.0, 2.0], [0.0, 0.0], method="jackknife")
    with pytest.raises(ValueError, match=r"needs an explicit numpy Generator"):
        st.bootstrap_interval([1.0, 2.0], generator=None)
    with pytest.raises(ValueError, match=r"n_boot must be an integer >= 100"):
        st.bootstrap_interval([1.0, 2.0], n_boot=10, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"need finite low < high"):
        st.decide_within(st.t_interval([1.0, 2.0]), 1.0, 0.0)
    x = np.array([1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match=r"the seed means must be positive to take logs, got -1 at x = 2"):
        st.loglog_exponent(x, np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"Y must have shape \(points, seeds\) = \(3, S\)"):
        st.loglog_exponent(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"x must hold positive values, at least two of them distinct"):
        st.loglog_exponent(np.array([1.0, 1.0, 1.0]), np.ones((3, 2)))


def test_relative_difference_per_seed_by_hand():
    A = np.array([[1.1, 0.9, 1.3], [2.0, 2.4, 1.6]])
    B = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    # point 0: (0.1, -0.1, 0.3) / 1; point 1: (0, 0.4, -0.4) / 2; mean over the two points
    np.testing.assert_allclose(st.relative_difference_per_seed(A, B), [0.05, 0.05, 0.05], atol=1e-15)
    with pytest.raises(ValueError, match=r"must be \(points, seeds\) arrays of one shape"):
        st.relative_difference_per_seed(A, B[:, :2])
    with pytest.raises(ValueError, match=r"the seed mean of B is 0 at some point"):
        st.relative_difference_per_seed(A, np.zeros((2, 3)))


def test_all_of_every_point_ahead_passes_one_behind_fails_else_inconclusive():
    """The conjunction of Figure 1a (ahead at every radius), enumerated over every pattern of three outcomes."""
    ahead, behind, tied = st.t_interval([1.0, 1.1, 0.9]), st.t_interval([-1.0, -1.1, -0.9]), st.t_interval([1, -1, 0.5])
    by = {"PASS": st.decide(ahead, "greater"), "FAIL": st.decide(behind, "greater"),
          "INCONCLUSIVE": st.decide(tied, "greater")}
    assert [d.outcome for d in by.values()] == list(by)
    for pattern in itertools.product(st.OUTCOMES, repeat=3):
        expected = ("PASS" if set(pattern) == {"PASS"} else "FAIL" if "FAIL" in pattern else "INCONCLUSIVE")
        assert st.all_of([by[o] for o in pattern]) == expected, pattern
    with pytest.raises(ValueError, match="all_of needs at least one decision"):
        st.all_of([])


def test_seeds_to_resolve_against_printed_t_quantiles():
    """Oracle: t_{0.975, 5} = 2.5706, t_{0.975, 6} = 2.4469 (printed tables). With a mean 1 and sd 1, six seeds give
    2.5706 / sqrt(6) = 1.049 > 1 and seven give 2.4469 / sqrt(7) = 0.925 < 1: seven seeds are needed."""
    sd, n = 1.0, 3
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    tie = st.Interval(1.0, 1.0 - half, 1.0 + half, 0.95, n, "t interval")
    assert st.seeds_to_resolve(tie) == 7
    assert 2.5706 / math.sqrt(6) > 1 > 2.4469 / math.sqrt(7)
    # a margin shifts the gap to resolve: mean 1 against margin 0.5 is a gap of 0.5 -> sd/gap = 2
    need = st.seeds_to_resolve(tie, margin=0.5)
    assert stats.t.ppf(0.975, need - 1) * 2 / math.sqrt(need) < 1 <= stats.t.ppf(0.975, need - 2) * 2 / math.sqrt(need - 1)
    decided = st.t_interval([1.0, 1.1, 0.9])  # already excludes 0
    assert st.seeds_to_resolve(decided) is None
    assert st.seeds_to_resolve(st.Interval(0.0, -1.0, 1.0, 0.95, 3, "t interval")) is None  # on the margin
    assert st.seeds_to_resolve(st.Interval(1e-6, -1.0, 1.0, 0.95, 3, "t interval"), n_max=1000) is None
    with pytest.raises(ValueError, match=r"needs a t interval from at least 2 seeds, got a percentile bootstrap"):
        st.seeds_to_resolve(st.Interval(1.0, 0.0, 2.0, 0.95, 3, "percentile bootstrap"))
