"""Bad input, one row each: refused with a message that says what to do, and nothing partial left behind.

Tests run as root, for whom permission bits block neither reads nor writes: the "unreadable data directory"
row uses a path that is a file, and the "results directory not writable" row a path below a file, which the
operating system refuses to anyone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
import yaml

from mixup_repro import attacks, config, pipeline, sweep
from mixup_repro.checkpoint import CheckpointOptions, CorruptCheckpointError
from mixup_repro.config import ConfigError
from mixup_repro.data.images import DataDirError
from mixup_repro.data.synthetic import gaussian_mixture
from mixup_repro.models import build_model
from mixup_repro.results import ResultsDirError
from mixup_repro.sweep import load_grid, run_sweep
from mixup_repro.train import fit

REPO = Path(__file__).resolve().parents[1]
GRID = {"name": "bad", "seeds": [0], "alpha": [1.0], "dataset": ["two_moons"], "model": ["logistic"],
        "method": ["mixup"], "train": {"n_samples": 16, "epochs": 2}}


def _grid(tmp: Path, **changes) -> Path:
    """A grid file equal to GRID with top-level (or, for train_*, training) values changed."""
    data = {**GRID, "train": dict(GRID["train"])}
    for key, value in changes.items():
        if key.startswith("train_"):
            data["train"][key[len("train_"):]] = value
        else:
            data[key] = value
    path = tmp / "grid.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _loading(**changes):
    """A setup that writes the grid file (before the snapshot) and returns loading it as the action."""
    def setup(tmp: Path):
        path = _grid(tmp, **{k: v(tmp) if callable(v) else v for k, v in changes.items()})
        return lambda: load_grid(path)
    return setup


def _attack(eps: float, steps: int | None = None):
    """FGSM (or PGD with ``steps``) on a 3-class linear model with inputs in [0, 1]."""
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.rand(2, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 2])
    if steps is None:
        return lambda: attacks.fgsm(model, x, y, eps=eps)
    return lambda: attacks.pgd(model, x, y, eps=eps, step_size=0.1, steps=steps)


def _corrupt_checkpoint(tmp: Path):
    ckpt = tmp / "run.ckpt"
    ckpt.write_bytes(b"MIXUP-REPRO-CHECKPOINT 1\n" + b"0" * 64 + b"\n" + b"half a payload")
    ds = gaussian_mixture(16, seed=0)
    model = build_model("logistic", 2, generator=torch.Generator().manual_seed(0))
    return lambda: fit(model, ds.X, ds.y, alpha=1.0, epochs=2, lr=0.1, seed=0, progress=False,
                       checkpoint=CheckpointOptions(ckpt))


def _no_cluster(*args, **kwargs):
    raise AssertionError("a cluster was started before the results directory was checked")


def _unwritable_results(tmp: Path):
    """Refused up front: without the check every run would fail later with the same message."""
    blocker = tmp / "a_file"
    blocker.write_text("results cannot go below a file")
    grid = load_grid(_grid(tmp))

    def action():
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sweep, "_local_cluster", _no_cluster)
            run_sweep(grid, results_root=blocker / "results", progress=False)
    return action


def _duplicate_key(tmp: Path):
    path = tmp / "grid.yml"
    path.write_text("name: bad\nseeds: [0]\nmethod: [erm]\nmodel: [logistic]\nseeds: [5]\n")
    return lambda: load_grid(path)


def _run(tmp: Path, overrides=None, results: Path | None = None):
    """``mixup-repro run fig1a_fgsm --profile smoke`` as the action; the output would land in ``tmp``."""
    def action():
        if results is not None:
            os.environ["MIXUP_REPRO_RESULTS"] = str(results)  # the test's monkeypatch restores it
        pipeline.run_notebook("fig1a_fgsm", "smoke", overrides, root=REPO, output=tmp / "out.ipynb", progress=False)
    return action


def _run_unwritable_results(tmp: Path):
    (tmp / "a_file").write_text("results cannot go below a file")
    return _run(tmp, results=tmp / "a_file" / "results")


def _file_as_data_dir(tmp: Path) -> str:
    (tmp / "images.tar").write_bytes(b"\0" * 10)
    return str(tmp / "images.tar")


# (id, setup(tmp) -> action, exception, message pattern)
CASES = [
    ("unknown parameter", _loading(sedds=[0]), ConfigError,
     r"unknown parameter 'sedds' for sweep grid 'sweep' \(did you mean 'seeds'\?\).*fix the name in"),
    ("key written twice", _duplicate_key, ConfigError,
     r"'seeds' is written twice in one mapping of .*grid.yml \(lines 2 and 5\); keep one of them"),
    ("misspelled training parameter", _loading(train_epoch=3), ConfigError,
     r"unknown parameter 'epoch' for run 'sweep_run' \(did you mean 'epochs'\?\)"),
    ("wrong type", _loading(train_epochs="ten"), ConfigError,
     r"parameter 'epochs' of run 'sweep_run' must be an int, got str 'ten'; fix it in"),
    ("alpha < 0", _loading(alpha=[1.0, -0.5]), ConfigError,
     r"parameter 'alpha' of sweep grid 'sweep' element \[1\] must be in \(0, 1024\], got -0.5; fix it in"),
    ("beta < 0", _loading(train_beta=-1), ConfigError,
     r"parameter 'beta' of run 'sweep_run' must be in \[0, 1024\], got -1.0; fix it in"),
    ("eps > 1", lambda t: _attack(1.5), ValueError,
     r"eps = 1.5 exceeds the linf diameter 1 of the input box.*pick eps in \[0, 1\]"),
    ("eps < 0", lambda t: _attack(-0.1), ValueError, r"eps must be a finite number >= 0, got -0.1"),
    ("steps <= 0", lambda t: _attack(0.1, steps=0), ValueError, r"steps must be an integer >= 1, got 0"),
    ("unknown dataset", _loading(dataset=["cifar11"]), ConfigError,
     r"unknown dataset 'cifar11'; known datasets: two_moons, gaussian_mixture.*fix it in the grid"),
    ("unknown model", _loading(model=["resnet999"]), ConfigError,
     r"unknown model 'resnet999' for the datasets two_moons; known models: logistic, relu_mlp.*fix it in the grid"),
    ("unknown profile", lambda t: lambda: config.load_profile("gpu", "lemma31_fig2"), ConfigError,
     r"unknown profile 'gpu'; known profiles: smoke, cpu, paper; pick one with --profile"),
    ("missing data directory", _loading(data_dir=lambda t: str(t / "no_such_dir")), DataDirError,
     r"data directory .*no_such_dir does not exist; pass the directory that holds the dataset files"),
    ("unreadable data directory", _loading(data_dir=_file_as_data_dir), DataDirError,
     r"data directory .*images.tar is not a directory.*pass the directory that holds"),
    ("missing data directory, notebook run", lambda t: _run(t, {"data_dir": str(t / "no_such_dir")}), DataDirError,
     r"data directory .*no_such_dir does not exist; pass the directory that holds the dataset files"),
    ("corrupt checkpoint", _corrupt_checkpoint, CorruptCheckpointError,
     r"run.ckpt does not match its sha256 \(truncated or corrupted\); delete .* to start the run from scratch"),
    ("results directory not writable", _unwritable_results, ResultsDirError,
     r"cannot write results under .*a_file/results.*writable directory"),
    ("results directory not writable, notebook run", _run_unwritable_results, ResultsDirError,
     r"cannot write results under .*a_file/results.*choose a writable directory \(--results-dir DIR"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("setup, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_advice_and_leaves_nothing(tmp_path, monkeypatch, setup, error, message):
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path / "results"))  # anything written would show here
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # load_profile reads notebooks/params
    action = setup(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(error, match=message):
        action()
    assert _snapshot(tmp_path) == before
