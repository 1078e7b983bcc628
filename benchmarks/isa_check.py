"""Do the image notebooks' checked outputs depend on the CPU? Run them under three instruction-set settings.

Training is chaotic: a difference in the last bit of one step grows over the epochs. On x86 CPUs PyTorch, MKL and
oneDNN pick their float32 kernels (and so their order of summation and FMA use) by the instruction set, so a run in
float32 on a CPU with AVX-512 and one on a CPU with only AVX2 end with slightly different weights, and a checked
output rounded to three digits can differ. In float64 the same differences stay near 1e-9 relative, far below the
printed digits. This script shows both on this machine by forcing the kernels of older CPUs through environment
variables, each setting in a fresh process:

- ``default``: whatever this CPU offers;
- ``avx2``: ``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2``;
- ``generic``: ``ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41``.

Under each it runs (1) a probe, the mixup run of the Figures 1b/5-8 notebook (Fashion-MNIST, first 2,000 training
images, MLP, 15 epochs, alpha = 1, one seed) in float32 and in float64, and records its final test loss and error
to 10 significant digits, then trains it again in both precisions side by side to find the step where they part
(:func:`kink_probe`); (2) the three image chapters with the ``cpu`` profile (float64), and records the text
their checked cells print (:func:`mixup_repro.report.summarize`). It writes ``book/_generated/isa_check.json`` and
the table ``book/_generated/isa_check.md`` that the book's Reproduce page includes.

    python benchmarks/isa_check.py            # all of it: about 3x the three notebooks' compute (minutes)
    python benchmarks/isa_check.py --probe    # the probe only (about a minute)
    python benchmarks/isa_check.py --markdown # print the table from the committed JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JSON_FILE = REPO / "book" / "_generated" / "isa_check.json"
MD_FILE = REPO / "book" / "_generated" / "isa_check.md"
SETTINGS = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "MKL_CBWR": "AVX2",
             "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "generic": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
CHAPTERS = ("fig1a_fgsm", "generalization_gap", "fig3_training_error")
PROBE = dict(datasets=["fashion_mnist"], models=["mlp"], train_sizes=[2000], test_sizes=[0], alphas=[0.0, 1.0],
             n_seeds=1)


def kink_probe() -> dict:
    """The probe's mixup training, in float32 and float64 side by side, step by step: where do they part, and why?

    Both copies start from the same weights and see the same batches, partners and lam, drawn as
    :func:`mixup_repro.train.fit` draws them for the probe's run (its final test losses are checked against the
    probe's). Returns the first step at which a ReLU input (a first-layer pre-activation of the mixed batch) has
    opposite signs in the two precisions, with those inputs and the relative weight difference just before and just
    after that step, and the weight difference at the end.
    """
    from mixup_repro.pipeline import resolve_config
    from mixup_repro.runs import torch_threads

    cfg = resolve_config("generalization_gap", "cpu", PROBE, root=REPO)
    with torch_threads(cfg.threads):  # as the notebook runs it: float32 results depend on the thread count too
        return _side_by_side(cfg)


def _side_by_side(cfg) -> dict:
    import copy

    import numpy as np
    import torch

    from mixup_repro.chapters._images import _image_model, load_pair
    from mixup_repro.mixing import mix_batch, mixup_cross_entropy, sample_lambda
    from mixup_repro.runs import derive_seed
    from mixup_repro.train import evaluate

    train, test = load_pair("fashion_mnist", 2000, 0, cfg.data_dir, cfg.seed, False, "float32")
    base = derive_seed(cfg.seed, 1000)  # dataset 0 of the run
    m32 = _image_model("mlp", train, cfg.mlp_hidden, derive_seed(base, 0))
    m64 = copy.deepcopy(m32).double()
    seed = derive_seed(base, 100 * 1 + 0)  # alpha index 1 (mixup), seed 0
    gen, np_gen = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    models = {"float32": (m32, train.X), "float64": (m64, train.X.double())}
    opts = {k: torch.optim.SGD(m.parameters(), lr=cfg.lr, momentum=cfg.momentum) for k, (m, _) in models.items()}

    def gap() -> float:
        with torch.no_grad():
            return max(float((p.double() - q).abs().max() / q.abs().max())
                       for p, q in zip(m32.parameters(), m64.parameters()))

    found, step, before = None, 0, 0.0
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(train.n, generator=gen)
        for s in range(0, train.n, cfg.batch_size):
            idx = order[s:s + cfg.batch_size]
            lam = sample_lambda(1.0, 1.0, (), np_gen)
            perm = torch.randperm(idx.numel(), generator=gen)
            hidden = {}
            for key, (m, X) in models.items():
                batch = mix_batch(X[idx], train.y[idx], float(lam), perm)  # a float, as fit passes it
                with torch.no_grad():  # the first layer's pre-activations (Normalize, then the first Linear)
                    hidden[key] = m[1].net[1](m[0](batch.x).flatten(1)).double()
                loss = mixup_cross_entropy(m(batch.x), batch)
                opts[key].zero_grad(set_to_none=True)
                loss.backward()
                opts[key].step()
            step += 1
            after = gap()
            flip = (hidden["float32"] > 0) != (hidden["float64"] > 0)
            if found is None and bool(flip.any()):
                found = {"epoch": epoch, "step": step, "weight_diff_before": before, "weight_diff_after": after,
                         "flips": int(flip.sum()), "z_float64": hidden["float64"][flip].tolist(),
                         "z_float32": hidden["float32"][flip].tolist()}
            before = after
    losses = {k: evaluate(m, test.X.to(X.dtype), test.y, "cross_entropy")[0] for k, (m, X) in models.items()}
    return {"part": found, "final_weight_diff": before, "test_loss": losses}


def child(chapters: bool) -> dict:
    """In this process (its kernels chosen by the environment): the probe in both dtypes, then the chapters."""
    import importlib

    import torch

    from mixup_repro import pipeline, report

    out: dict = {"capability": torch.backends.cpu.get_cpu_capability(), "probe": {}, "summaries": {}}
    from mixup_repro.chapters import generalization_gap

    for dtype in ("float32", "float64"):
        cfg = pipeline.resolve_config("generalization_gap", "cpu", {**PROBE, "dtype": dtype}, root=REPO)
        r = generalization_gap.run(cfg, progress=False, save=False)
        out["probe"][dtype] = {"test_loss": float(r.arrays["fashion_mnist.1.test_loss"][0, -1]),
                               "test_err": float(r.arrays["fashion_mnist.1.test_err"][0, -1])}
    out["kink"] = kink_probe()
    for dtype, loss in out["kink"]["test_loss"].items():  # the side-by-side training is the probe's, step for step
        if abs(loss - out["probe"][dtype]["test_loss"]) > 1e-9 * abs(loss):
            raise SystemExit(f"isa_check: the step-by-step {dtype} training ends at test loss {loss!r}, the probe at "
                             f"{out['probe'][dtype]['test_loss']!r}: it does not replicate the probe")
    if chapters:
        for name in CHAPTERS:
            cfg = pipeline.resolve_config(name, "cpu", root=REPO)
            result = importlib.import_module(f"mixup_repro.chapters.{name}").run(cfg, progress=False, save=False)
            out["summaries"][name] = report.summarize(result)
    return out


def measure(chapters: bool) -> dict:
    """Every setting in a fresh process; the record the book's table is made from."""
    runs = {}
    for setting, env in SETTINGS.items():
        print(f"isa_check: {setting} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--child"] + ([] if chapters else ["--probe"]),
                              env={**os.environ, **env}, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(f"isa_check: the {setting} run failed:\n{proc.stderr[-4000:]}")
        runs[setting] = json.loads(proc.stdout.strip().splitlines()[-1])
    import torch

    return {"date": datetime.date.today().isoformat(), "torch": torch.__version__, "settings": SETTINGS,
            "chapters": list(CHAPTERS) if chapters else [], "runs": runs}


def render(record: dict) -> str:
    """The Markdown table of a record: the probe's numbers per setting and dtype, and the checked outputs compared."""
    runs = record["runs"]
    base = runs["default"]
    lines = ["| setting | kernels | float32: test loss, test error | float64: test loss, test error | float32 and "
             "float64 step by step | checked outputs (float64) |", "|---|---|---|---|---|---|"]
    for setting, run in runs.items():
        probe = [f"{run['probe'][d]['test_loss']:.10g}, {100 * run['probe'][d]['test_err']:.2f} %"
                 for d in ("float32", "float64")]
        if not record["chapters"]:
            same = "not run"
        elif setting == "default":
            same = "the reference"
        else:
            differ = [n for n in record["chapters"] if run["summaries"][n] != base["summaries"][n]]
            same = "identical to the default's" if not differ else f"differ in {', '.join(differ)}"
        env = " ".join(f"`{k}={v}`" for k, v in record["settings"][setting].items()) or "this CPU's own"
        part = run["kink"]["part"]
        end = f"weights {run['kink']['final_weight_diff']:.0e} apart (relative) at the end"
        if part is None:
            steps = f"no ReLU input ever of opposite sign; {end}"
        else:
            z = ", ".join(f"{a:+.1e} / {b:+.1e}" for a, b in zip(part["z_float64"], part["z_float32"]))
            steps = (f"first ReLU input of opposite sign at step {part['step']} (epoch {part['epoch']}), float64 / "
                     f"float32: {z}; weights {part['weight_diff_before']:.0e} apart before that step, "
                     f"{part['weight_diff_after']:.0e} after; {end}")
        lines.append(f"| {setting} | {env} (torch reports `{run['capability']}`) | {probe[0]} | {probe[1]} | {steps} "
                     f"| {same} |")
    return "\n".join(lines) + (f"\n\nMeasured with torch {record['torch']} on {record['date']} by "
                               f"`benchmarks/isa_check.py`; the probe is the mixup run (alpha = 1, one seed) of the "
                               f"Figures 1b/5-8 notebook on the first 2,000 Fashion-MNIST training images; the checked "
                               f"outputs are those of {', '.join(record['chapters']) or 'no notebook'} "
                               f"(`cpu` profile).\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--probe", action="store_true", help="run the probe only, not the three notebooks' chapters")
    ap.add_argument("--markdown", action="store_true", help="print the table of the committed record and stop")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(not args.probe)))
        return 0
    if args.markdown:
        print(render(json.loads(JSON_FILE.read_text())), end="")
        return 0
    record = measure(not args.probe)
    JSON_FILE.write_text(json.dumps(record, indent=1) + "\n")
    MD_FILE.write_text(render(record))
    print(MD_FILE.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
