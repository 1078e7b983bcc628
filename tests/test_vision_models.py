"""Image models: shapes, determinism from the generator, Normalize, BatchNorm in eval mode, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mixup_repro import attacks
from mixup_repro.data.images import channel_stats, fake_image_dataset
from mixup_repro.train import DeviceOptions, evaluate, fit, resolve_device
from mixup_repro.vision_models import VISION_MODELS, Normalize, build_vision_model


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name, shape", [("mlp", (1, 28, 28)), ("cnn", (1, 28, 28)), ("cnn", (3, 32, 32)),
                                         ("wrn16_8", (3, 32, 32)), ("preact_resnet18", (3, 32, 32))])
def test_forward_shape_and_determinism(name, shape):
    x = torch.rand(2, *shape, generator=_gen(5))
    model = build_vision_model(name, shape, 7, generator=_gen(0)).eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    same = build_vision_model(name, shape, 7, generator=_gen(0))
    torch.manual_seed(99)  # the global RNG plays no part
    again = build_vision_model(name, shape, 7, generator=_gen(0))
    other = build_vision_model(name, shape, 7, generator=_gen(1))
    assert all(torch.equal(a, b) for a, b in zip(_params(model), _params(same)))
    assert all(torch.equal(a, b) for a, b in zip(_params(model), _params(again)))
    assert not all(torch.equal(a, b) for a, b in zip(_params(model), _params(other)))


def test_wrn16_8_architecture():
    model = build_vision_model("wrn16_8", (3, 32, 32), 10, generator=_gen(0))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    # depth 16 = 1 stem conv + 3 groups x 2 blocks x 2 convs + the classifier (+ 1x1 shortcuts, not counted)
    assert len(convs) == 13 and model.fc.in_features == 512
    assert {c.out_channels for c in convs} == {16, 128, 256, 512}
    assert 10.9e6 < sum(p.numel() for p in model.parameters()) < 11.1e6  # WRN-16-8 has about 11.0 M


def test_preact_resnet18_parameter_count():
    model = build_vision_model("preact_resnet18", (3, 32, 32), 10, generator=_gen(0))
    assert 11.1e6 < sum(p.numel() for p in model.parameters()) < 11.2e6  # as in the reference mixup code


def test_normalize_is_the_first_layer_and_matches_its_formula():
    data = fake_image_dataset(32, (3, 6, 6), 4, seed=0)
    mean, std = channel_stats(data.X)
    model = build_vision_model("mlp", (3, 6, 6), 4, generator=_gen(0), mean=mean, std=std, hidden=(8,))
    assert isinstance(model[0], Normalize)
    z = model[0](data.X)
    ref = (data.X.double() - torch.tensor(mean).reshape(1, 3, 1, 1)) / torch.tensor(std).reshape(1, 3, 1, 1)
    torch.testing.assert_close(z.double(), ref, rtol=1e-6, atol=1e-6)
    assert abs(float(z.mean())) < 1e-5
    # No trainable parameters in Normalize: mean and std are buffers that travel with .to(device).
    assert not list(model[0].parameters()) and len(list(model[0].buffers())) == 2


def test_batchnorm_models_attack_in_eval_mode_and_keep_running_stats():
    """Attacks must not update BatchNorm statistics (a common fault: BN left in train mode)."""
    data = fake_image_dataset(4, (3, 32, 32), 10, seed=0)
    model = build_vision_model("wrn16_8", (3, 32, 32), 10, generator=_gen(0)).train()
    stats = [b.clone() for b in model.buffers()]
    x_adv = attacks.fgsm(model, data.X, data.y, 8 / 255)
    assert model.training and all(torch.equal(a, b) for a, b in zip(stats, model.buffers()))
    assert float((x_adv - data.X).abs().max()) <= 8 / 255 + 1e-7


def test_fake_data_training_path_learns():
    """The paper profile's code path (cross-entropy, minibatches, cosine schedule, Normalize) on fake data."""
    train = fake_image_dataset(256, (3, 8, 8), 4, seed=0)
    test = fake_image_dataset(128, (3, 8, 8), 4, seed=0, split="test")
    mean, std = channel_stats(train.X)
    model = build_vision_model("cnn", (3, 8, 8), 4, generator=_gen(0), mean=mean, std=std)
    hist = fit(model, train.X, train.y, alpha=1.0, epochs=3, lr=0.05, momentum=0.9, seed=0, loss="cross_entropy",
               batch_size=64, X_test=test.X, y_test=test.y, progress=False, device=DeviceOptions(device="auto"),
               lr_schedule="cosine")
    assert hist.column("test_err")[-1] < 0.2 < hist.column("test_err")[0]
    assert next(model.parameters()).device == resolve_device("auto")
    _, err = evaluate(model, test.X, test.y, "cross_entropy")
    assert err == pytest.approx(hist.column("test_err")[-1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="resnet50"), r"unknown vision model 'resnet50'; choose one of mlp, cnn, wrn16_8, preact_resnet18"),
    (dict(in_shape=(3, 32)), r"in_shape must be \(C, H, W\) with positive sizes"),
    (dict(num_classes=1), r"num_classes must be >= 2, got 1"),
    (dict(mean=(0.5,)), r"give both mean and std"),
    (dict(mean=(0.5,), std=(0.2,)), r"mean/std have 1 channels but in_shape has 3"),
    (dict(mean=(0.5, 0.5, 0.5), std=(0.2, 0.0, 0.2)), r"std must be positive per channel"),
])
def test_build_vision_model_errors(kwargs, match):
    args = dict(name="mlp", in_shape=(3, 32, 32), num_classes=10) | kwargs
    with pytest.raises(ValueError, match=match):
        build_vision_model(args.pop("name"), args.pop("in_shape"), args.pop("num_classes"), generator=_gen(0), **args)


def test_normalize_and_wrn_errors():
    with pytest.raises(ValueError, match=r"mean and std need one value per channel, got 2 and 1"):
        Normalize((0.1, 0.2), (1.0,))
    from mixup_repro.vision_models import WideResNet

    with pytest.raises(ValueError, match=r"WRN depth must be 6 N \+ 4"):
        WideResNet((3, 32, 32), 10, depth=15)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"unknown device 'gpu0'; use 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device("gpu0")


def test_vision_models_listed():
    assert VISION_MODELS == ("mlp", "cnn", "wrn16_8", "preact_resnet18")


def test_fit_cosine_schedule_autocast_and_errors():
    train = fake_image_dataset(64, (1, 4, 4), 3, seed=0)
    model = build_vision_model("mlp", (1, 4, 4), 3, generator=_gen(0), hidden=(8,))
    seen = []

    def lr_probe(epoch, m):
        return None

    hist = fit(model, train.X, train.y, alpha=0.0, epochs=2, lr=0.1, seed=0, loss="cross_entropy", batch_size=32,
               progress=False, lr_schedule="cosine", device=DeviceOptions(autocast_dtype=torch.bfloat16),
               hooks=[lr_probe])
    assert len(hist.records) == 3 and next(model.parameters()).dtype == torch.float32
    # Constant schedule and no device: the model stays where it was and trains as before this option existed.
    a = build_vision_model("mlp", (1, 4, 4), 3, generator=_gen(0), hidden=(8,))
    b = build_vision_model("mlp", (1, 4, 4), 3, generator=_gen(0), hidden=(8,))
    fit(a, train.X, train.y, alpha=1.0, epochs=2, lr=0.1, seed=0, loss="cross_entropy", batch_size=32, progress=False)
    fit(b, train.X, train.y, alpha=1.0, epochs=2, lr=0.1, seed=0, loss="cross_entropy", batch_size=32, progress=False,
        device=DeviceOptions(device="cpu"), lr_schedule="constant")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # Cosine with one epoch: the first (and only) epoch uses lr, so it equals constant for one epoch.
    c = build_vision_model("mlp", (1, 4, 4), 3, generator=_gen(0), hidden=(8,))
    d = build_vision_model("mlp", (1, 4, 4), 3, generator=_gen(0), hidden=(8,))
    fit(c, train.X, train.y, alpha=0.0, epochs=1, lr=0.1, seed=0, loss="cross_entropy", batch_size=32, progress=False)
    fit(d, train.X, train.y, alpha=0.0, epochs=1, lr=0.1, seed=0, loss="cross_entropy", batch_size=32, progress=False,
        lr_schedule="cosine")
    assert all(torch.equal(p, q) for p, q in zip(c.parameters(), d.parameters()))
    with pytest.raises(ValueError, match=r"unknown lr_schedule 'step'; choose one of \('constant', 'cosine'\)"):
        fit(model, train.X, train.y, alpha=0.0, epochs=1, lr=0.1, seed=0, loss="cross_entropy", lr_schedule="step")
    assert not seen
