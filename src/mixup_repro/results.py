"""Saved runs: config, metrics, arrays and provenance, written atomically and verified on load.

A run of notebook ``name`` with config hash ``h`` lives in ``<results_dir>/<name>/<h>/``:

    config.json     the resolved parameters          metrics.json   scalars and the checked claims
    arrays.npz      curves and grids (no pickles)    meta.json      provenance (versions, commit, seeds)
    MANIFEST.json   sha256 of the four files above, written last

``metrics["claims"]`` (optional) is a list of claims in the JSON form of :class:`mixup_repro.claims.Claim`,
checked before anything is written. The directory is written by :func:`mixup_repro.durable.write_dir_atomic`;
the meta record is :func:`mixup_repro.provenance.provenance`.

``cached`` reuses a saved run when its config, the library version and the sha256 of the library's
source files are unchanged, and recomputes a missing, stale or corrupt one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .claims import check_claims
from .durable import json_default, write_dir_atomic
from .provenance import source_fingerprint

__all__ = [
    "Result",
    "CorruptResultError",
    "ResultsDirError",
    "check_writable",
    "results_dir",
    "config_hash",
    "result_path",
    "save_result",
    "load_result",
    "cached",
]

ENV_VAR = "MIXUP_REPRO_RESULTS"
FILES = ("config.json", "metrics.json", "arrays.npz", "meta.json")
MANIFEST = "MANIFEST.json"
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


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=json_default)


def config_hash(config: Mapping[str, Any], name: str | None = None) -> str:
    """12 hex chars of the sha256 of the canonical JSON of ``{"name": name, "config": config}``."""
    return hashlib.sha256(_canonical_json({"name": name, "config": dict(config)}).encode()).hexdigest()[:12]


def result_path(name: str, config: Mapping[str, Any], root: str | Path | None = None) -> Path:
    """Where ``save_result`` puts the run of notebook ``name`` with parameters ``config``."""
    return Path(root if root is not None else results_dir()) / name / config_hash(config, name=name)


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


def _encode(result: Result) -> dict[str, bytes]:
    """The bytes of each file (everything is serialised before anything touches the disk)."""
    check_claims(result.metrics.get("claims", []))
    arrays = {}
    for key, value in result.arrays.items():
        arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
        if arr.dtype == object:
            raise TypeError(f"array '{key}' has dtype object; store numeric arrays only")
        arrays[str(key)] = arr
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    def dump(obj: Any) -> bytes:
        return (json.dumps(obj, indent=2, default=json_default) + "\n").encode()

    return {"config.json": dump(_config_dict(result)), "metrics.json": dump(result.metrics),
            "arrays.npz": buf.getvalue(), "meta.json": dump(result.meta)}


def save_result(result: Result, root: str | Path | None = None) -> Path:
    """Save ``result`` to ``<root>/<name>/<config_hash>/`` atomically and return that directory.

    Everything is serialised and checked first; then the files and their manifest are written into a hidden
    temporary sibling that replaces the directory (an older run with the same hash, or a file in its place)
    in one rename. A failure leaves the final name untouched.
    """
    final = result_path(result.name, _config_dict(result), root)
    payload = _encode(result)
    manifest = {"format": 1, "name": result.name, "config_hash": final.name,
                "files": {fname: hashlib.sha256(data).hexdigest() for fname, data in payload.items()}}
    _ensure_dir(final.parent)
    return write_dir_atomic(final, {**payload, MANIFEST: (json.dumps(manifest, indent=2) + "\n").encode()})


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
    if old is not None and is_current(old, config):
        return old
    result = compute()
    if result.name != name or _canonical_json(_config_dict(result)) != _canonical_json(config):
        raise ValueError(f"cached({name!r}, ...): compute() returned a result of another run "
                         f"({result.name!r}, config hash {config_hash(_config_dict(result), result.name)})")
    save_result(result, root)
    return result


def _config_dict(result: Result) -> dict:
    return result.config.to_dict() if hasattr(result.config, "to_dict") else dict(result.config)


def is_current(result: Result, config: Mapping[str, Any]) -> bool:
    """Whether ``result`` is what the current code would compute for ``config`` (config, version, library source)."""
    from . import __version__

    return (_canonical_json(result.config) == _canonical_json(config)
            and result.meta.get("mixup_repro_version") == __version__
            and result.meta.get("library_source_sha256") == source_fingerprint())
