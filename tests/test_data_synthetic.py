"""data/synthetic.py: the generators of the theory chapters (shapes, centring, determinism from the seed, errors)."""

import math

import numpy as np
import pytest
import torch

from mixup_repro.data.synthetic import Dataset, alternating_line, gaussian_mixture, low_rank_glm_data, two_moons, xor_cones

DT = torch.float64


def test_two_moons_shapes_centred_labels_and_seed():
    ds = two_moons(101, noise=0.1, seed=0)
    assert isinstance(ds, Dataset) and ds.name == "two_moons"
    assert ds.X.shape == (101, 2) and ds.y.shape == (101,) and ds.n == 101 and ds.d == 2
    assert ds.X.dtype == DT and ds.y.dtype == DT
    assert set(ds.y.tolist()) == {0.0, 1.0} and abs(int(ds.y.sum()) - 50) <= 1
    torch.testing.assert_close(ds.X.mean(0), torch.zeros(2, dtype=DT), rtol=0, atol=1e-14)
    raw = two_moons(101, noise=0.1, seed=0, centred=False)
    assert raw.X.mean(0).abs().max() > 0.1  # the raw moons are not centred: centring did something
    torch.testing.assert_close(ds.X, raw.X - raw.X.mean(0))
    assert torch.equal(ds.X, two_moons(101, noise=0.1, seed=0).X)
    assert not torch.equal(ds.X, two_moons(101, noise=0.1, seed=1).X)
    assert two_moons(10, dtype=torch.float32).X.dtype == torch.float32


def test_two_moons_noise_free_points_lie_on_the_half_circles():
    ds = two_moons(40, noise=0.0, centred=False)
    X, y = ds.X.numpy(), ds.y.numpy()
    upper = np.hypot(X[y == 0, 0], X[y == 0, 1])
    lower = np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5)
    np.testing.assert_allclose(upper, 1.0, rtol=1e-12)
    np.testing.assert_allclose(lower, 1.0, rtol=1e-12)


def test_gaussian_mixture_balanced_centred_separated():
    ds = gaussian_mixture(4000, d=3, separation=4.0, seed=2)
    assert ds.X.shape == (4000, 3) and ds.name == "gaussian_mixture"
    assert int(ds.y.sum()) == 2000
    torch.testing.assert_close(ds.X.mean(0), torch.zeros(3, dtype=DT), rtol=0, atol=1e-13)
    gap = ds.X[ds.y == 1].mean(0) - ds.X[ds.y == 0].mean(0)
    assert abs(float(gap[0]) - 4.0) < 0.15 and float(gap[1:].abs().max()) < 0.15
    within = ds.X[ds.y == 1] - ds.X[ds.y == 1].mean(0)
    assert abs(float(within.std()) - 1.0) < 0.05
    assert torch.equal(ds.X, gaussian_mixture(4000, d=3, separation=4.0, seed=2).X)
    assert not torch.equal(ds.X, gaussian_mixture(4000, d=3, separation=4.0, seed=3).X)


@pytest.mark.parametrize("fn", [two_moons, gaussian_mixture])
@pytest.mark.parametrize("n", [1, 0, -5, True, 10.0])
def test_data_rejects_bad_n(fn, n):
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        fn(n)


def test_data_other_errors():
    with pytest.raises(ValueError, match=r"noise must lie in \[0, 10\], got -0.1"):
        two_moons(10, noise=-0.1)
    with pytest.raises(ValueError, match=r"noise must lie in \[0, 10\]"):
        two_moons(10, noise=11.0)
    with pytest.raises(ValueError, match="d must be >= 1, got 0"):
        gaussian_mixture(10, d=0)


def test_xor_cones_is_centred_directional_and_has_a_margin():
    ds = xor_cones(100, d=3, margin=0.3, seed=0)
    assert ds.X.shape == (100, 3) and float(ds.X.mean(0).abs().max()) < 1e-15
    assert torch.equal(ds.y, (ds.X[:, 0] * ds.X[:, 1] > 0).to(DT))
    angle = torch.remainder(torch.atan2(ds.X[:, 1], ds.X[:, 0]), math.pi / 2)
    assert float(angle.min()) > 0.3 and float(angle.max()) < math.pi / 2 - 0.3
    assert 30 < int(ds.y.sum()) < 70
    assert torch.equal(xor_cones(100, d=3, margin=0.3, seed=0).X, ds.X)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=7), r"n must be even \(the sample is symmetric: x and -x\), got 7"),
    (dict(d=1), r"d must be >= 2 \(the label uses two coordinates\), got 1"),
    (dict(margin=1.0), r"margin must lie in \[0, pi/4\) radians, got 1.0"),
    (dict(n=1), r"n must be an integer >= 2"),
])
def test_xor_cones_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xor_cones(**(dict(n=10) | kwargs))


def test_low_rank_data():
    ds = low_rank_glm_data(100, 12, 3, "logistic", signal=1.5, n_test=50, seed=1)
    assert torch.linalg.matrix_rank(ds.X).item() == 3 and torch.linalg.matrix_rank(ds.Sigma).item() == 3
    assert float(ds.X.mean(dim=0).abs().max()) < 1e-12
    assert float(ds.theta_star @ ds.Sigma @ ds.theta_star) == pytest.approx(1.5**2, rel=1e-12)
    assert float(torch.trace(ds.Sigma)) == pytest.approx(12.0, rel=1e-12)  # E||x||^2 = d
    assert set(ds.y.unique().tolist()) <= {0.0, 1.0}
    same = low_rank_glm_data(100, 12, 3, "logistic", signal=1.5, n_test=50, seed=1)
    assert torch.equal(ds.X, same.X) and torch.equal(ds.y_test, same.y_test)
    more = low_rank_glm_data(100, 12, 3, "logistic", signal=1.5, n_test=80, seed=1)  # the training sample stays
    assert torch.equal(ds.X, more.X) and torch.equal(ds.y, more.y) and torch.equal(ds.X_test, more.X_test[:50])
    with pytest.raises(ValueError, match=r"rank must be <= d"):
        low_rank_glm_data(10, 2, 3)


def test_alternating_line():
    X, y = alternating_line(8, 2)
    assert X.shape == (8, 1) and y.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert float(X.mean()) == pytest.approx(0.0, abs=1e-7) and float(X.max()) == pytest.approx(1.0)
    # the midpoint of x_(i-1) and x_(i+1) is x_i, with the other label
    assert torch.allclose((X[:-2] + X[2:]) / 2, X[1:-1]) and bool(torch.all(y[:-2] != y[1:-1]))
    with pytest.raises(ValueError, match=r"need n_points >= 3 and n_classes >= 2"):
        alternating_line(2)
