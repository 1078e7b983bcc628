"""Sweeps on a Dask LocalCluster: a grid of tiny runs completes, finished runs are skipped, corrupt results are
recomputed, and a worker killed mid-run has its task retried (resuming its checkpoint) with no result lost or
duplicated. One cluster serves the whole module (its start and the workers' torch import cost seconds)."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mixup_repro import cli
from mixup_repro.config import ConfigError
from mixup_repro.results import load_result
from mixup_repro.sweep import (RUN_NAME, SweepError, SweepGrid, TrainRunConfig, load_grid, run_key, run_one,
                               run_sweep)

pytestmark = pytest.mark.slow

GRID = {"name": "tiny", "seeds": [0, 1], "alpha": [1.0], "dataset": ["two_moons"], "model": ["relu_mlp"],
        "method": ["erm", "mixup"], "checkpoint_every": 2,
        "train": {"n_samples": 64, "n_test": 64, "hidden": 8, "epochs": 10, "lr": 0.5, "batch_size": 16}}


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    from mixup_repro.sweep import _local_cluster

    cluster = _local_cluster(2)
    with Client(cluster) as c:
        yield c
    cluster.close()


def _result_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / RUN_NAME).iterdir())


def test_grid_expands_erm_once_and_mixup_per_alpha():
    grid = SweepGrid.from_mapping({**GRID, "alpha": [0.5, 2.0], "dataset": ["two_moons", "gaussian_mixture"]})
    runs = grid.runs()
    assert len(runs) == 2 * 2 * (1 + 2)  # datasets x seeds x (erm + mixup at 2 alphas)
    assert {(r.method, r.alpha, r.beta) for r in runs} == {("erm", 0.0, 0.0), ("mixup", 0.5, 0.5), ("mixup", 2.0, 2.0)}
    assert len({run_key(r) for r in runs}) == len(runs)
    assert all(r.epochs == 10 and r.batch_size == 16 for r in runs)
    fixed_beta = SweepGrid.from_mapping({**GRID, "train": {**GRID["train"], "beta": 3.0}}).runs()
    assert {r.beta for r in fixed_beta if r.method == "mixup"} == {3.0}


def test_run_key_depends_on_config_and_version(monkeypatch):
    cfg = TrainRunConfig(epochs=5)
    old = run_key(cfg)
    assert old == run_key(TrainRunConfig(epochs=5)) != run_key(TrainRunConfig(epochs=6))
    monkeypatch.setattr("mixup_repro.__version__", "9.9.9")
    assert run_key(cfg) != old


def test_image_sizes_beyond_the_dataset_and_huge_seeds_are_refused_in_the_grid():
    with pytest.raises(ConfigError, match=r"digits has 449 test images, fewer than n_test = 1,000; set n_test <= 449"):
        TrainRunConfig(dataset="digits", model="mlp", dtype="float32", n_samples=100)
    with pytest.raises(ConfigError, match=r"cifar10 has 50,000 training images, fewer than n_samples = 50,001"):
        TrainRunConfig(dataset="cifar10", model="cnn", dtype="float32", n_samples=50_001, n_test=100)
    assert TrainRunConfig(dataset="digits", model="mlp", dtype="float32", n_samples=1348, n_test=449).n_test == 449
    assert TrainRunConfig(dataset="fake", model="mlp", dtype="float32", n_test=5000).n_test == 5000  # generated
    with pytest.raises(ConfigError, match=r"parameter 'seeds' of sweep grid 'sweep' element \[0\] must be in "
                                          r"\[0, 4294967295\], got 4294967296"):
        SweepGrid.from_mapping({**GRID, "seeds": [2**32]})


def test_example_grids_are_valid():
    root = Path(__file__).resolve().parents[1] / "sweeps"
    assert len(load_grid(root / "example.yml").runs()) == 24
    assert len(load_grid(root / "synthetic.yml").runs()) == 600
    paper = load_grid(root / "paper.yml").runs()
    assert len(paper) == 10 and {(c.dataset, c.model, c.epochs) for c in paper} == {("cifar10", "preact_resnet18", 200)}


def test_models_pair_with_the_datasets_they_fit():
    grid = SweepGrid.from_mapping({"dataset": ["two_moons", "fake"], "model": ["logistic", "mlp"],
                                   "method": ["erm"], "train": {"dtype": "float32"}})
    assert [(c.dataset, c.model) for c in grid.runs()] == [("two_moons", "logistic"), ("fake", "mlp")]
    with pytest.raises(ConfigError, match="unknown model 'mlp' for the datasets two_moons; known models: logistic"):
        SweepGrid.from_mapping({"dataset": ["two_moons"], "model": ["mlp"]})
    with pytest.raises(ConfigError, match="image datasets train in float32.*set dtype: float32 under train"):
        SweepGrid.from_mapping({"dataset": ["fake"], "model": ["mlp"]})
    with pytest.raises(ConfigError, match="unknown device 'gpu9'.*'device' in"):
        SweepGrid.from_mapping({"device": "gpu9"})


def test_image_run_resumes_bitwise_and_is_skipped_when_done(tmp_path):
    """The image path (fake data, vision MLP, cosine schedule, cross-entropy) through run_one."""
    cfg = TrainRunConfig(dataset="fake", model="mlp", n_samples=32, n_test=16, epochs=3, batch_size=8, lr=0.05,
                         momentum=0.9, lr_schedule="cosine", dtype="float32")

    class Stop(Exception):
        pass

    def stop_at_2(epoch, model):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        run_one(cfg, tmp_path / "a", hooks=[stop_at_2], device="cpu")
    assert run_one(cfg, tmp_path / "a", device="cpu")["status"] == "computed"
    assert run_one(cfg, tmp_path / "a", device="cpu")["status"] == "skipped"
    run_one(cfg, tmp_path / "b", device="cpu")
    resumed, fresh = (load_result(tmp_path / r / RUN_NAME / run_key(cfg)) for r in ("a", "b"))
    assert (resumed.meta["resumed_from_epoch"], fresh.meta["resumed_from_epoch"]) == (1, 0)
    assert any(k.startswith("params.0.") for k in fresh.arrays)  # the Normalize layer of the train statistics
    for name, value in fresh.arrays.items():
        np.testing.assert_array_equal(resumed.arrays[name], value, err_msg=name)


def test_sweep_completes_skips_finished_and_recomputes_corrupt(client, tmp_path):
    grid = SweepGrid.from_mapping(GRID)
    keys = sorted(run_key(c) for c in grid.runs())
    summary = run_sweep(grid, results_root=tmp_path, client=client, progress=False)
    assert summary["counts"] == {"computed": 4, "skipped": 0, "failed": 0}
    assert _result_dirs(tmp_path) == [".checkpoints", *keys]
    assert os.listdir(tmp_path / RUN_NAME / ".checkpoints") == []  # removed once the result is saved
    for key in keys:
        res = load_result(tmp_path / RUN_NAME / key)
        assert res.config["mixup_repro_version"] and res.meta["resumed_from_epoch"] == 0
        assert 0 <= res.metrics["test_err_clean"] <= 1 and res.arrays["history.epoch"].tolist() == list(range(11))
    assert yaml.safe_load((tmp_path / "sweeps" / "tiny.json").read_text())["n_runs"] == 4

    again = run_sweep(grid, results_root=tmp_path, client=client, progress=False)
    assert again["counts"] == {"computed": 0, "skipped": 4, "failed": 0}

    victim = tmp_path / RUN_NAME / keys[0] / "metrics.json"
    victim.write_text(victim.read_text()[:-5])
    with pytest.warns(UserWarning, match="recomputing a corrupt sweep result"):
        third = run_sweep(grid, results_root=tmp_path, client=client, progress=False)
    assert third["counts"] == {"computed": 1, "skipped": 3, "failed": 0}
    load_result(tmp_path / RUN_NAME / keys[0])
    assert _result_dirs(tmp_path) == [".checkpoints", *keys]


class _KillOnce:
    """A training hook that SIGKILLs its own worker process at ``epoch``, once (a marker file remembers)."""

    def __init__(self, marker: Path, epoch: int):
        self.marker, self.epoch = marker, epoch

    def __call__(self, epoch, model):
        if epoch == self.epoch and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


def _die_once(cfg, root, **kw):
    """run_one, except that the worker running the seed-1 mixup run dies at epoch 5 the first time."""
    hooks = [_KillOnce(Path(root) / "killed.marker", 5)] if (cfg.seed, cfg.method) == (1, "mixup") else []
    return run_one(cfg, root, hooks=hooks, **kw)


def test_worker_killed_mid_run_is_retried_and_resumes(client, tmp_path):
    grid = SweepGrid.from_mapping(GRID)
    summary = run_sweep(grid, results_root=tmp_path, client=client, progress=False, run_fn=_die_once)
    assert (tmp_path / "killed.marker").exists()  # the worker really died
    assert summary["counts"] == {"computed": 4, "skipped": 0, "failed": 0}
    keys = sorted(run_key(c) for c in grid.runs())
    assert _result_dirs(tmp_path) == [".checkpoints", *keys]  # nothing lost, nothing duplicated, no temp dirs
    assert os.listdir(tmp_path / RUN_NAME / ".checkpoints") == []

    victim = next(c for c in grid.runs() if (c.seed, c.method) == (1, "mixup"))
    res = load_result(tmp_path / RUN_NAME / run_key(victim))
    assert res.meta["resumed_from_epoch"] == 4  # the last checkpoint before the kill (every 2 epochs)
    # The resumed run equals an uninterrupted one bitwise (workers run torch single-threaded).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_one(victim, tmp_path / "reference")
    finally:
        torch.set_num_threads(threads)
    ref = load_result(tmp_path / "reference" / RUN_NAME / run_key(victim))
    assert ref.meta["resumed_from_epoch"] == 0
    for name, value in ref.arrays.items():
        np.testing.assert_array_equal(res.arrays[name], value, err_msg=name)
    assert res.metrics == ref.metrics


def _count_call(root) -> None:
    with open(Path(root).parent / "calls.log", "a") as fh:  # beside the results: one line per task attempt
        fh.write("call\n")


def _as_version(version: str, cfg, root, **kw):
    import mixup_repro

    old, mixup_repro.__version__ = mixup_repro.__version__, version
    try:
        return run_one(cfg, root, **kw)
    finally:
        mixup_repro.__version__ = old


def _worker_of_another_version(cfg, root, **kw):
    """A worker that joined late with mixup-repro 9.9.9."""
    _count_call(root)
    return _as_version("9.9.9", cfg, root, **kw)


def _old_worker_of_another_version(cfg, root, expected_key=None, client_version=None, **kw):
    """The same, without the worker-side key check (a release before it): the client must catch it."""
    _count_call(root)
    return _as_version("9.9.9", cfg, root, **kw)


def _worker_without_the_shared_directory(cfg, root, **kw):
    """A worker whose results directory is another one than the client's."""
    _count_call(root)
    return run_one(cfg, Path(root).parent / "elsewhere", **kw)


def _refused_run(cfg, root, **kw):
    """A run refused by its own validation: it would fail the same way on every retry."""
    _count_call(root)
    raise ConfigError("batch_size 99 exceeds n_samples 64; use 0 for full batch")


@pytest.mark.parametrize("run_fn, message", [
    (_worker_of_another_version, r"SweepError: this worker runs mixup-repro 9\.9\.9, the client \d[^:]*: run key "
                                 r"\w+ here, {key} on the client; install the same mixup-repro version on every "
                                 r"worker"),
    (_old_worker_of_another_version, r"a worker saved this run under key \w+ \(.*\), not {key}: it runs another "
                                     r"mixup-repro version or source; install the same version on every worker"),
    (_worker_without_the_shared_directory, r"a worker reported this run computed at .*elsewhere.*, but .*/r/sweep_run/"
                                           r"{key} does not exist here; the results directory must be shared by "
                                           r"every worker"),
    (_refused_run, r"ConfigError: batch_size 99 exceeds n_samples 64"),
], ids=["late worker of another version", "same, without the worker check", "results not shared", "refused run"])
def test_a_run_the_client_cannot_use_fails_once_and_is_not_counted(client, tmp_path, run_fn, message):
    grid = SweepGrid.from_mapping({**GRID, "seeds": [0], "method": ["erm"]})
    (key,) = [run_key(c) for c in grid.runs()]
    with pytest.raises(SweepError, match=f"1 of 1 runs failed: {key}: " + message.format(key=key)):
        run_sweep(grid, results_root=tmp_path / "r", client=client, progress=False, run_fn=run_fn)
    assert (tmp_path / "calls.log").read_text().count("call") == 1  # not retried: it would fail the same way
    summary = yaml.safe_load((tmp_path / "r" / "sweeps" / "tiny.json").read_text())
    assert summary["counts"] == {"computed": 0, "skipped": 0, "failed": 1}
    assert not (tmp_path / "r" / RUN_NAME / key).exists()


def test_run_one_refuses_a_key_other_than_the_clients(tmp_path, monkeypatch):
    cfg = TrainRunConfig(**{**GRID["train"], "epochs": 2})
    key = run_key(cfg)
    monkeypatch.setattr("mixup_repro.__version__", "9.9.9")
    with pytest.raises(SweepError, match=r"this worker runs mixup-repro 9\.9\.9, the client 0\.0\.1: run key \w+ "
                                         r"here, \w+ on the client; install the same mixup-repro version"):
        run_one(cfg, tmp_path, expected_key=key, client_version="0.0.1")
    assert not tmp_path.joinpath(RUN_NAME).exists()


def test_a_missing_cuda_device_is_refused_before_any_run(client, tmp_path):
    grid = SweepGrid.from_mapping({**GRID, "seeds": [0], "method": ["erm"], "device": "cuda:99"})
    with pytest.raises(ConfigError, match=r"device 'cuda:99' needs CUDA GPU 99, found \d+ CUDA GPUs? on worker "
                                          r"tcp://.*; set device: auto or cpu in the grid"):
        run_sweep(grid, results_root=tmp_path / "r", client=client, progress=False)
    assert not (tmp_path / "r").exists()
    # a worker that joins later refuses the run itself (a ValueError: reported once, not retried)
    with pytest.raises(ValueError, match=r"device 'cuda:99' needs CUDA GPU 99, found \d+ CUDA GPUs? on this machine"):
        run_one(grid.runs()[0], tmp_path / "r", device="cuda:99")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_on_a_machine_without_a_gpu_is_refused(client, tmp_path):
    grid = SweepGrid.from_mapping({**GRID, "seeds": [0], "method": ["erm"], "device": "cuda"})
    with pytest.raises(ConfigError, match=r"device 'cuda' needs a CUDA GPU, found 0 CUDA GPUs on worker tcp://"):
        run_sweep(grid, results_root=tmp_path / "r", client=client, progress=False)


def test_a_corrupt_result_is_reported_by_the_client_only(tmp_path):
    """The client warns when it sends a corrupt result to be recomputed; the worker does not warn again."""
    cfg = TrainRunConfig(**{**GRID["train"], "epochs": 2})
    key = run_key(cfg)
    run_one(cfg, tmp_path, device="cpu")
    victim = tmp_path / RUN_NAME / key / "metrics.json"
    victim.write_text(victim.read_text()[:-5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_one(cfg, tmp_path, device="cpu", expected_key=key)["status"] == "computed"
    victim.write_text(victim.read_text()[:-5])
    with pytest.warns(UserWarning, match="recomputing a corrupt sweep result"):
        run_one(cfg, tmp_path, device="cpu")  # called on its own, run_one is the one to say so


def test_cli_sweep_on_a_running_scheduler(client, tmp_path, capsys):
    grid_file = tmp_path / "grid.yml"
    grid_file.write_text(yaml.safe_dump({**GRID, "seeds": [3], "method": ["erm"]}))
    args = ["sweep", str(grid_file), "--scheduler", client.scheduler.address, "--results-dir", str(tmp_path / "r"),
            "--no-progress"]
    assert cli.main(args) == 0
    assert "sweep tiny: 1 runs (1 computed)" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert "(1 skipped)" in capsys.readouterr().out


def test_cli_sweep_refuses_a_bad_grid_without_starting_a_cluster(tmp_path, capsys):
    grid_file = tmp_path / "grid.yml"
    grid_file.write_text(yaml.safe_dump({**GRID, "sedds": [0]}))
    assert cli.main(["sweep", str(grid_file), "--results-dir", str(tmp_path / "r")]) == 2
    assert "unknown parameter 'sedds' for sweep grid 'sweep' (did you mean 'seeds'?)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert cli.main(["sweep", str(tmp_path / "missing.yml")]) == 2
    assert "sweep grid file" in capsys.readouterr().err


def test_a_checkpoint_of_another_run_under_the_key_is_discarded(tmp_path):
    """Keys hold the version, not the code: a checkpoint left by an edited run must not be trusted or fatal."""
    cfg = TrainRunConfig(**{**GRID["train"], "seed": 0})
    other = TrainRunConfig(**{**GRID["train"], "seed": 0, "lr": 0.25})
    root = tmp_path / "a"
    ckpt = root / RUN_NAME / ".checkpoints" / f"{run_key(cfg)}.ckpt"
    def stop(epoch, model):
        if epoch == 3:  # after the checkpoint of epoch 2
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        run_one(other, root, checkpoint_every=2, hooks=[stop], device="cpu")
    (root / RUN_NAME / ".checkpoints" / f"{run_key(other)}.ckpt").rename(ckpt)  # now under cfg's key
    with pytest.warns(UserWarning, match=r"was written by a different run.*discarding it and training from scratch"):
        assert run_one(cfg, root, checkpoint_every=2, device="cpu")["status"] == "computed"
    run_one(cfg, tmp_path / "b", checkpoint_every=2, device="cpu")
    got, clean = (load_result(tmp_path / r / RUN_NAME / run_key(cfg)) for r in ("a", "b"))
    assert got.meta["resumed_from_epoch"] == 0 and not ckpt.exists()
    for name, value in clean.arrays.items():
        np.testing.assert_array_equal(got.arrays[name], value, err_msg=name)


def test_missing_image_data_is_refused_before_any_cluster_starts(tmp_path, monkeypatch):
    from mixup_repro import sweep
    from mixup_repro.data.images import DatasetNotFoundError

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(sweep, "_local_cluster", no_cluster)
    (tmp_path / "data").mkdir()
    grid = SweepGrid.from_mapping({"dataset": ["kmnist"], "model": ["mlp"], "method": ["erm"],
                                   "data_dir": str(tmp_path / "data"), "train": {"dtype": "float32"}})
    with pytest.raises(DatasetNotFoundError, match=r"kmnist not found under .*data.*`download: true` in a sweep grid"):
        run_sweep(grid, results_root=tmp_path / "r", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"] and not any((tmp_path / "data").iterdir())


@pytest.mark.parametrize("address", ["localhost8786", "tcp://"])
def test_a_bad_scheduler_address_is_one_clear_error_and_leaves_nothing(tmp_path, capsys, address):
    grid_file = tmp_path / "grid.yml"
    grid_file.write_text(yaml.safe_dump({**GRID, "seeds": [0], "method": ["erm"]}))
    assert cli.main(["sweep", str(grid_file), "--scheduler", address, "--results-dir", str(tmp_path / "r"),
                     "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"cannot connect to the Dask scheduler at '{address}'" in err and "tcp://HOST:PORT" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_erm_and_mixup_need_consistent_alpha():
    with pytest.raises(ConfigError, match="method 'erm' trains with alpha = beta = 0"):
        TrainRunConfig(method="erm", alpha=1.0)
    with pytest.raises(ConfigError, match="method 'mixup' needs alpha > 0"):
        TrainRunConfig(method="mixup", alpha=0.0)
    with pytest.raises(ConfigError, match="'alpha' under 'train' .* is a sweep axis"):
        SweepGrid.from_mapping({**GRID, "train": {"alpha": 1.0}})
