"""The CUDA path of train.fit, on a GPU (skipped without one; CI has none).

Run on a GPU machine with ``pytest tests/test_cuda.py -o addopts=""`` (from a checkout without the package
installed: ``PYTHONPATH=src``). What the CPU tests cannot see: the partner permutation drawn from a CUDA
generator, data kept on the device against a pinned-memory loader with workers, cuDNN determinism (also for
BatchNorm nets, the paper's PreAct ResNet-18), bf16 autocast with channels_last, resuming a CUDA run from a
checkpoint, and PGD's random starts drawn from a CUDA generator.
"""

from __future__ import annotations

import os

import pytest
import torch

from mixup_repro.attacks import pgd
from mixup_repro.checkpoint import CheckpointOptions
from mixup_repro.train import DeviceOptions, _cudnn_mode, fit
from mixup_repro.vision_models import build_vision_model

#: MIXUP_REPRO_TEST_DEVICE=cpu runs these tests on the CPU, to check the tests themselves without a GPU.
DEVICE = os.environ.get("MIXUP_REPRO_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")

#: per model: (training images, batch size); PreAct ResNet-18 is kept small so the CPU self-check stays short.
SIZES = {"cnn": (512, 64), "preact_resnet18": (128, 32)}


def _data(n=512, learnable=False):
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    if learnable:  # classes a small net can tell apart: half noise, half a coarse colour pattern of the class
        patterns = torch.nn.functional.interpolate(torch.rand(10, 3, 4, 4, generator=g), size=(32, 32))
        X = 0.5 * X + 0.5 * patterns[y]
    return X, y


def _run(model_name="cnn", learnable=False, epochs=2, checkpoint=None, hooks=(), **device_options):
    """A mixup run on DEVICE; ``device_options`` are fields of DeviceOptions."""
    n, bs = SIZES[model_name]
    X, y = _data(n, learnable)
    net = build_vision_model(model_name, (3, 32, 32), 10, generator=torch.Generator().manual_seed(1), hidden=(64,))
    hist = fit(net, X, y, alpha=1.0, epochs=epochs, lr=0.05, seed=3, loss="cross_entropy", batch_size=bs,
               momentum=0.9, X_test=X[: n // 4], y_test=y[: n // 4], progress=False, hooks=hooks,
               checkpoint=checkpoint, device=DeviceOptions(device=DEVICE, **device_options))
    return torch.cat([p.detach().flatten().cpu() for p in net.parameters()]), hist


@pytest.mark.parametrize("model_name", list(SIZES))
def test_same_seed_same_weights_on_the_gpu(model_name):
    a, ha = _run(model_name)
    b, hb = _run(model_name)
    assert torch.equal(a, b) and ha.records == hb.records


def test_data_on_device_and_pinned_workers_train_the_same_model():
    on_device, h0 = _run(data_on_device=True)
    workers, h1 = _run(data_on_device=False, loader_workers=2)
    assert torch.equal(on_device, workers) and h0.records == h1.records


@pytest.mark.skipif(DEVICE != "cuda", reason="on the CPU the data never sit on a GPU")
def test_workers_are_ignored_while_the_data_sit_on_the_gpu():
    default, h0 = _run()  # the data fit: they are copied to the GPU
    with pytest.warns(UserWarning, match="loader_workers=2 ignored: the training data are on cuda"):
        asked, h1 = _run(loader_workers=2)
    assert torch.equal(default, asked) and h0.records == h1.records


class _ConvInputs:
    """A global forward pre-hook noting, per convolution in training mode, whether autocast was on and its input
    channels_last."""

    def __init__(self):
        self.calls: list[tuple[bool, bool]] = []

    def __call__(self, module, args):
        if module.training and isinstance(module, torch.nn.Conv2d):
            x = args[0]
            self.calls.append((torch.is_autocast_enabled(x.device.type),
                               x.is_contiguous(memory_format=torch.channels_last)))


def test_bf16_channels_last_learns_like_float32():
    """On labels the net can learn, bf16 + channels_last lowers the clean training loss as much as float32 does
    (within 15%), and the training forward passes really ran under autocast on channels_last inputs."""
    fp32, h0 = _run(learnable=True, epochs=8, channels_last=False)
    probe = _ConvInputs()
    handle = torch.nn.modules.module.register_module_forward_pre_hook(probe)
    try:
        fast, h1 = _run(learnable=True, epochs=8, autocast_dtype=torch.bfloat16, channels_last=True)
    finally:
        handle.remove()
    drop32 = h0.records[0]["train_loss_clean"] - h0.records[-1]["train_loss_clean"]
    drop16 = h1.records[0]["train_loss_clean"] - h1.records[-1]["train_loss_clean"]
    assert drop32 > 0.5, f"float32 did not learn (loss drop {drop32:.3f}): the test data are too hard"
    assert drop16 == pytest.approx(drop32, rel=0.15)
    assert torch.isfinite(fast).all()
    if DEVICE == "cuda":  # CPU autocast is another code path; this checks the GPU one
        assert probe.calls and all(autocast for autocast, _ in probe.calls)
        assert all(cl for _, cl in probe.calls)


@pytest.mark.parametrize("model_name", list(SIZES))
def test_resume_on_the_gpu_is_the_uninterrupted_run(tmp_path, model_name):
    full, hf = _run(model_name, epochs=4)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        _run(model_name, epochs=4, checkpoint=CheckpointOptions(ckpt, every=1), hooks=[_StopAfter(2)])
    resumed, hr = _run(model_name, epochs=4, checkpoint=CheckpointOptions(ckpt, every=1))
    assert hr.resumed_from == 2
    assert torch.equal(full, resumed) and hf.records == hr.records


def test_pgd_with_a_gpu_generator_is_reproducible_and_stays_in_the_ball():
    X, y = _data(64)
    net = build_vision_model("cnn", (3, 32, 32), 10, generator=torch.Generator().manual_seed(1)).to(DEVICE).eval()
    X, y = X.to(DEVICE), y.to(DEVICE)
    eps = 8 / 255

    def attack():  # under deterministic cuDNN, as Figure 1a runs its attacks
        gen = torch.Generator(device=DEVICE).manual_seed(7)
        with _cudnn_mode(DEVICE == "cuda", True):
            return pgd(net, X, y, eps, eps / 4, 5, restarts=2, generator=gen)

    a, b = attack(), attack()
    assert torch.equal(a, b)
    delta = (a - X).abs().amax()
    assert 0 < delta <= eps + 1e-6 and a.min() >= 0 and a.max() <= 1


@pytest.mark.skipif(DEVICE != "cuda", reason="host-device synchronisation exists only with a GPU")
@pytest.mark.parametrize("lam", [None, 0.3, "per_sample"])
def test_a_training_step_never_waits_for_the_gpu(lam):
    """ERM and mixup steps (one lam per batch or per example, partners drawn on the GPU) make no host-device
    synchronisation: with CUDA's sync debug mode set to "error", any would raise."""
    from mixup_repro.train import train_step

    X, y = (t.to(DEVICE) for t in _data(64))
    net = build_vision_model("cnn", (3, 32, 32), 10, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    lam_arg = torch.rand(64, dtype=torch.float64).numpy() if lam == "per_sample" else lam
    train_step(net, opt, X, y, loss="cross_entropy")  # first step: lazy CUDA initialisation may synchronise
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            perm = None if lam is None else torch.randperm(64, generator=gen, device=DEVICE)
            obj = train_step(net, opt, X, y, loss="cross_entropy", lam=lam_arg, perm=perm)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert obj.device.type == "cuda" and torch.isfinite(obj)


class _StopAfter:
    """A hook that interrupts training during the epoch after ``epoch``, whose checkpoint is then the last one."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def __call__(self, epoch, model):
        if epoch == self.epoch + 1:
            raise KeyboardInterrupt
        return None
