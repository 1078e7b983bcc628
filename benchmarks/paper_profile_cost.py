"""What the image chapters of the ``paper`` profile cost on one accelerator: counted work / measured rates.

The three image notebooks (Figure 1a, Figures 1b/5-8, Figure 3) spend nearly all their time pushing images
through the paper's models in three kinds of pass:

- ``train``: a mixup training step (forward and backward, the profile's precision and batch size);
- ``eval``: a forward pass in eval mode without gradients (the per-epoch clean evaluations, clean accuracy);
- ``attack``: a forward and backward pass to the *input* in float32 (FGSM and PGD steps).

This script counts, from ``notebooks/params/paper.yml`` and the dataset sizes, how many images each notebook
sends through each kind of pass, measures the rate (images/s) of each kind on this device for each model, and
prints the estimated time per notebook and in total against a budget (default: one GPU-hour). The rest of a
run (loading data, the alternating-line MLPs of Figure 3, plotting) is seconds and is not counted.

    python benchmarks/paper_profile_cost.py                          # measure the rates here (GPU: ~1 min)
    python benchmarks/paper_profile_cost.py --write-rates rates.json # ... and keep them
    python benchmarks/paper_profile_cost.py --rates benchmarks/rates_h200.json   # rates measured elsewhere

On a CPU the full batch sizes would take minutes per step; there the rates are measured at ``--cpu-batch``
images per pass, which only shows the order of magnitude (and why these chapters need a GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from mixup_repro.config import load_profile
from mixup_repro.data.catalog import DATASETS as CATALOG, SPLIT_SIZES
from mixup_repro.mixing import sample_lambda
from mixup_repro.train import _cudnn_mode, train_step
from mixup_repro.vision_models import build_vision_model

REPO = Path(__file__).resolve().parents[1]
#: name -> (training images, test images, image shape, classes) of the paper profile's datasets (the catalog's).
DATASETS = {name: (*SPLIT_SIZES[name], CATALOG[name][:3], CATALOG[name][3])
            for name in ("svhn", "cifar10", "cifar100", "fashion_mnist", "kmnist")}
KINDS = ("train", "eval", "attack")


def _size(n: int, full: int) -> int:
    return full if n == 0 else min(n, full)


def count_work(params_dir: Path) -> list[dict]:
    """Rows (notebook, model, dataset, kind, images, batch, bf16) for the paper profile's image notebooks."""
    rows: list[dict] = []

    def add(nb, model, ds, kind, images, batch, bf16):
        rows.append(dict(notebook=nb, model=model, dataset=ds, kind=kind, images=int(images), batch=int(batch),
                         bf16=bool(bf16) and kind != "attack"))

    f1 = load_profile("paper", "fig1a_fgsm", params_dir)
    n_tr, n_te = (_size(f1.n_train, DATASETS[f1.dataset][0]), _size(f1.n_test, DATASETS[f1.dataset][1]))
    n_pgd = min(f1.n_pgd, n_te)
    runs = 2 * len(f1.seeds)  # ERM and mixup per seed
    bs, eb = min(f1.batch_size, n_tr), f1.eval_batch_size
    add("fig1a_fgsm", f1.model, f1.dataset, "train", runs * f1.epochs * n_tr, bs, f1.bf16)
    # fit evaluates the clean training set before training and after every epoch (in batches of the notebook's
    # eval_batch_size, under the training precision); then clean test accuracy
    add("fig1a_fgsm", f1.model, f1.dataset, "eval", runs * ((f1.epochs + 1) * n_tr + n_te), f1.eval_batch_size,
        f1.bf16)
    fgsm = [e for e in f1.fgsm_eps if e > 0]
    pgd = [e for e in (*f1.pgd_eps, *f1.l2_eps) if e > 0]
    zeros = len(f1.fgsm_eps) - len(fgsm), len(f1.pgd_eps) + len(f1.l2_eps) - len(pgd)
    add("fig1a_fgsm", f1.model, f1.dataset, "attack",
        runs * (len(fgsm) * n_te + len(pgd) * f1.pgd_restarts * f1.pgd_steps * n_pgd), eb, False)
    add("fig1a_fgsm", f1.model, f1.dataset, "eval",
        runs * ((len(fgsm) + zeros[0]) * n_te + (len(pgd) * (f1.pgd_restarts + 1) + zeros[1]) * n_pgd), eb, False)

    gg = load_profile("paper", "generalization_gap", params_dir)
    for ds, model, tr, te in zip(gg.datasets, gg.models, gg.train_sizes, gg.test_sizes):
        n_tr, n_te = _size(tr, DATASETS[ds][0]), _size(te, DATASETS[ds][1])
        runs = len(gg.alphas) * gg.n_seeds
        add("generalization_gap", model, ds, "train", runs * gg.epochs * n_tr, min(gg.batch_size, n_tr), gg.bf16)
        add("generalization_gap", model, ds, "eval", runs * (gg.epochs + 1) * (n_tr + n_te), 4096, gg.bf16)

    f3 = load_profile("paper", "fig3_training_error", params_dir)
    n_tr, n_te = _size(f3.train_size, DATASETS[f3.dataset][0]), DATASETS[f3.dataset][1]
    add("fig3_training_error", f3.model, f3.dataset, "train", f3.n_seeds * f3.epochs * n_tr, min(f3.batch_size, n_tr),
        f3.bf16)
    # Figure 3 evaluates without autocast (its zero training errors), whatever the training precision
    add("fig3_training_error", f3.model, f3.dataset, "eval", f3.n_seeds * (f3.epochs + 1) * (n_tr + n_te), 4096, False)
    return rows


def _rate_key(model: str, dataset: str, kind: str, batch: int, bf16: bool) -> str:
    shape = "x".join(map(str, DATASETS[dataset][2]))
    return f"{model}|{shape}|{DATASETS[dataset][3]}|{kind}|{batch}|{'bf16' if bf16 else 'fp32'}"


def measure_rate(key: str, device: torch.device, steps: int, warmup: int, batch_cap: int | None) -> float:
    """Images per second of one kind of pass, timed on ``device`` (synchronised on CUDA)."""
    model_name, shape_s, classes_s, kind, batch_s, precision = key.split("|")
    shape = tuple(int(v) for v in shape_s.split("x"))
    classes, batch = int(classes_s), int(batch_s)
    if batch_cap:
        batch = min(batch, batch_cap)
    gen = torch.Generator().manual_seed(0)
    model = build_vision_model(model_name, shape, classes, generator=torch.Generator().manual_seed(1)).to(device)
    x = torch.rand((batch, *shape), generator=gen).to(device)
    y = torch.randint(0, classes, (batch,), generator=gen).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    use_bf16 = precision == "bf16"
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    perm_gen = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        if kind == "train":
            model.train()
            train_step(model, opt, x, y, loss="cross_entropy", lam=float(sample_lambda(1.0, 1.0, (), rng)),
                       perm=torch.randperm(batch, generator=perm_gen, device=device),
                       autocast_dtype=torch.bfloat16 if use_bf16 else None)
        elif kind == "eval":
            model.eval()
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                model(x)
        else:  # attack: the gradient of the loss with respect to the input, float32, eval mode
            model.eval()
            xa = x.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(xa), y)
            (grad,) = torch.autograd.grad(loss, xa)
            grad.sign_()

    with _cudnn_mode(device.type == "cuda", True):  # the deterministic cuDNN algorithms that fit uses
        for _ in range(warmup):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return batch * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params-dir", type=Path, default=REPO / "notebooks" / "params")
    ap.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    ap.add_argument("--rates", type=Path, help="JSON of rates measured elsewhere (as written by --write-rates)")
    ap.add_argument("--write-rates", type=Path, help="save the measured rates to this JSON file")
    ap.add_argument("--steps", type=int, default=None, help="timed passes per rate (default: 30 on GPU, 2 on CPU)")
    ap.add_argument("--cpu-batch", type=int, default=16, help="images per pass when measuring on a CPU")
    ap.add_argument("--budget-s", type=float, default=3600.0, help="the budget to compare with (default one hour)")
    ap.add_argument("--markdown", type=Path, help="also write the estimate as a Markdown table to this file (the "
                    "book's 'Running at scale' page includes book/_generated/paper_cost.md)")
    args = ap.parse_args(argv)

    rows = count_work(args.params_dir)
    keys = sorted({_rate_key(r["model"], r["dataset"], r["kind"], r["batch"], r["bf16"]) for r in rows})
    if args.rates:
        saved = json.loads(args.rates.read_text())
        rates, where = saved["rates"], saved.get("device", str(args.rates))
        missing = [k for k in keys if k not in rates]
        if missing:
            print(f"error: {args.rates} has no rate for: {', '.join(missing)}; measure them on the device "
                  f"(run without --rates)", file=sys.stderr)
            return 2
    else:
        device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                              ("cpu" if args.device == "auto" else args.device))
        gpu = device.type == "cuda"
        steps = args.steps or (30 if gpu else 2)
        where = (torch.cuda.get_device_name(device) if gpu else f"CPU ({torch.get_num_threads()} threads, "
                 f"batch {args.cpu_batch})") + f", torch {torch.__version__}"
        rates = {}
        for k in keys:
            rates[k] = measure_rate(k, device, steps, warmup=5 if gpu else 1, batch_cap=None if gpu else args.cpu_batch)
            print(f"  measured {k:<48} {rates[k]:>10.0f} img/s", flush=True)
        if args.write_rates:
            args.write_rates.write_text(json.dumps({"device": where, "rates": rates}, indent=1) + "\n")

    print(f"\nrates from: {where}")
    print(f"{'notebook':<22} {'model':<16} {'dataset':<14} {'kind':<7} {'images':>13} {'img/s':>9} {'seconds':>9}")
    per_nb: dict[str, float] = defaultdict(float)
    for r in rows:
        rate = rates[_rate_key(r["model"], r["dataset"], r["kind"], r["batch"], r["bf16"])]
        seconds = r["images"] / rate
        per_nb[r["notebook"]] += seconds
        print(f"{r['notebook']:<22} {r['model']:<16} {r['dataset']:<14} {r['kind']:<7} {r['images']:>13,} "
              f"{rate:>9.0f} {seconds:>9.0f}")
    total = sum(per_nb.values())
    print()
    for nb, seconds in per_nb.items():
        print(f"{nb:<22} {seconds / 60:>7.1f} min")
    verdict = "within" if total <= args.budget_s else "OVER"
    print(f"{'total':<22} {total / 60:>7.1f} min = {total / 3600:.2f} h ({verdict} the budget of "
          f"{args.budget_s / 3600:g} h)")
    if args.markdown:
        args.markdown.write_text(markdown_table(rows, rates, where, args.rates))
    return 0


def markdown_table(rows: list[dict], rates: dict[str, float], where: str, rates_file: Path | None) -> str:
    """The estimate per notebook and kind of pass, as a Markdown table with where the rates come from."""
    kinds = {k: defaultdict(float) for k in KINDS}
    for r in rows:
        kinds[r["kind"]][r["notebook"]] += r["images"] / rates[_rate_key(r["model"], r["dataset"], r["kind"],
                                                                          r["batch"], r["bf16"])]
    notebooks = list(dict.fromkeys(r["notebook"] for r in rows))
    lines = ["| notebook | training | evaluation | attacks | estimated time |", "|---|---|---|---|---|"]
    for nb in [*notebooks, None]:
        cells = [sum(kinds[k].values()) if nb is None else kinds[k][nb] for k in KINDS]
        label = "**all three**" if nb is None else f"`{nb}`"
        lines.append(f"| {label} | " + " | ".join(f"{c / 60:.1f} min" for c in cells)
                     + f" | **{sum(cells) / 60:.0f} min** |")
    if rates_file is None:
        source = "measured on this device"
    else:
        rates_file = rates_file.resolve()
        source = f"`{rates_file.relative_to(REPO) if rates_file.is_relative_to(REPO) else rates_file}`"
    return ("\n".join(lines) + f"\n\nWritten by `benchmarks/paper_profile_cost.py --markdown` from the rates in "
            f"{source}: {where}\n")


if __name__ == "__main__":
    raise SystemExit(main())
