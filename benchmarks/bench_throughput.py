"""Training throughput (images/s) of the paper's models, ERM and mixup steps, on CPU or GPU.

For each model, times ``--steps`` SGD steps (after ``--warmup`` untimed ones) on one fixed batch of
random [0, 1] images kept on the device with :func:`mixup_repro.train.train_step`, the step of
:func:`mixup_repro.train.fit`: once ERM (plain cross-entropy) and once mixup (partner permutation drawn on the
device, lam ~ Beta(1, 1), two-term cross-entropy). Prints images/s, the mixup/ERM time ratio, and what that throughput means for one
epoch of the dataset each model is used on in the ``paper`` profile. Timing: ``time.perf_counter``
around the steps, with ``torch.cuda.synchronize()`` on GPU.

    python benchmarks/bench_throughput.py                                  # CPU, small step counts
    python benchmarks/bench_throughput.py --device cuda --bf16 --channels-last --batch 512 --steps 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mixup_repro.mixing import sample_lambda
from mixup_repro.train import train_step
from mixup_repro.vision_models import build_vision_model

# model -> (input shape, classes, dataset it trains on in the paper profile, training images per epoch)
SETTINGS = {
    "wrn16_8": ((3, 32, 32), 10, "SVHN", 73_257),
    "preact_resnet18": ((3, 32, 32), 10, "CIFAR-10", 50_000),
    "cnn": ((1, 28, 28), 10, "Fashion-MNIST", 60_000),
    "mlp": ((1, 28, 28), 10, "Fashion-MNIST", 60_000),
}


def _steps(model, x, y, method: str, steps: int, warmup: int, device: torch.device, bf16: bool) -> float:
    """Seconds per training step (mean over ``steps`` after ``warmup``)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator(device=device).manual_seed(0)  # partners drawn on the device, as train.fit does
    rng = np.random.default_rng(0)
    model.train()

    def step() -> None:
        lam, perm = None, None
        if method == "mixup":
            lam = float(sample_lambda(1.0, 1.0, (), rng))
            perm = torch.randperm(x.shape[0], generator=gen, device=device)
        train_step(model, opt, x, y, loss="cross_entropy", lam=lam, perm=perm,
                   autocast_dtype=torch.bfloat16 if bf16 else None)

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    ap.add_argument("--models", default="wrn16_8,preact_resnet18,cnn,mlp")
    ap.add_argument("--batch", type=int, default=None, help="default: 512 on GPU, 64 on CPU")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 50 on GPU, 3 on CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on GPU, 1 on CPU)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass")
    ap.add_argument("--channels-last", action="store_true", help="channels_last memory format (conv nets)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model first")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    gpu = device.type == "cuda"
    batch = args.batch or (512 if gpu else 64)
    steps = args.steps or (50 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    if gpu:
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; batch {batch}; {steps} timed steps after {warmup}; "
          f"bf16 {args.bf16}; channels_last {args.channels_last}; compile {args.compile}")
    print(f"{'model':<16} {'ERM img/s':>11} {'mixup img/s':>12} {'mixup/ERM':>10}  epoch of the paper-profile dataset")
    for model_name in args.models.split(","):
        shape, classes, dataset, n_train = SETTINGS[model_name]
        g = torch.Generator().manual_seed(0)
        x = torch.rand((batch, *shape), generator=g).to(device)
        y = torch.randint(0, classes, (batch,), generator=g).to(device)
        times = {}
        for method in ("erm", "mixup"):
            model = build_vision_model(model_name, shape, classes, generator=torch.Generator().manual_seed(1)).to(device)
            if args.channels_last and len(shape) == 3:
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            if args.compile:
                model = torch.compile(model)
            times[method] = _steps(model, x, y, method, steps, warmup, device, args.bf16)
        erm, mix = batch / times["erm"], batch / times["mixup"]
        print(f"{model_name:<16} {erm:>11.0f} {mix:>12.0f} {times['mixup'] / times['erm']:>10.3f}  "
              f"{dataset} ({n_train:,} images): {n_train / mix:.1f} s with mixup")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
