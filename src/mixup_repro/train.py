"""Training with ERM or mixup, seeded, with a per-epoch history of *clean* metrics and hooks.

The training objective of a mixup run is the mixup loss on mixed batches (recorded as
``mixup_loss``); ``train_loss_clean`` and ``train_err_clean`` are always measured on the unmixed
training set in eval mode, so they never mean the lam-weighted quantities that some mixup code
reports as "train accuracy".

:func:`fit` is an epoch loop over named steps: check the arguments (:func:`_check_fit_args`), place data and
model on the device (:func:`_place`), resume (:func:`_resume`), one ERM or mixup step per batch
(:func:`train_step`), record the epoch (:class:`_Recorder`), checkpoint (:meth:`_Run.checkpoint`). Where it
computes is one :class:`DeviceOptions`, when it checkpoints one
:class:`~mixup_repro.checkpoint.CheckpointOptions`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import CheckpointOptions, capture_rng, load_run_checkpoint, restore_rng, save_checkpoint
from .losses import GLM_LOSSES, get_loss
from .models import eval_mode
from .mixing import check_beta_params, draw_epoch, is_erm, mix_batch, mixup_cross_entropy, mixup_glm_loss

__all__ = ["Hook", "History", "DeviceOptions", "fit", "train_step", "evaluate", "resolve_device"]

LR_SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("sgd", "adam")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``: CUDA if available, else CPU; any other value is passed to ``torch.device``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from err

LOSSES = tuple(GLM_LOSSES) + ("cross_entropy",)


class Hook(Protocol):
    """Called after epoch ``epoch`` (and once before training, epoch 0); returns extra metrics or None."""

    def __call__(self, epoch: int, model: torch.nn.Module) -> dict[str, float] | None: ...


@dataclass
class History:
    """Per-epoch records (dicts with the same keys where a metric was measured)."""

    records: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0
    """The epoch of the checkpoint this run resumed from (0: trained from scratch)."""

    def column(self, key: str) -> np.ndarray:
        """Values of ``key`` over the epochs where it was recorded (NaN elsewhere)."""
        return np.array([r.get(key, np.nan) for r in self.records], dtype=float)

    @property
    def epochs(self) -> np.ndarray:
        return self.column("epoch")


def _optional_bool(value: object) -> bool:
    return value is None or isinstance(value, bool)


@dataclass(frozen=True)
class DeviceOptions:
    """Where and how :func:`fit` computes: device, precision, memory layout, compilation, data placement.

    Only ``autocast_dtype`` (and ``eval_autocast`` with it), ``channels_last`` and ``compile`` can change results,
    and only by rounding; the rest never changes a number.

    Attributes:
        device: None keeps the model where it is (the data follow it batch by batch); ``"auto"`` moves the model to
            CUDA if available, else the CPU; any ``torch.device`` or its string moves it there. Where the data go is
            set by ``data_on_device`` and ``loader_workers``.
        autocast_dtype: e.g. ``torch.bfloat16`` for mixed precision on a GPU: the forward passes of the training
            steps and of the per-epoch evaluations run under autocast (losses are computed in float32). None
            (default): off, everything in the model's dtype.
        eval_autocast: False runs the per-epoch evaluations without autocast, in the model's dtype, even when
            training uses ``autocast_dtype``: bf16 keeps 8 significant bits, so near-ties can flip an argmax
            (float32 convolutions on Ampere and later GPUs run in TF32 by PyTorch's default, 11 bits). Costs
            slower evaluation passes.
        eval_batch_size: batch size of the per-epoch clean evaluations.
        channels_last: store the model and the image batches (4-D inputs) in channels-last layout, which tensor
            cores prefer (the model is left in that layout). None (default): on when training on CUDA with 4-D
            inputs.
        compile: ``True`` runs the training forward passes through ``torch.compile`` (default backend); a string
            names the backend (e.g. ``"aot_eager"``). Evaluation runs the eager model. Off by default: compiling
            costs tens of seconds, which pays only over long GPU runs.
        data_on_device: copy the whole training (and test) set to the training device once, as fast CIFAR
            trainers do, instead of moving each batch. None (default): on for CUDA when the tensors take less than
            a quarter of the free GPU memory.
        loader_workers: > 0 gathers the batches in a ``DataLoader`` with this many worker processes (into pinned
            memory when training on CUDA, copied without blocking). None (default): ``min(4, cpu_count // 2)`` when
            training on CUDA from data kept on the host, else 0 (direct indexing). The batch order is drawn in the
            training process, so the workers never change the result. Workers gather from host memory only: with
            the data on the GPU (``data_on_device``, or tensors passed there) they are ignored with a warning.
        deterministic: on CUDA, ask cuDNN for deterministic algorithms (the same seed then gives the same weights
            on the same hardware); False lets cuDNN benchmark and pick the fastest ones. The CPU path is
            deterministic either way.
    """

    device: str | torch.device | None = None
    autocast_dtype: torch.dtype | None = None
    eval_autocast: bool = True
    eval_batch_size: int = 4096
    channels_last: bool | None = None
    compile: bool | str = False
    data_on_device: bool | None = None
    loader_workers: int | None = None
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.device is not None and not isinstance(self.device, torch.device):
            if not isinstance(self.device, str):
                raise ValueError(f"device must be None, 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, "
                                 f"got {self.device!r}")
            resolve_device(self.device)  # refuses an unknown name
        if self.autocast_dtype is not None and not (isinstance(self.autocast_dtype, torch.dtype)
                                                    and self.autocast_dtype.is_floating_point):
            raise ValueError(f"autocast_dtype must be None or a floating torch dtype such as torch.bfloat16, "
                             f"got {self.autocast_dtype!r}")
        for name in ("eval_autocast", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("channels_last", "data_on_device"):
            if not _optional_bool(getattr(self, name)):
                raise ValueError(f"{name} must be None (automatic), True or False, got {getattr(self, name)!r}")
        size = self.eval_batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"eval_batch_size must be a positive integer, got {size!r}")
        if not (isinstance(self.compile, bool) or (isinstance(self.compile, str) and self.compile)):
            raise ValueError(f"compile must be True, False or a torch.compile backend name, got {self.compile!r}")
        workers = self.loader_workers
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
            raise ValueError(f"loader_workers must be a non-negative integer, got {workers!r}")


def _batch_loss(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(out, y.long(), reduction="sum")
    return get_loss(loss)(out.reshape(-1), y).sum()


def _errors(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "cross_entropy":
        return (out.argmax(dim=-1) != y.long()).sum()
    if loss == "logistic":
        return ((out.reshape(-1) > 0).to(y.dtype) != y).sum()
    return torch.zeros(())


def evaluate(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str, batch_size: int = 4096,
             memory_format: torch.memory_format = torch.contiguous_format,
             autocast_dtype: torch.dtype | None = None) -> tuple[float, float]:
    """Clean mean loss and 0-1 error of ``model`` on ``(X, y)`` in eval mode (mode restored).

    The 0-1 error is defined for ``logistic`` (sign of the logit) and ``cross_entropy`` (argmax);
    it is NaN for the regression losses. ``memory_format`` is the layout given to image batches (the
    model's); with ``autocast_dtype`` the forward passes run under autocast and the losses in float32.
    The sums stay on the model's device (float64) until the end: one synchronisation per call.
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else X.device
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_err = torch.zeros((), dtype=torch.float64, device=device)
    with eval_mode(model), torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            xb = X[s : s + batch_size].to(device)
            xb = xb.contiguous(memory_format=memory_format) if xb.ndim == 4 else xb
            if autocast_dtype is None:
                out = model(xb)
            else:
                with torch.autocast(device.type, dtype=autocast_dtype):
                    out = model(xb).float()
            yb = y[s : s + batch_size].to(device)
            total_loss += _batch_loss(out, yb, loss).double()
            total_err += _errors(out, yb, loss).to(device, torch.float64)
    n = X.shape[0]
    err = total_err.item() / n if loss in ("logistic", "cross_entropy") else float("nan")
    return total_loss.item() / n, err


def fit(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, *, alpha: float, beta: float | None = None,
        epochs: int, lr: float, seed: int, loss: str = "logistic", batch_size: int | None = None, optimizer: str = "sgd",
        momentum: float = 0.0, weight_decay: float = 0.0, lr_schedule: str = "constant", per_sample_lam: bool = False,
        X_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None, hooks: Iterable[Hook] = (),
        progress: bool | str = True, device: DeviceOptions | None = None,
        checkpoint: CheckpointOptions | None = None) -> History:
    """Train ``model`` in place with ERM (``alpha = 0``) or mixup (``lam ~ Beta(alpha, beta)``).

    Args:
        alpha, beta: mixing distribution (``beta`` defaults to ``alpha``).
        epochs: passes over the data; lr: learning rate; seed: seeds the batch order, the
            partner permutation and lam (one torch and one numpy generator, both from ``seed``).
        loss: a GLM loss (``logistic``, ``squared``, ``poisson``; one output per example) or
            ``cross_entropy`` (multi-class logits, integer labels).
        batch_size: ``None`` for full-batch training; else shuffled minibatches, partners drawn
            within each batch (as in the reference mixup code).
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``, both with ``weight_decay``;
            lr_schedule: ``"constant"`` or ``"cosine"`` (annealed per epoch from ``lr`` to 0).
        per_sample_lam: one lam per example instead of one per batch.
        X_test, y_test: optional test set, evaluated every epoch (``test_loss``, ``test_err``).
        hooks: callables ``hook(epoch, model)`` returning extra metrics, run at epoch 0 and after
            every epoch (a hook decides itself how often to measure).
        progress: show a progress bar over epochs (a string sets its description).
        device: where and how to compute (:class:`DeviceOptions`); None: ``DeviceOptions()``, the model
            stays where it is, in its dtype.
        checkpoint: where and when to write checkpoints (model, optimizer, every RNG state, history;
            atomically) and resume from them (:class:`~mixup_repro.checkpoint.CheckpointOptions`); None: no
            checkpoints. Hooks are not re-run for restored epochs: they must not carry state between epochs.

    Randomness: the batch order and lam come from ``seed`` through one torch and one numpy generator on
    the host; on CUDA the partner permutation is drawn on the device from a CUDA generator seeded from
    ``seed``, so no step waits for a host-to-device copy. An epoch's lams and partners are drawn before its first
    step (:func:`~mixup_repro.mixing.draw_epoch`: the values of drawing each just before its step, at a fraction
    of the cost). The training loop makes no host-device synchronisation per step (the loss is summed on the
    device and read once per epoch).

    Returns:
        the :class:`History`; epoch 0 is the model before training.
    """
    device = DeviceOptions() if device is None else device
    beta, bs = _check_fit_args(X, y, alpha=alpha, beta=beta, epochs=epochs, lr=lr, loss=loss, batch_size=batch_size,
                               optimizer=optimizer, lr_schedule=lr_schedule, device=device, checkpoint=checkpoint)
    data = _place(model, X, y, X_test, y_test, device)
    run = _Run(model, data.dev, seed=seed, optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
               lr_schedule=lr_schedule, epochs=epochs, mixing=(alpha, beta, per_sample_lam))
    history = History()
    if checkpoint is not None:  # fingerprinted from the caller's tensors: no copy back from the device
        run.fingerprint = _fingerprint(
            model, X, y, X_test, y_test, alpha=alpha, beta=beta, epochs=epochs, lr=lr, seed=seed, loss=loss,
            batch_size=bs, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay,
            per_sample_lam=per_sample_lam, lr_schedule=lr_schedule, autocast_dtype=str(device.autocast_dtype),
            eval_dtype=str(data.eval_dtype), device=data.dev.type)
        _resume(checkpoint, run, history)
    step = functools.partial(train_step, _compiled(model, device.compile), run.opt, loss=loss,
                             autocast_dtype=device.autocast_dtype)
    record = _Recorder(model, data, loss, device.eval_batch_size, list(hooks), history)
    bar = tqdm(range(history.resumed_from + 1, epochs + 1), disable=not progress, leave=False, mininterval=1.0,
               desc=progress if isinstance(progress, str) else ("mixup" if not is_erm(alpha) else "ERM"),
               initial=history.resumed_from, total=epochs)
    last_save = _clock()
    model.train()
    with _cudnn_mode(data.dev.type == "cuda", device.deterministic), _BatchSource(
            data.X, data.y, data.dev, data.loader_workers, data.memory_format) as batches:
        if history.resumed_from == 0:  # under the run's cuDNN mode, like every later evaluation
            record(0, float("nan"))
        for epoch in bar:
            rec = record(epoch, _train_epoch(step, batches, run, bs))
            bar.set_postfix(train_loss_clean=f"{rec['train_loss_clean']:.4f}", refresh=False)
            if checkpoint is not None and checkpoint.due(epoch, epochs, last_save, _clock):
                run.checkpoint(checkpoint.path, epoch, history)
                last_save = _clock()
    model.eval()
    return history


def _train_epoch(step: Callable[..., torch.Tensor], batches: _BatchSource, run: _Run, bs: int) -> float:
    """One pass over the data in a fresh random order, one :func:`train_step` per batch of ``bs``, then a step of
    the lr schedule; returns the epoch's mean training objective (one host-device synchronisation)."""
    n = batches.X.shape[0]
    order = torch.randperm(n, generator=run.torch_gen) if bs < n else torch.arange(n)
    index = [order[s : s + bs] for s in range(0, n, bs)]
    draws = run.draws([len(i) for i in index])
    total = torch.zeros((), dtype=torch.float64, device=batches.dev)
    for (xb, yb), (lam, perm) in zip(batches.epoch(index), draws, strict=True):
        total += step(xb, yb, lam=lam, perm=perm).double() * xb.shape[0]
    if run.sched is not None:
        run.sched.step()
    return total.item() / n


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *, loss: str,
               lam: float | np.ndarray | None = None, perm: torch.Tensor | None = None,
               autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """One optimizer step on the batch ``(x, y)``: ERM when ``lam`` is None, else mixup with ``lam`` (a number, or
    one per example) and partners ``x[perm]`` (:func:`~mixup_repro.mixing.mix_batch`).

    The mixup step costs the ERM step plus the mix (one gather and one ``lerp`` of the inputs) and one more gather
    of the log-probabilities. The forward pass runs under autocast when ``autocast_dtype`` is given (the loss in
    float32). Returns the mean objective of the batch, detached, where it was computed: the step makes no
    host-device synchronisation.
    """
    batch = None if lam is None else mix_batch(x, y, lam, perm)
    inputs = x if batch is None else batch.x
    if autocast_dtype is None:
        out = model(inputs)
    else:
        with torch.autocast(x.device.type, dtype=autocast_dtype):
            out = model(inputs)
        out = out.float()
    if batch is None:
        obj = _mean_loss(out, y, loss)
    else:
        obj = mixup_cross_entropy(out, batch) if loss == "cross_entropy" else mixup_glm_loss(out, batch, loss)
    opt.zero_grad(set_to_none=True)
    obj.backward()
    opt.step()
    return obj.detach()


def _mean_loss(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """The ERM objective: the mean loss of the batch (what the mixup losses are at lam = 1)."""
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(out, y.long())
    return get_loss(loss)(out.reshape(-1), y).mean()


def _check_fit_args(X: torch.Tensor, y: torch.Tensor, *, alpha: float, beta: float | None, epochs: int, lr: float,
                    loss: str, batch_size: int | None, optimizer: str, lr_schedule: str, device: DeviceOptions,
                    checkpoint: CheckpointOptions | None) -> tuple[float, int]:
    """Refuse bad arguments of :func:`fit` before anything changes; return ``beta`` and the batch size."""
    beta = alpha if beta is None else beta
    check_beta_params(alpha, beta)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {list(LOSSES)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y disagree on the number of examples: {X.shape[0]} vs {y.shape[0]}")
    n = X.shape[0]
    bs = n if batch_size is None else int(batch_size)
    if not 1 <= bs <= n:
        raise ValueError(f"batch_size must lie in [1, {n}] or be None (full batch), got {batch_size}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; choose one of {LR_SCHEDULES}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'sgd' or 'adam'")
    if not isinstance(device, DeviceOptions):
        raise TypeError(f"device must be a DeviceOptions (e.g. DeviceOptions(device='cuda')) or None, got {device!r}")
    if checkpoint is not None and not isinstance(checkpoint, CheckpointOptions):
        raise TypeError(f"checkpoint must be a CheckpointOptions (e.g. CheckpointOptions('run.ckpt')) or None, "
                        f"got {checkpoint!r}")
    return beta, bs


@dataclass
class _Placed:
    """The run's data where training reads them, and the training device, layout and evaluation precision."""

    dev: torch.device
    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor | None
    y_test: torch.Tensor | None
    memory_format: torch.memory_format
    loader_workers: int
    eval_dtype: torch.dtype | None

    @property
    def n(self) -> int:
        return self.X.shape[0]


def _place(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, X_test: torch.Tensor | None,
           y_test: torch.Tensor | None, options: DeviceOptions) -> _Placed:
    """Move the model (and, if asked or if they fit on the GPU, the data) to the training device; pick the layout."""
    if options.device is not None:
        model.to(resolve_device(options.device))
    param0 = next(model.parameters(), None)
    dev = param0.device if param0 is not None else X.device
    on_cuda = dev.type == "cuda"
    images = X.ndim == 4
    channels_last = on_cuda and images if options.channels_last is None else options.channels_last
    memory_format = torch.channels_last if channels_last and images else torch.contiguous_format
    if memory_format is torch.channels_last:
        model.to(memory_format=torch.channels_last)
    data_on_device = options.data_on_device
    if data_on_device is None:
        data_on_device = on_cuda and _fits_on_device(dev, X, y, X_test, y_test)
    if data_on_device and X.device != dev:
        X, y = X.to(dev), y.to(dev)
        if X_test is not None and y_test is not None:
            X_test, y_test = X_test.to(dev), y_test.to(dev)
    workers = options.loader_workers
    if workers is None:
        workers = min(4, (os.cpu_count() or 2) // 2) if on_cuda and X.device != dev else 0
    elif workers and X.device.type != "cpu":
        warnings.warn(f"loader_workers={workers} ignored: the training data are on {X.device}, and workers gather "
                      f"batches from host memory (set DeviceOptions(data_on_device=False) to use them)",
                      stacklevel=3)  # the caller of fit
        workers = 0
    eval_dtype = options.autocast_dtype if options.eval_autocast else None
    return _Placed(dev, X, y, X_test, y_test, memory_format, workers, eval_dtype)


class _Run:
    """A run's state that a checkpoint saves besides the history (the weights, the optimizer and its lr schedule,
    the generators) and the random draws of its steps.

    The batch order and lam come from one torch and one numpy generator seeded with ``seed``; partners are drawn
    where the batch lives (a CUDA generator on a GPU), so a GPU step never waits for a copy of the permutation.
    ``mixing`` is ``(alpha, beta, per_sample_lam)``.
    """

    def __init__(self, model: torch.nn.Module, dev: torch.device, *, seed: int, optimizer: str, lr: float,
                 momentum: float, weight_decay: float, lr_schedule: str, epochs: int,
                 mixing: tuple[float, float, bool]):
        self.model, self.mixing = model, mixing
        params = [p for p in model.parameters() if p.requires_grad]
        if optimizer == "sgd":
            self.opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum,
                                                              weight_decay=weight_decay)
        else:
            self.opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        self.sched = (torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=epochs)
                      if lr_schedule == "cosine" else None)
        self.torch_gen = torch.Generator().manual_seed(seed)
        self.np_gen = np.random.default_rng(seed)
        self.perm_gen = torch.Generator(device=dev).manual_seed(seed) if dev.type == "cuda" else self.torch_gen
        self.fingerprint = ""

    def draws(self, sizes: list[int]) -> list[tuple[float | np.ndarray | None, torch.Tensor | None]]:
        """lam (one, or one per example) and the partner permutation of each batch of an epoch, all drawn before its
        first step (:func:`~mixup_repro.mixing.draw_epoch`); ``(None, None)`` per batch for ERM."""
        alpha, beta, per_sample_lam = self.mixing
        if is_erm(alpha):
            return [(None, None)] * len(sizes)
        return draw_epoch(sizes, alpha, beta, per_sample_lam=per_sample_lam, lam_generator=self.np_gen,
                          perm_generator=self.perm_gen)

    def checkpoint(self, path: Path, epoch: int, history: History) -> None:
        """Write the state after ``epoch`` to ``path`` (atomically)."""
        save_checkpoint(path, {
            "fingerprint": self.fingerprint, "epoch": epoch, "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(), "rng": capture_rng(self.torch_gen, self.np_gen),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "perm_generator": self.perm_gen.get_state() if self.perm_gen is not self.torch_gen else None,
            "history": json.dumps(history.records, default=float),
        })

    def restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(ckpt["scheduler"])
        restore_rng(ckpt["rng"], self.torch_gen, self.np_gen)
        if self.perm_gen is not self.torch_gen:
            self.perm_gen.set_state(ckpt["perm_generator"])


def _resume(options: CheckpointOptions, run: _Run, history: History) -> None:
    """Load the run's checkpoint, if there is one of this run (``run.fingerprint``), into ``run`` and ``history``."""
    ckpt = load_run_checkpoint(options, run.fingerprint)
    if ckpt is not None:
        run.restore(ckpt)
        history.records = json.loads(ckpt["history"])
        history.resumed_from = int(ckpt["epoch"])


class _Recorder:
    """Appends the record of an epoch to the history: clean train (and test) loss and error, the epoch's mean
    training objective (``mixup_loss``), and what the hooks return."""

    def __init__(self, model: torch.nn.Module, data: _Placed, loss: str, eval_batch_size: int, hooks: list[Hook],
                 history: History):
        self.model, self.data, self.loss, self.hooks, self.history = model, data, loss, hooks, history
        self.eval_batch_size = eval_batch_size

    def _evaluate(self, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        return evaluate(self.model, X, y, self.loss, self.eval_batch_size, self.data.memory_format,
                        self.data.eval_dtype)

    def __call__(self, epoch: int, mixup_loss: float) -> dict[str, float]:
        d = self.data
        rec: dict[str, float] = {"epoch": epoch}
        rec["train_loss_clean"], rec["train_err_clean"] = self._evaluate(d.X, d.y)
        if not np.isnan(mixup_loss):
            rec["mixup_loss"] = mixup_loss
        if d.X_test is not None and d.y_test is not None:
            rec["test_loss"], rec["test_err"] = self._evaluate(d.X_test, d.y_test)
        for hook in self.hooks:
            rec.update(hook(epoch, self.model) or {})
        self.history.records.append(rec)
        return rec


_clock = time.perf_counter  # the clock of CheckpointOptions.seconds (a module attribute, so a test can drive it)


def _fits_on_device(dev: torch.device, *tensors: torch.Tensor | None) -> bool:
    """Whether ``tensors`` take less than a quarter of the free memory of CUDA device ``dev``."""
    need = sum(t.numel() * t.element_size() for t in tensors if t is not None and t.device != dev)
    free, _ = torch.cuda.mem_get_info(dev)
    return need < free / 4


def _compiled(model: torch.nn.Module, compile: bool | str) -> torch.nn.Module:
    """``model`` itself, or a ``torch.compile`` wrapper sharing its parameters (``compile`` names the backend;
    checked by :func:`fit`)."""
    if compile is False:
        return model
    return torch.compile(model) if compile is True else torch.compile(model, backend=compile)


@contextlib.contextmanager
def _cudnn_mode(on_cuda: bool, deterministic: bool):
    """On CUDA, set cuDNN to deterministic (or benchmarking) algorithms for the run, then restore it."""
    if not on_cuda:
        yield
        return
    old = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, not deterministic
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old


class _Rows(torch.utils.data.Dataset):
    """Gathers whole batches: ``ds[idx]`` with an index tensor returns ``(X[idx], y[idx])``."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor):
        self.X, self.y = X, y

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X.index_select(0, idx), self.y.index_select(0, idx)


class _Order(torch.utils.data.Sampler):
    """The index batches of the current epoch, replaced by the training loop before each epoch."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _BatchSource:
    """Yields the training batches of an epoch, on the training device, in the order given.

    Three paths with the same batches: data already on the device (index there); data on the host with
    no workers (index on the host, copy); data on the host with workers (a ``DataLoader`` gathers batches
    in worker processes into pinned memory, copied without blocking). Used as a context manager so the
    workers stop when training ends.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, dev: torch.device, workers: int,
                 memory_format: torch.memory_format):
        self.X, self.y, self.dev, self.memory_format = X, y, dev, memory_format
        self.order = _Order()
        self.loader = None
        if workers > 0:
            self.loader = torch.utils.data.DataLoader(
                _Rows(X, y), batch_size=None, sampler=self.order, num_workers=workers,
                pin_memory=dev.type == "cuda", persistent_workers=True)

    def __enter__(self) -> "_BatchSource":
        return self

    def __exit__(self, *exc) -> None:
        if self.loader is not None and self.loader._iterator is not None:
            self.loader._iterator._shutdown_workers()
        self.loader = None

    def _place(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb = xb.to(self.dev, non_blocking=True), yb.to(self.dev, non_blocking=True)
        if xb.ndim == 4:
            xb = xb.contiguous(memory_format=self.memory_format)
        return xb, yb

    def epoch(self, batches: list[torch.Tensor]):
        if self.loader is not None:
            self.order.batches = batches
            for xb, yb in self.loader:
                yield self._place(xb, yb)
        elif self.X.device == self.dev:
            for idx in batches:
                idx = idx.to(self.dev, non_blocking=True)
                yield self._place(self.X.index_select(0, idx), self.y.index_select(0, idx))
        else:
            for idx in batches:
                yield self._place(self.X[idx], self.y[idx])


def _fingerprint(model: torch.nn.Module, *tensors: torch.Tensor | None, **hyper) -> str:
    """sha256 (16 hex) of the initial weights, the data and the hyper-parameters: what a checkpoint must match."""
    h = hashlib.sha256(json.dumps(hyper, sort_keys=True).encode())
    for t in (*model.state_dict().values(), *tensors):
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]
