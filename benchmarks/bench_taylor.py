"""Lemma 3.1's regularizers: ``taylor_terms`` (exact trace) against a naive per-sample Hessian loop (CPU, float64).

The naive reference loops over the n samples and, for each one, forms the input gradient with
``torch.autograd.functional.jacobian`` and the full d x d input Hessian with
``torch.autograd.functional.hessian`` (default, non-vectorised: one backward pass per input
coordinate), then applies the same formulas as the library (mean ``xbar``, covariance ``Sigma``):

    R1 = m1 * mean_i (h'(f_i) - y_i) g_i^T (xbar - x_i)
    R2 = m2/2 * mean_i h''(f_i) [g_i^T Sigma g_i + (g_i^T (xbar - x_i))^2]
    R3 = m2/2 * mean_i (h'(f_i) - y_i) [tr(H_i Sigma) + (xbar - x_i)^T H_i (xbar - x_i)]

Model: a tanh MLP (d -> 64 -> 1, so the input Hessian and R3 are non-trivial). The two must agree to
rtol 1e-8. Timing: ``time.perf_counter``; ours is the best of ``--repeats`` calls after one warm-up;
the naive loop is timed on its first ``--naive-samples`` samples (all n by default, in which case the
same pass also gives the agreement check) and scaled linearly to n when fewer are timed.

    python benchmarks/bench_taylor.py [--n 1024] [--d 64] [--hidden 64] [--repeats 3] [--naive-samples 1024]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from torch import nn
from torch.autograd.functional import hessian, jacobian

from mixup_repro.losses import get_loss
from mixup_repro.mixing import lambda_moments
from mixup_repro.taylor import taylor_terms

DT = torch.float64


def tanh_mlp(d: int, hidden: int, generator: torch.Generator) -> nn.Module:
    """d -> hidden -> 1 with tanh, float64, weights drawn from ``generator``."""
    model = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1)).to(DT)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p.shape[-1] if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=generator, dtype=DT) / fan_in**0.5)
    return model.eval()


def naive_per_sample(model: nn.Module, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float, loss: str, count: int) -> dict[str, float]:
    """Sums of the R1, R2, R3 summands over the first ``count`` samples, full Hessian per sample."""
    lossfn = get_loss(loss)
    m1, m2 = lambda_moments(alpha, beta)
    f1 = lambda x: model(x.unsqueeze(0)).reshape(())
    xbar = X.mean(0)
    Xc = X - xbar
    Sigma = Xc.T @ Xc / X.shape[0]
    r1 = r2 = r3 = 0.0
    for i in range(count):
        x = X[i]
        g = jacobian(f1, x)
        H = hessian(f1, x)
        with torch.no_grad():
            f = f1(x)
        resid, curv = float(lossfn.h1(f) - y[i]), float(lossfn.h2(f))
        dvec = xbar - x
        gd = float(g @ dvec)
        r1 += m1 * resid * gd
        r2 += m2 / 2 * curv * (float(g @ Sigma @ g) + gd**2)
        r3 += m2 / 2 * resid * (float(torch.trace(H @ Sigma)) + float(dvec @ H @ dvec))
    return {"R1": r1, "R2": r2, "R3": r3}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-samples", type=int, default=None, help="samples the naive loop is timed on (default: all n)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n, d = args.n, args.d
    count = n if args.naive_samples is None else min(args.naive_samples, n)
    alpha = beta = 1.0

    print(f"torch {torch.__version__}; torch threads {torch.get_num_threads()}; os.cpu_count() {os.cpu_count()}")
    print(f"tanh MLP {d} -> {args.hidden} -> 1, n = {n}, float64, logistic loss, alpha = beta = {alpha}")
    g = torch.Generator().manual_seed(args.seed)
    model = tanh_mlp(d, args.hidden, g)
    X = torch.randn(n, d, generator=g, dtype=DT) + 0.3
    with torch.no_grad():
        y = (model(X).reshape(-1) + 0.5 * torch.randn(n, generator=g, dtype=DT) > 0).to(DT)

    ours = taylor_terms(model, X, y, alpha, beta)  # warm-up
    t_ours = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = taylor_terms(model, X, y, alpha, beta)
        t_ours.append(time.perf_counter() - start)

    start = time.perf_counter()
    naive_sums = naive_per_sample(model, X, y, alpha, beta, "logistic", count)
    t_naive_measured = time.perf_counter() - start
    t_naive = t_naive_measured * n / count

    ok = True
    if count == n:
        for k in ("R1", "R2", "R3"):
            naive = naive_sums[k] / n
            rel = abs(ours[k] - naive) / abs(naive)
            ok &= rel <= 1e-8
            print(f"{k}: taylor_terms {ours[k]: .12e}   naive {naive: .12e}   rel diff {rel:.1e}")
        print("agreement (rtol 1e-8):", "OK" if ok else "FAILED")
    else:
        print(f"agreement not checked: the naive loop ran on {count} of {n} samples only")

    how = "all samples, one pass" if count == n else f"timed on {count} of {n} samples, scaled linearly x{n / count:.1f}"
    print(f"taylor_terms (exact trace): best of {args.repeats} {min(t_ours) * 1e3:9.1f} ms")
    print(f"naive per-sample hessian  : {t_naive * 1e3:9.1f} ms  ({how})")
    print(f"speed-up naive / ours: {t_naive / min(t_ours):.1f}x  (target >= 50x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
