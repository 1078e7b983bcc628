"""Our FGSM and PGD against torchattacks on one small CNN and one batch (CPU, same process).

Checks that both libraries return the same adversarial images (FGSM; PGD without random start, where
both run the same algorithm), then prints throughput ratios ours / theirs (>= 1.0 means we are not
slower). Timing: each call is timed with ``time.perf_counter``; ours and theirs alternate, and the best
of ``--repeats`` repeats is kept for each, after one warm-up call.

torchattacks is an optional cross-check (it pins old ``requests`` and ``Sphinx``): install it in a
separate environment. Without it the script says so and exits 0.

    python benchmarks/bench_attacks.py [--batch 128] [--repeats 15] [--steps 10]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

from mixup_repro.attacks import fgsm, pgd


def small_cnn(generator: torch.Generator) -> nn.Module:
    """A Fashion-MNIST-sized CNN (1x28x28 -> 10 logits), weights drawn from ``generator``."""
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else p.numel()
            p.copy_(torch.randn(p.shape, generator=generator) / fan_in**0.5)
    return model.eval()


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(name: str, ours, theirs, repeats: int) -> float:
    ours(), theirs()  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t_ours.append(_timed(ours))
        t_theirs.append(_timed(theirs))
    ratio = min(t_theirs) / min(t_ours)
    print(f"{name:<28} ours {min(t_ours) * 1e3:8.2f} ms   torchattacks {min(t_theirs) * 1e3:8.2f} ms   "
          f"throughput ours/theirs {ratio:5.2f}")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        import torchattacks
    except ImportError:
        print("torchattacks is not installed: nothing to compare against. Install it in a separate "
              "environment (pip install torchattacks), since it pins old requests/Sphinx versions.")
        return 0

    g = torch.Generator().manual_seed(0)
    model = small_cnn(g)
    x = torch.rand(args.batch, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    eps, step_size = 8 / 255, 2 / 255
    ta_fgsm = torchattacks.FGSM(model, eps=eps)
    ta_pgd = torchattacks.PGD(model, eps=eps, alpha=step_size, steps=args.steps, random_start=False)

    same_fgsm = torch.equal(fgsm(model, x, y, eps), ta_fgsm(x, y))
    same_pgd = torch.equal(pgd(model, x, y, eps, step_size, args.steps), ta_pgd(x, y))
    print(f"torch {torch.__version__}, torchattacks {torchattacks.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch} x 1x28x28, eps 8/255, PGD {args.steps} steps of 2/255")
    print(f"identical output: FGSM {same_fgsm}, PGD (no random start) {same_pgd}")
    print(f"timing: best of {args.repeats} alternating repeats after one warm-up, time.perf_counter")
    compare("FGSM linf", lambda: fgsm(model, x, y, eps), lambda: ta_fgsm(x, y), args.repeats)
    compare(f"PGD linf, {args.steps} steps", lambda: pgd(model, x, y, eps, step_size, args.steps),
            lambda: ta_pgd(x, y), args.repeats)
    ta_pgd_rs = torchattacks.PGD(model, eps=eps, alpha=step_size, steps=args.steps, random_start=True)
    compare("PGD linf, random start", lambda: pgd(model, x, y, eps, step_size, args.steps, generator=g),
            lambda: ta_pgd_rs(x, y), args.repeats)
    return 0 if same_fgsm and same_pgd else 1


if __name__ == "__main__":
    sys.exit(main())
