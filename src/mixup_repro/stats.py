"""Claims decided with uncertainty: paired intervals over seeds, three-outcome decisions, power-law exponents.

A comparison over seeds (or over resampled data sets) is decided on the **paired per-seed differences**
``d_s = a_s - b_s``: their mean with a two-sided confidence interval at a stated level, by default Student's t
interval ``mean +/- t_{n-1, (1+level)/2} sd / sqrt(n)``, optionally a seeded percentile bootstrap over seeds.
The decision against a side and a margin ``m`` stated up front has three outcomes:

- ``PASS``: the whole interval lies on the claimed side of ``m`` (``ci_low > m`` for ``"greater"``),
- ``FAIL``: the whole interval lies on the other side (``ci_high < m`` for ``"greater"``),
- ``INCONCLUSIVE``: the interval contains ``m`` (a tie).

Edge cases, decided here once: ``n = 1`` gives the interval ``(-inf, inf)`` (no estimate of the spread), hence
``INCONCLUSIVE``; ``n >= 2`` identical differences ``c`` give the degenerate interval ``[c, c]`` (the seeds show no
variation at all, as for a deterministic computation repeated), decided by the sign of ``c - m``; an interval
endpoint exactly at ``m`` is ``INCONCLUSIVE``.

Exponents. A power law ``E[Y] ~ x^b`` is fitted to per-seed measurements ``Y[p, s]`` at points ``x_p`` as the
least-squares slope of ``log mean_s Y[p, s]`` against ``log x_p`` (the exponent of the *mean*, which individual
seeds may not have: a centred generalization gap can be negative on one seed). Its interval is a t interval over
seeds of the *linearised per-seed slopes* (delta method with the seed as the cluster; see
:func:`loglog_exponent`), so the exponents of two methods measured on the same seeds can be compared paired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["OUTCOMES", "SIDES", "Interval", "Decision", "Exponent", "t_interval", "bootstrap_interval",
           "paired_interval", "decide", "decide_within", "all_of", "compare_paired", "relative_difference_per_seed",
           "seeds_to_resolve", "loglog_exponent"]

#: The three outcomes of a claim decided with uncertainty.
OUTCOMES = ("PASS", "FAIL", "INCONCLUSIVE")
#: The side of the margin a claim puts the true value on.
SIDES = ("greater", "less")


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval at ``level`` from ``n`` independent replicates."""

    estimate: float
    ci_low: float
    ci_high: float
    level: float
    n: int
    method: str

    def numbers(self) -> dict[str, float | int | str]:
        """The fields a claim records in its numbers."""
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "level": self.level,
                "n": self.n, "method": self.method}

    def describe(self, digits: int = 3) -> str:
        """``+0.012 [-0.004, +0.028] (95% t interval, n = 5)``: the detail line's form."""
        f = lambda v: f"{v:+.{digits}g}" if math.isfinite(v) else ("-inf" if v < 0 else "inf")  # noqa: E731
        return f"{f(self.estimate)} [{f(self.ci_low)}, {f(self.ci_high)}] ({self.level:.0%} {self.method}, n = {self.n})"


@dataclass(frozen=True)
class Decision:
    """A three-outcome decision: ``outcome`` of ``interval`` against ``criterion`` (e.g. ``> 0``, ``in [-0.6, -0.4]``);
    ``margin`` is the one-sided claim's margin (None for an equivalence band)."""

    outcome: str
    interval: Interval
    criterion: str
    margin: float | None = None

    def numbers(self) -> dict[str, float | int | str]:
        return {**self.interval.numbers(), "criterion": self.criterion}

    def describe(self, digits: int = 3) -> str:
        return f"{self.interval.describe(digits)}; claimed {self.criterion}: {self.outcome}"


@dataclass(frozen=True)
class Exponent:
    """A fitted power-law exponent: its interval and the per-seed linearised slopes it came from."""

    interval: Interval
    pseudo: np.ndarray  # (n_seeds,): linearised per-seed slopes; their mean is the estimate
    intercept: float  # of the fit log mean_s Y = intercept + b log x


def _sample(x, name: str = "x") -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or a.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array of numbers, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values; a comparison needs finite per-seed numbers")
    return a


def _check_level(level: float) -> None:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95, got {level!r}")


def _infinite(a: np.ndarray, level: float, method: str) -> Interval:
    return Interval(float(a.mean()), -math.inf, math.inf, level, int(a.size), method)


def t_interval(x, level: float = 0.95) -> Interval:
    """Mean of ``x`` with the two-sided Student t interval ``mean +/- t_{n-1} sd / sqrt(n)`` (``sd`` with n - 1).

    Exact coverage for i.i.d. normal replicates; ``n = 1`` gives ``(-inf, inf)``, zero spread the point ``[c, c]``.
    """
    a = _sample(x)
    _check_level(level)
    n = a.size
    if n == 1:
        return _infinite(a, level, "t interval")
    mean = float(a.mean())
    half = float(_st.t.ppf((1 + level) / 2, n - 1) * a.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, level, n, "t interval")


def bootstrap_interval(x, level: float = 0.95, *, n_boot: int = 10_000, generator: np.random.Generator) -> Interval:
    """Mean of ``x`` with the percentile bootstrap interval over ``n_boot`` resamples of the replicates.

    The resamples come from ``generator`` (seeded by the caller). Percentile intervals under-cover for small ``n``
    (about 5 seeds); the t interval is the default for that reason.
    """
    a = _sample(x)
    _check_level(level)
    if not isinstance(generator, np.random.Generator):
        raise ValueError("bootstrap_interval needs an explicit numpy Generator for its resamples")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if a.size == 1:
        return _infinite(a, level, "percentile bootstrap")
    means = a[generator.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(a.mean()), float(lo), float(hi), level, int(a.size), "percentile bootstrap")


def paired_interval(a, b, level: float = 0.95, *, method: str = "t", n_boot: int = 10_000,
                    generator: np.random.Generator | None = None) -> Interval:
    """Interval for the mean of the paired differences ``a_s - b_s`` (same seed ``s`` for both methods)."""
    a_, b_ = _sample(a, "a"), _sample(b, "b")
    if a_.shape != b_.shape:
        raise ValueError(f"paired samples need one value per seed for both, got {a_.size} and {b_.size}")
    if method == "t":
        return t_interval(a_ - b_, level)
    if method == "bootstrap":
        return bootstrap_interval(a_ - b_, level, n_boot=n_boot, generator=generator)
    raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")


def decide(interval: Interval, side: str, margin: float = 0.0) -> Decision:
    """PASS if the interval lies strictly on ``side`` of ``margin``, FAIL if strictly on the other, else INCONCLUSIVE."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin}")
    above, below = interval.ci_low > margin, interval.ci_high < margin
    if side == "greater":
        outcome = "PASS" if above else "FAIL" if below else "INCONCLUSIVE"
    else:
        outcome = "PASS" if below else "FAIL" if above else "INCONCLUSIVE"
    return Decision(outcome, interval, f"{'>' if side == 'greater' else '<'} {margin:g}", float(margin))


def decide_within(interval: Interval, low: float, high: float) -> Decision:
    """An equivalence claim: PASS if the interval lies inside ``[low, high]``, FAIL if it misses it, else INCONCLUSIVE."""
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got [{low}, {high}]")
    if low <= interval.ci_low and interval.ci_high <= high:
        outcome = "PASS"
    elif interval.ci_high < low or interval.ci_low > high:
        outcome = "FAIL"
    else:
        outcome = "INCONCLUSIVE"
    return Decision(outcome, interval, f"in [{low:g}, {high:g}]")


def all_of(decisions) -> str:
    """The outcome of a claim that holds at every point (a conjunction), from each point's :class:`Decision`.

    ``PASS`` if every point passes, ``FAIL`` if at least one fails (the claim "at every point" is then contradicted
    there), ``INCONCLUSIVE`` otherwise. Requiring every interval to pass at its own level keeps the conjunction's
    error rate at that level (an intersection-union test); a single ``FAIL`` among many points is not corrected for
    their number, so the chapters name the points where each outcome occurred.
    """
    outcomes = [d.outcome for d in decisions]
    if not outcomes:
        raise ValueError("all_of needs at least one decision")
    if any(o not in OUTCOMES for o in outcomes):
        raise ValueError(f"every outcome must be one of {OUTCOMES}, got {outcomes}")
    return "PASS" if all(o == "PASS" for o in outcomes) else "FAIL" if "FAIL" in outcomes else "INCONCLUSIVE"


def compare_paired(a, b, side: str, *, margin: float = 0.0, level: float = 0.95, method: str = "t",
                   n_boot: int = 10_000, generator: np.random.Generator | None = None) -> Decision:
    """Decide "``a - b`` is ``side`` of ``margin``" on paired per-seed values (:func:`paired_interval`, :func:`decide`)."""
    return decide(paired_interval(a, b, level, method=method, n_boot=n_boot, generator=generator), side, margin)


def seeds_to_resolve(interval: Interval, margin: float = 0.0, *, n_max: int = 100_000) -> int | None:
    """A planning estimate for a tie: the fewest seeds whose t interval would exclude ``margin``, were the true mean
    and spread the observed ones.

    The spread is read back from the t interval (``sd = half-width sqrt(n) / t_{n-1}``); the answer is the smallest
    ``m >= 2`` with ``t_{m-1, (1+level)/2} sd / sqrt(m) < |estimate - margin|``. It is a guide for sizing a run, not a
    prediction: the observed difference of a tie is itself uncertain. None when the estimate sits on the margin,
    when the interval already excludes it, or when more than ``n_max`` seeds would be needed.
    """
    if interval.method != "t interval" or interval.n < 2:
        raise ValueError(f"seeds_to_resolve needs a t interval from at least 2 seeds, got a {interval.method} "
                         f"from n = {interval.n}")
    gap = abs(interval.estimate - margin)
    if gap == 0 or not (interval.ci_low <= margin <= interval.ci_high):
        return None
    q = (1 + interval.level) / 2
    sd = (interval.ci_high - interval.ci_low) / 2 * math.sqrt(interval.n) / _st.t.ppf(q, interval.n - 1)
    if sd == 0:
        return None

    def resolves(m: int) -> bool:
        return _st.t.ppf(q, m - 1) * sd / math.sqrt(m) < gap

    if not resolves(n_max):
        return None
    lo, hi = 2, n_max  # resolves(hi) holds; t_{m-1}/sqrt(m) decreases in m, so bisect
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if resolves(mid) else (mid + 1, hi)
    return lo


def relative_difference_per_seed(A, B) -> np.ndarray:
    """Per seed, the mean over points of ``(A[p, s] - B[p, s]) / mean_s B[p, s]``: one paired number per seed.

    Pools a comparison over the points of a sweep (each point weighted by the scale of ``B`` there) into replicates
    that stay independent across seeds, so :func:`t_interval` applies; ``A``, ``B`` have shape (points, seeds).
    """
    A_, B_ = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A_.ndim != 2 or A_.shape != B_.shape:
        raise ValueError(f"A and B must be (points, seeds) arrays of one shape, got {A_.shape} and {B_.shape}")
    if not (np.all(np.isfinite(A_)) and np.all(np.isfinite(B_))):
        raise ValueError("A and B must hold finite values")
    scale = B_.mean(axis=1, keepdims=True)
    if np.any(scale == 0):
        raise ValueError("the seed mean of B is 0 at some point: no relative difference there")
    return ((A_ - B_) / scale).mean(axis=0)


def loglog_exponent(x, Y, level: float = 0.95) -> Exponent:
    """Exponent ``b`` of ``mean_s Y[p, s] ~ x_p^b`` with a t interval over the seeds ``s``.

    ``b`` is the least-squares slope of ``log Ybar_p`` on ``u_p = log x_p``: ``b = sum_p c_p log Ybar_p`` with
    ``c_p = (u_p - ubar) / sum_q (u_q - ubar)^2``. Seed ``s`` contributes the linearised slope
    ``b_s = b + sum_p c_p (Y[p, s] / Ybar_p - 1)`` (first-order Taylor of ``log`` around the mean); the ``b_s`` have
    mean ``b`` and their spread is the delta-method standard error with the seed as the cluster, so points
    measured on shared seeds (correlated) or on independent draws are both handled, and a non-positive
    single-seed value is allowed (only the means must be positive). The interval is :func:`t_interval` of the
    ``b_s`` (``n - 1`` degrees of freedom). The estimand is the least-squares exponent of the mean over this grid
    of ``x``; if the mean is not a power law, that is the slope of the best power law, not a local exponent.

    Args:
        x: the points, shape (P,), positive, at least 2 distinct.
        Y: the measurements, shape (P, S): point by seed.
    """
    xv = _sample(x, "x")
    Ya = np.asarray(Y, dtype=float)
    if Ya.ndim != 2 or Ya.shape[0] != xv.size:
        raise ValueError(f"Y must have shape (points, seeds) = ({xv.size}, S), got {Ya.shape}")
    if not np.all(np.isfinite(Ya)):
        raise ValueError("Y holds NaN or infinite values")
    if np.any(xv <= 0) or np.unique(xv).size < 2:
        raise ValueError("x must hold positive values, at least two of them distinct")
    ybar = Ya.mean(axis=1)
    if np.any(ybar <= 0):
        raise ValueError(f"the seed means must be positive to take logs, got {ybar.min():.3g} at "
                         f"x = {xv[int(np.argmin(ybar))]:g}")
    u = np.log(xv)
    c = (u - u.mean()) / ((u - u.mean()) ** 2).sum()
    b = float(c @ np.log(ybar))
    pseudo = b + c @ (Ya / ybar[:, None] - 1)
    t = t_interval(pseudo, level)
    interval = Interval(b, t.ci_low, t.ci_high, level, t.n, "t interval over seeds (delta method)")
    return Exponent(interval, pseudo, float(np.log(ybar).mean() - b * u.mean()))
