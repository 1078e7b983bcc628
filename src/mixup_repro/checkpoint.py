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
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .durable import write_bytes_atomic

__all__ = ["CheckpointError", "CorruptCheckpointError", "CheckpointMismatchError", "save_checkpoint",
           "load_checkpoint", "capture_rng", "restore_rng"]

MAGIC = b"MIXUP-REPRO-CHECKPOINT 1\n"
_DIGEST_LEN = 64


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says what to do."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file is truncated, edited or not a checkpoint at all (checksum mismatch)."""


class CheckpointMismatchError(CheckpointError):
    """A valid checkpoint written by a different run (other data, model or hyper-parameters)."""


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
