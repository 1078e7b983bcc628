"""runs.py: seeds, threads, checkpointed trainings and the cache of a notebook run.

An interrupted notebook run resumes: every training inside a saved run checkpoints, and running it again gives
bitwise the result of an uninterrupted run (on a CPU), then removes the checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mixup_repro import config, runs
from mixup_repro.chapters import generalization_gap, lemma31_fig2
from mixup_repro.config import Lemma31Config
from mixup_repro.results import load_result, result_path

REPO = Path(__file__).resolve().parents[1]


def test_derive_seed_is_numpy_seedsequence_distinct_and_below_2_32():
    seeds = [runs.derive_seed(s, i) for s in (0, 1, 2**32 - 1) for i in range(50)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**32 for s in seeds)
    assert runs.derive_seed(7, 3) == runs.derive_seed(7, 3)
    assert runs.derive_seed(7, 3) == int(np.random.SeedSequence([7, 3]).generate_state(1)[0])


@pytest.mark.parametrize("inside", [1, 3])
def test_torch_threads_sets_then_restores_the_thread_count(inside):
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # a known value other than the one set inside, whatever torch's default is here
    try:
        with runs.torch_threads(inside):
            assert torch.get_num_threads() == inside
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"), runs.torch_threads(inside):
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
        with runs.torch_threads(0):  # 0 leaves torch's setting
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _recording_run(threads, seen):
    @runs.notebook_run(threads=threads)
    def run(cfg, *, progress=True):
        seen.append(torch.get_num_threads())
        return runs.finish_run(cfg, {"value": 1.0}, {"curve": np.arange(3.0)}, seeds={"seed": cfg.seed}, start=0.0,
                               device="cpu")
    return run


def test_a_notebook_run_computes_under_its_threads_and_saves_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    cfg, seen = Lemma31Config(epochs=3), []
    before = torch.get_num_threads()
    result = _recording_run(lambda c: 3, seen)(cfg, save=False)
    assert seen == [3] and torch.get_num_threads() == before
    assert result.meta["torch_threads"] == 3 and result.meta["seeds"] == {"seed": 0}  # provenance inside the run
    assert not any(tmp_path.iterdir())
    saved = _recording_run(1, seen)(cfg)
    assert load_result(result_path(cfg.NAME, cfg.to_dict())).metrics == saved.metrics == {"value": 1.0}


def test_use_cache_skips_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    cfg = Lemma31Config(n_samples=16, hidden=4, epochs=3, eval_every=3, quad_order=8, alpha_grid=(1.0,),
                        scale_grid=(1.0, 2.0))
    first = lemma31_fig2.run(cfg, progress=False, use_cache=True)
    assert "Reused" not in capsys.readouterr().out

    def no_training(*args, **kwargs):
        raise AssertionError("the cached result should have been used")

    monkeypatch.setattr(runs, "train_fit", no_training)
    again = lemma31_fig2.run(cfg, progress=False, use_cache=True)
    assert again.meta == first.meta and again.metrics == first.metrics
    assert "Reused the saved run of" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="cached result should have been used"):
        lemma31_fig2.run(cfg, progress=False)  # the default recomputes


# --- an interrupted notebook run resumes ---------------------------------------------------------------


class Stop(Exception):
    """Stands for a kill: raised inside the third training of the run, after its epoch-2 checkpoint."""


@pytest.fixture(autouse=True)
def every_epoch(monkeypatch):
    """A checkpoint after every epoch (the trainings here take well under the usual 60 s between two)."""
    monkeypatch.setattr(runs, "CHECKPOINT_SECONDS", 0.0)


def _cfg():
    # 2 datasets x 2 alphas x 2 seeds = 8 trainings of 4 epochs.
    return config.load_profile("smoke", "generalization_gap", REPO / "notebooks" / "params").with_overrides(
        {"epochs": 4})


def test_an_interrupted_notebook_run_resumes_bitwise(tmp_path, monkeypatch):
    real_fit = runs.train_fit
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
    monkeypatch.setattr(runs, "train_fit", interrupted)
    with pytest.raises(Stop):
        generalization_gap.run(cfg, progress=False, use_cache=True)
    folder = paths[0].parent
    assert folder.parent == tmp_path / "a" / "generalization_gap" / ".checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["fit001.ckpt", "fit002.ckpt", "fit003.ckpt"]

    resumed = []

    def spy(model, X, y, **kw):
        hist = real_fit(model, X, y, **kw)
        resumed.append(hist.resumed_from)
        return hist

    monkeypatch.setattr(runs, "train_fit", spy)
    got = generalization_gap.run(cfg, progress=False, use_cache=True)
    assert resumed == [4, 4, 2, 0, 0, 0, 0, 0]  # two finished trainings loaded, the third resumed
    assert not (tmp_path / "a" / "generalization_gap" / ".checkpoints").exists()

    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path / "b"))
    monkeypatch.setattr(runs, "train_fit", real_fit)
    clean = generalization_gap.run(cfg, progress=False, use_cache=True)
    assert sorted(got.arrays) == sorted(clean.arrays)
    for name, value in clean.arrays.items():
        np.testing.assert_array_equal(got.arrays[name], value, err_msg=name)
    assert got.metrics == clean.metrics


def test_a_corrupt_notebook_checkpoint_is_discarded(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    cfg = _cfg()
    folder = runs._Checkpoints(cfg).folder
    folder.mkdir(parents=True)
    (folder / "fit001.ckpt").write_bytes(b"MIXUP-REPRO-CHECKPOINT 1\n" + b"0" * 64 + b"\nhalf a payload")
    with pytest.warns(UserWarning, match=r"fit001.ckpt does not match its sha256.*discarding it and training"):
        generalization_gap.run(cfg, progress=False, use_cache=True)
    assert not folder.exists()


def test_runs_that_are_not_saved_write_no_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    paths = []
    real_fit = runs.train_fit

    def spy(model, X, y, **kw):
        paths.append(kw["checkpoint"].path if "checkpoint" in kw else None)
        return real_fit(model, X, y, **kw)

    monkeypatch.setattr(runs, "train_fit", spy)
    generalization_gap.run(_cfg(), progress=False, save=False)
    assert paths == [None] * 8 and not any(tmp_path.iterdir())
