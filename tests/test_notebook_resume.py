"""An interrupted notebook run resumes: every training inside a saved run checkpoints, and running it again
gives bitwise the result of an uninterrupted run (on a CPU), then removes the checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixup_repro import config, experiments

REPO = Path(__file__).resolve().parents[1]


class Stop(Exception):
    """Stands for a kill: raised inside the third training of the run, after its epoch-2 checkpoint."""


@pytest.fixture(autouse=True)
def every_epoch(monkeypatch):
    """A checkpoint after every epoch (the trainings here take well under the usual 60 s between two)."""
    monkeypatch.setattr(experiments, "CHECKPOINT_SECONDS", 0.0)


def _cfg():
    # 2 datasets x 2 alphas x 2 seeds = 8 trainings of 4 epochs.
    return config.load_profile("smoke", "generalization_gap", REPO / "notebooks" / "params").with_overrides(
        {"epochs": 4})


def test_an_interrupted_notebook_run_resumes_bitwise(tmp_path, monkeypatch):
    real_fit = experiments.fit
    cfg = _cfg()
    paths = []

    def interrupted(model, X, y, **kw):
        paths.append(kw["checkpoint"].path if "checkpoint" in kw else None)
        if len(paths) == 3:
            def stop(epoch, m):
                if epoch == 3:
                    raise Stop
            kw["hooks"] = [*kw.get("hooks", ()), stop]
        return real_fit(model, X, y, **kw)

    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path / "a"))
    monkeypatch.setattr(experiments, "fit", interrupted)
    with pytest.raises(Stop):
        experiments.run_generalization_gap(cfg, progress=False, use_cache=True)
    folder = paths[0].parent
    assert folder.parent == tmp_path / "a" / "generalization_gap" / ".checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["fit001.ckpt", "fit002.ckpt", "fit003.ckpt"]

    resumed = []

    def spy(model, X, y, **kw):
        hist = real_fit(model, X, y, **kw)
        resumed.append(hist.resumed_from)
        return hist

    monkeypatch.setattr(experiments, "fit", spy)
    got = experiments.run_generalization_gap(cfg, progress=False, use_cache=True)
    assert resumed == [4, 4, 2, 0, 0, 0, 0, 0]  # two finished trainings loaded, the third resumed
    assert not (tmp_path / "a" / "generalization_gap" / ".checkpoints").exists()

    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path / "b"))
    monkeypatch.setattr(experiments, "fit", real_fit)
    clean = experiments.run_generalization_gap(cfg, progress=False, use_cache=True)
    assert sorted(got.arrays) == sorted(clean.arrays)
    for name, value in clean.arrays.items():
        np.testing.assert_array_equal(got.arrays[name], value, err_msg=name)
    assert got.metrics == clean.metrics


def test_a_corrupt_notebook_checkpoint_is_discarded(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    cfg = _cfg()
    folder = experiments._Checkpoints(cfg).folder
    folder.mkdir(parents=True)
    (folder / "fit001.ckpt").write_bytes(b"MIXUP-REPRO-CHECKPOINT 1\n" + b"0" * 64 + b"\nhalf a payload")
    with pytest.warns(UserWarning, match=r"fit001.ckpt does not match its sha256.*discarding it and training"):
        experiments.run_generalization_gap(cfg, progress=False, use_cache=True)
    assert not folder.exists()


def test_runs_that_are_not_saved_write_no_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    paths = []
    real_fit = experiments.fit

    def spy(model, X, y, **kw):
        paths.append(kw["checkpoint"].path if "checkpoint" in kw else None)
        return real_fit(model, X, y, **kw)

    monkeypatch.setattr(experiments, "fit", spy)
    experiments.run_generalization_gap(_cfg(), progress=False, save=False)
    assert paths == [None] * 8 and not any(tmp_path.iterdir())
