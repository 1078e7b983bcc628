"""Everything this project checks on a GPU, in one call of a few minutes; results written to ``--out``.

1. ``tests/test_cuda.py``: the CUDA path of training (determinism and resuming a GPU run, for a small CNN and
   PreAct ResNet-18; data on the GPU against pinned workers; bf16 with channels_last on learnable data) and PGD
   with a CUDA generator.
2. ``benchmarks/paper_profile_cost.py --write-rates``: every rate the paper profile's estimate needs, measured
   on this GPU, and the resulting estimate (``rates.json``, ``cost.txt``).
3. ``benchmarks/bench_throughput.py``: ERM and mixup training steps of the paper's models (bf16, channels_last).
4. With Fashion-MNIST under ``--data-dir``: one real run of the Figures 1b/5-8 notebook's code (PreAct
   ResNet-18 on the full Fashion-MNIST, ERM and mixup, ``--epochs`` epochs), timed, against what the measured
   rates predict for the same work: a check of the estimate itself.

It needs only what the GPU machines have (torch, torchvision, pytest, pyyaml, numpy, scipy, scikit-learn, pandas,
matplotlib, seaborn, tqdm), no install:

    PYTHONPATH=src python3 benchmarks/gpu_check.py --out $OUT --data-dir data/fashion_mnist

(copy ``/usr/share/datasets/fashion-mnist/*.gz`` into ``data/fashion_mnist`` first and carry ``data``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _step(title: str, out: Path, fn) -> None:
    """Run one step, print and save its output; a failing step is reported and the others still run."""
    print(f"\n=== {title}", flush=True)
    buf = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(buf):
            fn()
        status = "ok"
    except Exception as err:  # noqa: BLE001 - report and go on: one device call should check everything
        status = f"FAILED: {type(err).__name__}: {err}"
    text = buf.getvalue() + f"\n[{title}: {status}, {time.perf_counter() - start:.0f} s]\n"
    print(text, flush=True)
    with open(out / "gpu_check.txt", "a") as f:
        f.write(f"=== {title}\n{text}\n")


def _real_run(out: Path, data_dir: str, epochs: int, model: str = "preact_resnet18", n_train: int = 0,
              n_test: int = 0) -> None:
    from mixup_repro import config
    from mixup_repro.chapters import generalization_gap

    cost = _module("paper_profile_cost")
    rates = json.loads((out / "rates.json").read_text())["rates"]
    cfg = config.load_profile("paper", "generalization_gap", REPO / "notebooks" / "params").to_dict()
    cfg.update(datasets=["fashion_mnist"], models=[model], train_sizes=[n_train], test_sizes=[n_test],
               alphas=[0.0, 1.0], n_seeds=1, epochs=epochs, data_dir=data_dir, download=False)
    schema = config.get_schema("generalization_gap").from_mapping(cfg)
    start = time.perf_counter()
    generalization_gap.run(schema, progress=False, save=False)
    wall = time.perf_counter() - start
    full_tr, full_te = cost.DATASETS["fashion_mnist"][:2]
    n_tr, n_te = n_train or full_tr, n_test or full_te
    runs = 2
    train_key = cost._rate_key(model, "fashion_mnist", "train", min(schema.batch_size, n_tr), schema.bf16)
    eval_key = cost._rate_key(model, "fashion_mnist", "eval", 4096, schema.bf16)
    predicted = runs * epochs * n_tr / rates[train_key] + runs * (epochs + 1) * (n_tr + n_te) / rates[eval_key]
    print(f"Fashion-MNIST, {model}, ERM + mixup, {epochs} epochs each: {wall:.1f} s measured "
          f"(data loading and model set-up included), {predicted:.1f} s predicted from the rates: "
          f"ratio {wall / predicted:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    ap.add_argument("--data-dir", default="", help="folder holding the Fashion-MNIST *-ubyte.gz files (step 4)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per run of step 4")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.txt").write_text(
        f"{torch.cuda.get_device_name()}; torch {torch.__version__}; python {platform.python_version()}\n\n")

    def cuda_tests() -> None:
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_cuda.py", "-q", "-o", "addopts=",
                               "-p", "no:cacheprovider"], cwd=REPO, capture_output=True, text=True)
        print(proc.stdout[-4000:] + proc.stderr[-2000:])
        if proc.returncode:
            raise RuntimeError(f"pytest exit {proc.returncode}")

    _step("tests/test_cuda.py", args.out, cuda_tests)
    _step("paper profile cost, measured rates", args.out,
          lambda: _module("paper_profile_cost").main(["--write-rates", str(args.out / "rates.json")]))
    _step("training throughput", args.out,
          lambda: _module("bench_throughput").main(["--device", "cuda", "--bf16", "--channels-last", "--batch", "512"]))
    if args.data_dir:
        _step("one real run against the estimate", args.out, lambda: _real_run(args.out, args.data_dir, args.epochs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
