"""A mixup training step against an ERM step on the same model and batch, in the same process (CPU by default).

Steps timed (forward, loss, backward, SGD update; ``time.perf_counter``):

- ``erm``: plain ``F.cross_entropy`` on the unmixed batch;
- ``mixup``: what ``train.fit`` does for alpha > 0: draw one lam ~ Beta(alpha, alpha) and a partner
  permutation, ``mix_batch``, forward, ``mixup_cross_entropy`` (two cross-entropies), backward, update.

The two are interleaved in ABBA order after warm-up so that drift in the machine's load hits both, and a third,
control ERM step per repeat gives an A/A ratio (the noise floor). The ratio of the medians is printed with the
target (<= 1.03). The model's weights are reset before every step so
both always start from the same parameters.

    python benchmarks/bench_mixup_step.py [--model cnn|mlp] [--batch 128] [--repeats 40] [--threads 0] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from mixup_repro.data.images import fake_image_dataset
from mixup_repro.mixing import mix_batch, mixup_cross_entropy, sample_lambda
from mixup_repro.vision_models import build_vision_model

TARGET = 1.03


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn", choices=("cnn", "mlp", "preact_resnet18", "wrn16_8"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 keeps the default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--alpha", type=float, default=1.0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    shape = (1, 28, 28) if args.model in ("cnn", "mlp") else (3, 32, 32)
    data = fake_image_dataset(args.batch, shape, 10, seed=0)
    x, y = data.X.to(dev), data.y.to(dev)
    model = build_vision_model(args.model, shape, 10, generator=torch.Generator().manual_seed(0)).to(dev)
    state = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    torch_gen, np_gen = torch.Generator().manual_seed(0), np.random.default_rng(0)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def erm_step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def mixup_step() -> None:
        lam = sample_lambda(args.alpha, args.alpha, (), np_gen)
        perm = torch.randperm(x.shape[0], generator=torch_gen).to(dev)
        batch = mix_batch(x, y, torch.as_tensor(lam, dtype=x.dtype), perm)
        loss = mixup_cross_entropy(model(batch.x), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(step) -> float:
        model.load_state_dict(state)
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        return time.perf_counter() - t0

    model.train()
    for _ in range(args.warmup):
        timed(erm_step)
        timed(mixup_step)
    erm, mix, control = [], [], []
    for k in range(args.repeats):
        # ABBA order cancels linear drift; a second ERM timing gives the A/A noise floor of the ratio.
        if k % 2:
            mix.append(timed(mixup_step))
            erm.append(timed(erm_step))
        else:
            erm.append(timed(erm_step))
            mix.append(timed(mixup_step))
        control.append(timed(erm_step))
    e, m = statistics.median(erm), statistics.median(mix)
    ratio = m / e
    print(f"model {args.model}, batch {args.batch}, input {shape}, device {dev}, threads {torch.get_num_threads()}, "
          f"{args.repeats} interleaved repeats")
    print(f"ERM step    median {e * 1e3:8.2f} ms  (IQR {np.subtract(*np.percentile(erm, [75, 25])) * 1e3:.2f} ms)")
    print(f"mixup step  median {m * 1e3:8.2f} ms  (IQR {np.subtract(*np.percentile(mix, [75, 25])) * 1e3:.2f} ms)")
    print(f"A/A control: ERM / ERM ratio {statistics.median(control) / e:.3f} (the noise floor of this measurement)")
    print(f"ratio mixup / ERM: {ratio:.3f} (target <= {TARGET}) -> {'OK' if ratio <= TARGET else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
