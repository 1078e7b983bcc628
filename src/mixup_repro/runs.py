"""The machinery every notebook run shares: seeds, threads, checkpointed trainings, the cache, the saved result.

A chapter's ``run`` is decorated with :func:`notebook_run`, trains through :func:`fit` (checkpointed when the
run is saved), derives every seed from the run's seed with :func:`derive_seed`, and ends with
:func:`finish_run`, which wraps its metrics and arrays with the config and the provenance record.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import shutil
import time
from typing import Callable, Iterator

import numpy as np
import torch

from .provenance import provenance, source_fingerprint
from .results import Result, cached, results_dir, save_result
from .checkpoint import CheckpointOptions
from .train import fit as train_fit

__all__ = ["CHECKPOINT_SECONDS", "derive_seed", "finish_run", "fit", "notebook_run", "torch_threads"]

#: A training inside a notebook run checkpoints after its last epoch and whenever this many seconds have passed
#: since its previous checkpoint: a kill loses at most about a minute, and writing costs about 1% on a GPU.
CHECKPOINT_SECONDS = 60.0
_checkpoints: contextvars.ContextVar["_Checkpoints | None"] = contextvars.ContextVar("_checkpoints", default=None)


def derive_seed(seed: int, index: int) -> int:
    """The ``index``-th seed derived from ``seed``: distinct, reproducible, below 2**32 (numpy's SeedSequence).

    Runs derive every model-initialisation, data and attack seed this way, so one run seed fixes them all.
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (0: leave torch's setting), then restore it.

    The theory chapters' tensors (a few hundred points) are too small for threads to pay, and on a busy
    2-core machine two threads that wait on each other made a training step about 10 times slower.
    """
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _Checkpoints:
    """The checkpoint files of the training runs of one notebook run, numbered in the order the runs start.

    A run's trainings start in the same order every time, so after an interruption the k-th ``fit`` finds the
    k-th file: finished trainings load their last epoch, the interrupted one resumes, and on a CPU the result
    is bitwise the uninterrupted one. The files sit in ``<results>/<notebook>/.checkpoints/<config hash>-<library
    source>/`` (other code starts afresh) and are removed once the result is saved.
    """

    def __init__(self, cfg) -> None:
        self.base = results_dir() / cfg.NAME / ".checkpoints"
        self.folder = self.base / f"{cfg.config_hash()}-{source_fingerprint()}"
        self.prefix = f"{cfg.config_hash()}-"
        self.count = 0

    def next(self) -> CheckpointOptions:
        """The next training's checkpoint: by the clock, a corrupt or foreign file discarded with a warning."""
        self.count += 1
        return CheckpointOptions(self.folder / f"fit{self.count:03d}.ckpt", seconds=CHECKPOINT_SECONDS, discard_bad=True)

    def remove(self) -> None:
        """Delete this config's checkpoints (of any library source) once its result is safe."""
        for folder in self.base.glob(f"{self.prefix}*"):
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.base.rmdir()  # only if empty


def fit(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, *, checkpoint: bool = True, **kwargs):
    """:func:`mixup_repro.train.fit`, checkpointed when the notebook run saves its result (see :func:`notebook_run`).

    ``checkpoint=False`` for a training whose hooks draw from a generator that lives on after it: hooks of
    resumed epochs are not re-run, so that generator would be left in another state.
    A corrupt checkpoint, or one of another training, is discarded with a warning and that training restarts.
    """
    checkpoints = _checkpoints.get()
    if checkpoints is not None and checkpoint:
        kwargs["checkpoint"] = checkpoints.next()
    return train_fit(model, X, y, **kwargs)


def notebook_run(threads: int | Callable[..., int] = 0):
    """Decorate a chapter's ``run(cfg, *, progress) -> Result`` into the call its notebook makes.

    The decorated ``run(cfg, *, progress=True, save=True, use_cache=False)`` computes under ``threads`` torch
    threads (a number, or a function of the config; 0 leaves torch's setting) and saves the result when
    ``save`` is true. With ``use_cache=True`` a saved run of the same config, package version and library
    source is loaded instead of recomputed (see :func:`mixup_repro.results.cached`; a truncated or corrupted
    one is detected by its checksums and recomputed), and a line says which of the two happened.

    A run that is saved (``save`` or ``use_cache``) checkpoints each of its trainings (:class:`_Checkpoints`),
    so an interrupted or killed notebook resumes where it stopped when it is run again.
    """

    def decorate(run: Callable[..., Result]) -> Callable[..., Result]:
        def compute(cfg, progress: bool) -> Result:
            with torch_threads(threads(cfg) if callable(threads) else threads):
                return run(cfg, progress=progress)

        @functools.wraps(run)
        def wrapper(cfg, *, progress: bool = True, save: bool = True, use_cache: bool = False) -> Result:
            if not (save or use_cache):
                return compute(cfg, progress)
            checkpoints = _Checkpoints(cfg)
            token = _checkpoints.set(checkpoints)
            try:
                result = _cached(cfg, compute, progress) if use_cache else compute(cfg, progress)
                if not use_cache:
                    save_result(result)
            finally:
                _checkpoints.reset(token)
            checkpoints.remove()
            return result

        return wrapper

    return decorate


def _cached(cfg, compute: Callable[..., Result], progress: bool) -> Result:
    """The saved run of ``cfg`` if it is current, else ``compute`` saved; prints which."""
    computed = []

    def fresh() -> Result:
        computed.append(True)
        return compute(cfg, progress)

    result = cached(cfg.NAME, cfg.to_dict(), fresh)
    if not computed:
        meta = result.meta
        print(f"Reused the saved run of {meta.get('timestamp_utc', 'an earlier session')} "
              f"({float(meta.get('wall_time_s', 0)):.0f} s; same config, version and library source).")
    return result


def finish_run(cfg, metrics: dict, arrays: dict[str, np.ndarray], *, seeds, start: float, device: str) -> Result:
    """Wrap a run's metrics and arrays with its config and provenance (``start``: its ``time.perf_counter()``)."""
    return Result(name=cfg.NAME, config=cfg.to_dict(), metrics=metrics, arrays=arrays,
                  meta=provenance(seeds=seeds, wall_time_s=time.perf_counter() - start, device=device))
