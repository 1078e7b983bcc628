"""chapters/_images.py: what the image chapters share (the autocast policy, the data pair, the runs)."""

from __future__ import annotations

import pytest
import torch

from mixup_repro.chapters._images import autocast_dtype, image_runs, load_pair, method_name


def test_bf16_is_used_on_cuda_only():
    """The paper profile's bf16 setting must not turn a CPU run into emulated (very slow) bf16."""
    assert autocast_dtype(False, "cpu") is None
    with pytest.warns(UserWarning, match="bf16 autocast is for CUDA; training in float32 on the CPU"):
        assert autocast_dtype(True, "cpu") is None
    if torch.cuda.is_available():
        assert autocast_dtype(True, "cuda") is torch.bfloat16


def test_every_method_of_a_seed_starts_from_the_same_weights():
    train, test = load_pair("fake", 32, 16, "", seed=0)
    assert train.shape == (1, 8, 8) and (train.n, test.n) == (32, 16)
    runs = image_runs(train, test, "mlp", (0.0, 1.0), 2, 5, epochs=1, batch_size=16, lr=0.1, momentum=0.0,
                      weight_decay=0.0, lr_schedule="constant", hidden=8, device="cpu", bf16=False, compile=False,
                      progress=False, label="fake")
    assert sorted(runs) == sorted(f"{a}.{m}" for a in ("0", "1") for m in ("train_loss_clean", "train_err_clean",
                                                                          "test_loss", "test_err", "mixup_loss"))
    assert runs["0.test_loss"].shape == (2, 2)
    # epoch 0 is the initial model: the same for ERM and mixup of one seed, different between the seeds
    assert runs["0.test_loss"][:, 0].tolist() == runs["1.test_loss"][:, 0].tolist()
    assert runs["0.test_loss"][0, 0] != runs["0.test_loss"][1, 0]
    assert method_name(0.0) == "ERM" and method_name(0.2) == "mixup a=0.2"
