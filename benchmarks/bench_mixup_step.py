"""A mixup training step against an ERM step on the same model and batch, in the same process (CPU by default).

Both are :func:`mixup_repro.train.train_step`, the step ``train.fit`` runs (forward, loss, backward, SGD update;
timed with ``time.perf_counter``, synchronised on CUDA):

- ``erm``: ``train_step`` without lam: the cross-entropy of the unmixed batch;
- ``mixup``: what ``fit`` does per batch for alpha > 0: draw one lam ~ Beta(alpha, alpha) and a partner
  permutation (on the batch's device), then ``train_step`` with them (gather and lerp of the inputs, one
  log_softmax shared by the two cross-entropy terms).

The steps are interleaved, in forward then reversed order from one repeat to the next (ABBA), so that drift in
the machine's load hits all of them alike, after warm-up; a second ERM step per repeat gives an A/A ratio
(the noise floor of the ratio). The model's weights are reset before every step, so every step starts from the
same parameters. Printed per model: the median step times, the ratio of medians mixup / ERM with its target
(MLP <= 1.05, small CNN <= 1.03) and the A/A ratio. ``--pieces`` adds two partial steps that split the extra
cost of mixup: the draws alone (then an ERM step), and the draws and the mix (then an ERM step on the mixed
batch); what remains is the second cross-entropy term.

``--clock cpu`` times with the CPU time of this process (``time.process_time``) instead of the wall clock:
on a machine shared with other jobs it does not count the time the step waits for a core (on CUDA it would
miss the GPU's time, so it is for the CPU only).

    python benchmarks/bench_mixup_step.py [--model mlp,cnn] [--batch 128] [--repeats 200] [--threads 0] [--pieces]
                                          [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch

from mixup_repro.data.images import fake_image_dataset
from mixup_repro.mixing import mix_batch, sample_lambda
from mixup_repro.train import train_step
from mixup_repro.vision_models import build_vision_model

#: the largest mixup / ERM ratio of medians accepted per model (issue 12)
TARGETS = {"mlp": 1.05, "cnn": 1.03}
MODELS = ("mlp", "cnn", "preact_resnet18", "wrn16_8")


def _steps(model, x, y, alpha: float, dev: torch.device, pieces: bool) -> dict:
    """The timed steps by name; each runs one optimizer step from the same weights."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    np_gen = np.random.default_rng(0)
    perm_gen = torch.Generator(device=dev).manual_seed(0)  # partners drawn where the batch is, as fit does

    def draw():
        lam = float(sample_lambda(alpha, alpha, (), np_gen))
        return lam, torch.randperm(x.shape[0], generator=perm_gen, device=dev)

    def erm():
        train_step(model, opt, x, y, loss="cross_entropy")

    def mixup():
        lam, perm = draw()
        train_step(model, opt, x, y, loss="cross_entropy", lam=lam, perm=perm)

    def draws_then_erm():
        draw()
        train_step(model, opt, x, y, loss="cross_entropy")

    def mix_then_erm():
        lam, perm = draw()
        train_step(model, opt, mix_batch(x, y, lam, perm).x, y, loss="cross_entropy")

    steps = {"erm": erm, "mixup": mixup, "erm (A/A control)": erm}
    if pieces:
        steps.update({"draws + erm": draws_then_erm, "draws + mix + erm": mix_then_erm})
    return steps


def measure(model_name: str, batch: int, repeats: int, warmup: int, alpha: float, dev: torch.device,
            pieces: bool, clock=time.perf_counter) -> dict[str, list[float]]:
    """Seconds per step of each step of :func:`_steps`, ``repeats`` interleaved timings each."""
    shape = (1, 28, 28) if model_name in ("cnn", "mlp") else (3, 32, 32)
    data = fake_image_dataset(batch, shape, 10, seed=0)
    x, y = data.X.to(dev), data.y.to(dev)
    model = build_vision_model(model_name, shape, 10, generator=torch.Generator().manual_seed(0)).to(dev)
    state = copy.deepcopy(model.state_dict())
    steps = _steps(model, x, y, alpha, dev, pieces)

    def timed(step) -> float:
        model.load_state_dict(state)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = clock()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return clock() - t0

    model.train()
    for _ in range(warmup):
        for step in steps.values():
            timed(step)
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps.items())
    for k in range(repeats):
        for name, step in (order if k % 2 == 0 else order[::-1]):  # ABBA: linear drift cancels
            times[name].append(timed(step))
    return times


def report(model_name: str, times: dict[str, list[float]]) -> float:
    """Print the medians and ratios of one model; return the mixup / ERM ratio of medians."""
    med = {name: statistics.median(t) for name, t in times.items()}
    erm = med["erm"]
    for name, t in times.items():
        q75, q25 = np.percentile(t, [75, 25])
        extra = f"  {(med[name] - erm) * 1e6:+7.1f} us vs erm" if name != "erm" else ""
        print(f"  {name:<18} median {med[name] * 1e3:8.3f} ms  (IQR {(q75 - q25) * 1e3:.3f} ms){extra}")
    ratio, control = med["mixup"] / erm, med["erm (A/A control)"] / erm
    target = TARGETS.get(model_name)
    verdict = "" if target is None else f" (target <= {target}) -> {'OK' if ratio <= target else 'ABOVE TARGET'}"
    print(f"  ratio mixup / ERM {ratio:.3f}{verdict}; A/A control ERM / ERM {control:.3f}")
    return ratio


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp,cnn", help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 keeps the default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--pieces", action="store_true", help="also time the draws and the mix alone")
    p.add_argument("--clock", default="wall", choices=("wall", "cpu"), help="wall clock or this process's CPU time")
    args = p.parse_args(argv)
    models = args.model.split(",")
    if unknown := [m for m in models if m not in MODELS]:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if args.clock == "cpu" and dev.type != "cpu":
        p.error("--clock cpu times the CPU only; use the wall clock on a GPU")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"batch {args.batch}, device {dev}, threads {torch.get_num_threads()}, {args.repeats} interleaved repeats "
          f"after {args.warmup} warm-up rounds, alpha {args.alpha}, {args.clock} clock")
    for name in models:
        print(f"{name}:")
        report(name, measure(name, args.batch, args.repeats, args.warmup, args.alpha, dev, args.pieces, clock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
