"""Saved results: round trip, manifest checks, atomic replacement and clear directory errors."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest

from mixup_repro import durable, results
from mixup_repro.claims import Claim
from mixup_repro.config import Lemma31Config
from mixup_repro.provenance import provenance
from mixup_repro.results import CorruptResultError, Result, ResultsDirError, cached, load_result, result_path, save_result


def _result(epochs: int = 300, **metrics) -> Result:
    cfg = Lemma31Config(epochs=epochs)
    claims = [Claim("Lemma 3.1", "the expansion matches", "derived", "check", "PASS", "err 1e-4").to_dict()]
    return Result(name=cfg.NAME, config=cfg.to_dict(),
                  metrics={"train_loss_clean": 0.25, "n": np.int64(3), "claims": claims, **metrics},
                  arrays={"curve": np.linspace(0, 1, 5), "grid": np.arange(6, dtype=np.int32).reshape(2, 3)},
                  meta=provenance(seeds={"seed": 0, "data_seed": 0}, wall_time_s=1.5, device="cpu"))


def test_results_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path))
    assert results.results_dir() == tmp_path
    monkeypatch.delenv("MIXUP_REPRO_RESULTS")
    assert str(results.results_dir()) == "results"


def test_round_trip(tmp_path):
    res = _result()
    path = save_result(res, tmp_path)
    assert path == tmp_path / "lemma31_fig2" / Lemma31Config(epochs=300).config_hash()
    assert path == results.result_path(res.name, res.config, tmp_path)
    assert sorted(p.name for p in path.iterdir()) == sorted([*results.FILES, results.MANIFEST])
    back = load_result(path)
    assert (back.name, back.config, back.meta) == (res.name, res.config, res.meta)
    assert back.metrics == {**res.metrics, "n": 3}
    assert set(back.arrays) == {"curve", "grid"}
    np.testing.assert_array_equal(back.arrays["grid"], res.arrays["grid"])
    assert back.arrays["grid"].dtype == np.int32


def test_default_root_is_results_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path / "r"))
    assert save_result(_result()).parent.parent == tmp_path / "r"


def test_resave_replaces_and_leaves_no_leftovers(tmp_path):
    path = save_result(_result(), tmp_path)
    again = save_result(_result(train_loss_clean=0.5), tmp_path)
    assert again == path and load_result(path).metrics["train_loss_clean"] == 0.5
    assert os.listdir(path.parent) == [path.name]


@pytest.mark.parametrize("fname", ["config.json", "metrics.json", "arrays.npz", "meta.json"])
def test_altered_or_truncated_file_detected(tmp_path, fname):
    path = save_result(_result(), tmp_path)
    data = (path / fname).read_bytes()
    (path / fname).write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptResultError, match=rf"{fname} does not match its checksum"):
        load_result(path)
    k = len(data) // 2
    (path / fname).write_bytes(data[:k] + bytes([data[k] ^ 1]) + data[k + 1:])
    with pytest.raises(CorruptResultError, match=rf"{fname} does not match its checksum"):
        load_result(path)


@pytest.mark.parametrize("fname", ["config.json", "arrays.npz", "MANIFEST.json"])
def test_missing_file_detected(tmp_path, fname):
    path = save_result(_result(), tmp_path)
    (path / fname).unlink()
    with pytest.raises(CorruptResultError, match=rf"{fname} is missing.*; re-running the notebook or sweep that saved it"):
        load_result(path)


def test_manifest_edited_detected(tmp_path):
    path = save_result(_result(), tmp_path)
    manifest = json.loads((path / "MANIFEST.json").read_text())
    del manifest["files"]["meta.json"]
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptResultError, match=r"MANIFEST.json lists"):
        load_result(path)


def test_a_file_in_place_of_a_result_is_corrupt_and_replaced_without_leftovers(tmp_path):
    path = save_result(_result(), tmp_path)
    shutil.rmtree(path)
    path.write_text("junk")
    with pytest.raises(CorruptResultError, match=r"is not a result directory \(a file is in its place\)"):
        load_result(path)
    save_result(_result(), tmp_path)
    assert os.listdir(path.parent) == [path.name] and load_result(path).metrics["train_loss_clean"] == 0.25


def test_stale_temporaries_of_the_key_are_removed_and_fresh_ones_kept(tmp_path):
    """A kill -9 mid-write leaves hidden temporaries; the next write of that key deletes those over 10 minutes
    old and keeps younger ones, which may belong to a concurrent writer of the same key."""
    path = save_result(_result(), tmp_path)
    key, old = path.name, time.time() - durable.STALE_TEMP_S - 60
    stale = [f".{key}.tmp-abcd1234", f".{key}.old-efgh5678"]
    for name in stale:
        (path.parent / name).mkdir()
        (path.parent / name / "arrays.npz").write_bytes(b"partial")
    (path.parent / f".{key}.old-file0000").write_text("junk moved aside")
    kept = [f".{key}.tmp-fresh000", ".0123456789ab.tmp-otherkey"]  # a running writer; another key's temporary
    for name in kept:
        (path.parent / name).mkdir()
    for name in [*stale, f".{key}.old-file0000", kept[1]]:
        os.utime(path.parent / name, (old, old))
    save_result(_result(train_loss_clean=0.5), tmp_path)
    assert sorted(os.listdir(path.parent)) == sorted([key, *kept])
    assert load_result(path).metrics["train_loss_clean"] == 0.5


def test_no_result_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved result at .*run the notebook first"):
        load_result(tmp_path / "nothing")


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    real = durable._write_file
    calls = []

    def flaky(path, data):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real(path, data)

    monkeypatch.setattr(durable, "_write_file", flaky)
    with pytest.raises(OSError, match="simulated"):
        save_result(_result(), tmp_path)
    assert os.listdir(tmp_path / "lemma31_fig2") == []


def test_failure_during_replacement_keeps_the_old_run(tmp_path, monkeypatch):
    path = save_result(_result(), tmp_path)
    real_rename = os.rename

    def rename(src, dst):
        if str(src).startswith(str(path.parent / f".{path.name}.tmp-")):
            raise OSError("crash before the new run is in place (simulated)")
        return real_rename(src, dst)

    monkeypatch.setattr(durable.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        save_result(_result(train_loss_clean=0.9), tmp_path)
    assert os.listdir(path.parent) == [path.name]
    assert load_result(path).metrics["train_loss_clean"] == 0.25


def test_unwritable_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ResultsDirError, match=r"cannot write results under '.*a_file.*'.*--results-dir DIR, or the MIXUP_REPRO_RESULTS"):
        save_result(_result(), blocker / "results")


def test_bad_claims_and_object_arrays_refused_before_writing(tmp_path):
    bad = _result()
    bad.metrics["claims"] = [{**bad.metrics["claims"][0], "verdict": "OK"}]
    with pytest.raises(ValueError, match=r"claims'\]\[0\]: claim 'Lemma 3.1': verdict 'OK' is not one of PASS, FAIL"):
        save_result(bad, tmp_path)
    bad.metrics["claims"] = [{k: v for k, v in _result().metrics["claims"][0].items() if k != "kind"}]
    with pytest.raises(ValueError, match=r"claims'\]\[0\]: claim 'Lemma 3.1' lacks kind"):
        save_result(bad, tmp_path)
    obj = _result()
    obj.arrays["ragged"] = np.array([[1], [1, 2]], dtype=object)
    with pytest.raises(TypeError, match=r"array 'ragged' has dtype object"):
        save_result(obj, tmp_path)
    assert not (tmp_path / "lemma31_fig2").exists()


# --- the cache ----------------------------------------------------------------------------------------


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
