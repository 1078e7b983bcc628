"""chapters/fig1a_fgsm.py: the ladder's flags and claims on the smoke profile, the paper profile's code path
(WRN-16-8) on fake data, deterministic cuDNN around the attacks, a missing dataset; the notebook's smoke run."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from _chapter_checks import smoke_checked_outputs
from mixup_repro import pipeline
from mixup_repro.chapters import fig1a_fgsm

REPO = pipeline.find_root(__file__)


def _profile(name, **overrides):
    return pipeline.resolve_config(name, "smoke", overrides, root=REPO)


def test_the_paper_code_path_runs_on_fake_data():
    """The paper profile (WRN-16-8, device auto) with a tiny fake data set, on any machine.

    bf16 autocast is switched off here: CPU bf16 convolutions are very slow without hardware support (the
    autocast path itself is tested with an MLP in test_vision_models.py).
    """
    cfg = pipeline.resolve_config("fig1a_fgsm", "paper", dict(
        dataset="fake", download=False, n_train=8, n_test=4, seeds=[0], epochs=1, batch_size=8, n_pgd=2,
        pgd_steps=1, pgd_restarts=1, eval_batch_size=8, fgsm_eps=[0.0, 0.03], pgd_eps=[0.0, 0.03],
        l2_eps=[0.0, 0.5], threads=1, bf16=False), root=REPO)
    assert cfg.model == "wrn16_8" and cfg.device == "auto"
    result = fig1a_fgsm.run(cfg, progress=False, save=False)
    flags = result.metrics["per_model"]["erm.seed0"]
    assert flags["eval_mode"] and flags["eps0_is_clean"]
    assert set(result.metrics["per_model"]) == {"erm.seed0", "mixup.seed0"}
    assert result.arrays["mixup.seed0.fgsm"].shape == (2,)


def test_the_attacks_run_under_deterministic_cudnn(monkeypatch):
    """fit restores cuDNN's mode when it returns; the attacks after it must still run in deterministic mode."""
    import contextlib

    from mixup_repro import robust_eval, train

    modes: list[bool] = []

    @contextlib.contextmanager
    def mode(on_cuda, deterministic):
        modes.append(deterministic)
        try:
            yield
        finally:
            modes.pop()

    seen: list[list[bool]] = []
    real_fgsm = robust_eval.fgsm

    def fgsm(*args, **kwargs):
        seen.append(list(modes))
        return real_fgsm(*args, **kwargs)

    monkeypatch.setattr(train, "_cudnn_mode", mode)
    monkeypatch.setattr(robust_eval, "fgsm", fgsm)
    cfg = _profile("fig1a_fgsm", seeds=[0], epochs=1)
    fig1a_fgsm.run(cfg, progress=False, save=False)
    assert seen and all(m == [True] for m in seen)  # inside the run's deterministic mode, not fit's (ended)


def test_smoke_run_flags_claims_and_book_values():
    result = fig1a_fgsm.run(_profile("fig1a_fgsm"), progress=False, save=False)
    ids = [c["id"] for c in result.metrics["claims"]]
    assert ids == ["Figure 1a (FGSM)", "Figure 1a (clean accuracy)", "Beyond Fig. 1a (PGD-l_inf)",
                   "Beyond Fig. 1a (PGD-l2)", "Figure 1a (sanity flags)"]
    assert all(c["paper"].strip() for c in result.metrics["claims"])
    for key, flags in result.metrics["per_model"].items():
        assert flags["eval_mode"] and flags["eps0_is_clean"], key
        assert flags["zero_grad_fraction"] < 0.5
    values = fig1a_fgsm.book_values(result)
    assert values["n_seeds"] == 2.0 and values["verdict_sanity_flags"] in ("PASS", "FAIL")
    assert [c["kind"] for c in result.metrics["claims"]] == ["paper", "beyond", "beyond", "beyond", "check"]


def test_a_missing_dataset_stops_with_instructions(tmp_path):
    cfg = _profile("fig1a_fgsm", dataset="svhn", data_dir=str(tmp_path))
    from mixup_repro.data.images import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match=r"svhn not found under .*train_32x32.mat.*--data-dir DIR"):
        fig1a_fgsm.run(cfg, progress=False, save=False)


@pytest.mark.slow
def test_the_notebook_runs_with_the_smoke_profile(tmp_path):
    checked = smoke_checked_outputs("fig1a_fgsm", tmp_path)
    assert len(checked) == 1 and "[" in checked[0]


def _synthetic_arrays(cfg, fgsm_gain: dict[float, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-seed accuracies: ERM's from a seeded draw, mixup's = ERM's + the given gain (points) per FGSM radius."""
    rng = np.random.default_rng(7)
    arrays = {}
    for s in cfg.seeds:
        for attack, grid in fig1a_fgsm._radii(cfg).items():
            erm = np.sort(rng.uniform(0.3, 0.9, len(grid)))[::-1]
            gain = np.array([fgsm_gain.get(eps, np.zeros(len(cfg.seeds)))[s] if attack == "fgsm" and eps > 0 else 0.0
                             for eps in grid]) / 100
            arrays[f"erm.seed{s}.{attack}"], arrays[f"mixup.seed{s}.{attack}"] = erm, erm + gain
    return arrays


@pytest.mark.parametrize("gains, verdict, where", [
    ({0.02: [1.0, 1.2, 0.9, 1.1, 1.3], 0.04: [2.0, 2.5, 1.5, 2.2, 2.1]}, "PASS", "ahead at eps 0.02, 0.04"),
    ({0.02: [-1.0, -1.2, -0.9, -1.1, -1.3], 0.04: [2.0, 2.5, 1.5, 2.2, 2.1]}, "FAIL", "ahead at eps 0.04; behind at eps 0.02"),
    ({0.02: [1.0, 1.2, 0.9, 1.1, 1.3], 0.04: [0.9, -1.1, 1.4, -0.8, 1.1]}, "INCONCLUSIVE", "ahead at eps 0.02; tied at eps 0.04"),
])
def test_figure_1a_is_decided_per_radius_on_the_paired_seeds(gains, verdict, where):
    """Ahead at every radius passes, behind at one fails, a tie (12.0 +/- 1.3 vs 12.3 +/- 0.9) is inconclusive."""
    cfg = _profile("fig1a_fgsm", seeds=[0, 1, 2, 3, 4], fgsm_eps=[0.0, 0.02, 0.04], pgd_eps=[0.0, 0.02],
                   l2_eps=[0.0, 0.5])
    flags = {"erm.seed0": dict(eps0_is_clean=True, monotone=True, pgd_no_weaker=True, eval_mode=True,
                               zero_grad_fraction=0.0)}
    gains = {eps: np.array(g) for eps, g in gains.items()}
    claims = fig1a_fgsm.claims(cfg, _synthetic_arrays(cfg, gains), flags, 100, 10)
    fgsm = claims[0]
    assert (fgsm.id, fgsm.kind, fgsm.verdict) == ("Figure 1a (FGSM)", "paper", verdict)
    assert where in fgsm.detail and fgsm.detail.endswith(f"claimed > 0 at every radius: {verdict}")
    for eps, g in gains.items():  # the recorded interval is scipy's paired t interval on the per-seed gains
        ci = stats.ttest_rel(g, np.zeros_like(g)).confidence_interval(0.95)
        assert fgsm.numbers[f"eps{eps:g}.ci_low"] == pytest.approx(ci.low, abs=1e-9)
        assert fgsm.numbers[f"eps{eps:g}.ci_high"] == pytest.approx(ci.high, abs=1e-9)
        assert fgsm.numbers[f"eps{eps:g}.estimate"] == pytest.approx(g.mean(), abs=1e-9)
    key = fgsm.numbers["key_eps"]  # the radius that decides: behind if any, else the weakest
    assert key == {"PASS": 0.02, "FAIL": 0.02, "INCONCLUSIVE": 0.04}[verdict]
    assert fgsm.numbers["ci_low"] == fgsm.numbers[f"eps{key:g}.ci_low"] and fgsm.numbers["level"] == 0.95
    assert fgsm.numbers["n"] == 5.0
    assert [c.kind for c in claims] == ["paper", "beyond", "beyond", "beyond", "check"]
    assert "mixup - ERM +0.0 [+0.0, +0.0] points" in claims[1].detail  # clean: no gain was added at eps 0


def test_the_image_chapters_compute_in_the_configured_dtype(monkeypatch):
    """cpu and smoke run in float64 so the checked outputs do not depend on the CPU's float32 kernels: the data, the
    weights, the attacks and the [0, 1] box must all be in the configured dtype (float32 too, for the paper)."""
    from mixup_repro import robust_eval
    from mixup_repro.chapters import _images, fig3_training_error, generalization_gap

    seen: list[tuple[str, set]] = []

    def record(where, real):
        def wrapped(model, X, *args, **kwargs):
            dtypes = {X.dtype, *(t.dtype for t in (*model.parameters(), *model.buffers()) if t.is_floating_point())}
            out = real(model, X, *args, **kwargs)
            if isinstance(out, torch.Tensor):
                dtypes.add(out.dtype)
            seen.append((where, dtypes))
            return out
        return wrapped

    import torch

    for module in (fig1a_fgsm, _images, fig3_training_error):
        monkeypatch.setattr(module, "fit", record(f"{module.__name__}.fit", module.fit))
    monkeypatch.setattr(robust_eval, "fgsm", record("fgsm", robust_eval.fgsm))
    monkeypatch.setattr(robust_eval, "pgd", record("pgd", robust_eval.pgd))
    for dtype in ("float64", "float32"):
        seen.clear()
        fig1a_fgsm.run(_profile("fig1a_fgsm", seeds=[0], dtype=dtype), progress=False, save=False)
        generalization_gap.run(_profile("generalization_gap", n_seeds=1, dtype=dtype), progress=False, save=False)
        fig3_training_error.run(_profile("fig3_training_error", n_seeds=1, dtype=dtype), progress=False, save=False)
        where = {w for w, _ in seen}
        assert {"fgsm", "pgd", "mixup_repro.chapters.fig1a_fgsm.fit", "mixup_repro.chapters._images.fit",
                "mixup_repro.chapters.fig3_training_error.fit"} <= where
        assert all(d == {getattr(torch, dtype)} for _, d in seen), [(w, d) for w, d in seen if len(d) > 1]
