"""The CUDA path of train.fit, on a GPU (skipped without one; CI has none).

Run on a GPU machine with ``pytest tests/test_cuda.py -o addopts=""``. What the CPU tests cannot see: the
partner permutation drawn from a CUDA generator, data kept on the device against a pinned-memory loader with
workers, cuDNN determinism, bf16 autocast with channels_last, and resuming a CUDA run from a checkpoint.
"""

from __future__ import annotations

import os

import pytest
import torch

from mixup_repro.train import fit
from mixup_repro.vision_models import build_vision_model

#: MIXUP_REPRO_TEST_DEVICE=cpu runs these tests on the CPU, to check the tests themselves without a GPU.
DEVICE = os.environ.get("MIXUP_REPRO_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _data(n=512):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def _run(model_name="cnn", **kwargs):
    X, y = _data()
    net = build_vision_model(model_name, (3, 32, 32), 10, generator=torch.Generator().manual_seed(1), hidden=(64,))
    args = dict(alpha=1.0, epochs=2, lr=0.05, seed=3, loss="cross_entropy", batch_size=64, momentum=0.9,
                X_test=X[:128], y_test=y[:128], progress=False, device=DEVICE)
    args.update(kwargs)
    hist = fit(net, X, y, **args)
    return torch.cat([p.detach().flatten().cpu() for p in net.parameters()]), hist


def test_same_seed_same_weights_on_the_gpu():
    a, ha = _run()
    b, hb = _run()
    assert torch.equal(a, b) and ha.records == hb.records


def test_data_on_device_and_pinned_workers_train_the_same_model():
    on_device, h0 = _run(data_on_device=True)
    workers, h1 = _run(data_on_device=False, loader_workers=2)
    assert torch.equal(on_device, workers) and h0.records == h1.records


def test_bf16_channels_last_stays_close_to_float32():
    fp32, h0 = _run(channels_last=False)
    fast, h1 = _run(autocast_dtype=torch.bfloat16, channels_last=True)
    assert h1.records[-1]["train_loss_clean"] == pytest.approx(h0.records[-1]["train_loss_clean"], rel=0.05)
    assert torch.isfinite(fast).all()


def test_resume_on_the_gpu_is_the_uninterrupted_run(tmp_path):
    full, hf = _run(epochs=4)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        _run(epochs=4, checkpoint_path=ckpt, checkpoint_every=1, hooks=[_StopAfter(2)])
    resumed, hr = _run(epochs=4, checkpoint_path=ckpt, checkpoint_every=1)
    assert hr.resumed_from == 2
    assert torch.equal(full, resumed) and hf.records == hr.records


class _StopAfter:
    """A hook that interrupts training during the epoch after ``epoch``, whose checkpoint is then the last one."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def __call__(self, epoch, model):
        if epoch == self.epoch + 1:
            raise KeyboardInterrupt
        return None
