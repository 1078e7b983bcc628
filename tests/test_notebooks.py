"""The source notebooks are thin clients: one per registered schema and chapter, a parameters cell of literals,
then one library call per step (no definitions, no loops)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

from mixup_repro import config, pipeline

REPO = Path(__file__).resolve().parents[1]


def test_one_notebook_one_schema_one_chapter_in_one_order():
    assert list(pipeline.NOTEBOOKS) == list(config.REGISTRY)
    assert sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb")) == sorted(config.REGISTRY)
    chapters = sorted(p.stem for p in (REPO / "src" / "mixup_repro" / "chapters").glob("*.py")
                      if not p.stem.startswith("_"))
    assert chapters == sorted(config.REGISTRY)
    for name, path in pipeline.NOTEBOOKS.items():
        assert (REPO / path).is_file()
        chapter = importlib.import_module(f"mixup_repro.chapters.{name}")
        assert all(callable(getattr(chapter, f)) for f in ("run", "claims", "book_values")), name


def _code_cells(name: str) -> list[str]:
    nb = nbformat.read(REPO / pipeline.NOTEBOOKS[name], as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("name", list(config.REGISTRY))
def test_a_notebook_defines_nothing_loops_nowhere_and_calls_its_chapter_once(name):
    cells = _code_cells(name)
    for source in cells:
        tree = ast.parse(source)
        bad = [type(n).__name__ for n in ast.walk(tree)
               if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While, ast.ListComp,
                                 ast.DictComp, ast.SetComp, ast.GeneratorExp))]
        assert not bad, f"{name}: {bad} in a cell:\n{source}"
    code = "\n".join(cells)
    assert f"from mixup_repro.chapters import {name}\n" in code
    assert code.count(f"{name}.run(cfg, use_cache=True)") == 1
    assert code.count(f"report.glue_values({name}.book_values(result))") == 1
    assert f'config.from_namespace("{name}", globals())' in code
    assert sum(source.startswith("# NBVAL_CHECK_OUTPUT") for source in cells) == 1
