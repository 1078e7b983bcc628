"""durable.py: atomic writes of files, JSON and directories, with the umask's modes and stale-temporary cleanup."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from mixup_repro import durable


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_write_bytes_atomic_replaces_and_leaves_no_temporary(tmp_path):
    target = durable.write_bytes_atomic(tmp_path / "sub" / "a.bin", b"one")
    durable.write_bytes_atomic(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(target.parent) == ["a.bin"]


def test_a_failure_inside_atomic_file_leaves_the_old_file(tmp_path):
    target = durable.write_bytes_atomic(tmp_path / "a.bin", b"old")
    with pytest.raises(ValueError, match="the written bytes are wrong"), durable.atomic_file(target) as fh:
        fh.write(b"half of the new")
        raise ValueError("the written bytes are wrong")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_write_json_atomic(tmp_path):
    target = durable.write_json_atomic(tmp_path / "sub" / "summary.json", {"a": np.float32(1.5), "b": np.arange(2)})
    assert json.loads(target.read_text()) == {"a": 1.5, "b": [0, 1]}
    assert os.listdir(target.parent) == ["summary.json"]
    with pytest.raises(TypeError, match="object is not JSON-serialisable; store it in Result.arrays instead"):
        durable.write_json_atomic(tmp_path / "bad.json", {"a": object()})
    assert not (tmp_path / "bad.json").exists()


def test_json_write_removes_its_stale_temporaries_and_keeps_fresh_ones(tmp_path):
    """A kill -9 mid-write leaves a hidden temporary; the next write of that file deletes it once it is over
    10 minutes old, and keeps a younger one (a concurrent writer) and those of other files."""
    target = tmp_path / "sweeps" / "grid.json"
    target.parent.mkdir()
    stale, fresh, other = (target.parent / n for n in (".grid.json.k1ll3d.tmp", ".grid.json.run1ng.tmp",
                                                        ".other.json.k1ll3d.tmp"))
    for f in (stale, fresh, other):
        f.write_text("{")
    old = time.time() - durable.STALE_TEMP_S - 60
    for f in (stale, other):
        os.utime(f, (old, old))
    durable.write_json_atomic(target, {"runs": 1})
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(["grid.json", fresh.name, other.name])


def test_write_dir_atomic_replaces_a_directory_or_a_file(tmp_path):
    final = durable.write_dir_atomic(tmp_path / "run", {"a.json": b"1", "MANIFEST": b"m"})
    assert sorted(os.listdir(final)) == ["MANIFEST", "a.json"]
    durable.write_dir_atomic(final, {"b.json": b"2"})
    assert os.listdir(final) == ["b.json"] and os.listdir(tmp_path) == ["run"]
    (tmp_path / "file").write_text("junk")
    durable.write_dir_atomic(tmp_path / "file", {"c": b"3"})
    assert (tmp_path / "file" / "c").read_bytes() == b"3" and sorted(os.listdir(tmp_path)) == ["file", "run"]


def test_a_failed_directory_write_keeps_the_old_directory(tmp_path, monkeypatch):
    final = durable.write_dir_atomic(tmp_path / "run", {"a": b"old"})
    real = durable._write_file

    def flaky(path, data):
        if path.name == "b":
            raise OSError("disk full (simulated)")
        return real(path, data)

    monkeypatch.setattr(durable, "_write_file", flaky)
    with pytest.raises(OSError, match="simulated"):
        durable.write_dir_atomic(final, {"a": b"new", "b": b"new"})
    assert os.listdir(tmp_path) == ["run"] and (final / "a").read_bytes() == b"old"


def test_written_files_and_directories_follow_the_umask(tmp_path):
    """tempfile makes 0600 files and 0700 directories; results and data live in shared folders, so the umask decides."""
    mask = _umask()
    files = [durable.write_bytes_atomic(tmp_path / "a.bin", b"x"), durable.write_json_atomic(tmp_path / "s.json", 1)]
    folder = durable.write_dir_atomic(tmp_path / "run", {"f": b"y"})
    with durable.atomic_file(tmp_path / "streamed") as fh:
        fh.write(b"z")
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask
    for f in (*files, folder / "f", tmp_path / "streamed"):
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f
