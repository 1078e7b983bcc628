"""benchmarks/isa_check.py: the book's table of checked outputs under three instruction-set settings is generated
from the committed record, and that record shows the float64 outputs identical under all three."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def isa():
    spec = importlib.util.spec_from_file_location("isa_check", REPO / "benchmarks" / "isa_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_books_table_is_generated_from_the_committed_record(isa):
    record = json.loads(isa.JSON_FILE.read_text())
    assert isa.MD_FILE.read_text() == isa.render(record)


def test_the_committed_record_shows_the_same_checked_outputs_under_every_setting(isa):
    record = json.loads(isa.JSON_FILE.read_text())
    assert set(record["runs"]) == set(isa.SETTINGS) and record["chapters"] == list(isa.CHAPTERS)
    outputs = {setting: run["summaries"] for setting, run in record["runs"].items()}
    assert all(outputs[s] == outputs["default"] for s in outputs), "a float64 checked output depends on the CPU"
    assert all(outputs["default"][name].startswith("paper claims: ") for name in isa.CHAPTERS)
    probe = {s: run["probe"]["float64"]["test_loss"] for s, run in record["runs"].items()}
    assert max(probe.values()) - min(probe.values()) < 1e-7 * max(probe.values())


def test_a_difference_is_named_in_the_table(isa):
    record = json.loads(isa.JSON_FILE.read_text())
    changed = copy.deepcopy(record)
    changed["runs"]["avx2"]["summaries"]["fig3_training_error"] += " (another digit)"
    row = next(line for line in isa.render(changed).splitlines() if line.startswith("| avx2 |"))
    assert row.endswith("| differ in fig3_training_error |")
