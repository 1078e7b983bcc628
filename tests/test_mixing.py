"""Mixing distribution, tilted distribution, pairing and mixup losses against float64 oracles.

Oracles are written here: the tilted density D~_lam from scipy.stats.beta pdfs integrated with
scipy.integrate.quad, Beta moments from scipy.special.beta, cross-entropy from logsumexp.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from mixup_repro.mixing import (
    beta_quadrature,
    check_beta_params,
    is_erm,
    lambda_moments,
    mix_batch,
    mixup_cross_entropy,
    mixup_glm_loss,
    one_hot,
    pair_permutation,
    draw_epoch,
    sample_lambda,
    sample_tilted_lambda,
    soft_cross_entropy,
    tilted_quadrature,
)

DT = torch.float64
PARAMS = [(1.0, 1.0), (0.2, 0.2), (0.05, 0.05), (2.0, 2.0), (5.0, 0.5), (0.5, 3.0), (0.05, 2.0)]


def _tilted_pdf(lam, alpha, beta):
    """D~_lam = alpha/(alpha+beta) Beta(alpha+1, beta) + beta/(alpha+beta) Beta(beta+1, alpha)."""
    s = alpha + beta
    return alpha / s * stats.beta.pdf(lam, alpha + 1, beta) + beta / s * stats.beta.pdf(lam, beta + 1, alpha)


def _quad(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(fn, 0.0, 1.0, epsabs=0.0, epsrel=1e-12, limit=500)[0]


def _tilted_moment_closed(alpha, beta, k):
    """E_{D~}[(1 - lam)^k] from Beta-function ratios, component by component."""
    s = alpha + beta
    first = special.beta(alpha + 1, beta + k) / special.beta(alpha + 1, beta)
    second = special.beta(beta + 1, alpha + k) / special.beta(beta + 1, alpha)
    return alpha / s * first + beta / s * second


# --- moments of D~_lam ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha,beta", PARAMS)
def test_lambda_moments_match_quadrature_of_the_mixture_density(alpha, beta):
    m1, m2 = lambda_moments(alpha, beta)
    assert _quad(lambda t: _tilted_pdf(t, alpha, beta)) == pytest.approx(1.0, rel=1e-8)
    assert m1 == pytest.approx(_quad(lambda t: (1 - t) * _tilted_pdf(t, alpha, beta)), rel=1e-9)
    assert m2 == pytest.approx(_quad(lambda t: (1 - t) ** 2 * _tilted_pdf(t, alpha, beta)), rel=1e-9)
    # Lemma 3.1's two constants are tied: E[(1 - lam)^2] = E[1 - lam] / 2 = E_{Beta}[lam (1 - lam)].
    assert m2 == pytest.approx(m1 / 2, rel=1e-14)
    assert m1 == pytest.approx(2 * stats.beta(alpha, beta).expect(lambda t: t * (1 - t)), rel=1e-8)


@pytest.mark.parametrize(
    "alpha,beta,m1,m2",
    [
        (0.2, 0.2, 1 / 7, 1 / 14),
        (0.5, 0.5, 0.25, 0.125),
        (1.0, 1.0, 1 / 3, 1 / 6),
        (2.0, 2.0, 0.4, 0.2),
        (5.0, 0.5, 0.139860, 0.069930),
    ],
)
def test_lambda_moments_reproduce_known_values(alpha, beta, m1, m2):
    """E[1 - lam] and E[(1 - lam)^2] under D~_lam, worked out by hand (2 ab / ((a + b)(a + b + 1)) and half of it)."""
    got = lambda_moments(alpha, beta)
    assert got[0] == pytest.approx(m1, abs=5e-7)
    assert got[1] == pytest.approx(m2, abs=5e-7)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 4.0])
def test_lambda_moments_symmetric_closed_form(alpha):
    assert lambda_moments(alpha, alpha) == pytest.approx((alpha / (2 * alpha + 1), alpha / (2 * (2 * alpha + 1))), rel=1e-14)


def test_alpha_zero_is_erm_everywhere():
    assert is_erm(0) and is_erm(0.0) and not is_erm(0.1)
    assert lambda_moments(0.0, 0.0) == (0.0, 0.0)
    assert lambda_moments(0, 3.0) == (0.0, 0.0)
    for quad in (beta_quadrature(0.0, 0.0, 10), tilted_quadrature(0.0, 1.0, 10)):
        np.testing.assert_array_equal(quad[0], [1.0])
        np.testing.assert_array_equal(quad[1], [1.0])
    np.testing.assert_array_equal(sample_lambda(0.0, 0.0, 7, 0), np.ones(7))
    np.testing.assert_array_equal(sample_tilted_lambda(0.0, 0.0, (2, 3), 0), np.ones((2, 3)))


@pytest.mark.parametrize("alpha,beta", [(0.2, 0.2), (1.0, 1.0), (5.0, 0.5), (0.5, 3.0)])
def test_sample_tilted_lambda_mean_within_4_stderr_and_ks(alpha, beta):
    lam = sample_tilted_lambda(alpha, beta, 100_000, np.random.default_rng(11))
    assert lam.min() >= 0 and lam.max() <= 1
    m1, m2 = lambda_moments(alpha, beta)
    for k, target in ((1, m1), (2, m2)):
        v = (1 - lam) ** k
        assert abs(v.mean() - target) < 4 * v.std(ddof=1) / math.sqrt(v.size)
    # The whole distribution, not just the mean: KS against the mixture CDF written from scipy.
    s = alpha + beta
    cdf = lambda t: alpha / s * stats.beta.cdf(t, alpha + 1, beta) + beta / s * stats.beta.cdf(t, beta + 1, alpha)
    assert stats.kstest(lam[:20_000], cdf).pvalue > 1e-3
    # ... and it is not the untilted Beta (the test can tell the two apart).
    assert stats.kstest(lam[:20_000], stats.beta(alpha, beta).cdf).pvalue < 1e-6


@pytest.mark.parametrize("alpha,beta", [(0.2, 0.2), (5.0, 0.5)])
def test_sample_lambda_is_beta(alpha, beta):
    lam = sample_lambda(alpha, beta, 50_000, np.random.default_rng(3))
    assert abs(lam.mean() - alpha / (alpha + beta)) < 4 * lam.std(ddof=1) / math.sqrt(lam.size)
    assert stats.kstest(lam[:20_000], stats.beta(alpha, beta).cdf).pvalue > 1e-3


# --- quadrature -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha,beta", [(0.2, 0.2), (5.0, 0.5), (0.05, 2.0), (1.0, 1.0), (3.0, 7.0)])
@pytest.mark.parametrize("order", [1, 3, 6])
def test_beta_quadrature_exact_below_degree_2_order(alpha, beta, order):
    nodes, w = beta_quadrature(alpha, beta, order)
    assert nodes.shape == w.shape == (order,)
    assert np.all((nodes > 0) & (nodes < 1)) and np.all(w > 0)
    exact = lambda k: special.beta(alpha + k, beta) / special.beta(alpha, beta)
    for k in range(2 * order):
        assert np.sum(w * nodes**k) == pytest.approx(exact(k), rel=1e-11, abs=1e-15)
    # Degree 2 * order is where Gauss quadrature stops being exact: the test can tell.
    assert abs(np.sum(w * nodes ** (2 * order)) - exact(2 * order)) > 1e-10


@pytest.mark.parametrize("alpha,beta", [(0.2, 0.2), (5.0, 0.5), (2.0, 2.0)])
def test_tilted_quadrature_matches_tilted_moments(alpha, beta):
    nodes, w = tilted_quadrature(alpha, beta, 8)
    assert w.sum() == pytest.approx(1.0, rel=1e-14)
    for k in range(16):
        assert np.sum(w * (1 - nodes) ** k) == pytest.approx(_tilted_moment_closed(alpha, beta, k), rel=1e-11)
    m1, m2 = lambda_moments(alpha, beta)
    assert np.sum(w * (1 - nodes)) == pytest.approx(m1, rel=1e-12)
    assert np.sum(w * (1 - nodes) ** 2) == pytest.approx(m2, rel=1e-12)


@pytest.mark.parametrize("order", [0, -2, 2.5, True, "3"])
def test_beta_quadrature_rejects_bad_order(order):
    with pytest.raises(ValueError, match="quadrature order must be a positive integer"):
        beta_quadrature(1.0, 1.0, order)


# --- parameter validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha,beta,exc,match",
    [
        (-0.1, 1.0, ValueError, "alpha must be a finite number >= 0"),
        (1.0, -1.0, ValueError, "beta must be a finite number >= 0"),
        (float("nan"), 1.0, ValueError, "alpha must be a finite number >= 0"),
        (1.0, float("nan"), ValueError, "beta must be a finite number >= 0"),
        (float("inf"), 1.0, ValueError, "alpha must be a finite number >= 0"),
        (True, 1.0, TypeError, "alpha must be a number, got bool"),
        (1.0, False, TypeError, "beta must be a number, got bool"),
        ("1", 1.0, TypeError, "alpha must be a number, got str"),
        (1.0, None, TypeError, "beta must be a number, got NoneType"),
        (0.5, 0.0, ValueError, "beta must be > 0 when alpha > 0"),
    ],
)
def test_check_beta_params_errors(alpha, beta, exc, match):
    with pytest.raises(exc, match=match):
        check_beta_params(alpha, beta)
    # Every public entry point validates the same way.
    with pytest.raises(exc, match=match):
        lambda_moments(alpha, beta)
    with pytest.raises(exc, match=match):
        sample_lambda(alpha, beta, 3, 0)


def test_check_beta_params_accepts_valid():
    for a, b in [(0, 0), (0.0, 2.0), (1, 1), (0.2, 5.0), (np.float64(0.3), 0.3)]:
        check_beta_params(a, b)


def test_samplers_need_an_explicit_generator():
    with pytest.raises(ValueError, match="explicit numpy Generator"):
        sample_lambda(1.0, 1.0, 3, None)
    with pytest.raises(ValueError, match="explicit numpy Generator"):
        sample_tilted_lambda(1.0, 1.0, 3, None)
    with pytest.raises(TypeError, match="explicit torch.Generator"):
        pair_permutation(5, np.random.default_rng(0))


# --- seeding ----------------------------------------------------------------------------------------


def test_same_seed_same_draws_different_seed_different_draws():
    a = sample_lambda(0.4, 0.4, 50, np.random.default_rng(5))
    np.testing.assert_array_equal(a, sample_lambda(0.4, 0.4, 50, np.random.default_rng(5)))
    np.testing.assert_array_equal(a, sample_lambda(0.4, 0.4, 50, 5))  # an integer seed means the same
    assert not np.array_equal(a, sample_lambda(0.4, 0.4, 50, np.random.default_rng(6)))
    t = sample_tilted_lambda(0.4, 0.4, 50, 5)
    np.testing.assert_array_equal(t, sample_tilted_lambda(0.4, 0.4, 50, 5))
    assert not np.array_equal(t, sample_tilted_lambda(0.4, 0.4, 50, 6))
    p = pair_permutation(40, torch.Generator().manual_seed(1))
    assert torch.equal(p, pair_permutation(40, torch.Generator().manual_seed(1)))
    assert not torch.equal(p, pair_permutation(40, torch.Generator().manual_seed(2)))
    assert torch.equal(torch.sort(p).values, torch.arange(40))


# --- mix_batch --------------------------------------------------------------------------------------


def _batch(n=6, d=(3,), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n,) + d, generator=g, dtype=DT)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y, torch.randperm(n, generator=g)


def test_mix_batch_lam_one_is_identity_and_lam_zero_is_the_partner():
    x, y, perm = _batch(d=(2, 4, 4))
    b = mix_batch(x, y, 1.0, perm)
    assert torch.equal(b.x, x) and torch.equal(b.y_a, y) and torch.equal(b.y_b, y[perm])
    assert b.lam == 1.0 and isinstance(b.lam, float)
    assert torch.equal(mix_batch(x, y, 0.0, perm).x, x[perm])
    ones = mix_batch(x, y, torch.ones(6, dtype=DT), perm)  # exact per example too
    assert torch.equal(ones.x, x) and torch.equal(ones.lam, torch.ones(6, dtype=DT))


def test_mix_batch_per_sample_lam_matches_explicit_loop():
    x, y, perm = _batch(d=(2, 3))
    lam = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0, 0.33], dtype=DT)
    b = mix_batch(x, y, lam, perm)
    for i in range(6):
        torch.testing.assert_close(b.x[i], lam[i] * x[i] + (1 - lam[i]) * x[perm[i]], rtol=0, atol=1e-15)
    scalar = mix_batch(x, y, 0.3, perm)
    torch.testing.assert_close(scalar.x, 0.3 * x + 0.7 * x[perm], rtol=0, atol=1e-15)
    assert scalar.lam == 0.3
    # lam given as numpy (what fit draws): a 0-d array is one lam, an array (n,) one per example
    assert torch.equal(mix_batch(x, y, np.array(0.3), perm).x, scalar.x) and mix_batch(x, y, np.array(0.3), perm).lam == 0.3
    assert torch.equal(mix_batch(x, y, lam.numpy(), perm).x, b.x)


@pytest.mark.parametrize("lam", [0.3, 0.8, "per_sample"])
def test_mix_batch_is_the_convex_combination_to_rounding_in_float32_and_float64(lam):
    """x~ = lam x + (1 - lam) x[perm] written out in float64, against the lerp in float64 (to 1e-15) and in
    float32 (to float32 rounding of the same inputs)."""
    x, y, perm = _batch(n=32, d=(3, 5, 5), seed=3)
    lam_t = torch.rand(32, generator=torch.Generator().manual_seed(9), dtype=DT) if lam == "per_sample" else None
    w = lam_t.reshape(32, 1, 1, 1) if lam_t is not None else lam
    oracle = w * x + (1 - w) * x[perm]
    arg = lam_t if lam_t is not None else lam
    torch.testing.assert_close(mix_batch(x, y, arg, perm).x, oracle, rtol=0, atol=1e-15)
    x32 = x.float()
    got = mix_batch(x32, y, arg if lam_t is None else lam_t.float(), perm).x
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), (w * x32.double() + (1 - w) * x32.double()[perm]), rtol=0, atol=2e-6)


def test_mix_batch_keeps_the_channels_last_layout_and_does_not_change_its_input():
    x, y, perm = _batch(n=8, d=(3, 4, 4))
    xc = x.contiguous(memory_format=torch.channels_last)
    before = xc.clone()
    b = mix_batch(xc, y, 0.4, perm)
    assert b.x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(b.x, mix_batch(x, y, 0.4, perm).x) and torch.equal(xc, before)


def test_mix_batch_refuses_inputs_that_require_grad():
    x, y, perm = _batch()
    with pytest.raises(ValueError, match="mix_batch mixes data: x must not require grad"):
        mix_batch(x.requires_grad_(True), y, 0.5, perm)


@pytest.mark.parametrize(
    "perm,lam,match",
    [
        (torch.arange(5), 0.5, r"perm must have shape \(6,\), got \(5,\)"),
        (torch.arange(6).reshape(2, 3), 0.5, r"perm must have shape \(6,\)"),
        (torch.arange(6), torch.full((5,), 0.5), r"lam must be a scalar or have shape \(6,\), got \(5,\)"),
        (torch.arange(6), torch.full((6, 1), 0.5), r"lam must be a scalar or have shape \(6,\)"),
        (torch.arange(6), 1.5, r"lam must lie in \[0, 1\]"),
        (torch.arange(6), torch.tensor([0.5] * 5 + [-0.1]), r"lam must lie in \[0, 1\]"),
    ],
)
def test_mix_batch_shape_and_range_errors(perm, lam, match):
    x, y, _ = _batch()
    with pytest.raises(ValueError, match=match):
        mix_batch(x, y, lam, perm)


def test_mix_batch_rejects_nan_lam():
    x, y, perm = _batch()
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        mix_batch(x, y, float("nan"), perm)


# --- losses on mixed batches --------------------------------------------------------------------


def _ce_oracle(logits, target_probs):
    """-sum_c p_c (z_c - logsumexp z), per row, from numpy."""
    z = logits.detach().numpy()
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    return -(target_probs * (z - lse[:, None])).sum(1)


def test_one_hot_rows_sum_to_one_and_soft_targets_too():
    y = torch.tensor([0, 2, 1, 2, 0])
    oh = one_hot(y, 4, DT)
    assert oh.dtype == DT and oh.shape == (5, 4)
    torch.testing.assert_close(oh.sum(1), torch.ones(5, dtype=DT))
    assert torch.equal(oh.argmax(1), y) and torch.equal(oh[:, 3], torch.zeros(5, dtype=DT))
    assert one_hot(y, 3).dtype == torch.float32
    perm = torch.tensor([4, 3, 2, 1, 0])
    lam = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0], dtype=DT)
    soft = lam[:, None] * oh + (1 - lam[:, None]) * one_hot(y[perm], 4, DT)
    torch.testing.assert_close(soft.sum(1), torch.ones(5, dtype=DT))


@pytest.mark.parametrize("per_sample", [False, True])
def test_two_term_cross_entropy_equals_soft_label_cross_entropy_value_and_gradient(per_sample):
    g = torch.Generator().manual_seed(4)
    n, c = 8, 5
    logits = (3 * torch.randn(n, c, generator=g, dtype=DT)).requires_grad_(True)
    y = torch.randint(0, c, (n,), generator=g)
    perm = torch.randperm(n, generator=g)
    lam = torch.rand(n, generator=g, dtype=DT) if per_sample else 0.37
    batch = mix_batch(torch.zeros(n, 2, dtype=DT), y, lam, perm)
    lam_col = torch.as_tensor(batch.lam, dtype=DT).expand(n)[:, None]
    targets = lam_col * one_hot(y, c, DT) + (1 - lam_col) * one_hot(y[perm], c, DT)

    two = mixup_cross_entropy(logits, batch)
    (g_two,) = torch.autograd.grad(two, logits)
    soft = soft_cross_entropy(logits, targets)
    (g_soft,) = torch.autograd.grad(soft, logits)
    torch.testing.assert_close(two, soft, rtol=1e-14, atol=0)
    torch.testing.assert_close(g_two, g_soft, rtol=1e-12, atol=1e-15)
    # Both against the written-out value and its gradient (softmax - target) / n.
    assert float(two.detach()) == pytest.approx(_ce_oracle(logits, targets.numpy()).mean(), rel=1e-13)
    expected_grad = (torch.softmax(logits.detach(), 1) - targets) / n
    torch.testing.assert_close(g_soft, expected_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["logistic", "squared", "poisson"])
def test_mixup_glm_loss_is_lam_weighted_sum_of_two_losses(loss):
    g = torch.Generator().manual_seed(8)
    n = 7
    f = torch.randn(n, generator=g, dtype=DT)
    y = torch.randint(0, 2, (n,), generator=g).to(DT)
    perm = torch.randperm(n, generator=g)
    lam = torch.rand(n, generator=g, dtype=DT)
    batch = mix_batch(torch.zeros(n, 1, dtype=DT), y, lam, perm)
    h = {"logistic": lambda u: np.log1p(np.exp(u)), "squared": lambda u: u * u / 2, "poisson": np.exp}[loss]
    fn, yn, ln = f.numpy(), y.numpy(), lam.numpy()
    per = ln * (h(fn) - yn * fn) + (1 - ln) * (h(fn) - yn[perm.numpy()] * fn)
    assert float(mixup_glm_loss(f, batch, loss)) == pytest.approx(per.mean(), rel=1e-13)
    # lam = 1: the plain loss.
    plain = mix_batch(torch.zeros(n, 1, dtype=DT), y, 1.0, perm)
    assert float(mixup_glm_loss(f, plain, loss)) == pytest.approx((h(fn) - yn * fn).mean(), rel=1e-13)


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixup_cross_entropy_equals_the_two_cross_entropy_formula_value_and_gradient(per_sample):
    """Against the formula it replaced: two full cross-entropies, weighted per example, then averaged."""
    g = torch.Generator().manual_seed(11)
    n, c = 16, 7
    logits = (4 * torch.randn(n, c, generator=g, dtype=DT)).requires_grad_(True)
    y, perm = torch.randint(0, c, (n,), generator=g), torch.randperm(n, generator=g)
    lam = torch.rand(n, generator=g, dtype=DT) if per_sample else torch.full((n,), 0.61, dtype=DT)
    batch = mix_batch(torch.zeros(n, 2, dtype=DT), y, lam if per_sample else 0.61, perm)
    ce = torch.nn.functional.cross_entropy
    old = (lam * ce(logits, y, reduction="none") + (1 - lam) * ce(logits, y[perm], reduction="none")).mean()
    new = mixup_cross_entropy(logits, batch)
    (g_old,) = torch.autograd.grad(old, logits)
    (g_new,) = torch.autograd.grad(new, logits)
    torch.testing.assert_close(new, old, rtol=1e-14, atol=0)
    torch.testing.assert_close(g_new, g_old, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("dtype", [torch.float32, DT])
def test_mixup_cross_entropy_at_lam_one_is_exactly_the_cross_entropy(dtype):
    """lam = 1 is ERM: the value and the gradient are bitwise those of F.cross_entropy on y_a (per example and
    then averaged, when lam is given per example)."""
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(12, 4, generator=g, dtype=dtype).requires_grad_(True)
    y, perm = torch.randint(0, 4, (12,), generator=g), torch.randperm(12, generator=g)
    ce = torch.nn.functional.cross_entropy
    for lam, plain in ((1.0, ce(logits, y)), (torch.ones(12, dtype=dtype), ce(logits, y, reduction="none").mean())):
        mixed = mixup_cross_entropy(logits, mix_batch(torch.zeros(12, 1, dtype=dtype), y, lam, perm))
        (g_mixed,) = torch.autograd.grad(mixed, logits)
        (g_plain,) = torch.autograd.grad(plain, logits)
        assert torch.equal(mixed, plain) and torch.equal(g_mixed, g_plain)


@pytest.mark.parametrize("loss", ["logistic", "squared", "poisson"])
def test_mixup_glm_loss_gradient_matches_the_two_loss_formula(loss):
    """The gradient in f of the loss at lerp-mixed labels equals that of lam l(f, y_a) + (1 - lam) l(f, y_b),
    for one lam per batch and one per example."""
    from mixup_repro.losses import get_loss

    g = torch.Generator().manual_seed(12)
    n = 9
    f = torch.randn(n, generator=g, dtype=DT).requires_grad_(True)
    y, perm = torch.randint(0, 3, (n,), generator=g).to(DT), torch.randperm(n, generator=g)
    for lam in (0.27, torch.rand(n, generator=g, dtype=DT)):
        batch = mix_batch(torch.zeros(n, 1, dtype=DT), y, lam, perm)
        ell = get_loss(loss)
        two = (lam * ell(f, y) + (1 - lam) * ell(f, y[perm])).mean()
        (g_two,) = torch.autograd.grad(two, f)
        (g_mix,) = torch.autograd.grad(mixup_glm_loss(f, batch, loss), f)
        torch.testing.assert_close(g_mix, g_two, rtol=1e-13, atol=1e-16)


def test_mixup_glm_loss_unknown_loss():
    batch = mix_batch(torch.zeros(3, 1, dtype=DT), torch.zeros(3, dtype=DT), 0.5, torch.arange(3))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        mixup_glm_loss(torch.zeros(3, dtype=DT), batch, "hinge")


# --- draw_epoch ------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_sample_lam", [False, True])
def test_draw_epoch_gives_the_draws_of_one_batch_at_a_time(per_sample_lam):
    """An epoch drawn at once equals, value for value, drawing each batch's lam then its permutation in turn, and
    leaves both generators where the one-at-a-time draws leave them (the next epoch's draws depend on it)."""
    sizes = [8, 8, 8, 5]
    np_a, torch_a = np.random.default_rng(7), torch.Generator().manual_seed(7)
    drawn = draw_epoch(sizes, 0.4, 0.9, per_sample_lam=per_sample_lam, lam_generator=np_a, perm_generator=torch_a)
    np_b, torch_b = np.random.default_rng(7), torch.Generator().manual_seed(7)
    assert len(drawn) == len(sizes)
    for (lam, perm), b in zip(drawn, sizes):
        one = np_b.beta(0.4, 0.9, size=b if per_sample_lam else ())
        if per_sample_lam:
            assert isinstance(lam, np.ndarray) and np.array_equal(lam, one)
        else:
            assert type(lam) is float and lam == float(one)
        assert torch.equal(perm, torch.randperm(b, generator=torch_b))
    assert np_a.random() == np_b.random()
    assert torch.equal(torch.rand(3, generator=torch_a), torch.rand(3, generator=torch_b))


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=0.0), "ERM"),
    (dict(alpha=-1.0), "alpha"),
    (dict(sizes=[4, 0]), "at least one example"),
])
def test_draw_epoch_refuses_erm_bad_parameters_and_empty_batches(kwargs, match):
    args = dict(sizes=[4, 4], alpha=1.0, beta=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        draw_epoch(args["sizes"], args["alpha"], args["beta"], per_sample_lam=False,
                   lam_generator=np.random.default_rng(0), perm_generator=torch.Generator())
