"""benchmarks/paper_profile_cost.py: the work it counts for the paper profile's image chapters, by hand."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "paper_profile_cost.py"


@pytest.fixture(scope="module")
def cost():
    spec = importlib.util.spec_from_file_location("paper_profile_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params(tmp_path: Path, **sections) -> Path:
    """A copy of notebooks/params with the paper profile's sections updated."""
    out = tmp_path / "params"
    shutil.copytree(REPO / "notebooks" / "params", out)
    paper = yaml.safe_load((out / "paper.yml").read_text())
    for name, values in sections.items():
        paper[name].update(values)
    (out / "paper.yml").write_text(yaml.safe_dump(paper))
    return out


def _images(rows, notebook, kind, dataset=None):
    return sum(r["images"] for r in rows if r["notebook"] == notebook and r["kind"] == kind
               and (dataset is None or r["dataset"] == dataset))


def test_counts_match_a_hand_count(cost, tmp_path):
    params = _params(
        tmp_path,
        fig1a_fgsm=dict(dataset="svhn", n_train=100, n_test=50, seeds=[0], epochs=3, fgsm_eps=[0.0, 0.1, 0.2],
                        pgd_eps=[0.0, 0.1], l2_eps=[0.5], pgd_restarts=2, pgd_steps=4, n_pgd=10),
        generalization_gap=dict(datasets=["cifar10", "kmnist"], models=["preact_resnet18"] * 2, train_sizes=[200, 0],
                                test_sizes=[20, 0], alphas=[0.0, 1.0], n_seeds=3, epochs=5),
        fig3_training_error=dict(dataset="cifar100", train_size=300, n_seeds=2, epochs=7),
    )
    rows = cost.count_work(params)
    # Figure 1a: ERM + mixup for one seed = 2 runs
    assert _images(rows, "fig1a_fgsm", "train") == 2 * 3 * 100
    # attacks: FGSM at 2 radii on 50 test images, PGD at 2 radii (l_inf 0.1, l2 0.5) x 2 restarts x 4 steps on 10
    assert _images(rows, "fig1a_fgsm", "attack") == 2 * (2 * 50 + 2 * 2 * 4 * 10)
    # evaluations: clean train set at epochs 0..3 and clean test accuracy; attacked / clean FGSM inputs (3 radii
    # x 50); PGD: one forward per restart and the final one at 2 radii, plus 1 clean evaluation, on 10 images
    assert _images(rows, "fig1a_fgsm", "eval") == 2 * (4 * 100 + 50) + 2 * (3 * 50 + (2 * 3 + 1) * 10)
    # Figures 1b/5-8: 2 alphas x 3 seeds = 6 runs per dataset; KMNIST in full (60,000 / 10,000)
    assert _images(rows, "generalization_gap", "train", "cifar10") == 6 * 5 * 200
    assert _images(rows, "generalization_gap", "eval", "cifar10") == 6 * 6 * (200 + 20)
    assert _images(rows, "generalization_gap", "train", "kmnist") == 6 * 5 * 60_000
    assert _images(rows, "generalization_gap", "eval", "kmnist") == 6 * 6 * 70_000
    # Figure 3: the full CIFAR-100 test set is evaluated every epoch
    assert _images(rows, "fig3_training_error", "train") == 2 * 7 * 300
    assert _images(rows, "fig3_training_error", "eval") == 2 * 8 * (300 + 10_000)
    # Figure 3 evaluates in float32 whatever the training precision; Figure 1a's fit evaluates at its eval batch
    assert {r["bf16"] for r in rows if r["notebook"] == "fig3_training_error" and r["kind"] == "eval"} == {False}
    assert {r["bf16"] for r in rows if r["notebook"] == "fig3_training_error" and r["kind"] == "train"} == {True}
    assert ("eval", 500, True) in {(r["kind"], r["batch"], r["bf16"]) for r in rows if r["notebook"] == "fig1a_fgsm"}


def test_committed_rates_cover_the_paper_profile(cost):
    rates = json.loads((REPO / "benchmarks" / "rates_h200_partly_assumed.json").read_text())["rates"]
    keys = {cost._rate_key(r["model"], r["dataset"], r["kind"], r["batch"], r["bf16"])
            for r in cost.count_work(REPO / "notebooks" / "params")}
    assert keys <= set(rates), f"rates missing for {sorted(keys - set(rates))}"


def test_missing_rates_are_refused_with_what_to_do(cost, tmp_path, capsys):
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"device": "x", "rates": {}}))
    assert cost.main(["--rates", str(path)]) == 2
    assert "has no rate for" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_gpu_check_refuses_to_run_without_a_gpu(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path / "out")]) == 2
    assert "no CUDA device here" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_books_estimate_is_generated_from_the_committed_rates(cost, tmp_path, capsys):
    """book/_generated/paper_cost.md, included by the 'Running at scale' page, is what the script writes."""
    out = tmp_path / "paper_cost.md"
    assert cost.main(["--rates", str(REPO / "benchmarks" / "rates_h200_partly_assumed.json"), "--markdown", str(out)]) == 0
    assert out.read_text() == (REPO / "book" / "_generated" / "paper_cost.md").read_text()
    total = re.search(r"\| \*\*all three\*\* \|.*\| \*\*(\d+) min\*\* \|", out.read_text())
    printed = re.search(r"^total +([\d.]+) min", capsys.readouterr().out, re.M)
    assert total and printed and int(total.group(1)) == round(float(printed.group(1)))
