"""Image classifiers that take [0, 1] inputs: normalisation is their first layer.

- ``mlp``: flatten, ReLU MLP (the ``cpu`` profile on Fashion-MNIST).
- ``cnn``: two conv-ReLU-maxpool blocks and a ReLU head (a small CNN).
- ``wrn16_8``: Wide ResNet-16-8 (Zagoruyko & Komodakis, 2016), the paper's SVHN model (Fig. 1a).
- ``preact_resnet18``: pre-activation ResNet-18 (He et al., 2016b), the reference mixup code's CIFAR model.

The two ResNets use BatchNorm, as in their papers. Attacks and evaluation run them in eval mode
(:mod:`mixup_repro.attacks` and :func:`mixup_repro.train.evaluate` switch it on and restore the mode), so a
test batch never changes the running statistics and examples never interact. Initialisation draws only
from the generator passed in, so a model is a function of its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .models import uniform_exact_

__all__ = ["VISION_MODELS", "Normalize", "ImageMLP", "SmallCNN", "WideResNet", "PreActResNet18",
           "build_vision_model", "init_vision_from_generator"]

VISION_MODELS = ("mlp", "cnn", "wrn16_8", "preact_resnet18")


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, for inputs (n, C, H, W) in [0, 1]; the model's first layer."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        if len(mean) != len(std) or not mean:
            raise ValueError(f"mean and std need one value per channel, got {len(mean)} and {len(std)}")
        if any(not s > 0 for s in std):
            raise ValueError(f"std must be positive per channel, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ImageMLP(nn.Module):
    """Flatten, then ``d -> hidden... -> num_classes`` with ReLU."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, hidden: tuple[int, ...] = (256,)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(in_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """conv3x3(32)-ReLU-maxpool, conv3x3(64)-ReLU-maxpool, linear(128)-ReLU, linear(classes). No BatchNorm."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, width: int = 32):
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 128), nn.ReLU(),
                                  nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _WideBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 with an identity or 1x1-conv shortcut (WRN basic block)."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.shortcut = None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        # The projection shortcut takes the pre-activated input, as in the reference WRN code.
        short = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        o = F.relu(self.bn2(o))
        if self.dropout:
            o = F.dropout(o, self.dropout, self.training)
        return self.conv2(o) + short


class WideResNet(nn.Module):
    """WRN-depth-k (Zagoruyko & Komodakis, 2016): depth = 6 N + 4, widths 16, 16k, 32k, 64k."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, depth: int = 16, widen: int = 8,
                 dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6 N + 4 (e.g. 16, 22, 28), got {depth}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv = nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for g, (c_out, stride) in enumerate(zip(widths[1:], (1, 2, 2))):
            for b in range(n):
                blocks.append(_WideBlock(c_in, c_out, stride if b == 0 else 1, dropout))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(o, 1).flatten(1))


class _PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity or 1x1-conv shortcut (He et al., 2016b)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        return self.conv2(F.relu(self.bn2(o))) + short


class PreActResNet18(nn.Module):
    """Pre-activation ResNet-18 as in the reference mixup code (facebookresearch/mixup-cifar10)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(in_shape[0], 64, 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        c_in = 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_PreActBlock(c_in, c_out, stride), _PreActBlock(c_out, c_out, 1)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(512)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(o, 1).flatten(1))


def init_vision_from_generator(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise every layer from ``generator`` alone (PyTorch's own init uses the global RNG).

    Convolutions: Kaiming normal with fan-out (the WRN / ResNet convention); linear layers and their biases:
    PyTorch's default uniform(+/- 1/sqrt(fan_in)), drawn the same way on every CPU
    (:func:`mixup_repro.models.uniform_exact_`; the normal draws of the convolutions may differ by a rounding on a
    CPU without AVX2); BatchNorm: weight 1, bias 0.
    """
    for layer in module.modules():
        with torch.no_grad():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                if layer.bias is not None:
                    uniform_exact_(layer.bias, 1.0 / math.sqrt(layer.weight[0].numel()), generator)
            elif isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                uniform_exact_(layer.weight, bound, generator)
                if layer.bias is not None:
                    uniform_exact_(layer.bias, bound, generator)
            elif isinstance(layer, nn.BatchNorm2d):
                layer.reset_parameters()
    return module


def build_vision_model(name: str, in_shape: tuple[int, int, int], num_classes: int, *,
                       generator: torch.Generator, mean: tuple[float, ...] | None = None,
                       std: tuple[float, ...] | None = None, hidden: tuple[int, ...] = (256,)) -> nn.Module:
    """An image classifier by name (``VISION_MODELS``) mapping [0, 1] inputs (n, C, H, W) to logits (n, classes).

    Args:
        name: ``mlp``, ``cnn``, ``wrn16_8`` or ``preact_resnet18``.
        in_shape: (C, H, W). num_classes: number of classes (>= 2).
        generator: the only source of the initial weights.
        mean, std: per-channel statistics of the training inputs (:func:`mixup_repro.data.images.channel_stats`);
            when given, a :class:`Normalize` layer comes first. Both or neither.
        hidden: hidden widths of ``mlp``.
    """
    if len(in_shape) != 3 or any(int(s) < 1 for s in in_shape):
        raise ValueError(f"in_shape must be (C, H, W) with positive sizes, got {in_shape!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (a Normalize layer) or neither")
    in_shape = tuple(int(s) for s in in_shape)
    if name == "mlp":
        body: nn.Module = ImageMLP(in_shape, num_classes, tuple(hidden))
    elif name == "cnn":
        body = SmallCNN(in_shape, num_classes)
    elif name == "wrn16_8":
        body = WideResNet(in_shape, num_classes, depth=16, widen=8)
    elif name == "preact_resnet18":
        body = PreActResNet18(in_shape, num_classes)
    else:
        raise ValueError(f"unknown vision model {name!r}; choose one of {', '.join(VISION_MODELS)}")
    init_vision_from_generator(body, generator)
    if mean is None:
        return body
    if len(mean) != in_shape[0]:
        raise ValueError(f"mean/std have {len(mean)} channels but in_shape has {in_shape[0]}")
    return nn.Sequential(Normalize(mean, std), body)
