"""The robustness chapter's additions: exact per-example adversarial loss, input Hessians, XOR cones, the
Theorem 3.1/3.2 and Figure 1a runners (claims, flags, the paper profile's code path on fake data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from mixup_repro import config, experiments, pipeline, plotting
from mixup_repro.attacks import logistic_adversarial_loss
from mixup_repro.data.synthetic import xor_cones
from mixup_repro.losses import get_loss
from mixup_repro.models import MLP, init_from_generator
from mixup_repro.theory.robustness import input_hessian_max, logistic_adv_loss_exact

DT = torch.float64
REPO = pipeline.find_root(__file__)


def _data(n=30, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DT)
    y = (torch.rand(n, generator=g, dtype=DT) > 0.5).to(DT)
    theta = torch.randn(d, generator=g, dtype=DT)
    return X, y, theta


def test_exact_adversarial_loss_scalar_radius_matches_the_attack_module():
    X, y, theta = _data()
    for r in (0.0, 0.1, 1.7):
        torch.testing.assert_close(logistic_adv_loss_exact(theta, X, y, r),
                                   logistic_adversarial_loss(theta, 0.0, X, y, r, "l2"), rtol=1e-14, atol=1e-14)


def test_exact_adversarial_loss_per_example_radius_beats_a_brute_force_search():
    """Per-example radii: no point on a fine circle (d = 2) has a higher loss, and the maximiser is attained."""
    X, y, theta = _data(n=12, d=2, seed=3)
    radii = torch.linspace(0.0, 1.5, 12, dtype=DT)
    exact = logistic_adv_loss_exact(theta, X, y, radii)
    angles = torch.linspace(0, 2 * math.pi, 20001, dtype=DT)
    circle = torch.stack([angles.cos(), angles.sin()], dim=1)
    lossfn = get_loss("logistic")
    for i in range(12):
        pts = X[i] + radii[i] * circle
        brute = lossfn(pts @ theta, y[i].expand(len(pts))).max()
        assert float(brute) <= float(exact[i]) + 1e-12
        assert float(exact[i] - brute) < 1e-6  # the fine grid gets within 1e-6 of the closed form


@pytest.mark.parametrize("kwargs, match", [
    (dict(radius=-0.1), r"radius must be finite and >= 0"),
    (dict(radius=float("nan")), r"radius must be finite and >= 0"),
    (dict(theta=torch.zeros(3, dtype=DT)), r"need theta of shape \(d,\) and X of shape \(n, d\)"),
])
def test_exact_adversarial_loss_errors(kwargs, match):
    X, y, theta = _data()
    args = dict(theta=theta, X=X, y=y, radius=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        logistic_adv_loss_exact(**args)


def test_input_hessian_max_zero_for_relu_and_matches_autograd_for_tanh():
    X = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=DT)
    relu = init_from_generator(MLP(3, (6,), "relu", bias=False), torch.Generator().manual_seed(1)).to(DT)
    assert input_hessian_max(relu, X) == 0.0
    tanh = init_from_generator(MLP(3, (6,), "tanh"), torch.Generator().manual_seed(1)).to(DT)
    ref = max(float(torch.autograd.functional.hessian(lambda x: tanh(x[None]).sum(), X[i]).abs().max())
              for i in range(5))
    assert input_hessian_max(tanh, X) == pytest.approx(ref, rel=1e-12)
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).to(DT).train()
    input_hessian_max(bn, X)
    assert bn.training  # eval mode inside, the mode given back


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


def _profile(name, **overrides):
    return pipeline.resolve_config(name, "smoke", overrides, root=REPO)


def test_run_thm31_smoke_claims_and_plots():
    result = experiments.run_thm31(_profile("thm31_logistic", epochs=30), progress=False, save=False)
    claims = {c["id"]: c for c in result.metrics["claims"]}
    assert all(c["paper"].strip() for c in claims.values())  # figure_note's "Paper:" line
    sep = result.metrics["cases"]["separable"]
    # Well-separated Gaussians: training enters Theta and the theorem's chain holds there.
    assert sep["n_in_theta"] > 0 and claims["Theorem 3.1 (chain, separable Gaussians)"]["verdict"] == "PASS"
    # The exact adversarial loss at radius 0 is the clean loss; it grows with the radius.
    curve = result.arrays["separable.radius_true"]
    assert np.all(np.diff(curve) > 0) and curve[0] == pytest.approx(result.arrays["separable.chain_standard"][-1])
    assert result.arrays["separable.chain_true_adv_eps_mix"].shape == result.arrays["separable.epoch"].shape
    values = experiments.thm_book_values(result)
    assert values["verdict_chain_separable_Gaussians"] == "PASS" and isinstance(values["separable_final_eps_mix"], float)
    for plot in (plotting.plot_thm_chain, plotting.plot_thm_radius, plotting.plot_thm_eps):
        plot(result)


def test_run_thm32_smoke_hypotheses():
    result = experiments.run_thm32(_profile("thm32_relu"), progress=False, save=False)
    cases = result.metrics["cases"]
    assert cases["nobias"]["euler_gap"] < 1e-12 and cases["nobias"]["hessian_max"] == 0.0
    assert cases["bias"]["euler_gap"] > 1e-3  # biases break the Euler identity
    claims = {c["id"]: c["verdict"] for c in result.metrics["claims"]}
    assert claims["Theorem 3.2 (hypotheses)"] == "PASS"
    assert all(c["paper"].strip() for c in result.metrics["claims"])
    # PGD-l2 can only find more loss than the clean loss: the radius-0 point is the clean loss.
    assert np.all(result.arrays["nobias.radius_true"][1:] >= result.arrays["nobias.radius_true"][0])


def test_run_fig1a_paper_code_path_on_fake_data():
    """The paper profile (WRN-16-8, device auto) with a tiny fake data set, on any machine.

    bf16 autocast is switched off here: CPU bf16 convolutions are very slow without hardware support (the
    autocast path itself is tested with an MLP in test_vision_models.py).
    """
    cfg = pipeline.resolve_config("fig1a_fgsm", "paper", dict(
        dataset="fake", download=False, n_train=8, n_test=4, seeds=[0], epochs=1, batch_size=8, n_pgd=2,
        pgd_steps=1, pgd_restarts=1, eval_batch_size=8, fgsm_eps=[0.0, 0.03], pgd_eps=[0.0, 0.03],
        l2_eps=[0.0, 0.5], threads=1, bf16=False), root=REPO)
    assert cfg.model == "wrn16_8" and cfg.device == "auto"
    result = experiments.run_fig1a(cfg, progress=False, save=False)
    flags = result.metrics["per_model"]["erm.seed0"]
    assert flags["eval_mode"] and flags["eps0_is_clean"]
    assert set(result.metrics["per_model"]) == {"erm.seed0", "mixup.seed0"}
    assert result.arrays["mixup.seed0.fgsm"].shape == (2,)


def test_fig1a_attacks_run_under_deterministic_cudnn(monkeypatch):
    """fit restores cuDNN's mode when it returns; the attacks after it must still run in deterministic mode."""
    import contextlib

    from mixup_repro import attacks, train

    modes: list[bool] = []

    @contextlib.contextmanager
    def mode(on_cuda, deterministic):
        modes.append(deterministic)
        try:
            yield
        finally:
            modes.pop()

    seen: list[list[bool]] = []
    real_fgsm = attacks.fgsm

    def fgsm(*args, **kwargs):
        seen.append(list(modes))
        return real_fgsm(*args, **kwargs)

    monkeypatch.setattr(train, "_cudnn_mode", mode)
    monkeypatch.setattr(attacks, "fgsm", fgsm)
    cfg = _profile("fig1a_fgsm", seeds=[0], epochs=1)
    experiments.run_fig1a(cfg, progress=False, save=False)
    assert seen and all(m == [True] for m in seen)  # inside the run's deterministic mode, not fit's (ended)


def test_run_fig1a_smoke_flags_claims_table():
    result = experiments.run_fig1a(_profile("fig1a_fgsm"), progress=False, save=False)
    ids = [c["id"] for c in result.metrics["claims"]]
    assert ids == ["Figure 1a (FGSM)", "Figure 1a (clean accuracy)", "Beyond Fig. 1a (PGD-l_inf)",
                   "Beyond Fig. 1a (PGD-l2)", "Figure 1a (sanity flags)"]
    assert all(c["paper"].strip() for c in result.metrics["claims"])
    for key, flags in result.metrics["per_model"].items():
        assert flags["eval_mode"] and flags["eps0_is_clean"], key
        assert flags["zero_grad_fraction"] < 0.5
    table = plotting.fig1a_table(result)
    assert {"ERM mean (%)", "mixup mean (%)"} <= set(table.columns)
    assert len(plotting.fig1a_frame(result)) == 2 * 2 * 6  # methods x seeds x (2 + 2 + 2 radii)
    values = experiments.fig1a_book_values(result)
    assert values["n_seeds"] == 2.0 and values["verdict_sanity_flags"] in ("PASS", "FAIL")
    plotting.plot_fig1a(result)


def test_fig1a_missing_dataset_stops_with_instructions(tmp_path):
    cfg = _profile("fig1a_fgsm", dataset="svhn", data_dir=str(tmp_path))
    from mixup_repro.data.images import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match=r"svhn not found under .*train_32x32.mat.*--data-dir DIR"):
        experiments.run_fig1a(cfg, progress=False, save=False)


def test_fig1a_sanity_flags_catch_an_increasing_curve():
    assert experiments._nonincreasing(np.array([0.9, 0.5, 0.5]), [0.0, 0.1, 0.2])
    assert not experiments._nonincreasing(np.array([0.9, 0.5, 0.6]), [0.0, 0.1, 0.2])
    assert experiments._nonincreasing(np.array([0.5, 0.9]), [0.1, 0.0])  # the grid order decides


def test_threads_are_restored():
    before = torch.get_num_threads()
    with experiments._torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("name", ["thm31_logistic", "thm32_relu", "fig1a_fgsm"])
def test_schemas_and_profiles_agree(name):
    schema = config.get_schema(name)
    for profile in config.PROFILES:
        assert isinstance(pipeline.resolve_config(name, profile, root=REPO), schema)
    assert schema().to_dict() == pipeline.resolve_config(name, "cpu", root=REPO).to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["thm31_logistic", "thm32_relu", "fig1a_fgsm"])
def test_notebook_runs_with_the_smoke_profile(name, tmp_path):
    import nbformat

    out = pipeline.run_notebook(name, "smoke", root=REPO, output=tmp_path / f"{name}.ipynb", progress=False)
    nb = nbformat.read(out, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    assert len(checked) == 1 and "[" in checked[0].outputs[0].text


def test_cli_data_dir_flag(monkeypatch, tmp_path, capsys):
    from mixup_repro import cli

    seen = {}

    def fake_run(name, profile, overrides, *, root, output, progress):
        seen.update(overrides)
        return tmp_path / "out.ipynb"

    monkeypatch.setattr(pipeline, "run_notebook", fake_run)
    monkeypatch.chdir(REPO)
    assert cli.main(["run", "fig1a_fgsm", "--profile", "smoke", "--data-dir", str(tmp_path)]) == 0
    assert seen == {"data_dir": str(tmp_path.resolve())}
    assert cli.main(["run", "thm31_logistic", "--profile", "smoke", "--data-dir", str(tmp_path)]) == 2
    assert "notebook 'thm31_logistic' reads no dataset files; --data-dir applies to the image notebooks only" \
        in capsys.readouterr().err
