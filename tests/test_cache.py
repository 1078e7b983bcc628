"""The result cache behind notebooks: reuse when config, version and library source are unchanged; recompute a
missing, stale or corrupt result; never return a result of another config."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from mixup_repro import experiments, results
from mixup_repro.config import Lemma31Config
from mixup_repro.results import Result, cached, load_result, provenance, result_path


def _compute(cfg: dict, counter: list, value: float = 1.0):
    def compute() -> Result:
        counter.append(1)
        return Result("toy", cfg, {"value": value}, {"curve": np.arange(3.0)},
                      provenance(seeds=0, wall_time_s=0.0, device="cpu"))
    return compute


def test_cached_computes_once_then_reuses(tmp_path):
    cfg, calls = {"a": 1, "grid": [1.0, 2.0]}, []
    first = cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    second = cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    assert len(calls) == 1 and second.meta == first.meta and second.metrics == {"value": 1.0}
    cached("toy", {**cfg, "a": 2}, _compute({**cfg, "a": 2}, calls), root=tmp_path)
    assert len(calls) == 2  # another config is another entry


@pytest.mark.parametrize("stale", ["version", "source"])
def test_cached_recomputes_after_a_library_change(tmp_path, monkeypatch, stale):
    cfg, calls = {"a": 1}, []
    cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    if stale == "version":
        monkeypatch.setattr("mixup_repro.__version__", "9.9.9")
    else:
        monkeypatch.setattr(results, "source_fingerprint", lambda: "edited-code")
    cached("toy", cfg, _compute(cfg, calls, value=2.0), root=tmp_path)
    assert len(calls) == 2
    assert load_result(result_path("toy", cfg, tmp_path)).metrics == {"value": 2.0}


def test_cached_recomputes_a_corrupt_result_with_a_warning(tmp_path):
    cfg, calls = {"a": 1}, []
    cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    path = result_path("toy", cfg, tmp_path)
    data = (path / "arrays.npz").read_bytes()
    (path / "arrays.npz").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="recomputing a corrupt cached result.*arrays.npz does not match"):
        cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    assert len(calls) == 2
    load_result(path)  # valid again


def test_cached_recomputes_when_a_file_replaced_the_result_directory(tmp_path):
    cfg, calls = {"a": 1}, []
    cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    path = result_path("toy", cfg, tmp_path)
    shutil.rmtree(path)
    path.write_text("junk")
    with pytest.warns(UserWarning, match="recomputing a corrupt cached result.*is not a result directory"):
        cached("toy", cfg, _compute(cfg, calls), root=tmp_path)
    assert len(calls) == 2 and os.listdir(path.parent) == [path.name]
    load_result(path)


def test_cached_refuses_a_compute_of_another_config(tmp_path):
    with pytest.raises(ValueError, match="compute\\(\\) returned a result of another run"):
        cached("toy", {"a": 1}, _compute({"a": 2}, []), root=tmp_path)
    assert not (tmp_path / "toy").exists()


def test_source_fingerprint_covers_the_library():
    assert len(results.source_fingerprint()) == 12
    assert provenance(seeds=0, wall_time_s=0, device="cpu")["library_source_sha256"] == results.source_fingerprint()


def test_run_lemma31_use_cache_skips_training(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    cfg = Lemma31Config(n_samples=16, hidden=4, epochs=3, eval_every=3, quad_order=8, alpha_grid=(1.0,),
                        scale_grid=(1.0, 2.0))
    first = experiments.run_lemma31(cfg, progress=False, use_cache=True)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached result should have been used")

    monkeypatch.setattr(experiments, "fit", no_training)
    again = experiments.run_lemma31(cfg, progress=False, use_cache=True)
    assert again.meta == first.meta and again.metrics == first.metrics
    with pytest.raises(AssertionError, match="cached result should have been used"):
        experiments.run_lemma31(cfg, progress=False)  # the default recomputes
