"""Training checkpoints: everything needed to resume a run bitwise, written atomically and checksummed.

A checkpoint holds the model, the optimizer (and optionally an lr scheduler), the run's torch and numpy
generators, the global python / numpy / torch RNG states, the epoch reached, the history so far and the
fingerprint of the run that wrote it. The file is ``MAGIC``, the sha256 of the payload (64 hex digits),
a newline, then the ``torch.save`` payload; it is written with :func:`mixup_repro.durable.write_bytes_atomic`,
so a kill leaves either the previous checkpoint or the new one, never half of one.
A file whose checksum does not match is refused with :class:`CorruptCheckpointError`, never trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .durable import write_bytes_atomic

__all__ = ["CheckpointError", "CorruptCheckpointError", "CheckpointMismatchError", "CheckpointOptions",
           "save_checkpoint", "load_checkpoint", "load_run_checkpoint", "capture_rng", "restore_rng"]

MAGIC = b"MIXUP-REPRO-CHECKPOINT 1\n"
_DIGEST_LEN = 64


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says what to do."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file is truncated, edited or not a checkpoint at all (checksum mismatch)."""


class CheckpointMismatchError(CheckpointError):
    """A valid checkpoint written by a different run (other data, model or hyper-parameters)."""


@dataclass(frozen=True)
class CheckpointOptions:
    """Where and when a training run (:func:`mixup_repro.train.fit`) writes its checkpoints, and what it does with
    a bad one. When checkpoints are written never changes what the run computes.

    Attributes:
        path: the checkpoint file. If it exists, the run resumes from it; on CPU the result is bitwise that of an
            uninterrupted run. A checkpoint of another run (different data, initial weights or hyper-parameters)
            raises :class:`CheckpointMismatchError`, a corrupt one :class:`CorruptCheckpointError`.
        every: write a checkpoint every ``every`` epochs, and always after the last one.
        seconds: if given, write one after the first epoch that ends at least this many seconds after the previous
            checkpoint (or the start), instead of every ``every`` epochs; still always after the last epoch. It
            bounds both the work a kill loses and the time spent writing (a PreAct ResNet-18 checkpoint, 90 MB,
            takes about 0.7 s).
        discard_bad: instead of raising, delete a corrupt checkpoint or one of another run with a warning and train
            from scratch (what sweeps and notebook runs want: their checkpoint paths are keys that an edit of the
            code can leave pointing at another run's file).
    """

    path: Path
    every: int = 1
    seconds: float | None = None
    discard_bad: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)) or not os.fspath(self.path):
            raise TypeError(f"CheckpointOptions.path must be a file path (str or pathlib.Path), got {self.path!r}")
        object.__setattr__(self, "path", Path(self.path))
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"CheckpointOptions.every must be a positive integer (epochs between checkpoints), "
                             f"got {self.every!r}")
        if self.seconds is not None and (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                                         or not 0 <= self.seconds < math.inf):
            raise ValueError(f"CheckpointOptions.seconds must be a finite number of seconds >= 0 or None, "
                             f"got {self.seconds!r}")
        if not isinstance(self.discard_bad, bool):
            raise ValueError(f"CheckpointOptions.discard_bad must be True or False, got {self.discard_bad!r}")

    def due(self, epoch: int, epochs: int, last: float, clock: Callable[[], float]) -> bool:
        """Whether to write a checkpoint after ``epoch`` of ``epochs``, the previous one written at ``clock()`` time
        ``last`` (the clock is read only when it decides)."""
        if epoch == epochs:
            return True
        if self.seconds is None:
            return epoch % self.every == 0
        return clock() - last >= self.seconds


def load_run_checkpoint(options: CheckpointOptions, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``options.path`` if it was written by the run ``fingerprint``, else None (no file yet).

    Checks first that the checkpoint's directory can be created, so that a run fails before training rather than
    at its first checkpoint. A corrupt checkpoint or one of another run raises, or with ``options.discard_bad`` is
    deleted with a warning (None is returned).
    """
    path = options.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(f"cannot create the directory of checkpoint {path} ({err.strerror or err}); pass a "
                              f"checkpoint path in a writable place") from None
    if not path.exists():
        return None
    try:
        ckpt = load_checkpoint(path)  # refuses a corrupt file before anything changes
        if ckpt.get("fingerprint") != fingerprint:
            raise CheckpointMismatchError(
                f"checkpoint {path} was written by a different run (fingerprint {ckpt.get('fingerprint')!r}, this run "
                f"{fingerprint!r}: other data, initial weights or hyper-parameters); delete it or pass another "
                f"checkpoint path")
    except (CorruptCheckpointError, CheckpointMismatchError) as err:
        if not options.discard_bad:
            raise
        # stacklevel 4: the caller of train.fit (fit -> _resume -> here)
        warnings.warn(f"{err}; discarding it and training from scratch", stacklevel=4)
        path.unlink(missing_ok=True)
        return None
    return ckpt


def capture_rng(torch_gen: torch.Generator, np_gen: np.random.Generator) -> dict[str, Any]:
    """The states of the run's generators and of the global python, numpy and torch RNGs."""
    return {
        "torch_generator": torch_gen.get_state(),
        # JSON keeps the 128-bit integers of PCG64 exact and loads under torch.load(weights_only=True).
        "numpy_generator": json.dumps(np_gen.bit_generator.state),
        "python_random": json.dumps(random.getstate()),
        "numpy_global": json.dumps([x.tolist() if isinstance(x, np.ndarray) else x for x in np.random.get_state()]),
        "torch_global": torch.get_rng_state(),
        # CUDA kernels with randomness (dropout) draw from the per-device global generators.
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def restore_rng(state: dict[str, Any], torch_gen: torch.Generator, np_gen: np.random.Generator) -> None:
    """Put every generator captured by :func:`capture_rng` back into that state."""
    torch_gen.set_state(state["torch_generator"])
    np_gen.bit_generator.state = json.loads(state["numpy_generator"])
    version, internal, gauss = json.loads(state["python_random"])
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = json.loads(state["numpy_global"])
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch_global"])
    if state.get("torch_cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, state dicts, plain values) to ``path`` atomically with an embedded sha256."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(f"cannot write checkpoint {path} ({err.strerror or err}); pass a checkpoint "
                              f"path in a writable directory") from None
    return write_bytes_atomic(path, MAGIC + digest + b"\n" + payload)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint after checking its sha256; raises :class:`CorruptCheckpointError` if it does not match."""
    path = Path(path)
    fix = f"delete {path} to start the run from scratch"
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise CorruptCheckpointError(f"checkpoint {path} is a directory, not a file; {fix}") from None
    head = len(MAGIC) + _DIGEST_LEN + 1
    if len(data) < head or not data.startswith(MAGIC) or data[head - 1:head] != b"\n":
        raise CorruptCheckpointError(f"{path} is not a mixup-repro checkpoint (bad header: truncated or another "
                                     f"file); {fix}")
    digest, payload = data[len(MAGIC):head - 1].decode("ascii", "replace"), data[head:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CorruptCheckpointError(f"checkpoint {path} does not match its sha256 (truncated or corrupted); {fix}")
    # Tensors come back on the CPU: load_state_dict copies them to the model's (and optimizer's) device.
    return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
