"""Training with ERM or mixup, seeded, with a per-epoch history of *clean* metrics and hooks.

The training objective of a mixup run is the mixup loss on mixed batches (recorded as
``mixup_loss``); ``train_loss_clean`` and ``train_err_clean`` are always measured on the unmixed
training set in eval mode, so they never mean the lam-weighted quantities that some mixup code
reports as "train accuracy".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import (CheckpointError, CheckpointMismatchError, CorruptCheckpointError, capture_rng, load_checkpoint,
                         restore_rng, save_checkpoint)
from .losses import GLM_LOSSES, get_loss
from .models import eval_mode
from .mixing import check_beta_params, is_erm, mix_batch, mixup_cross_entropy, mixup_glm_loss, sample_lambda

__all__ = ["Hook", "History", "fit", "evaluate", "resolve_device"]

LR_SCHEDULES = ("constant", "cosine")


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


def fit(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float,
    beta: float | None = None,
    epochs: int,
    lr: float,
    seed: int,
    loss: str = "logistic",
    batch_size: int | None = None,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    per_sample_lam: bool = False,
    X_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    hooks: Iterable[Hook] = (),
    progress: bool | str = True,
    device: str | torch.device | None = None,
    lr_schedule: str = "constant",
    autocast_dtype: torch.dtype | None = None,
    eval_autocast: bool = True,
    eval_batch_size: int = 4096,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 1,
    checkpoint_seconds: float | None = None,
    discard_bad_checkpoint: bool = False,
    channels_last: bool | None = None,
    compile: bool | str = False,
    data_on_device: bool | None = None,
    loader_workers: int | None = None,
    deterministic: bool = True,
) -> History:
    """Train ``model`` in place with ERM (``alpha = 0``) or mixup (``lam ~ Beta(alpha, beta)``).

    Args:
        alpha, beta: mixing distribution (``beta`` defaults to ``alpha``).
        epochs: passes over the data; lr: learning rate; seed: seeds the batch order, the
            partner permutation and lam (one torch and one numpy generator, both from ``seed``).
        loss: a GLM loss (``logistic``, ``squared``, ``poisson``; one output per example) or
            ``cross_entropy`` (multi-class logits, integer labels).
        batch_size: ``None`` for full-batch training; else shuffled minibatches, partners drawn
            within each batch (as in the reference mixup code).
        per_sample_lam: one lam per example instead of one per batch.
        X_test, y_test: optional test set, evaluated every epoch (``test_loss``, ``test_err``).
        hooks: callables ``hook(epoch, model)`` returning extra metrics, run at epoch 0 and after
            every epoch (a hook decides itself how often to measure).
        progress: show a progress bar over epochs (a string sets its description).
        device: None keeps the model where it is (the data follow it batch by batch); ``"auto"`` moves
            the model to CUDA if available, else the CPU; any ``torch.device`` string moves it there.
            Where the data go is set by ``data_on_device`` and ``loader_workers``.
        lr_schedule: ``"constant"`` or ``"cosine"`` (annealed per epoch from ``lr`` to 0).
        autocast_dtype: e.g. ``torch.bfloat16`` for mixed precision on a GPU: the forward passes of the
            training steps and of the per-epoch evaluations run under autocast (losses are computed in
            float32). None (default): off, everything in the model's dtype.
        eval_autocast: False runs the per-epoch evaluations without autocast, in the model's dtype, even when
            training uses ``autocast_dtype``: bf16 keeps 8 significant bits, so near-ties can flip an argmax
            (float32 convolutions on Ampere and later GPUs run in TF32 by PyTorch's default, 11 bits). Costs
            slower evaluation passes.
        eval_batch_size: batch size of the per-epoch clean evaluations.
        checkpoint_path: if given, a checkpoint (model, optimizer, every RNG state, history) is written
            there atomically every ``checkpoint_every`` epochs and after the last one. If the file exists,
            training resumes from it; on CPU the result is bitwise that of an uninterrupted run. A
            checkpoint of another run (different data, initial weights or hyper-parameters) raises
            ``CheckpointMismatchError``, a corrupt one ``CorruptCheckpointError``. Hooks are not re-run for
            the restored epochs, so they must not carry state from one epoch to the next.
        checkpoint_seconds: if given, a checkpoint is written after the first epoch that ends at least this
            many seconds after the previous checkpoint (or the start), instead of every ``checkpoint_every``
            epochs; still always after the last epoch. It bounds both the work a kill loses and the time spent
            writing (a PreAct ResNet-18 checkpoint, 90 MB, takes about 0.7 s). When checkpoints are written
            never changes what is computed.
        discard_bad_checkpoint: instead of raising, delete a corrupt checkpoint or one of another run with a
            warning and train from scratch (what sweeps and notebook runs want: their checkpoint paths are
            keys that an edit of the code can leave pointing at another run's file).
        channels_last: store the model and the image batches (4-D inputs) in channels-last layout, which
            tensor cores prefer (the model is left in that layout). None (default): on when training on CUDA
            with 4-D inputs.
        compile: ``True`` runs the training forward passes through ``torch.compile`` (default backend);
            a string names the backend (e.g. ``"aot_eager"``). Evaluation runs the eager model. Off by default:
            compiling costs tens of seconds, which pays only over long GPU runs.
        data_on_device: copy the whole training (and test) set to the training device once, as fast
            CIFAR trainers do, instead of moving each batch. None (default): on for CUDA when the tensors
            take less than a quarter of the free GPU memory.
        loader_workers: > 0 gathers the batches in a ``DataLoader`` with this many worker processes (into
            pinned memory when training on CUDA, copied without blocking). None (default): ``min(4, cpu_count
            // 2)`` when training on CUDA from data kept on the host, else 0 (direct indexing). The batch order
            is drawn in this process, so the workers never change the result. Workers gather from host
            memory only: with the data on the GPU (``data_on_device``, or tensors passed there) they are
            ignored with a warning.
        deterministic: on CUDA, ask cuDNN for deterministic algorithms (the same seed then gives the same
            weights on the same hardware); False lets cuDNN benchmark and pick the fastest ones. The CPU
            path is deterministic either way.

    Randomness: the batch order and lam come from ``seed`` through one torch and one numpy generator on
    the host; on CUDA the partner permutation is drawn on the device from a CUDA generator seeded from
    ``seed``, so no step waits for a host-to-device copy. The training loop makes no host-device
    synchronisation per step (the loss is summed on the device and read once per epoch).

    Returns:
        the :class:`History`; epoch 0 is the model before training.
    """
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
    if loader_workers is not None and (isinstance(loader_workers, bool) or not isinstance(loader_workers, int)
                                       or loader_workers < 0):
        raise ValueError(f"loader_workers must be a non-negative integer, got {loader_workers!r}")
    if not (isinstance(compile, bool) or (isinstance(compile, str) and compile)):
        raise ValueError(f"compile must be True, False or a torch.compile backend name, got {compile!r}")
    if device is not None:
        model.to(resolve_device(device))
    param0 = next(model.parameters(), None)
    dev = param0.device if param0 is not None else X.device
    on_cuda = dev.type == "cuda"
    images = X.ndim == 4
    if channels_last is None:
        channels_last = on_cuda and images
    memory_format = torch.channels_last if channels_last and images else torch.contiguous_format
    if memory_format is torch.channels_last:
        model.to(memory_format=torch.channels_last)
    if data_on_device is None:
        data_on_device = on_cuda and _fits_on_device(dev, X, y, X_test, y_test)
    host_tensors = (X, y, X_test, y_test)  # fingerprinted from here: no copy back from the device
    if data_on_device and X.device != dev:
        X, y = X.to(dev), y.to(dev)
        if X_test is not None and y_test is not None:
            X_test, y_test = X_test.to(dev), y_test.to(dev)
    host_data = X.device != dev
    if loader_workers is None:
        loader_workers = min(4, (os.cpu_count() or 2) // 2) if on_cuda and host_data else 0
    elif loader_workers and X.device.type != "cpu":
        warnings.warn(f"loader_workers={loader_workers} ignored: the training data are on {X.device}, and "
                      f"workers gather batches from host memory (pass data_on_device=False to use them)",
                      stacklevel=2)
        loader_workers = 0
    if not isinstance(eval_autocast, bool):
        raise ValueError(f"eval_autocast must be True or False, got {eval_autocast!r}")
    eval_dtype = autocast_dtype if eval_autocast else None
    step_model = _compiled(model, compile)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'sgd' or 'adam'")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if lr_schedule == "cosine" else None

    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer (epochs between checkpoints), "
                         f"got {checkpoint_every!r}")
    if checkpoint_seconds is not None and (isinstance(checkpoint_seconds, bool) or not isinstance(
            checkpoint_seconds, (int, float)) or not 0 <= checkpoint_seconds < math.inf):
        raise ValueError(f"checkpoint_seconds must be a finite number of seconds >= 0 or None, "
                         f"got {checkpoint_seconds!r}")

    torch_gen = torch.Generator().manual_seed(seed)
    np_gen = np.random.default_rng(seed)
    # Partners are drawn where the batch lives, so a GPU step never waits for a copy of the permutation.
    perm_gen = torch.Generator(device=dev).manual_seed(seed) if on_cuda else torch_gen
    history = History()
    hooks = list(hooks)
    start = 0
    if checkpoint_path is not None:
        checkpoint_path = Path(checkpoint_path)
        fingerprint = _fingerprint(model, *host_tensors, alpha=alpha, beta=beta, epochs=epochs, lr=lr,
                                   seed=seed, loss=loss, batch_size=bs, optimizer=optimizer, momentum=momentum,
                                   weight_decay=weight_decay, per_sample_lam=per_sample_lam,
                                   lr_schedule=lr_schedule, autocast_dtype=str(autocast_dtype),
                                   eval_dtype=str(eval_dtype), device=dev.type)
        try:  # fail before training, not at the first checkpoint
            checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CheckpointError(f"cannot create the directory of checkpoint {checkpoint_path} "
                                  f"({err.strerror or err}); pass a checkpoint_path in a writable place") from None
        ckpt = None
        if checkpoint_path.exists():
            try:
                ckpt = load_checkpoint(checkpoint_path)  # refuses a corrupt file before anything changes
                if ckpt.get("fingerprint") != fingerprint:
                    raise CheckpointMismatchError(
                        f"checkpoint {checkpoint_path} was written by a different run (fingerprint "
                        f"{ckpt.get('fingerprint')!r}, this run {fingerprint!r}: other data, initial weights or "
                        f"hyper-parameters); delete it or pass another checkpoint_path")
            except (CorruptCheckpointError, CheckpointMismatchError) as err:
                if not discard_bad_checkpoint:
                    raise
                warnings.warn(f"{err}; discarding it and training from scratch", stacklevel=2)
                checkpoint_path.unlink(missing_ok=True)
                ckpt = None
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            if sched is not None:
                sched.load_state_dict(ckpt["scheduler"])
            restore_rng(ckpt["rng"], torch_gen, np_gen)
            if perm_gen is not torch_gen:
                perm_gen.set_state(ckpt["perm_generator"])
            history.records = json.loads(ckpt["history"])
            start = history.resumed_from = int(ckpt["epoch"])

    def checkpoint(epoch: int) -> None:
        save_checkpoint(checkpoint_path, {
            "fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "rng": capture_rng(torch_gen, np_gen),
            "scheduler": sched.state_dict() if sched is not None else None,
            "perm_generator": perm_gen.get_state() if perm_gen is not torch_gen else None,
            "history": json.dumps(history.records, default=float),
        })

    def record(epoch: int, mixup_loss: float) -> dict[str, float]:
        rec: dict[str, float] = {"epoch": epoch}
        rec["train_loss_clean"], rec["train_err_clean"] = evaluate(model, X, y, loss, eval_batch_size, memory_format,
                                                                   eval_dtype)
        if not np.isnan(mixup_loss):
            rec["mixup_loss"] = mixup_loss
        if X_test is not None and y_test is not None:
            rec["test_loss"], rec["test_err"] = evaluate(model, X_test, y_test, loss, eval_batch_size, memory_format,
                                                         eval_dtype)
        for hook in hooks:
            rec.update(hook(epoch, model) or {})
        history.records.append(rec)
        return rec

    desc = progress if isinstance(progress, str) else ("mixup" if not is_erm(alpha) else "ERM")
    bar = tqdm(range(start + 1, epochs + 1), desc=desc, disable=not progress, leave=False, mininterval=1.0,
               initial=start, total=epochs)
    batches = _BatchSource(X, y, dev, loader_workers, memory_format)
    last_checkpoint = _clock()
    model.train()
    with _cudnn_mode(on_cuda, deterministic), batches:
        if start == 0:  # under the run's cuDNN mode, like every later evaluation
            record(0, float("nan"))
        for epoch in bar:
            order = torch.randperm(n, generator=torch_gen) if bs < n else torch.arange(n)
            total = torch.zeros((), dtype=torch.float64, device=dev)
            seen = 0
            for xb, yb in batches.epoch([order[s : s + bs] for s in range(0, n, bs)]):
                b = xb.shape[0]
                if is_erm(alpha):
                    batch = mix_batch(xb, yb, 1.0, torch.arange(b, device=dev))
                else:
                    lam = sample_lambda(alpha, beta, b if per_sample_lam else (), np_gen)
                    perm = torch.randperm(b, generator=perm_gen, device=perm_gen.device)
                    batch = mix_batch(xb, yb, torch.as_tensor(lam, dtype=xb.dtype), perm)
                if autocast_dtype is None:
                    out = step_model(batch.x)
                else:
                    with torch.autocast(dev.type, dtype=autocast_dtype):
                        out = step_model(batch.x)
                    out = out.float()
                obj = mixup_cross_entropy(out, batch) if loss == "cross_entropy" else mixup_glm_loss(out, batch, loss)
                opt.zero_grad(set_to_none=True)
                obj.backward()
                opt.step()
                total += obj.detach().double() * b
                seen += b
            if sched is not None:
                sched.step()
            rec = record(epoch, total.item() / seen)
            bar.set_postfix(train_loss_clean=f"{rec['train_loss_clean']:.4f}", refresh=False)
            if checkpoint_path is not None and (epoch == epochs or (
                    epoch % checkpoint_every == 0 if checkpoint_seconds is None
                    else _clock() - last_checkpoint >= checkpoint_seconds)):
                checkpoint(epoch)
                last_checkpoint = _clock()
    model.eval()
    return history



_clock = time.perf_counter  # the clock of checkpoint_seconds (a module attribute, so a test can drive it)


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
