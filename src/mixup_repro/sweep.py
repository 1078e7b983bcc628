"""Sweeps: a grid of independent training runs (seeds x alpha x dataset x model x method) run on Dask.

A grid file (YAML) -> :class:`SweepGrid` (strict) -> one :class:`TrainRunConfig` per run -> :func:`run_one`
on a Dask worker -> one saved :class:`~mixup_repro.results.Result` per run in
``<results>/sweep_run/<key>/``. The key hashes the resolved run config and the package version, so a run
that already has a valid result is skipped and a corrupt one is recomputed. Each run checkpoints into
``<results>/sweep_run/.checkpoints/<key>.ckpt``: a task retried after its worker died resumes there.
The results directory must be shared by the client and every worker (a network filesystem on a cluster).
"""

from __future__ import annotations

import os
import re
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import yaml

from .config import SEED_MAX, ConfigError, NotebookConfig, param
from .data.catalog import IMAGE_DATASETS, SPLIT_SIZES
from .data.images import check_data_dir
from .durable import write_json_atomic
from .provenance import provenance, source_fingerprint
from .results import (CorruptResultError, Result, check_writable, config_hash, load_result, result_path, results_dir,
                      save_result)
from .runs import derive_seed

__all__ = ["RUN_NAME", "SYNTHETIC_DATASETS", "METHODS", "SweepError", "TrainRunConfig", "SweepAxes", "SweepGrid",
           "load_grid", "run_key", "run_one", "run_sweep"]

RUN_NAME = "sweep_run"
#: Synthetic datasets a sweep can train on; the image datasets are those of :mod:`mixup_repro.data.catalog`
#: (read from the grid's data_dir, else the defaults of :mod:`mixup_repro.data.images`).
SYNTHETIC_DATASETS = ("two_moons", "gaussian_mixture")
METHODS = ("erm", "mixup")
_AXES = {"seeds": "seed", "alpha": "alpha", "dataset": "dataset", "model": "model", "method": "method"}


class SweepError(RuntimeError):
    """Some runs of a sweep failed (after their retries, or refused at once), or a worker runs another
    mixup-repro; the message lists them and says what to do."""


def _models_for(dataset: str) -> tuple[str, ...]:
    """Model names that fit ``dataset``: binary models for synthetic data, vision models for images."""
    if dataset in IMAGE_DATASETS:
        from .vision_models import VISION_MODELS

        return VISION_MODELS
    from .models import MODELS

    return MODELS


@dataclass(frozen=True)
class TrainRunConfig(NotebookConfig):
    """One training run of a sweep: data, model, ERM or mixup, optimisation. Validated on construction."""

    NAME: ClassVar[str] = RUN_NAME
    KIND: ClassVar[str] = "run"

    dataset: str = param("two_moons", help="two_moons, gaussian_mixture, or an image dataset (cifar10, ...)")
    model: str = param("logistic", help="logistic, relu_mlp, tanh_mlp, ... for synthetic data; mlp, cnn, wrn16_8, "
                                        "preact_resnet18 for images")
    method: str = param("mixup", choices=METHODS, help="erm (alpha = 0) or mixup (alpha > 0)")
    alpha: float = param(1.0, low=0, high=1024, help="first Beta parameter of lam, 0 for erm, typically 0.1-4")
    beta: float = param(1.0, low=0, high=1024, help="second Beta parameter of lam, 0 for erm, typically = alpha")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of model initialisation, batch order and mixing")
    data_seed: int = param(0, low=0, high=SEED_MAX, help="seed of the training sample (the test sample derives from it)")
    n_samples: int = param(256, low=8, high=10_000_000, help="training points (images: the first n), typically 100-50000")
    n_test: int = param(1000, low=2, high=10_000_000, help="test points (images: the first n), typically 1000-10000")
    noise: float = param(0.1, low=0, high=10, help="two_moons noise std (input units), typically 0.05-0.3")
    d: int = param(2, low=1, high=100_000, help="gaussian_mixture input dimension")
    separation: float = param(2.0, low=0, high=1000, help="gaussian_mixture distance between the means")
    hidden: int = param(32, low=1, high=65536, help="MLP hidden width in units, typically 8-512")
    epochs: int = param(50, low=1, high=100_000, help="training epochs")
    lr: float = param(0.1, low=0, high=100, low_open=True, help="learning rate, typically 0.01-1")
    lr_schedule: str = param("constant", choices=("constant", "cosine"), help="constant, or cosine annealing to 0")
    batch_size: int = param(0, low=0, high=10_000_000, help="minibatch size, 0 for full batch")
    optimizer: str = param("sgd", choices=("sgd", "adam"), help="sgd or adam")
    momentum: float = param(0.0, low=0, high=1, high_open=True, help="SGD momentum in [0, 1)")
    weight_decay: float = param(0.0, low=0, high=1, help="L2 weight decay, typically 0-5e-4")
    per_sample_lam: bool = param(False, help="one lam per example instead of one per batch")
    dtype: str = param("float64", choices=("float64", "float32"), help="torch dtype of the run (images: float32)")

    def __post_init__(self) -> None:
        super().__post_init__()
        fix = "; fix it in the grid file"
        if self.dataset not in SYNTHETIC_DATASETS + IMAGE_DATASETS:
            raise ConfigError(f"unknown dataset '{self.dataset}'; known datasets: "
                              f"{', '.join(SYNTHETIC_DATASETS + IMAGE_DATASETS)}{fix}")
        models = _models_for(self.dataset)
        if self.model not in models:
            raise ConfigError(f"unknown model '{self.model}' for dataset '{self.dataset}'; known models: "
                              f"{', '.join(models)}{fix}")
        if self.dataset in IMAGE_DATASETS and self.dtype != "float32":
            raise ConfigError(f"image datasets train in float32, got dtype '{self.dtype}'; set dtype: float32 "
                              f"under train")
        if self.method == "erm" and (self.alpha != 0 or self.beta != 0):
            raise ConfigError(f"method 'erm' trains with alpha = beta = 0, got alpha = {self.alpha:g}, "
                              f"beta = {self.beta:g}; use method 'mixup' for alpha > 0")
        if self.method == "mixup" and not (self.alpha > 0 and self.beta > 0):
            raise ConfigError(f"method 'mixup' needs alpha > 0 and beta > 0, got alpha = {self.alpha:g}, "
                              f"beta = {self.beta:g}; use method 'erm' for alpha = 0")
        if self.batch_size > self.n_samples:
            raise ConfigError(f"batch_size {self.batch_size} exceeds n_samples {self.n_samples}; use 0 for full batch")
        if self.dataset in SPLIT_SIZES:  # refused here, not in every run on the workers
            for key, split, have in zip(("n_samples", "n_test"), ("training", "test"), SPLIT_SIZES[self.dataset]):
                if getattr(self, key) > have:
                    raise ConfigError(f"{self.dataset} has {have:,} {split} images, fewer than {key} = "
                                      f"{getattr(self, key):,}; set {key} <= {have} under train in the grid file")


@dataclass(frozen=True)
class SweepAxes(NotebookConfig):
    """The top level of a grid file: its name, the axes, and how runs checkpoint and find their data."""

    NAME: ClassVar[str] = "sweep"
    KIND: ClassVar[str] = "sweep grid"

    name: str = param("sweep", help="names the sweep's summary file <results>/sweeps/<name>.json")
    seeds: tuple[int, ...] = param((0,), low=0, high=SEED_MAX, help="values of seed, one run each")
    alpha: tuple[float, ...] = param((1.0,), low=0, high=1024, low_open=True,
                                     help="alpha values of the mixup runs (beta = alpha unless train sets beta)")
    dataset: tuple[str, ...] = param(("two_moons",), help="dataset names")
    model: tuple[str, ...] = param(("logistic",), help="model names")
    method: tuple[str, ...] = param(("erm", "mixup"), choices=METHODS, help="erm and/or mixup")
    checkpoint_every: int = param(1, low=1, help="epochs between checkpoints of each run")
    data_dir: str = param("", help="directory holding image datasets, shared by every worker; empty: the cache "
                                   "(~/.cache/mixup-repro/data or $MIXUP_REPRO_DATA; Fashion-MNIST also from Debian)")
    download: bool = param(False, help="let torchvision download missing image datasets into data_dir once, before "
                                       "the runs start (needs internet on the machine running the sweep command)")
    device: str = param("auto", help="where runs train: auto (CUDA if available), cpu, cuda, cuda:N")


@dataclass(frozen=True)
class SweepGrid:
    """A validated grid: the axes and the fixed training values shared by every run."""

    axes: SweepAxes
    train: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.axes.name

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, source: str = "the grid") -> "SweepGrid":
        """Validate a grid read from YAML: unknown names, wrong types and out-of-range values are refused."""
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{source} must be a mapping of name -> value, got {type(mapping).__name__}")
        top = dict(mapping)
        train = top.pop("train", None) or {}
        if not isinstance(train, Mapping):
            raise ConfigError(f"'train' in {source} must be a mapping of training parameters, got {train!r}")
        for key in train:
            if key in _AXES.values():
                axis = next(a for a, f in _AXES.items() if f == key)
                raise ConfigError(f"'{key}' under 'train' in {source} is a sweep axis; list its values at the "
                                  f"top level instead ({axis}: [...])")
        TrainRunConfig.from_mapping(train, source=f"'train' in {source}")  # names, types, ranges
        grid = cls(SweepAxes.from_mapping(top, source=source), dict(train))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", grid.name):
            raise ConfigError(f"sweep name {grid.name!r} in {source} must be letters, digits, '_', '.' or '-' "
                              f"(it names the summary file); rename it")
        if grid.axes.data_dir and not grid.axes.download:  # a download creates it
            check_data_dir(grid.axes.data_dir)
        from .train import resolve_device

        try:
            resolve_device(grid.axes.device)
        except ValueError as err:
            raise ConfigError(f"{err} (parameter 'device' in {source})") from None
        grid.runs()  # every combination must be a valid run
        return grid

    def runs(self) -> list[TrainRunConfig]:
        """One config per distinct run: dataset x model x (erm, mixup x alpha) x seeds, in that order.

        Models pair with the datasets they fit (binary models with synthetic data, vision models with images).
        """
        out: dict[str, TrainRunConfig] = {}
        for model in self.axes.model:
            if not any(model in _models_for(d) for d in self.axes.dataset):
                known = sorted({m for d in self.axes.dataset for m in _models_for(d)})
                raise ConfigError(f"unknown model '{model}' for the datasets {', '.join(self.axes.dataset)}; known "
                                  f"models: {', '.join(known)}; fix it in the grid file")
        for dataset in self.axes.dataset:
            # A grid may mix synthetic and image datasets: each model runs on the datasets it fits.
            for model in (m for m in self.axes.model if m in _models_for(dataset)):
                for method in self.axes.method:
                    for alpha in (self.axes.alpha if method == "mixup" else (0.0,)):
                        beta = self.train.get("beta", alpha) if method == "mixup" else 0.0
                        for seed in self.axes.seeds:
                            cfg = TrainRunConfig.from_mapping(
                                {**self.train, "dataset": dataset, "model": model, "method": method,
                                 "alpha": alpha, "beta": beta, "seed": seed}, source="the grid")
                            out.setdefault(run_key(cfg), cfg)
        return list(out.values())


class _DuplicateKey(Exception):
    """A key written twice in one YAML mapping: (key, first line, second line)."""


class _GridLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (plain YAML keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key, line = self.construct_object(key_node, deep=deep), key_node.start_mark.line + 1
            try:
                if key in lines:
                    raise _DuplicateKey(key, lines[key], line)
                lines[key] = line
            except TypeError:  # an unhashable key: the base class refuses it
                pass
        return super().construct_mapping(node, deep=deep)


def load_grid(path: str | Path) -> SweepGrid:
    """Read and validate a grid file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep grid file {path} not found; pass a YAML file such as sweeps/example.yml")
    try:
        data = yaml.load(path.read_text(), Loader=_GridLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    except _DuplicateKey as dup:
        key, first, second = dup.args
        where = f"line {first}" if first == second else f"lines {first} and {second}"
        raise ConfigError(f"'{key}' is written twice in one mapping of {path} ({where}); keep one of them") from None
    return SweepGrid.from_mapping(data or {}, source=str(path))


def _key_config(cfg: TrainRunConfig) -> dict[str, Any]:
    from . import __version__

    return {**cfg.to_dict(), "mixup_repro_version": __version__}


def run_key(cfg: TrainRunConfig) -> str:
    """The run's key: 12 hex of the sha256 of its resolved config and the package version."""
    return config_hash(_key_config(cfg), name=RUN_NAME)


def _data(cfg: TrainRunConfig, data_dir: str | None):
    """(X, y, X_test, y_test, num_classes) of the run.

    Synthetic data: the test sample is drawn with a seed derived from ``data_seed``. Images: the first
    ``n_samples`` / ``n_test`` examples of each split (the ``fake`` dataset is generated with ``data_seed``).
    """
    import torch

    if cfg.dataset in IMAGE_DATASETS:
        from .data.images import load_image_dataset

        root = check_data_dir(data_dir) if data_dir else None
        train, test = (load_image_dataset(cfg.dataset, split, root, n=n, fake_size=n, seed=cfg.data_seed)
                       for split, n in (("train", cfg.n_samples), ("test", cfg.n_test)))
        return train.X, train.y, test.X, test.y, train.num_classes
    from .data import synthetic

    dtype = getattr(torch, cfg.dtype)
    make = {"two_moons": lambda n, s: synthetic.two_moons(n, cfg.noise, s, dtype=dtype),
            "gaussian_mixture": lambda n, s: synthetic.gaussian_mixture(n, cfg.d, cfg.separation, s, dtype=dtype)}
    train = make[cfg.dataset](cfg.n_samples, cfg.data_seed)
    test = make[cfg.dataset](cfg.n_test, derive_seed(cfg.data_seed, 1))
    return train.X, train.y, test.X, test.y, 2


def _build(cfg: TrainRunConfig, X, num_classes: int, init_seed: int):
    """The run's model, initialised from ``init_seed`` alone (images: with a Normalize layer of the train stats)."""
    import torch

    gen = torch.Generator().manual_seed(init_seed)
    if cfg.dataset in IMAGE_DATASETS:
        from .data.images import channel_stats
        from .vision_models import build_vision_model

        mean, std = channel_stats(X)
        return build_vision_model(cfg.model, tuple(X.shape[1:]), num_classes, generator=gen, mean=mean, std=std,
                                  hidden=(cfg.hidden,))
    from .models import build_model

    return build_model(cfg.model, X.shape[1], hidden=cfg.hidden, generator=gen, dtype=getattr(torch, cfg.dtype))


def _valid_result(path: Path, warn: bool = True) -> bool:
    try:
        load_result(path)
    except FileNotFoundError:
        return False
    except CorruptResultError as err:
        if warn:
            warnings.warn(f"recomputing a corrupt sweep result: {err}", stacklevel=2)
        return False
    return True


def _cuda_problem(device: str | None) -> str | None:
    """Why this machine cannot train on ``device`` (None if it can: a CPU, ``auto``, or an existing GPU)."""
    from .train import resolve_device

    dev = resolve_device(device)
    if dev.type != "cuda":
        return None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if dev.index is None and count or dev.index is not None and dev.index < count:
        return None
    need = "a CUDA GPU" if dev.index is None else f"CUDA GPU {dev.index}"
    return f"device '{device}' needs {need}, found {count} CUDA GPU{'' if count == 1 else 's'}"


def run_one(cfg: TrainRunConfig, results_root: str | Path, *, checkpoint_every: int = 1,
            data_dir: str | None = None, device: str | None = "auto", hooks: Iterable = (),
            expected_key: str | None = None, client_version: str | None = None) -> dict[str, str]:
    """Train one run (resuming from its checkpoint if there is one) and save its result atomically.

    Returns ``{"key", "status": "computed" | "skipped", "path"}``; a run whose valid result exists is skipped.
    A corrupt checkpoint, or one written by another run, is discarded with a warning and the run starts again
    from scratch. ``expected_key`` and ``client_version`` come from :func:`run_sweep`'s client: a run whose key
    differs here (another mixup-repro on this worker) is refused with :class:`SweepError` before it trains.
    """
    import time

    from . import __version__
    from .checkpoint import CheckpointOptions
    from .train import DeviceOptions, fit, resolve_device

    root = Path(results_root)
    key_cfg = _key_config(cfg)
    path = result_path(RUN_NAME, key_cfg, root)
    if expected_key is not None and path.name != expected_key:
        what = (f"other mixup-repro {__version__} source files than the client" if client_version == __version__
                else f"mixup-repro {__version__}, the client {client_version or 'another version'}")
        raise SweepError(f"this worker runs {what}: run key {path.name} here, {expected_key} on the client; install "
                         f"the same mixup-repro version on every worker (run keys include the version)")
    # a sweep's client has already warned about a corrupt result it sends here
    if _valid_result(path, warn=expected_key is None):
        return {"key": path.name, "status": "skipped", "path": str(path)}
    if (problem := _cuda_problem(device)) is not None:
        raise ValueError(f"{problem} on this machine; set device: auto or cpu in the grid, or run on GPU workers")
    start = time.perf_counter()
    ckpt = root / RUN_NAME / ".checkpoints" / f"{path.name}.ckpt"
    X, y, X_test, y_test, num_classes = _data(cfg, data_dir)
    init_seed = derive_seed(cfg.seed, 0)
    dev = resolve_device(device)

    model = _build(cfg, X, num_classes, init_seed)
    hist = fit(model, X, y, alpha=cfg.alpha, beta=cfg.beta, epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed,
               loss="cross_entropy" if cfg.dataset in IMAGE_DATASETS else "logistic",
               batch_size=cfg.batch_size or None, optimizer=cfg.optimizer, momentum=cfg.momentum,
               weight_decay=cfg.weight_decay, per_sample_lam=cfg.per_sample_lam, X_test=X_test, y_test=y_test,
               hooks=hooks, progress=False, device=DeviceOptions(device=dev), lr_schedule=cfg.lr_schedule,
               # keys hold the package version, not the code: after an edit a key's checkpoint may be
               # another run's; neither it nor a corrupt one is trusted
               checkpoint=CheckpointOptions(ckpt, every=checkpoint_every, discard_bad=True))
    last = hist.records[-1]
    metrics = {"train_loss_clean": last["train_loss_clean"], "train_err_clean": last["train_err_clean"],
               "test_loss_clean": last["test_loss"], "test_err_clean": last["test_err"]}
    arrays = {f"history.{k}": hist.column(k) for k in ("epoch", "train_loss_clean", "train_err_clean",
                                                      "mixup_loss", "test_loss", "test_err")}
    arrays.update({f"params.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()})
    meta = provenance(seeds={"seed": cfg.seed, "data_seed": cfg.data_seed, "model_init": init_seed},
                      wall_time_s=time.perf_counter() - start, device=str(dev))
    meta["resumed_from_epoch"] = hist.resumed_from
    save_result(Result(name=RUN_NAME, config=key_cfg, metrics=metrics, arrays=arrays, meta=meta), root)
    ckpt.unlink(missing_ok=True)
    return {"key": path.name, "status": "computed", "path": str(path)}


def _run_task(run_fn: Callable[..., dict[str, str]], cfg: TrainRunConfig, results_root: str,
              **kwargs: Any) -> dict[str, str]:
    """``run_fn`` on a worker. A run refused by its own checks (a ValueError such as a ConfigError, a worker
    of another version) returns a failure record instead of raising: Dask would retry it, and it would fail
    the same way again. Other errors, and a worker that dies, are retried."""
    try:
        return run_fn(cfg, results_root, **kwargs)
    except (ValueError, SweepError) as err:
        return {"key": kwargs.get("expected_key"), "status": "failed", "error": f"{type(err).__name__}: {err}"}


def _check_returned(key: str, record: Mapping[str, str], root: Path) -> str | None:
    """Why the client cannot accept what the task of run ``key`` returned (None if it can)."""
    if record.get("status") == "failed":
        return record.get("error", "failed")
    if record.get("key") != key:
        return (f"a worker saved this run under key {record.get('key')} ({record.get('path')}), not {key}: it runs "
                f"another mixup-repro version or source; install the same version on every worker")
    path = root / RUN_NAME / key
    try:
        load_result(path)
    except FileNotFoundError:
        return (f"a worker reported this run {record.get('status')} at {record.get('path')}, but {path} does not "
                f"exist here; the results directory must be shared by every worker (the same path on the client "
                f"and each worker)")
    except CorruptResultError as err:
        return f"{type(err).__name__}: {err}"
    return None


def _check_device(client, device: str) -> None:
    """Refuse a CUDA device that a connected worker does not have (a worker that joins later: see run_one)."""
    from .train import resolve_device

    if resolve_device(device).type != "cuda":
        return
    for worker, problem in client.run(_cuda_problem, device).items():
        if problem is not None:
            raise ConfigError(f"{problem} on worker {worker}; set device: auto or cpu in the grid, or run the sweep "
                              f"on workers with a GPU")


def _worker_library() -> tuple[str, str]:
    from . import __version__

    return __version__, source_fingerprint()


def _local_cluster(n_workers: int):
    from distributed import LocalCluster

    # Workers inherit sys.path, but spell PYTHONPATH out so they import this checkout's package.
    src = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        env={"PYTHONPATH": pythonpath})


def _check_workers(client) -> None:
    here = _worker_library()
    for worker, (version, source) in client.run(_worker_library).items():
        if version != here[0]:
            raise SweepError(f"worker {worker} runs mixup-repro {version}, this client {here[0]}; install the "
                             f"same version on every worker (run keys include the version)")
        if source != here[1]:
            warnings.warn(f"worker {worker} runs different mixup-repro source files (fingerprint {source}, here "
                          f"{here[1]}) under the same version; results are keyed by version only", stacklevel=3)


def _connect(scheduler: str):
    from distributed import Client

    try:
        return Client(scheduler, timeout="20s")
    except (OSError, ValueError, TypeError) as err:  # unreachable (OSError, TimeoutError) or a malformed address
        raise SweepError(f"cannot connect to the Dask scheduler at {scheduler!r} ({type(err).__name__}: {err}); "
                         f"pass --scheduler as tcp://HOST:PORT (8786 by default) of a running `dask scheduler`, "
                         f"or leave it out to start a LocalCluster") from None


def _run_on_dask(client, grid: SweepGrid, todo: list[tuple[str, TrainRunConfig]], root: Path, run_fn: Callable,
                 status: dict[str, str], errors: dict[str, str], *, total: int, progress: bool) -> None:
    """Submit the runs ``todo`` (key, config) to ``client`` and record each one's status (and error) as it ends."""
    from distributed import as_completed
    from tqdm import tqdm

    from . import __version__

    _check_workers(client)
    _check_device(client, grid.axes.device)
    token = uuid.uuid4().hex[:8]
    # Workers that join later are not in _check_workers: each task checks its key against the client's.
    futures = {client.submit(_run_task, run_fn, cfg, str(root), checkpoint_every=grid.axes.checkpoint_every,
                             data_dir=grid.axes.data_dir or None, device=grid.axes.device,
                             expected_key=k, client_version=__version__, key=f"{RUN_NAME}-{k}-{token}",
                             retries=2, pure=False): k for k, cfg in todo}
    bar = tqdm(as_completed(futures), total=total, initial=total - len(todo), disable=not progress,
               desc=f"sweep {grid.name}", unit="run", file=sys.stderr)
    for fut in bar:
        k = futures[fut]
        try:
            record = fut.result()
        except Exception as err:  # a run failed after its retries: report it, keep the others
            record = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        problem = _check_returned(k, record, root)
        status[k] = record["status"] if problem is None else "failed"
        if problem is not None:
            errors[k] = problem


def run_sweep(grid: SweepGrid, *, results_root: str | Path | None = None, scheduler: str | None = None,
              n_workers: int = 2, progress: bool = True, client=None,
              run_fn: Callable[..., dict[str, str]] = run_one) -> dict[str, Any]:
    """Run every run of ``grid`` that has no valid result yet, on Dask, and return the sweep summary.

    Args:
        grid: a validated :class:`SweepGrid` (see :func:`load_grid`).
        results_root: the results directory (default ``$MIXUP_REPRO_RESULTS`` or ``./results``); it must be
            reachable at the same path from every worker.
        scheduler: address of a running Dask scheduler (``tcp://host:8786``); ``None`` starts a
            ``LocalCluster`` of ``n_workers`` single-threaded worker processes.
        progress: show a progress bar of runs done / total.
        client: an existing ``distributed.Client`` to use instead (neither started nor closed here).
        run_fn: the function each task runs (``run_one``; tests wrap it to inject faults).

    Every task is retried twice on an exception, except a run refused by its own checks (a ``ValueError``, or a
    worker whose mixup-repro gives the run another key), which fails at once; a task whose worker dies is
    rescheduled by Dask and resumes from its checkpoint. The client accepts a run only if its valid result is
    under the client's key in ``results_root``. The summary (``<results>/sweeps/<name>.json``) lists each run's
    key and status. Raises :class:`SweepError` if some runs still failed, and :class:`ConfigError` if the grid's
    CUDA device is missing on a worker connected when it starts.
    """
    root = Path(results_root if results_root is not None else results_dir()).resolve()
    check_writable(root, fix="pass --results-dir with a writable directory")
    runs = grid.runs()
    keys = [run_key(cfg) for cfg in runs]
    status = {k: "skipped" for k, cfg in zip(keys, runs)
              if _valid_result(result_path(RUN_NAME, _key_config(cfg), root))}
    todo = [(k, cfg) for k, cfg in zip(keys, runs) if k not in status]
    errors: dict[str, str] = {}
    if todo:
        from distributed import Client

        from .data.images import ensure_dataset

        for name in sorted({cfg.dataset for _, cfg in todo} & set(IMAGE_DATASETS)):
            # Refuse missing data before any worker starts (and download once, not in every run).
            ensure_dataset(name, grid.axes.data_dir or None, download=grid.axes.download)
        own = client is None
        cluster = _local_cluster(n_workers) if own and scheduler is None else None
        if own:
            client = Client(cluster) if cluster is not None else _connect(scheduler)
        try:
            _run_on_dask(client, grid, todo, root, run_fn, status, errors, total=len(runs), progress=progress)
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
    summary = {"name": grid.name, "results_dir": str(root), "n_runs": len(runs),
               "counts": {s: sum(v == s for v in status.values()) for s in ("computed", "skipped", "failed")},
               "runs": [{"key": k, "status": status[k], "config": cfg.to_dict(),
                         **({"error": errors[k]} if k in errors else {})} for k, cfg in zip(keys, runs)]}
    write_json_atomic(root / "sweeps" / f"{grid.name}.json", summary)
    if errors:
        raise SweepError(f"{len(errors)} of {len(runs)} runs failed: "
                         + "; ".join(f"{k}: {e}" for k, e in errors.items())
                         + f"; see {root / 'sweeps' / (grid.name + '.json')} and rerun the sweep to retry them")
    return summary
