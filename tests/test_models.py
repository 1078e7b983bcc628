"""models.py: shapes, determinism from the seed, Theorem 3.2's homogeneity, errors, and the eval-mode switch that
gives every submodule its own mode back (checked on every function that evaluates a model as a fixed function)."""

import math

import pytest
import torch
from torch import nn

from mixup_repro import attacks, robust_eval, taylor, train
from mixup_repro.models import (MLP, MODELS, LogisticRegression, Scaled, build_model, eval_mode, init_from_generator,
                                 uniform_exact_)
from mixup_repro.theory import robustness

DT = torch.float64


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", MODELS)
def test_build_model_shapes_dtype_and_determinism(name):
    model = build_model(name, 5, hidden=7, generator=torch.Generator().manual_seed(0))
    x = torch.randn(11, 5, dtype=DT, generator=torch.Generator().manual_seed(1))
    out = model(x)
    assert out.shape == (11,) and out.dtype == DT
    assert all(p.dtype == DT for p in model.parameters())
    same = build_model(name, 5, hidden=7, generator=torch.Generator().manual_seed(0))
    other = build_model(name, 5, hidden=7, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(_params(model), _params(same)))
    assert not all(torch.equal(a, b) for a, b in zip(_params(model), _params(other)))
    # Independent of the global RNG: touching it between builds changes nothing.
    torch.manual_seed(123)
    torch.rand(10)
    again = build_model(name, 5, hidden=7, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(_params(model), _params(again)))


def test_build_model_architecture():
    assert isinstance(build_model("logistic", 3, generator=torch.Generator()), LogisticRegression)
    tanh = build_model("tanh_mlp", 3, hidden=9, generator=torch.Generator())
    assert [type(m) for m in tanh.net] == [nn.Linear, nn.Tanh, nn.Linear] and tanh.net[0].out_features == 9
    nobias = build_model("relu_mlp_nobias", 3, generator=torch.Generator())
    assert all(m.bias is None for m in nobias.modules() if isinstance(m, nn.Linear))
    assert build_model("softplus_mlp", 3, generator=torch.Generator(), dtype=torch.float32).net[0].weight.dtype == torch.float32


def test_init_from_generator_uses_pytorch_default_bounds():
    model = MLP(4, (300,), activation="tanh")
    init_from_generator(model, torch.Generator().manual_seed(2))
    first, last = model.net[0], model.net[2]
    for layer, fan_in in ((first, 4), (last, 300)):
        bound = 1 / math.sqrt(fan_in)
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    # Uniform on [-bound, bound]: the 1200 first-layer weights fill the interval.
    w = first.weight.detach().flatten()
    assert w.max() > 0.95 * 0.5 and w.min() < -0.95 * 0.5
    assert abs(float(w.var()) - 0.5**2 / 3) < 0.01


_DRAW = ("import sys, torch; from mixup_repro.models import uniform_exact_; t = torch.empty(4096, dtype=getattr(torch, "
         "sys.argv[1])); uniform_exact_(t, 0.05, torch.Generator().manual_seed(3)); "
         "sys.stdout.write(t.numpy().tobytes().hex())")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_exact_gives_the_same_bits_with_the_generic_kernels(dtype):
    """torch's own uniform_ differs by a rounding in about half of its draws under ATEN_CPU_CAPABILITY=default (no
    AVX2); a model that starts one rounding apart can end elsewhere. Both runs are fresh processes."""
    import os
    import subprocess
    import sys

    out = {cap: subprocess.run([sys.executable, "-c", _DRAW, dtype], capture_output=True, text=True, check=True,
                               env={**os.environ, **env}).stdout
           for cap, env in (("this CPU", {}), ("generic", {"ATEN_CPU_CAPABILITY": "default"}))}
    assert out["this CPU"] == out["generic"] and len(out["generic"]) == 4096 * (4 if dtype == "float32" else 8) * 2


def test_uniform_exact_is_two_u_minus_one_times_the_bound_of_torch_rand():
    """The oracle: the same generator's torch.rand draws, mapped by hand in float64 (exact for these values)."""
    for dtype in (torch.float32, torch.float64):
        t = uniform_exact_(torch.empty(10_000, dtype=dtype), 0.25, torch.Generator().manual_seed(5))
        u = torch.rand(10_000, generator=torch.Generator().manual_seed(5), dtype=dtype).double()
        assert torch.equal(t.double(), ((2 * u - 1) * 0.25).to(dtype).double())  # 2u - 1 exact, one rounding
        assert t.abs().max() <= 0.25 and abs(float(t.double().mean())) < 0.01
        assert abs(float(t.double().var()) - 0.25**2 / 3) < 0.002


def test_logistic_regression_is_affine_and_theta_is_the_weight():
    model = LogisticRegression(3, bias=True).to(DT)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]], dtype=DT))
        model.linear.bias.fill_(0.25)
    x = torch.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, -4.0]], dtype=DT)
    torch.testing.assert_close(model(x), torch.tensor([-0.25, -5.75], dtype=DT))
    torch.testing.assert_close(model.theta, torch.tensor([1.0, -2.0, 0.5], dtype=DT))
    assert LogisticRegression(3).linear.bias is None


def test_mlp_output_shapes():
    x = torch.randn(6, 4)
    assert MLP(4, (5, 3))(x).shape == (6,)
    assert MLP(4, (5,), out=3)(x).shape == (6, 3)
    assert len([m for m in MLP(4, (5, 3, 2)).net if isinstance(m, nn.Linear)]) == 4


def test_bias_free_relu_mlp_is_positively_homogeneous():
    """Theorem 3.2's hypothesis: f(x) = grad f(x)^T x and f(c x) = c f(x) for c > 0."""
    model = build_model("relu_mlp_nobias", 6, hidden=16, generator=torch.Generator().manual_seed(3))
    x = torch.randn(20, 6, dtype=DT, generator=torch.Generator().manual_seed(4)).requires_grad_(True)
    f = model(x)
    (g,) = torch.autograd.grad(f.sum(), x)
    torch.testing.assert_close((g * x).sum(1), f.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(model(2.5 * x.detach()), 2.5 * f.detach(), rtol=1e-12, atol=1e-14)
    # With biases the identity fails: the test distinguishes the two.
    biased = build_model("relu_mlp", 6, hidden=16, generator=torch.Generator().manual_seed(3))
    fb = biased(x)
    (gb,) = torch.autograd.grad(fb.sum(), x)
    assert not torch.allclose((gb * x).sum(1), fb.detach(), rtol=1e-6)


def test_scaled_multiplies_the_logits():
    base = build_model("tanh_mlp", 3, generator=torch.Generator().manual_seed(5))
    x = torch.randn(4, 3, dtype=DT)
    torch.testing.assert_close(Scaled(base, 3.0)(x), 3.0 * base(x))
    assert list(Scaled(base, 2).parameters()) == list(base.parameters())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(activation="gelu"), r"unknown activation 'gelu'; choose one of \['relu', 'softplus', 'tanh'\]"),
        (dict(hidden=()), r"hidden must list at least one positive width, got \(\)"),
        (dict(hidden=(4, 0)), r"hidden must list at least one positive width, got \(4, 0\)"),
    ],
)
def test_mlp_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(3, **kwargs)


def test_build_model_unknown_name():
    with pytest.raises(ValueError, match="unknown model 'cnn'; choose one of logistic, relu_mlp"):
        build_model("cnn", 3, generator=torch.Generator())


# --- eval_mode ---------------------------------------------------------------------------------------


def _mixed_mode_net():
    """Top level in training mode, a BatchNorm frozen and a dropout switched off on purpose (eval mode)."""
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 1)).to(DT)
    init_from_generator(net, torch.Generator().manual_seed(0))
    net.train()
    net[1].eval()
    net[3].eval()
    return net


def _modes(net):
    return [m.training for m in net.modules()]


def test_eval_mode_sets_every_module_to_eval_and_gives_each_its_own_mode_back():
    net = _mixed_mode_net()
    before = _modes(net)
    assert before == [True, True, False, True, False, True]
    with eval_mode(net) as inside:
        assert inside is net and not any(_modes(net))
    assert _modes(net) == before
    with pytest.raises(RuntimeError, match="inside"), eval_mode(net):
        raise RuntimeError("inside")
    assert _modes(net) == before  # restored on an exception too


X3 = torch.rand(6, 3, generator=torch.Generator().manual_seed(1), dtype=DT)
Y3 = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype=DT)


@pytest.mark.parametrize("call", [
    lambda net: taylor.taylor_terms(net, X3, Y3, 1.0, 1.0),
    lambda net: taylor.standard_loss(net, X3, Y3),
    lambda net: taylor.mixup_loss_exact(net, X3, Y3, 1.0, 1.0, order=4),
    lambda net: robustness.input_gradients(net, X3),
    lambda net: robustness.input_hessian_max(net, X3),
    lambda net: attacks.fgsm(net, X3, Y3, 0.1),
    lambda net: attacks.pgd(net, X3, Y3, 0.1, 0.05, 2),
    lambda net: train.evaluate(net, X3, Y3, "logistic"),
    lambda net: robust_eval.correct(net, X3, Y3.long(), 4),
], ids=["taylor_terms", "standard_loss", "mixup_loss_exact", "input_gradients", "input_hessian_max", "fgsm", "pgd",
        "evaluate", "robust_eval.correct"])
def test_functions_that_evaluate_a_model_give_every_submodule_its_mode_back(call):
    """``model.train(was_training)`` would put the frozen BatchNorm and the dropout back into training mode."""
    net = _mixed_mode_net()
    before = _modes(net)
    call(net)
    assert _modes(net) == before
