"""Checkpoints: kill -9 mid-training and rerun gives bitwise the uninterrupted weights; corrupt or foreign
checkpoints are refused; writes are atomic; every RNG state round-trips."""

from __future__ import annotations

import os
import random
import runpy
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mixup_repro
from mixup_repro import durable
from mixup_repro.checkpoint import (CheckpointError, CheckpointMismatchError, CheckpointOptions, CorruptCheckpointError,
                                    capture_rng, load_checkpoint, restore_rng, save_checkpoint)
from mixup_repro.data.synthetic import gaussian_mixture
from mixup_repro.models import build_model
from mixup_repro.train import fit

EPOCHS = 40

# Minibatches, momentum, per-sample lam: every generator and the optimizer state matter for the weights.
SCRIPT = textwrap.dedent(f"""
    import sys, time
    import torch
    from mixup_repro.models import build_model  # no mixup_repro.data: importing scikit-learn costs seconds
    from mixup_repro.checkpoint import CheckpointOptions
    from mixup_repro.train import fit

    def train(checkpoint_path=None, slow=0.0):
        g = torch.Generator().manual_seed(1)
        y = (torch.arange(96) % 2).double()
        X = torch.randn(96, 3, generator=g, dtype=torch.float64) + y[:, None]
        model = build_model("relu_mlp", 3, hidden=16, generator=torch.Generator().manual_seed(2))
        hooks = [lambda epoch, m: time.sleep(slow)] if slow else []
        hist = fit(model, X, y, alpha=0.7, beta=1.3, epochs={EPOCHS}, lr=0.2, seed=5, batch_size=20,
                   momentum=0.9, per_sample_lam=True, hooks=hooks, progress=False,
                   checkpoint=CheckpointOptions(checkpoint_path, every=1) if checkpoint_path else None)
        return model, hist

    if __name__ == "__main__":
        model, hist = train(sys.argv[1], slow=float(sys.argv[3]))
        torch.save(model.state_dict(), sys.argv[2])
        print("resumed_from", hist.resumed_from)
""")


def _env() -> dict[str, str]:
    # The subprocess must import this checkout's package, whatever the venv's editable install points at.
    src = str(Path(mixup_repro.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}


def _epoch(path: Path) -> int:
    try:
        return int(load_checkpoint(path)["epoch"])
    except (FileNotFoundError, CorruptCheckpointError):
        return 0


@pytest.mark.slow
def test_kill_9_then_rerun_is_bitwise_the_uninterrupted_run(tmp_path):
    script, ckpt, out = tmp_path / "train_script.py", tmp_path / "run.ckpt", tmp_path / "weights.pt"
    script.write_text(SCRIPT)
    cmd = [sys.executable, str(script), str(ckpt), str(out), "0.1"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _epoch(ckpt) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint for epoch 3 within 120 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    killed_at = _epoch(ckpt)
    assert 3 <= killed_at < EPOCHS

    done = subprocess.run(cmd[:-1] + ["0"], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resumed_from {killed_at}" in done.stdout

    reference, _ = runpy.run_path(str(script))["train"]()
    resumed = torch.load(out, weights_only=True)
    assert list(resumed) == list(reference.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(resumed[name], value), name  # bitwise, not approximately


def _setup(**kw):
    ds = gaussian_mixture(48, d=2, separation=1.5, seed=0)
    model = build_model("tanh_mlp", 2, hidden=6, generator=torch.Generator().manual_seed(0))
    args = dict(alpha=1.0, epochs=6, lr=0.3, seed=1, batch_size=16, momentum=0.5, progress=False)
    return model, ds.X, ds.y, {**args, **kw}


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("extra", [{}, {"lr_schedule": "cosine"}, {"optimizer": "adam", "lr": 0.05}],
                         ids=["sgd-constant", "sgd-cosine", "adam"])
def test_interrupted_in_process_resume_matches_and_rerun_of_finished_run_is_a_no_op(tmp_path, extra):
    model, X, y, kw = _setup(**extra)
    ref_hist = fit(model, X, y, **kw)
    ref = _state(model)

    class Stop(Exception):
        pass

    def stop_at_4(epoch, m):
        if epoch == 4:
            raise Stop

    ckpt = tmp_path / "c.ckpt"
    m1, *_ = _setup(**extra)
    with pytest.raises(Stop):
        fit(m1, X, y, **kw, checkpoint=CheckpointOptions(ckpt, every=3), hooks=[stop_at_4])
    assert load_checkpoint(ckpt)["epoch"] == 3
    m2, *_ = _setup(**extra)
    hist = fit(m2, X, y, **kw, checkpoint=CheckpointOptions(ckpt, every=3))
    assert hist.resumed_from == 3 and hist.records == ref_hist.records
    assert all(torch.equal(a, ref[k]) for k, a in m2.state_dict().items())
    assert load_checkpoint(ckpt)["epoch"] == 6  # the last epoch is always checkpointed

    m3, *_ = _setup(**extra)
    again = fit(m3, X, y, **kw, checkpoint=CheckpointOptions(ckpt))
    assert again.resumed_from == 6 and again.records == ref_hist.records
    assert all(torch.equal(a, ref[k]) for k, a in m3.state_dict().items())


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty"])
def test_corrupt_checkpoint_is_refused_and_nothing_changes(tmp_path, damage):
    model, X, y, kw = _setup()
    ckpt = tmp_path / "c.ckpt"
    fit(model, X, y, **kw, checkpoint=CheckpointOptions(ckpt))
    data = ckpt.read_bytes()
    k = len(data) // 2
    ckpt.write_bytes({"truncate": data[:k], "flip_byte": data[:k] + bytes([data[k] ^ 1]) + data[k + 1:],
                      "garbage": b"not a checkpoint at all" * 100, "empty": b""}[damage])
    damaged = ckpt.read_bytes()
    fresh, *_ = _setup()
    before = _state(fresh)
    with pytest.raises(CorruptCheckpointError, match=rf"{ckpt.name}.*(sha256|bad header).*delete .* from scratch"):
        fit(fresh, X, y, **kw, checkpoint=CheckpointOptions(ckpt))
    assert all(torch.equal(v, before[k]) for k, v in fresh.state_dict().items())
    assert ckpt.read_bytes() == damaged and os.listdir(tmp_path) == ["c.ckpt"]


@pytest.mark.parametrize("change", [{"lr": 0.2}, {"seed": 2}, {"alpha": 0.5}, {"batch_size": 12},
                                    {"lr_schedule": "cosine"}])
def test_checkpoint_of_another_run_is_refused(tmp_path, change):
    model, X, y, kw = _setup()
    ckpt = tmp_path / "c.ckpt"
    fit(model, X, y, **kw, checkpoint=CheckpointOptions(ckpt))
    other, *_ = _setup()
    with pytest.raises(CheckpointMismatchError, match="written by a different run.*delete it or pass another"):
        fit(other, X, y, **{**kw, **change}, checkpoint=CheckpointOptions(ckpt))


def test_checkpoint_of_other_initial_weights_is_refused(tmp_path):
    model, X, y, kw = _setup()
    ckpt = tmp_path / "c.ckpt"
    fit(model, X, y, **kw, checkpoint=CheckpointOptions(ckpt))
    other = build_model("tanh_mlp", 2, hidden=6, generator=torch.Generator().manual_seed(99))
    with pytest.raises(CheckpointMismatchError, match="different run"):
        fit(other, X, y, **kw, checkpoint=CheckpointOptions(ckpt))


def test_checkpoint_seconds_sets_when_checkpoints_are_written(tmp_path, monkeypatch):
    """By the clock: a checkpoint once ``CheckpointOptions.seconds`` have passed since the last, and after the last epoch."""
    from mixup_repro import train

    clock = iter(float(t) for t in range(0, 1000, 10))  # every reading of the clock advances it by 10 s
    monkeypatch.setattr(train, "_clock", lambda: next(clock))
    written = []
    monkeypatch.setattr(train, "save_checkpoint", lambda path, state: written.append(state["epoch"]))
    model, X, y, kw = _setup()
    fit(model, X, y, **kw, checkpoint=CheckpointOptions(tmp_path / "c.ckpt", seconds=25))
    # Readings: 0 at the start, then 10, 20, 30 after epochs 1-3: checkpoint (30 - 0 >= 25), reset at 40;
    # 50, 60 after epochs 4-5 (10 and 20 since); epoch 6 is the last: checkpoint without a reading.
    assert written == [3, 6]
    written.clear()
    fit(_setup()[0], X, y, **kw, checkpoint=CheckpointOptions(tmp_path / "d.ckpt", seconds=1e9))
    assert written == [6]


@pytest.mark.parametrize("seconds", [-1, float("inf"), float("nan"), "60", True])
def test_checkpoint_seconds_must_be_a_finite_number(seconds):
    with pytest.raises(ValueError, match="CheckpointOptions.seconds must be a finite number of seconds >= 0"):
        CheckpointOptions("c.ckpt", seconds=seconds)


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_checkpoint_every_must_be_a_positive_integer(every):
    with pytest.raises(ValueError, match="CheckpointOptions.every must be a positive integer"):
        CheckpointOptions("c.ckpt", every=every)


def test_save_is_atomic_and_replaces(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "c.ckpt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    assert os.listdir(path.parent) == ["c.ckpt"] and load_checkpoint(path)["epoch"] == 2

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(durable.os, "fsync", boom)  # the new bytes are written, not yet in place
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 3})
    assert os.listdir(path.parent) == ["c.ckpt"] and load_checkpoint(path)["epoch"] == 2


def test_save_removes_stale_temporaries_of_that_checkpoint_and_keeps_fresh_ones(tmp_path):
    """A kill -9 mid-save leaves a hidden temporary; the next save of that checkpoint deletes it once it is
    over 10 minutes old, and keeps a younger one (a concurrent writer) and those of other checkpoints."""
    stale, fresh, other = (tmp_path / f".{name}.tmp" for name in ("c.ckpt.lv13k62x", "c.ckpt.fresh000", "d.ckpt.abcd1234"))
    for f in (stale, fresh, other):
        f.write_bytes(b"partial checkpoint")
    old = time.time() - durable.STALE_TEMP_S - 60
    for f in (stale, other):
        os.utime(f, (old, old))
    save_checkpoint(tmp_path / "c.ckpt", {"epoch": 1})
    assert sorted(os.listdir(tmp_path)) == sorted(["c.ckpt", fresh.name, other.name])


def test_rng_states_round_trip():
    torch_gen, np_gen = torch.Generator().manual_seed(3), np.random.default_rng(4)
    np.random.seed(7)
    state = capture_rng(torch_gen, np_gen)

    def draws():
        return (torch.rand(3, generator=torch_gen).tolist(), np_gen.random(3).tolist(), random.random(),
                np.random.random(), torch.rand(1).item())

    first = draws()
    restore_rng(state, torch_gen, np_gen)
    assert draws() == first


def test_unwritable_checkpoint_directory_fails_before_training(tmp_path):
    model, X, y, kw = _setup()
    (tmp_path / "a_file").write_text("")
    before = _state(model)
    with pytest.raises(CheckpointError, match="cannot create the directory of checkpoint .*writable place"):
        fit(model, X, y, **kw, checkpoint=CheckpointOptions(tmp_path / "a_file" / "c.ckpt"))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("bad", ["corrupt", "other_run"])
def test_discard_bad_checkpoint_trains_from_scratch_with_a_warning(tmp_path, bad):
    model, X, y, kw = _setup()
    ref_hist = fit(model, X, y, **kw)
    ref = _state(model)
    ckpt = tmp_path / "c.ckpt"
    if bad == "corrupt":
        ckpt.write_bytes(b"not a checkpoint at all")
    else:
        fit(_setup()[0], X, y, **{**kw, "lr": 0.2}, checkpoint=CheckpointOptions(ckpt))
    fresh, *_ = _setup()
    with pytest.warns(UserWarning, match=r"c.ckpt (does not match|.*bad header|was written by a different run).*"
                                         r"discarding it and training from scratch"):
        hist = fit(fresh, X, y, **kw, checkpoint=CheckpointOptions(ckpt, discard_bad=True))
    assert hist.resumed_from == 0 and hist.records == ref_hist.records
    assert all(torch.equal(a, ref[k]) for k, a in fresh.state_dict().items())
    assert load_checkpoint(ckpt)["epoch"] == 6  # replaced by this run's own


def test_resume_restores_the_cosine_schedule(tmp_path):
    """Resuming from a checkpoint also restores the learning-rate schedule (cosine annealing)."""
    g = torch.Generator().manual_seed(3)
    y = (torch.arange(40) % 2).double()
    X = torch.randn(40, 3, generator=g, dtype=torch.float64) + y[:, None]
    full = build_model("tanh_mlp", 3, hidden=8, generator=torch.Generator().manual_seed(4))
    fit(full, X, y, alpha=1.0, lr=0.3, seed=7, batch_size=10, lr_schedule="cosine", progress=False, epochs=12)
    # The same run interrupted (by an exception from a hook) after its epoch-4 checkpoint, then rerun.
    path = tmp_path / "ckpt.pt"

    class Stop(Exception):
        pass

    def stop_after_5(epoch, model):
        if epoch == 5:
            raise Stop

    model = build_model("tanh_mlp", 3, hidden=8, generator=torch.Generator().manual_seed(4))
    try:
        fit(model, X, y, alpha=1.0, lr=0.3, seed=7, batch_size=10, lr_schedule="cosine", progress=False,
            checkpoint=CheckpointOptions(path), epochs=12, hooks=[stop_after_5])
    except Stop:
        pass
    assert path.exists()
    resumed = build_model("tanh_mlp", 3, hidden=8, generator=torch.Generator().manual_seed(4))
    hist = fit(resumed, X, y, alpha=1.0, lr=0.3, seed=7, batch_size=10, lr_schedule="cosine", progress=False,
               checkpoint=CheckpointOptions(path), epochs=12)
    assert hist.resumed_from >= 4
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)

