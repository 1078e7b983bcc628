"""chapters/fig1a_fgsm.py: the ladder's flags and claims on the smoke profile, the paper profile's code path
(WRN-16-8) on fake data, deterministic cuDNN around the attacks, a missing dataset; the notebook's smoke run."""

from __future__ import annotations

import pytest

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
    import nbformat

    out = pipeline.run_notebook("fig1a_fgsm", "smoke", root=REPO, output=tmp_path / "fig1a_fgsm.ipynb", progress=False)
    nb = nbformat.read(out, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    assert len(checked) == 1 and "[" in checked[0].outputs[0].text
