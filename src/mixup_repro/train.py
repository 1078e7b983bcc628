"""Training with ERM or mixup, seeded, with a per-epoch history of *clean* metrics and hooks.

The training objective of a mixup run is the mixup loss on mixed batches (recorded as
``mixup_loss``); ``train_loss_clean`` and ``train_err_clean`` are always measured on the unmixed
training set in eval mode, so they never mean the lam-weighted quantities that some mixup code
reports as "train accuracy".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from .losses import GLM_LOSSES, get_loss
from .taylor import mixup_loss_exact, taylor_terms
from .mixing import check_beta_params, is_erm, mix_batch, mixup_cross_entropy, mixup_glm_loss, sample_lambda

__all__ = ["Hook", "History", "fit", "evaluate", "resolve_device", "TaylorHook", "MixupLossHook"]

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


def evaluate(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str, batch_size: int = 4096) -> tuple[float, float]:
    """Clean mean loss and 0-1 error of ``model`` on ``(X, y)`` in eval mode (mode restored).

    The 0-1 error is defined for ``logistic`` (sign of the logit) and ``cross_entropy`` (argmax);
    it is NaN for the regression losses.
    """
    was_training = model.training
    model.eval()
    total_loss, total_err = 0.0, 0.0
    param = next(model.parameters(), None)
    device = param.device if param is not None else X.device
    with torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            out = model(X[s : s + batch_size].to(device))
            yb = y[s : s + batch_size].to(device)
            total_loss += float(_batch_loss(out, yb, loss))
            total_err += float(_errors(out, yb, loss))
    model.train(was_training)
    n = X.shape[0]
    err = total_err / n if loss in ("logistic", "cross_entropy") else float("nan")
    return total_loss / n, err


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
    eval_batch_size: int = 4096,
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
            The data stay where they are and are moved batch by batch.
        lr_schedule: ``"constant"`` or ``"cosine"`` (annealed per epoch from ``lr`` to 0).
        autocast_dtype: e.g. ``torch.bfloat16`` for mixed precision on a GPU (forward passes of the
            training steps only; evaluation stays in the model's dtype). None: off.
        eval_batch_size: batch size of the per-epoch clean evaluations.

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
    if device is not None:
        model.to(resolve_device(device))
    param0 = next(model.parameters(), None)
    dev = param0.device if param0 is not None else X.device
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'sgd' or 'adam'")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if lr_schedule == "cosine" else None

    torch_gen = torch.Generator().manual_seed(seed)
    np_gen = np.random.default_rng(seed)
    history = History()
    hooks = list(hooks)

    def record(epoch: int, mixup_loss: float) -> dict[str, float]:
        rec: dict[str, float] = {"epoch": epoch}
        rec["train_loss_clean"], rec["train_err_clean"] = evaluate(model, X, y, loss, eval_batch_size)
        if not np.isnan(mixup_loss):
            rec["mixup_loss"] = mixup_loss
        if X_test is not None and y_test is not None:
            rec["test_loss"], rec["test_err"] = evaluate(model, X_test, y_test, loss, eval_batch_size)
        for hook in hooks:
            rec.update(hook(epoch, model) or {})
        history.records.append(rec)
        return rec

    record(0, float("nan"))
    desc = progress if isinstance(progress, str) else ("mixup" if not is_erm(alpha) else "ERM")
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False, mininterval=1.0)
    model.train()
    for epoch in bar:
        order = torch.randperm(n, generator=torch_gen) if bs < n else torch.arange(n)
        total, seen = 0.0, 0
        for s in range(0, n, bs):
            idx = order[s : s + bs]
            xb, yb = X[idx].to(dev, non_blocking=True), y[idx].to(dev, non_blocking=True)
            b = xb.shape[0]
            if is_erm(alpha):
                batch = mix_batch(xb, yb, 1.0, torch.arange(b))
            else:
                lam = sample_lambda(alpha, beta, b if per_sample_lam else (), np_gen)
                batch = mix_batch(xb, yb, torch.as_tensor(lam, dtype=xb.dtype), torch.randperm(b, generator=torch_gen))
            if autocast_dtype is None:
                out = model(batch.x)
            else:
                with torch.autocast(dev.type, dtype=autocast_dtype):
                    out = model(batch.x)
                out = out.float()
            obj = mixup_cross_entropy(out, batch) if loss == "cross_entropy" else mixup_glm_loss(out, batch, loss)
            opt.zero_grad(set_to_none=True)
            obj.backward()
            opt.step()
            total += obj.item() * b
            seen += b
        if sched is not None:
            sched.step()
        rec = record(epoch, total / seen)
        bar.set_postfix(train_loss_clean=f"{rec['train_loss_clean']:.4f}", refresh=False)
    model.eval()
    return history


def _check_every(every: int) -> int:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive integer (epochs between measurements), got {every!r}")
    return every


class TaylorHook:
    """Records ``L_std, R1, R2, R3`` (Lemma 3.1) every ``every`` epochs, under keys ``taylor_*``."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float, loss: str = "logistic", every: int = 1):
        self.X, self.y, self.alpha, self.beta, self.loss, self.every = X, y, alpha, beta, loss, _check_every(every)

    def __call__(self, epoch: int, model: torch.nn.Module) -> dict[str, float] | None:
        if epoch % self.every:
            return None
        terms = taylor_terms(model, self.X, self.y, self.alpha, self.beta, self.loss)
        return {f"taylor_{k}": v for k, v in terms.items()}


class MixupLossHook:
    """Records the exact mixup loss of Eq. (1) (all pairs, quadrature in lam) as ``mixup_loss_exact``."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float, loss: str = "logistic", every: int = 1, order: int = 48):
        self.X, self.y, self.alpha, self.beta, self.loss, self.order = X, y, alpha, beta, loss, order
        self.every = _check_every(every)

    def __call__(self, epoch: int, model: torch.nn.Module) -> dict[str, float] | None:
        if epoch % self.every:
            return None
        return {"mixup_loss_exact": mixup_loss_exact(model, self.X, self.y, self.alpha, self.beta, self.loss, order=self.order)}

