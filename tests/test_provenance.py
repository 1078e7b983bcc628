"""provenance.py: the meta record, the git state, and the source fingerprint the result cache keys on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mixup_repro
from mixup_repro import provenance as prov
from mixup_repro.provenance import provenance, source_fingerprint, tree_fingerprint


def test_provenance_fields():
    meta = provenance(seeds=[0, 1], wall_time_s=2.0, device="cpu")
    for key in ("mixup_repro_version", "git_commit", "git_dirty", "python", "torch", "numpy", "platform",
                "torch_threads", "device", "seeds", "wall_time_s", "timestamp_utc"):
        assert key in meta
    assert meta["seeds"] == [0, 1] and meta["device"] == "cpu"
    assert meta["library_source_sha256"] == source_fingerprint() and len(source_fingerprint()) == 12
    json.dumps(meta)


def test_git_state_unknown_outside_a_checkout(monkeypatch):
    monkeypatch.setattr(prov, "_git", lambda args, cwd: None)
    assert provenance(seeds=0, wall_time_s=0, device="cpu")["git_commit"] == "unknown"


def test_the_fingerprint_covers_every_python_file_of_the_package_sub_packages_included(tmp_path):
    """Edit a chapter in a copy of the package: the fingerprint the cache keys on must change, or the cache would
    serve results of the old code."""
    package = Path(mixup_repro.__file__).parent
    copy = tmp_path / "mixup_repro"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert tree_fingerprint(copy) == source_fingerprint()  # the cache's fingerprint is this function of the tree
    chapter = copy / "chapters" / "lemma31_fig2.py"
    assert chapter.is_file()
    chapter.write_text(chapter.read_text() + "\n# an edit\n")
    edited = tree_fingerprint(copy)
    assert edited != source_fingerprint()
    (copy / "theory" / "new_module.py").write_text("X = 1\n")
    assert tree_fingerprint(copy) not in (edited, source_fingerprint())
    before = tree_fingerprint(copy)
    (copy / "chapters" / "notes.txt").write_text("not code")
    assert tree_fingerprint(copy) == before  # only Python files count
    (copy / "theory" / "new_module.py").rename(copy / "theory" / "renamed.py")
    assert tree_fingerprint(copy) != before  # paths count, not only contents
