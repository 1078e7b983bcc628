"""ledger.py: the book's claims ledger is what the committed executed notebooks imply, row for row, and links each
claim to the notebook cell that computed it."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mixup_repro import ledger, pipeline, status

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_ledger_is_what_the_committed_notebooks_imply():
    """A fresh clone can check it: no saved results are needed, only the executed notebooks of the book."""
    for rel, text in ledger.from_notebooks(REPO).items():
        assert (REPO / rel).read_text() == text, (
            f"{rel} is stale; regenerate it: .venv/bin/python -c \"from mixup_repro import ledger; "
            f"ledger.write('.', ledger.from_notebooks('.'))\"")


def test_every_claim_of_every_notebook_has_one_row_in_its_kinds_table():
    claims = status.claims_from_notebooks(REPO)
    text = (REPO / ledger.LEDGER_FILE).read_text()
    sections = dict(re.findall(r"^## `(\w+)`: .*?\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    rows = {kind: [line for line in body.splitlines() if line.startswith("| {ref}")] for kind, body in sections.items()}
    every = status.all_claims(claims)
    assert sum(len(r) for r in rows.values()) == len(every)
    for c in every:
        assert sum(f"<{status.claims_label(REPO, name)}>`" in row and f"`{c['id']} <" in row
                   for name, found in claims.items() if c in (found or []) for row in rows[c["kind"]]) == 1, c["id"]


def test_each_notebook_has_one_claims_label_that_the_book_can_link():
    for name in pipeline.NOTEBOOKS:
        label = status.claims_label(REPO, name)
        assert label and label.endswith("-claims"), name
        executed = nbformat.read(REPO / "book" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert any(f"({label})=" in c.source for c in executed.cells if c.cell_type == "markdown"), name


def test_the_headline_counts_the_papers_claims_of_the_committed_run():
    from mixup_repro.claims import count_by_kind, headline

    claims = status.claims_from_notebooks(REPO)
    expected = headline(count_by_kind(status.all_claims(claims)))
    assert f"**{expected}**" in (REPO / ledger.HEADLINE_FILE).read_text()
    for page in ("book/intro.md", "book/ledger.md"):  # one sentence, included where it is shown
        assert "```{include} _generated/headline.md" in (REPO / page).read_text()


@pytest.mark.parametrize("params, text", [
    ({"seeds": [0, 1, 2], "n_train": 0}, "seeds 0, 1, 2"),
    ({"n_seeds": 5, "seed": 0}, "5 seeds (base seed 0)"),
    ({"seed": 3, "data_seed": 1}, "seed 3, data seed 1"),
    ({"seed": 0}, "seed 0"),
])
def test_run_text_names_the_seeds(params, text):
    assert ledger.run_text("rademacher", params, REPO).endswith(f"; {text}")
    assert ledger.run_text("rademacher", None, REPO) == "not run"


def test_a_row_survives_markdown_and_myst_syntax_in_the_claims_text():
    claims = {name: None for name in pipeline.NOTEBOOKS}
    claims["lemma31_fig2"] = [{"id": "R3 (x, y)", "claim": "max |R3| = 0 and $x$", "paper": "uses *stars* and {role}",
                               "kind": "check", "verdict": "FAIL", "detail": "a | b_c <d>"}]
    text = ledger.render_ledger(claims, {"lemma31_fig2": {"seed": 0}}, {"lemma31_fig2": "lemma31-claims"}, REPO)
    row = next(line for line in text.splitlines() if line.startswith("| {ref}"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells, no stray separators
    assert r"max \|R3\| = 0 and \$x\$" in row and r"uses \*stars\* and \{role\}" in row
    assert "**FAIL** (failed: a bug)" in row
    assert "Notebooks without a result: " in text
