"""train.py: fit / evaluate / hooks: clean metrics, alpha = 0 is plain gradient descent, seeding, hook epochs, errors."""

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _param_recorder import ParamRecorder, flat_params
from mixup_repro.data.synthetic import gaussian_mixture
from mixup_repro.models import MLP, build_model, init_from_generator
from mixup_repro.checkpoint import CheckpointOptions
from mixup_repro.train import DeviceOptions, evaluate, fit, train_step

DT = torch.float64


def _setup(name="logistic", n=40, seed=0):
    ds = gaussian_mixture(n, d=2, separation=1.5, seed=seed)
    model = build_model(name, 2, hidden=8, generator=torch.Generator().manual_seed(seed))
    return ds.X, ds.y, model


def _logistic_loss(out, y):
    """mean(log(1 + e^f) - y f), written here."""
    return (torch.logaddexp(out, torch.zeros_like(out)) - y * out).mean()


# --- history ---------------------------------------------------------------------------------------


def test_history_has_epoch_zero_and_clean_metrics():
    X, y, model = _setup()
    Xt, yt = gaussian_mixture(30, d=2, separation=1.5, seed=9).X, gaussian_mixture(30, d=2, separation=1.5, seed=9).y
    with torch.no_grad():
        f0 = model(X)
    loss0 = float(_logistic_loss(f0, y))
    err0 = float(((f0 > 0).to(DT) != y).to(DT).mean())
    hist = fit(model, X, y, alpha=1.0, epochs=3, lr=0.5, seed=0, X_test=Xt, y_test=yt, progress=False)
    assert hist.epochs.tolist() == [0, 1, 2, 3]
    first = hist.records[0]
    assert set(first) == {"epoch", "train_loss_clean", "train_err_clean", "test_loss", "test_err"}  # no mixup_loss yet
    assert first["train_loss_clean"] == pytest.approx(loss0, rel=1e-13)
    assert first["train_err_clean"] == pytest.approx(err0, abs=1e-15)
    assert all("mixup_loss" in r for r in hist.records[1:])
    assert math.isnan(hist.column("mixup_loss")[0])
    # The recorded clean metrics are those of the model at that epoch: the last equals the final model's.
    with torch.no_grad():
        fT = model(X)
    assert hist.records[-1]["train_loss_clean"] == pytest.approx(float(_logistic_loss(fT, y)), rel=1e-13)
    assert hist.records[-1]["test_loss"] == pytest.approx(evaluate(model, Xt, yt, "logistic")[0], rel=1e-13)


def test_alpha_zero_is_plain_gradient_descent():
    X, y, model = _setup("tanh_mlp")
    manual = copy.deepcopy(model)
    rec = ParamRecorder()
    lr, epochs = 0.3, 6
    hist = fit(model, X, y, alpha=0.0, epochs=epochs, lr=lr, seed=0, hooks=[rec], progress=False)
    assert rec.epochs == list(range(epochs + 1))
    losses = []
    for epoch in range(epochs + 1):
        torch.testing.assert_close(rec.params[epoch], flat_params(manual), rtol=1e-12, atol=1e-14)
        loss = _logistic_loss(manual(X), y)
        losses.append(float(loss.detach()))
        grads = torch.autograd.grad(loss, list(manual.parameters()))
        with torch.no_grad():
            for p, g in zip(manual.parameters(), grads):
                p -= lr * g
    np.testing.assert_allclose(hist.column("train_loss_clean"), losses, rtol=1e-12)
    # Full-batch ERM: the objective of epoch k is the clean loss of epoch k - 1.
    np.testing.assert_allclose(hist.column("mixup_loss")[1:], losses[:-1], rtol=1e-12)


def test_one_full_batch_mixup_step_is_a_gradient_step_on_the_mixed_loss():
    """Full batch (no batch-order draw): lam is the first draw of numpy's default_rng(seed), the partner
    permutation the first randperm of torch's Generator seeded with seed (fit's documented generators)."""
    X, y, model = _setup()
    manual = copy.deepcopy(model)
    seed, lr, alpha = 3, 0.7, 0.4
    fit(model, X, y, alpha=alpha, epochs=1, lr=lr, seed=seed, progress=False)
    lam = float(np.random.default_rng(seed).beta(alpha, alpha, size=()))
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    x_mix = lam * X + (1 - lam) * X[perm]
    out = manual(x_mix)
    loss = lam * _logistic_loss(out, y) + (1 - lam) * _logistic_loss(out, y[perm])
    grads = torch.autograd.grad(loss, list(manual.parameters()))
    with torch.no_grad():
        for p, g in zip(manual.parameters(), grads):
            p -= lr * g
    torch.testing.assert_close(flat_params(model), flat_params(manual), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("per_sample_lam", [False, True])
def test_minibatch_mixup_run_is_a_loop_that_draws_each_batch_just_before_its_step(per_sample_lam):
    """fit draws an epoch's lams and partners before its first step; the run must be the one whose steps each draw
    their own, in the documented order: per epoch the batch order (torch Generator(seed)), then per batch lam
    (numpy default_rng(seed)) and its partners (the same torch Generator). 23 examples in batches of 8: the last
    batch is short. Written here with plain SGD steps; the weights must agree to rounding."""
    X, y, model = _setup("tanh_mlp", n=23)
    manual = copy.deepcopy(model)
    seed, lr, alpha, bs = 4, 0.3, 0.7, 8
    fit(model, X, y, alpha=alpha, epochs=2, lr=lr, seed=seed, batch_size=bs, per_sample_lam=per_sample_lam,
        progress=False)
    torch_gen, np_gen = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    for _ in range(2):
        order = torch.randperm(len(X), generator=torch_gen)
        for s in range(0, len(X), bs):
            idx = order[s : s + bs]
            lam = np_gen.beta(alpha, alpha, size=len(idx) if per_sample_lam else ())
            perm = torch.randperm(len(idx), generator=torch_gen)
            xb, yb = X[idx], y[idx]
            w = torch.as_tensor(lam, dtype=X.dtype).reshape(-1, 1) if per_sample_lam else float(lam)
            out = manual(w * xb + (1 - w) * xb[perm])
            per = torch.as_tensor(lam, dtype=X.dtype)
            loss = (per * _per_example_logistic(out, yb) + (1 - per) * _per_example_logistic(out, yb[perm])).mean()
            grads = torch.autograd.grad(loss, list(manual.parameters()))
            with torch.no_grad():
                for p, g in zip(manual.parameters(), grads):
                    p -= lr * g
    torch.testing.assert_close(flat_params(model), flat_params(manual), rtol=1e-10, atol=1e-12)


def _per_example_logistic(out, y):
    return torch.logaddexp(out, torch.zeros_like(out)).reshape(-1) - y * out.reshape(-1)


@pytest.mark.parametrize("loss", ["cross_entropy", "logistic"])
def test_a_mixup_step_with_lam_one_is_bitwise_the_erm_step(loss):
    """lam = 1 mixes nothing (the lerp returns x exactly) and its loss is the ERM loss in value and gradient, so
    two mixup steps at lam = 1, with any partners, leave exactly the weights of two ERM steps."""
    g = torch.Generator().manual_seed(0)
    out = 3 if loss == "cross_entropy" else 1
    X = torch.rand(32, 5, generator=g)
    y = torch.randint(0, 3, (32,), generator=g) if out == 3 else torch.randint(0, 2, (32,), generator=g).float()
    erm = init_from_generator(MLP(5, (16,), activation="tanh", out=out), torch.Generator().manual_seed(1))
    mix = copy.deepcopy(erm)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (erm, mix)]
    for _ in range(2):
        a = train_step(erm, opts[0], X, y, loss=loss)
        b = train_step(mix, opts[1], X, y, loss=loss, lam=1.0, perm=torch.randperm(32, generator=g))
        assert torch.equal(a, b)
    assert torch.equal(flat_params(erm), flat_params(mix))


def test_mixup_changes_the_trajectory():
    X, y, model = _setup("tanh_mlp")
    erm, mix = copy.deepcopy(model), copy.deepcopy(model)
    h_erm = fit(erm, X, y, alpha=0.0, epochs=4, lr=0.5, seed=1, progress=False)
    h_mix = fit(mix, X, y, alpha=1.0, epochs=4, lr=0.5, seed=1, progress=False)
    assert h_erm.records[0]["train_loss_clean"] == h_mix.records[0]["train_loss_clean"]
    assert (flat_params(erm) - flat_params(mix)).abs().max() > 1e-3
    assert np.all(np.abs(h_erm.column("train_loss_clean")[1:] - h_mix.column("train_loss_clean")[1:]) > 1e-6)


@pytest.mark.parametrize("kwargs", [dict(), dict(batch_size=8), dict(batch_size=8, per_sample_lam=True)])
def test_same_seed_same_run_different_seed_different_run(kwargs):
    X, y, model = _setup("tanh_mlp")
    runs = {}
    for key, seed in (("a", 5), ("b", 5), ("c", 6)):
        m = copy.deepcopy(model)
        h = fit(m, X, y, alpha=0.5, epochs=3, lr=0.5, seed=seed, progress=False, **kwargs)
        runs[key] = (flat_params(m), h.column("mixup_loss")[1:])
    assert torch.equal(runs["a"][0], runs["b"][0]) and np.array_equal(runs["a"][1], runs["b"][1])
    assert not torch.equal(runs["a"][0], runs["c"][0])


def test_per_sample_lam_differs_from_per_batch_lam():
    X, y, model = _setup("tanh_mlp")
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    fit(a, X, y, alpha=1.0, epochs=2, lr=0.5, seed=2, progress=False)
    fit(b, X, y, alpha=1.0, epochs=2, lr=0.5, seed=2, per_sample_lam=True, progress=False)
    assert (flat_params(a) - flat_params(b)).abs().max() > 1e-4


# --- hooks ------------------------------------------------------------------------------------------


def test_hooks_returning_none_add_nothing():
    X, y, model = _setup()
    hist = fit(model, X, y, alpha=0.0, epochs=2, lr=0.1, seed=0, hooks=[lambda e, m: None], progress=False)
    assert set(hist.records[1]) == {"epoch", "train_loss_clean", "train_err_clean", "mixup_loss"}


# --- modes, losses, optimizers ----------------------------------------------------------------------


@pytest.mark.parametrize("start_training", [True, False])
def test_model_is_in_eval_mode_after_fit_and_evaluate_restores_mode(start_training):
    X, y, model = _setup("tanh_mlp")
    model.train(start_training)
    evaluate(model, X, y, "logistic")
    assert model.training == start_training
    fit(model, X, y, alpha=1.0, epochs=2, lr=0.1, seed=0, progress=False)
    assert not model.training


def test_evaluate_matches_oracle_and_batches_do_not_matter():
    X, y, model = _setup("tanh_mlp", n=50)
    with torch.no_grad():
        f = model(X)
    loss, err = evaluate(model, X, y, "logistic", batch_size=7)
    assert loss == pytest.approx(float(_logistic_loss(f, y)), rel=1e-13)
    assert err == pytest.approx(float(((f > 0).to(DT) != y).to(DT).mean()), abs=1e-15)
    assert (loss, err) == pytest.approx(evaluate(model, X, y, "logistic"), rel=1e-13)
    sq_loss, sq_err = evaluate(model, X, y, "squared")
    assert math.isnan(sq_err)
    assert sq_loss == pytest.approx(float((0.5 * f * f - y * f).mean()), rel=1e-13)


def test_cross_entropy_training_multi_class():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=DT)
    y = torch.arange(60) % 3
    X = centres[y] + 0.5 * torch.randn(60, 2, generator=g, dtype=DT)
    model = init_from_generator(MLP(2, (16,), activation="tanh", out=3), torch.Generator().manual_seed(1)).to(DT)
    with torch.no_grad():
        ce0 = float(F.cross_entropy(model(X), y))
    hist = fit(model, X, y, alpha=0.2, epochs=30, lr=0.5, seed=0, loss="cross_entropy", batch_size=20, progress=False)
    assert hist.records[0]["train_loss_clean"] == pytest.approx(ce0, rel=1e-13)
    assert hist.records[-1]["train_loss_clean"] < 0.5 * ce0
    with torch.no_grad():
        err = float((model(X).argmax(1) != y).to(DT).mean())
    assert hist.records[-1]["train_err_clean"] == pytest.approx(err, abs=1e-15) and err < 0.1


def test_adam_momentum_and_weight_decay_are_used():
    X, y, model = _setup()
    runs = [copy.deepcopy(model) for _ in range(4)]
    fit(runs[0], X, y, alpha=0.0, epochs=3, lr=0.1, seed=0, progress=False)
    fit(runs[1], X, y, alpha=0.0, epochs=3, lr=0.1, seed=0, optimizer="adam", progress=False)
    fit(runs[2], X, y, alpha=0.0, epochs=3, lr=0.1, seed=0, momentum=0.9, progress=False)
    fit(runs[3], X, y, alpha=0.0, epochs=3, lr=0.1, seed=0, weight_decay=0.5, progress=False)
    for other in runs[1:]:
        assert (flat_params(runs[0]) - flat_params(other)).abs().max() > 1e-4


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(epochs=0), ValueError, "epochs must be a positive integer, got 0"),
        (dict(epochs=True), ValueError, "epochs must be a positive integer, got True"),
        (dict(epochs=2.0), ValueError, "epochs must be a positive integer, got 2.0"),
        (dict(lr=0.0), ValueError, "lr must be > 0, got 0.0"),
        (dict(lr=float("nan")), ValueError, "lr must be > 0, got nan"),
        (dict(loss="hinge"), ValueError, r"unknown loss 'hinge'; choose one of \['logistic', 'squared', 'poisson', 'cross_entropy'\]"),
        (dict(batch_size=0), ValueError, r"batch_size must lie in \[1, 40\] or be None"),
        (dict(batch_size=41), ValueError, r"batch_size must lie in \[1, 40\] or be None"),
        (dict(optimizer="rmsprop"), ValueError, "unknown optimizer 'rmsprop'; choose 'sgd' or 'adam'"),
        (dict(alpha=-1.0), ValueError, "alpha must be a finite number >= 0"),
        (dict(alpha=1.0, beta=0.0), ValueError, "beta must be > 0 when alpha > 0"),
        (dict(alpha=True), TypeError, "alpha must be a number, got bool"),
        (dict(device="cpu"), TypeError, r"device must be a DeviceOptions \(e.g. DeviceOptions\(device='cuda'\)\) or None, "
                                        r"got 'cpu'"),
        (dict(checkpoint="run.ckpt"), TypeError, r"checkpoint must be a CheckpointOptions \(e.g. "
                                                 r"CheckpointOptions\('run.ckpt'\)\) or None, got 'run.ckpt'"),
    ],
)
def test_fit_errors(kwargs, exc, match):
    X, y, model = _setup()
    args = dict(alpha=1.0, epochs=2, lr=0.1, seed=0, progress=False)
    args.update(kwargs)
    before = flat_params(model).clone()
    with pytest.raises(exc, match=match):
        fit(model, X, y, **args)
    assert torch.equal(flat_params(model), before)  # refused before touching the model


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(device="gpu0"), r"unknown device 'gpu0'; use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        (dict(device=0), r"device must be None, 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got 0"),
        (dict(autocast_dtype="bf16"), r"autocast_dtype must be None or a floating torch dtype such as "
                                      r"torch.bfloat16, got 'bf16'"),
        (dict(autocast_dtype=torch.int8), r"autocast_dtype must be None or a floating torch dtype .*got torch.int8"),
        (dict(eval_autocast=None), "eval_autocast must be True or False, got None"),
        (dict(deterministic=1), "deterministic must be True or False, got 1"),
        (dict(eval_batch_size=0), "eval_batch_size must be a positive integer, got 0"),
        (dict(eval_batch_size=64.0), "eval_batch_size must be a positive integer, got 64.0"),
        (dict(channels_last="yes"), r"channels_last must be None \(automatic\), True or False, got 'yes'"),
        (dict(data_on_device=0), r"data_on_device must be None \(automatic\), True or False, got 0"),
        (dict(compile=3), "compile must be True, False or a torch.compile backend name, got 3"),
        (dict(compile=""), "compile must be True, False or a torch.compile backend name, got ''"),
        (dict(loader_workers=-1), "loader_workers must be a non-negative integer, got -1"),
        (dict(loader_workers=True), "loader_workers must be a non-negative integer, got True"),
    ],
)
def test_device_options_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DeviceOptions(**kwargs)


def test_device_options_are_frozen_and_accept_their_documented_values():
    opts = DeviceOptions(device=torch.device("cpu"), autocast_dtype=torch.bfloat16, eval_autocast=False,
                         eval_batch_size=7, channels_last=True, compile="aot_eager", data_on_device=False,
                         loader_workers=0, deterministic=False)
    assert opts.eval_batch_size == 7 and DeviceOptions(device="auto").device == "auto"
    with pytest.raises(AttributeError):
        opts.eval_batch_size = 8


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(path=None), TypeError, r"CheckpointOptions.path must be a file path \(str or pathlib.Path\), got None"),
        (dict(path=""), TypeError, r"CheckpointOptions.path must be a file path .*got ''"),
        (dict(every=0), ValueError, r"CheckpointOptions.every must be a positive integer \(epochs between "
                                    r"checkpoints\), got 0"),
        (dict(discard_bad="yes"), ValueError, "CheckpointOptions.discard_bad must be True or False, got 'yes'"),
    ],
)
def test_checkpoint_options_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CheckpointOptions(**{"path": "run.ckpt", **kwargs})


def test_checkpoint_options_path_becomes_a_path_and_due_follows_every():
    opts = CheckpointOptions("sub/run.ckpt", every=3)
    assert opts.path == Path("sub/run.ckpt") and isinstance(opts.path, Path)

    def no_clock():
        raise AssertionError("every-epochs checkpoints never read the clock")

    assert [e for e in range(1, 8) if opts.due(e, 7, 0.0, no_clock)] == [3, 6, 7]


def test_fit_rejects_mismatched_data():
    X, y, model = _setup()
    with pytest.raises(ValueError, match="X and y disagree on the number of examples: 40 vs 39"):
        fit(model, X, y[:-1], alpha=0.0, epochs=1, lr=0.1, seed=0, progress=False)


# --- the options of the GPU path, exercised on the CPU ------------------------------------------------


def _image_run(**kwargs):
    """A small CNN trained with mixup on random 8x8 images; returns (model, history)."""
    from mixup_repro.vision_models import build_vision_model

    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(120, 1, 8, 8, generator=g), torch.randint(0, 3, (120,), generator=g)
    net = build_vision_model("cnn", (1, 8, 8), 3, generator=torch.Generator().manual_seed(1), hidden=(16,))
    hist = fit(net, X, y, alpha=0.5, epochs=2, lr=0.05, seed=5, loss="cross_entropy", batch_size=40, momentum=0.9,
               X_test=X[:30], y_test=y[:30], progress=False, device=DeviceOptions(**kwargs))
    return net, hist


def test_loader_workers_do_not_change_the_result():
    """Batches gathered by worker processes are the batches of direct indexing: bitwise equal weights."""
    direct, h0 = _image_run(loader_workers=0)
    workers, h2 = _image_run(loader_workers=2)
    assert torch.equal(flat_params(direct), flat_params(workers))
    assert h0.records == h2.records


def test_channels_last_trains_the_same_model():
    """channels_last changes the memory layout only: the weights agree to float32 rounding."""
    plain, h0 = _image_run(channels_last=False)
    cl, h1 = _image_run(channels_last=True)
    conv = next(p for p in cl.parameters() if p.ndim == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(flat_params(cl), flat_params(plain), rtol=1e-4, atol=1e-6)
    assert h1.column("train_loss_clean") == pytest.approx(h0.column("train_loss_clean"), rel=1e-4)


def test_compiled_training_matches_eager():
    """torch.compile (the aot_eager backend needs no C compiler) trains to the eager weights."""
    eager, h0 = _image_run()
    compiled, h1 = _image_run(compile="aot_eager")
    torch.testing.assert_close(flat_params(compiled), flat_params(eager), rtol=1e-4, atol=1e-6)
    assert h1.column("test_loss") == pytest.approx(h0.column("test_loss"), rel=1e-4)
    assert not any(k.startswith("_orig_mod") for k in compiled.state_dict())  # the caller's model, not a wrapper


def test_data_on_device_is_the_same_run():
    a, h0 = _image_run(data_on_device=False)
    b, h1 = _image_run(data_on_device=True)
    assert torch.equal(flat_params(a), flat_params(b)) and h0.records == h1.records


def test_eval_autocast_false_evaluates_in_the_model_dtype():
    """Training under bf16 autocast; with eval_autocast=False the recorded losses are float32 evaluations of the
    trained model, with True they are bf16 ones (CPU autocast, a small MLP: slow bf16 does not matter here)."""
    X, y, model = _setup(n=64)
    args = dict(alpha=1.0, epochs=2, lr=0.1, seed=0, progress=False)
    m32, m16 = copy.deepcopy(model), copy.deepcopy(model)
    h32 = fit(m32, X, y, device=DeviceOptions(autocast_dtype=torch.bfloat16, eval_autocast=False), **args)
    h16 = fit(m16, X, y, device=DeviceOptions(autocast_dtype=torch.bfloat16), **args)
    assert torch.equal(flat_params(m32), flat_params(m16))  # the evaluation precision never changes the training
    fp32 = evaluate(m32, X, y, "logistic")
    bf16 = evaluate(m16, X, y, "logistic", autocast_dtype=torch.bfloat16)
    assert (h32.records[-1]["train_loss_clean"], h32.records[-1]["train_err_clean"]) == fp32
    assert (h16.records[-1]["train_loss_clean"], h16.records[-1]["train_err_clean"]) == bf16
    assert fp32[0] != bf16[0]  # the two precisions are distinguishable on this data


def test_epoch_zero_is_evaluated_under_the_runs_cudnn_mode(monkeypatch):
    """The evaluation before training runs inside the cuDNN mode of the run, like every later one."""
    import contextlib

    from mixup_repro import train

    depth = [0]

    @contextlib.contextmanager
    def mode(on_cuda, deterministic):
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    monkeypatch.setattr(train, "_cudnn_mode", mode)
    seen = {}
    X, y, model = _setup()
    fit(model, X, y, alpha=1.0, epochs=2, lr=0.1, seed=0, progress=False,
        hooks=[lambda epoch, m: seen.update({epoch: depth[0]})])
    assert seen == {0: 1, 1: 1, 2: 1}
