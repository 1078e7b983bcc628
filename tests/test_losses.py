"""The GLM loss family l(f, y) = h(f) - y f: values against torch's own losses, h' and h'' against
autograd and central differences of h, all in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mixup_repro.losses import GLM_LOSSES, get_loss, glm_loss

DT = torch.float64
F_GRID = torch.linspace(-30.0, 30.0, 121, dtype=DT)
F_MODERATE = torch.linspace(-6.0, 6.0, 49, dtype=DT)

# h written out independently in numpy (stable softplus).
H_NUMPY = {
    "logistic": lambda u: np.logaddexp(0.0, u),
    "squared": lambda u: 0.5 * u * u,
    "poisson": np.exp,
}


def test_family_members():
    assert set(GLM_LOSSES) == {"logistic", "squared", "poisson"}
    for name in GLM_LOSSES:
        assert get_loss(name).name == name


@pytest.mark.parametrize("name", ["logistic", "squared", "poisson"])
def test_h_matches_numpy(name):
    grid = torch.linspace(-20.0, 20.0, 81, dtype=DT) if name != "poisson" else F_MODERATE
    np.testing.assert_allclose(get_loss(name).h(grid).numpy(), H_NUMPY[name](grid.numpy()), rtol=1e-14, atol=1e-300)


def test_logistic_h_is_float64_accurate_above_softplus_threshold():
    grid = torch.linspace(20.5, 36.0, 32, dtype=DT)
    np.testing.assert_allclose(get_loss("logistic").h(grid).numpy(), H_NUMPY["logistic"](grid.numpy()), rtol=1e-14)


@pytest.mark.parametrize("name", ["logistic", "squared", "poisson"])
def test_h1_h2_are_the_derivatives_of_h(name):
    lf = get_loss(name)
    f = F_MODERATE.clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(lf.h(f).sum(), f, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), f)
    torch.testing.assert_close(lf.h1(F_MODERATE), d1.detach(), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(lf.h2(F_MODERATE), d2, rtol=1e-12, atol=1e-15)
    # Central differences of the numpy h: O(eps^2) truncation, independent of torch autograd.
    u, e = F_MODERATE.numpy(), 1e-4
    h = H_NUMPY[name]
    np.testing.assert_allclose(lf.h1(F_MODERATE).numpy(), (h(u + e) - h(u - e)) / (2 * e), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(lf.h2(F_MODERATE).numpy(), (h(u + e) - 2 * h(u) + h(u - e)) / e**2, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["logistic", "squared", "poisson"])
def test_h3_h4_are_the_derivatives_of_h2(name):
    lf = get_loss(name)
    f = F_MODERATE.clone().requires_grad_(True)
    a2 = lf.h2(f) + 0 * f  # squared: h2 = ones_like has no graph without the 0 * f
    (a3,) = torch.autograd.grad(a2.sum(), f, create_graph=True)
    a4 = torch.autograd.grad(a3.sum(), f)[0] if a3.requires_grad else torch.zeros_like(a3)
    torch.testing.assert_close(lf.h3(F_MODERATE), a3.detach(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(lf.h4(F_MODERATE), a4, rtol=1e-12, atol=1e-15)
    # Central differences of the numpy h (independent of torch): O(e^2) truncation.
    u, e, h = F_MODERATE.numpy(), 1e-2, H_NUMPY[name]
    third = (h(u + 2 * e) - 2 * h(u + e) + 2 * h(u - e) - h(u - 2 * e)) / (2 * e**3)
    fourth = (h(u + 2 * e) - 4 * h(u + e) + 6 * h(u) - 4 * h(u - e) + h(u - 2 * e)) / e**4
    np.testing.assert_allclose(lf.h3(F_MODERATE).numpy(), third, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(lf.h4(F_MODERATE).numpy(), fourth, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["logistic", "squared", "poisson"])
def test_joint_derivatives_equal_the_separate_ones(name):
    lf = get_loss(name)
    h, h1, h2 = lf.derivatives(F_GRID if name != "poisson" else F_MODERATE)
    grid = F_GRID if name != "poisson" else F_MODERATE
    assert torch.equal(h, lf.h(grid)) and torch.equal(h1, lf.h1(grid)) and torch.equal(h2, lf.h2(grid))
    assert lf.derivatives(grid, 1)[2] is None
    with pytest.raises(ValueError, match=r"upto must be 1 or 2"):
        lf.derivatives(grid, 3)


def test_logistic_closed_forms_and_extremes():
    lf = get_loss("logistic")
    s = 1 / (1 + np.exp(-F_GRID.numpy()))
    np.testing.assert_allclose(lf.h1(F_GRID).numpy(), s, rtol=1e-14)
    np.testing.assert_allclose(lf.h2(F_GRID).numpy(), s * (1 - s), rtol=1e-12, atol=1e-300)
    big = torch.tensor([800.0, -800.0], dtype=DT)
    assert torch.isfinite(lf.h(big)).all() and torch.isfinite(lf.h1(big)).all() and torch.isfinite(lf.h2(big)).all()
    assert float(lf.h(big)[0]) == 800.0 and float(lf.h(big)[1]) == 0.0


def test_logistic_loss_is_binary_cross_entropy_with_logits():
    g = torch.Generator().manual_seed(0)
    f = 4 * torch.randn(30, generator=g, dtype=DT)
    y = torch.randint(0, 2, (30,), generator=g).to(DT)
    torch.testing.assert_close(glm_loss("logistic", f, y), F.binary_cross_entropy_with_logits(f, y, reduction="none"), rtol=1e-13, atol=1e-15)


def test_squared_loss_is_half_squared_error_minus_y_squared_term():
    g = torch.Generator().manual_seed(1)
    f, y = torch.randn(20, generator=g, dtype=DT), torch.randn(20, generator=g, dtype=DT)
    torch.testing.assert_close(glm_loss("squared", f, y), 0.5 * (f - y) ** 2 - 0.5 * y**2, rtol=1e-13, atol=1e-14)


def test_poisson_loss_is_torch_poisson_nll_with_log_input():
    g = torch.Generator().manual_seed(2)
    f = torch.randn(20, generator=g, dtype=DT)
    y = torch.poisson(torch.full((20,), 3.0, dtype=DT), generator=g)
    expected = F.poisson_nll_loss(f, y, log_input=True, full=False, reduction="none")
    torch.testing.assert_close(glm_loss("poisson", f, y), expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ["logistic", "squared", "poisson"])
def test_loss_is_affine_in_y(name):
    """The structural property behind Lemma 3.1: l(f, lam y1 + (1 - lam) y2) = lam l(f, y1) + (1 - lam) l(f, y2)."""
    lf = get_loss(name)
    f = F_MODERATE
    y1, y2 = torch.zeros_like(f), torch.full_like(f, 2.0)
    for lam in (0.0, 0.3, 1.0):
        torch.testing.assert_close(lf(f, lam * y1 + (1 - lam) * y2), lam * lf(f, y1) + (1 - lam) * lf(f, y2), rtol=1e-13, atol=1e-13)


def test_integer_labels_are_cast_to_the_logit_dtype():
    out = glm_loss("logistic", torch.zeros(3, dtype=DT), torch.tensor([0, 1, 1]))
    assert out.dtype == DT
    torch.testing.assert_close(out, torch.full((3,), np.log(2.0), dtype=DT))


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; choose one of \['logistic', 'poisson', 'squared'\]"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="unknown loss"):
        glm_loss("xent", torch.zeros(2), torch.zeros(2))
