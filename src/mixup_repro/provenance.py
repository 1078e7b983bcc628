"""What produced a result: the git state of the checkout, a fingerprint of the library's source, the meta record.

Every saved run carries :func:`provenance` as its ``meta.json``; the result cache keys on
:func:`source_fingerprint`, so a run of older code is recomputed rather than served.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["git_state", "provenance", "source_fingerprint", "tree_fingerprint"]

_PACKAGE = Path(__file__).resolve().parent


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> tuple[str, bool | str]:
    """(commit, dirty) of the checkout holding this package; ("unknown", "unknown") outside one.

    The executed notebooks under ``book/`` are outputs (papermill rewrites them while a run is in
    progress), so they do not make the checkout dirty.
    """
    commit = _git(["rev-parse", "HEAD"], _PACKAGE)
    if not commit:
        return "unknown", "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", ":/", ":(exclude,top)book/**/*.ipynb"],
                  _PACKAGE)
    return commit, "unknown" if status is None else bool(status)


def tree_fingerprint(folder: str | Path) -> str:
    """12 hex chars of the sha256 over every ``*.py`` file below ``folder`` (relative paths and contents)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """:func:`tree_fingerprint` of this package, sub-packages (``chapters/``, ``data/``, ``theory/``) included.

    It changes with any edit of the code, also between releases, so a cache keyed on it never serves a
    result that the current code would not produce.
    """
    return tree_fingerprint(_PACKAGE)


def provenance(*, seeds: Mapping[str, int] | list[int] | int, wall_time_s: float, device: str) -> dict:
    """The meta record of a run: versions, git commit (+ dirty flag), platform, threads, seeds, wall time."""
    from . import __version__

    try:
        import torch

        torch_version, threads = torch.__version__, torch.get_num_threads()
    except ImportError:  # results stay loadable without torch
        torch_version, threads = "not installed", None
    commit, dirty = git_state()
    return {
        "mixup_repro_version": __version__,
        "library_source_sha256": source_fingerprint(),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch_version,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "torch_threads": threads,
        "device": str(device),
        "seeds": seeds,
        "wall_time_s": round(float(wall_time_s), 3),
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
