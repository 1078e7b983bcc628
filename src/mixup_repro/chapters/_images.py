"""What the image chapters share: loading a train/test pair, the models, the ERM/mixup runs, the autocast policy.

Figures 1b/5-8 (``generalization_gap``) and Figure 3 (``fig3_training_error``) train the same way; Figure 1a
(``fig1a_fgsm``) shares the autocast policy.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..data.images import ImageDataset, channel_stats, load_image_dataset
from ..runs import derive_seed, fit
from ..train import DeviceOptions, resolve_device
from ..vision_models import build_vision_model

__all__ = ["METRICS", "autocast_dtype", "image_runs", "load_pair", "method_name"]

#: Per-epoch metrics recorded for every image run (clean = unmixed training data, eval mode).
METRICS = ("train_loss_clean", "train_err_clean", "test_loss", "test_err", "mixup_loss")


def method_name(alpha: float) -> str:
    """``ERM`` for alpha = 0, else ``mixup a=<alpha>``."""
    return "ERM" if alpha == 0 else f"mixup a={alpha:g}"


def autocast_dtype(bf16: bool, device) -> torch.dtype | None:
    """bfloat16 when ``bf16`` is asked for and training runs on CUDA; else None (float32).

    On a CPU without bf16 units autocast is emulated and some hundred times slower, so the GPU setting of the
    ``paper`` profile is ignored there, with a warning.
    """
    if not bf16:
        return None
    if resolve_device(device).type != "cuda":
        warnings.warn("bf16 autocast is for CUDA; training in float32 on the CPU", stacklevel=3)
        return None
    return torch.bfloat16


def load_pair(name: str, n_train: int, n_test: int, data_dir: str, seed: int, download: bool = False,
              dtype: str = "float32") -> tuple[ImageDataset, ImageDataset]:
    """(train, test) ImageDatasets with images in ``dtype``; sizes 0 mean all; ``fake`` gets small 1x8x8 images.

    The models of :func:`image_runs` take the dtype of the training images.
    """
    kw = {"data_dir": data_dir or None, "fake_shape": (1, 8, 8), "seed": seed, "download": download}
    train = load_image_dataset(name, "train", n=n_train or None, fake_size=n_train or 256, **kw)
    test = load_image_dataset(name, "test", n=n_test or None, fake_size=n_test or 256, **kw)
    return train.astype(getattr(torch, dtype)), test.astype(getattr(torch, dtype))


def _image_model(name: str, train: ImageDataset, hidden: int, seed: int) -> torch.nn.Module:
    mean, std = channel_stats(train.X)
    return build_vision_model(name, train.shape, train.num_classes, generator=torch.Generator().manual_seed(seed),
                              mean=mean, std=std, hidden=(hidden,)).to(train.X.dtype)


def image_runs(train: ImageDataset, test: ImageDataset, model: str, alphas, n_seeds: int, base_seed: int, *,
               epochs: int, batch_size: int, lr: float, momentum: float, weight_decay: float, lr_schedule: str,
               hidden: int, device: str, bf16: bool, compile: bool, progress: bool, label: str,
               eval_fp32: bool = False) -> dict[str, np.ndarray]:
    """Train ``model`` with each alpha (0 = ERM) and seed; arrays ``{alpha}.{metric}`` of shape (seeds, epochs + 1).

    Seed ``s`` gives every method the same initial weights, in the dtype of ``train.X``; ``eval_fp32``: evaluate every epoch without
    autocast even when training in bf16 (0-1 errors not at bf16 resolution).
    """
    out: dict[str, np.ndarray] = {}
    for k, alpha in enumerate(alphas):
        rows: dict[str, list] = {m: [] for m in METRICS}
        for s in range(n_seeds):
            net = _image_model(model, train, hidden, derive_seed(base_seed, s))
            hist = fit(net, train.X, train.y, alpha=alpha, epochs=epochs, lr=lr, seed=derive_seed(base_seed, 100 * k + s),
                       loss="cross_entropy", batch_size=min(batch_size, train.n), momentum=momentum,
                       weight_decay=weight_decay, lr_schedule=lr_schedule, X_test=test.X, y_test=test.y,
                       device=DeviceOptions(device=device, autocast_dtype=autocast_dtype(bf16, device),
                                            eval_autocast=not eval_fp32, compile=compile),
                       progress=f"{label} {method_name(alpha)} seed {s}" if progress else False)
            for m in METRICS:
                rows[m].append(hist.column(m))
        for m in METRICS:
            out[f"{alpha:g}.{m}"] = np.array(rows[m])
    return out
