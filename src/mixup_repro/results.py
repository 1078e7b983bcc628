"""Saved runs: config, metrics, arrays and provenance, written atomically and verified on load.

A run of notebook ``name`` with config hash ``h`` lives in ``<results_dir>/<name>/<h>/``:

    config.json     the resolved parameters          metrics.json   scalars and the checked claims
    arrays.npz      curves and grids (no pickles)    meta.json      provenance (versions, commit, seeds)
    MANIFEST.json   sha256 of the four files above, written last

``metrics["claims"]`` (optional) is a list of ``{"id", "claim", "verdict": PASS|FAIL|INFO, "detail"}``.

``cached`` reuses a saved run when its config, the library version and the sha256 of the library's
source files are unchanged, and recomputes a missing, stale or corrupt one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np

__all__ = [
    "Result",
    "CorruptResultError",
    "ResultsDirError",
    "check_writable",
    "results_dir",
    "config_hash",
    "result_path",
    "provenance",
    "save_result",
    "load_result",
    "write_json_atomic",
    "source_fingerprint",
    "cached",
]

ENV_VAR = "MIXUP_REPRO_RESULTS"
FILES = ("config.json", "metrics.json", "arrays.npz", "meta.json")
MANIFEST = "MANIFEST.json"
VERDICTS = ("PASS", "FAIL", "INFO")
# A write takes seconds; a temporary this old was left by a killed writer, not one still writing.
STALE_TEMP_S = 600
_RERUN = "re-running the notebook or sweep that saved it recomputes it"


class CorruptResultError(ValueError):
    """A saved result is missing a file or a file does not match its manifest checksum."""


class ResultsDirError(OSError):
    """The results directory cannot be created or written."""


@dataclass
class Result:
    """One run: resolved config, metrics (JSON-able), named arrays and the provenance record."""

    name: str
    config: dict
    metrics: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def results_dir() -> Path:
    """The results root: ``$MIXUP_REPRO_RESULTS`` if set, else ``./results``."""
    return Path(os.environ.get(ENV_VAR) or "results")


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths appear in metrics; store them as plain JSON values.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable; store it in Result.arrays instead")


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_json_default)


def config_hash(config: Mapping[str, Any], name: str | None = None) -> str:
    """12 hex chars of the sha256 of the canonical JSON of ``{"name": name, "config": config}``."""
    return hashlib.sha256(_canonical_json({"name": name, "config": dict(config)}).encode()).hexdigest()[:12]


def result_path(name: str, config: Mapping[str, Any], root: str | Path | None = None) -> Path:
    """Where ``save_result`` puts the run of notebook ``name`` with parameters ``config``."""
    return Path(root if root is not None else results_dir()) / name / config_hash(config, name=name)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _git_state() -> tuple[str, bool | str]:
    """(commit, dirty) of the checkout holding this package; ("unknown", "unknown") outside one.

    The executed notebooks under ``book/`` are outputs (papermill rewrites them while a run is in
    progress), so they do not make the checkout dirty.
    """
    here = Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], here)
    if not commit:
        return "unknown", "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", ":/", ":(exclude,top)book/**/*.ipynb"], here)
    return commit, "unknown" if status is None else bool(status)


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """12 hex chars of the sha256 over every ``*.py`` file of the package, sub-packages included (paths and contents).

    It changes with any edit of the code, also between releases, so a cache keyed on it never serves a
    result that the current code would not produce.
    """
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def provenance(*, seeds: Mapping[str, int] | list[int] | int, wall_time_s: float, device: str) -> dict:
    """The meta record of a run: versions, git commit (+ dirty flag), platform, threads, seeds, wall time."""
    from . import __version__

    try:
        import torch

        torch_version, threads = torch.__version__, torch.get_num_threads()
    except ImportError:  # results stay loadable without torch
        torch_version, threads = "not installed", None
    commit, dirty = _git_state()
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


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it


def _umask_mode(path: str | Path) -> None:
    """Give a file or directory made by ``tempfile`` (0600 / 0700) the mode a plain ``open`` or ``mkdir`` gives.

    Results, checkpoints and unpacked data are shared (a cluster's results directory, a common data folder),
    so they follow the user's umask like every other file.
    """
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~_UMASK)


def _write_bytes(path: Path, data: bytes) -> str:
    """Write, flush to disk and return the sha256."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


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
        try:
            path.unlink()
        except OSError:
            pass


def _remove_stale(directory: Path, prefixes: tuple[str, ...], suffix: str = "") -> None:
    """Delete the entries of ``directory`` named ``<prefix>*<suffix>`` whose mtime is over ``STALE_TEMP_S`` old.

    These are the temporaries of a writer killed mid-write (``kill -9`` runs no cleanup). A younger one may
    belong to a writer of the same name that is still running (a shared results folder), so it stays.
    """
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


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(f"no write permission on {path}")
    except OSError as err:
        raise ResultsDirError(f"cannot write results under '{path}' ({err.strerror or err}); choose a writable "
                              f"directory (--results-dir DIR, or the {ENV_VAR} environment variable) or fix the "
                              f"permissions of that path") from None


def check_writable(path: str | Path, fix: str = f"choose a writable directory (--results-dir DIR, or the "
                                                f"{ENV_VAR} environment variable)", what: str = "results") -> None:
    """Refuse a directory that cannot take new files, before any work starts, and leave nothing behind.

    ``what`` names what would be written there and ``fix`` what to do instead, for the message.

    A missing directory is probed at its nearest existing parent (which must be a directory): the probe is a
    real temporary directory, created and removed, because ``os.access`` says yes to root on any mode.
    """
    path = Path(path).absolute()
    probe_in = path
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    try:
        if not probe_in.is_dir():
            raise NotADirectoryError(f"{probe_in} is not a directory")
        os.rmdir(tempfile.mkdtemp(dir=probe_in, prefix=".write-probe-"))
    except OSError as err:
        raise ResultsDirError(f"cannot write {what} under '{path}' ({err.strerror or err}); {fix}") from None


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` via a temporary file and ``os.replace``.

    Temporaries of ``path`` left by a killed writer are deleted once ``STALE_TEMP_S`` old.
    """
    path = Path(path)
    _ensure_dir(path.parent)
    _remove_stale(path.parent, (f".{path.name}.",), ".tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        _umask_mode(tmp)
        _write_bytes(Path(tmp), (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_claims(metrics: Mapping[str, Any]) -> None:
    claims = metrics.get("claims", [])
    for i, c in enumerate(claims if isinstance(claims, list) else [claims]):
        if not (isinstance(c, dict) and {"id", "claim", "verdict"} <= set(c) and c["verdict"] in VERDICTS):
            raise ValueError(f"metrics['claims'][{i}] = {c!r}: each claim needs 'id', 'claim', 'verdict' "
                             f"(one of {', '.join(VERDICTS)}) and optionally 'detail'")


def _encode(result: Result) -> dict[str, bytes]:
    """The bytes of each file (everything is serialised before anything touches the disk)."""
    _check_claims(result.metrics)
    arrays = {}
    for key, value in result.arrays.items():
        arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
        if arr.dtype == object:
            raise TypeError(f"array '{key}' has dtype object; store numeric arrays only")
        arrays[str(key)] = arr
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    config = result.config.to_dict() if hasattr(result.config, "to_dict") else dict(result.config)

    def dump(obj: Any) -> bytes:
        return (json.dumps(obj, indent=2, default=_json_default) + "\n").encode()

    return {"config.json": dump(config), "metrics.json": dump(result.metrics),
            "arrays.npz": buf.getvalue(), "meta.json": dump(result.meta)}


def save_result(result: Result, root: str | Path | None = None) -> Path:
    """Save ``result`` to ``<root>/<name>/<config_hash>/`` atomically and return that directory.

    Files go into a hidden temporary sibling, are fsynced, and the directory is renamed into place
    (an older run with the same hash, or a file in its place, is replaced). A failure leaves the final name
    untouched. Temporaries of this hash left by a killed writer are deleted once ``STALE_TEMP_S`` old.
    """
    config = result.config.to_dict() if hasattr(result.config, "to_dict") else dict(result.config)
    final = result_path(result.name, config, root)
    payload = _encode(result)
    _ensure_dir(final.parent)
    _remove_stale(final.parent, (f".{final.name}.tmp-", f".{final.name}.old-"))
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    old: Path | None = None
    try:
        _umask_mode(tmp)
        manifest = {"format": 1, "name": result.name, "config_hash": final.name,
                    "files": {fname: _write_bytes(tmp / fname, data) for fname, data in payload.items()}}
        _write_bytes(tmp / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        _fsync_dir(tmp)
        if os.path.lexists(final):
            # rename() cannot replace a non-empty directory: move the old run aside first.
            old = final.with_name(f".{final.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            os.rename(final, old)
            # Its mtime is that of the old run; stamp it so another writer's cleanup sees it as fresh.
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


def load_result(path: str | Path) -> Result:
    """Load a saved run after checking every file against ``MANIFEST.json``."""
    path = Path(path)
    if not path.is_dir():
        if os.path.lexists(path):
            raise CorruptResultError(f"{path} is not a result directory (a file is in its place); {_RERUN}")
        raise FileNotFoundError(f"no saved result at {path}; run the notebook first (mixup-repro run NAME)")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        listed = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptResultError(f"{path / MANIFEST} is missing or unreadable ({err}); {_RERUN}") from None
    if sorted(listed) != sorted(FILES):
        raise CorruptResultError(f"{path / MANIFEST} lists {sorted(listed)}, expected {list(FILES)}; {_RERUN}")
    data = {}
    for fname in FILES:
        try:
            data[fname] = (path / fname).read_bytes()
        except OSError:
            raise CorruptResultError(f"{path / fname} is missing; {_RERUN}") from None
        if hashlib.sha256(data[fname]).hexdigest() != listed[fname]:
            raise CorruptResultError(f"{path / fname} does not match its checksum in {MANIFEST} "
                                     f"(truncated or edited); {_RERUN}")
    with np.load(io.BytesIO(data["arrays.npz"]), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return Result(name=manifest.get("name", path.parent.name), config=json.loads(data["config.json"]),
                  metrics=json.loads(data["metrics.json"]), arrays=arrays, meta=json.loads(data["meta.json"]))


def cached(name: str, config: Mapping[str, Any], compute: Callable[[], Result], root: str | Path | None = None) -> Result:
    """The saved run of ``name`` with ``config`` if it is valid and current, else ``compute()`` saved.

    Current means: the same resolved config, package version and library source fingerprint (see
    :func:`source_fingerprint`) as this process. A corrupt result (checksum mismatch, missing file, a file in
    place of the directory) is recomputed with a warning, never trusted. ``compute`` must return a
    :class:`Result` of that config.
    """
    config = dict(config)
    path = result_path(name, config, root)
    try:
        old = load_result(path)
    except FileNotFoundError:
        old = None
    except CorruptResultError as err:
        warnings.warn(f"recomputing a corrupt cached result: {err}", stacklevel=2)
        old = None
    if old is not None and _is_current(old, config):
        return old
    result = compute()
    if result.name != name or _canonical_json(_config_dict(result)) != _canonical_json(config):
        raise ValueError(f"cached({name!r}, ...): compute() returned a result of another run "
                         f"({result.name!r}, config hash {config_hash(_config_dict(result), result.name)})")
    save_result(result, root)
    return result


def _config_dict(result: Result) -> dict:
    return result.config.to_dict() if hasattr(result.config, "to_dict") else dict(result.config)


def _is_current(result: Result, config: Mapping[str, Any]) -> bool:
    from . import __version__

    return (_canonical_json(result.config) == _canonical_json(config)
            and result.meta.get("mixup_repro_version") == __version__
            and result.meta.get("library_source_sha256") == source_fingerprint())
