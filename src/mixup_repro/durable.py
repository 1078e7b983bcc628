"""Durable files: written whole or not at all, flushed to disk, with the permissions the umask gives.

Every file this package keeps (saved results, checkpoints, unpacked data, the reproduce and sweep summaries,
the book's provenance table) is written through here. A file goes to a hidden temporary sibling
``.<name>.<random>.tmp``, is fsynced and renamed over the target, and the directory is fsynced; a directory of
files goes to ``.<name>.tmp-<random>`` and replaces the target the same way (an old one is moved aside to
``.<name>.old-<random>`` first, because ``rename`` cannot replace a non-empty directory). A reader, or a
``kill -9`` at any moment, sees the old target or the new one, never half of one.

``kill -9`` runs no cleanup, so each write first deletes the temporaries of its own target that are over
``STALE_TEMP_S`` old; a younger one may belong to a writer of the same target that is still running (a shared
results folder), so it stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

import numpy as np

__all__ = ["STALE_TEMP_S", "atomic_file", "json_default", "remove_stale", "umask_mode", "write_bytes_atomic",
           "write_dir_atomic", "write_json_atomic"]

#: A write takes seconds; a temporary this old was left by a killed writer, not one still writing.
STALE_TEMP_S = 600


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it


def umask_mode(path: str | Path) -> None:
    """Give a file or directory made by ``tempfile`` (0600 / 0700) the mode a plain ``open`` or ``mkdir`` gives.

    Results, checkpoints and unpacked data are shared (a cluster's results directory, a common data folder),
    so they follow the user's umask like every other file.
    """
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~_UMASK)


def json_default(obj: Any) -> Any:
    """JSON form of the numpy scalars and arrays and the paths that metrics hold (for ``json.dumps(default=)``)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable; store it in Result.arrays instead")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Delete a file, link or directory tree; errors are ignored (another process may have removed it first)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale(directory: str | Path, prefixes: tuple[str, ...], suffix: str = "") -> None:
    """Delete the entries of ``directory`` named ``<prefix>*<suffix>`` whose mtime is over ``STALE_TEMP_S`` old."""
    cutoff = time.time() - STALE_TEMP_S
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefixes) and entry.name.endswith(suffix):
            try:
                stale = entry.stat(follow_symlinks=False).st_mtime < cutoff
            except OSError:
                continue
            if stale:
                _remove(Path(entry.path))


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary sibling: yields it open for binary writing (its ``.name`` is its path).

    When the block ends normally the temporary is fsynced and renamed over ``path`` and the directory is
    fsynced; when it raises (a check of the written bytes may), the temporary is deleted and ``path`` is left
    as it was. The parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, (f".{path.name}.",), ".tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        umask_mode(tmp)
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`) and return ``path``."""
    with atomic_file(path) as fh:
        fh.write(data)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (numpy values as plain numbers) to ``path`` atomically."""
    return write_bytes_atomic(path, (json.dumps(obj, indent=2, default=json_default) + "\n").encode())


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_dir_atomic(final: str | Path, files: Mapping[str, bytes]) -> Path:
    """Make ``final`` a directory holding exactly ``files`` (name -> bytes, written in that order), atomically.

    An existing directory (or a file) of that name is replaced; if anything fails, it is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final.parent, (f".{final.name}.tmp-", f".{final.name}.old-"))
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    old: Path | None = None
    try:
        umask_mode(tmp)
        for name, data in files.items():
            _write_file(tmp / name, data)
        _fsync_dir(tmp)
        if os.path.lexists(final):
            old = final.with_name(f".{final.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            os.rename(final, old)
            # Its mtime is that of the old target; stamp it so another writer's cleanup sees it as fresh.
            os.utime(old, follow_symlinks=False)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not final.exists():
            os.rename(old, final)
        raise
    if old is not None:
        _remove(old)
    return final
