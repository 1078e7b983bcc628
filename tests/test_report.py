"""report.py: the checked summary lines, the note under each figure (the paper's claim beside our verdict, provenance
read from the run), the provenance text and the glue values."""

from __future__ import annotations

import pytest

from mixup_repro import config, report
from mixup_repro.results import Result


def _result() -> Result:
    cfg = config.load_profile("cpu", "lemma31_fig2")
    claims = [
        {"id": "Figure 2", "claim": "curves coincide", "paper": "Figure 2: nearly coincide", "kind": "paper",
         "verdict": "FAIL", "detail": "gap 11.2%"},
        {"id": "Figure 2 (alpha)", "claim": "smaller alpha", "paper": "Figure 2: nearly coincide", "kind": "beyond",
         "verdict": "PASS", "detail": "gap 2.4%"},
        {"id": "Lemma 3.1 (R3)", "claim": "R3 = 0", "paper": "R3 vanishes for piecewise-linear f", "kind": "check",
         "verdict": "PASS", "detail": "max |R3| 0.0e+00 for relu_mlp"},
    ]
    meta = {"git_commit": "0123456789abcdef", "git_dirty": True, "device": "cpu", "torch_threads": 2,
            "wall_time_s": 16.4, "seeds": {"seed": 0, "data_seed": 0, "model_init": {"a": 11, "b": 12, "c": 13}}}
    return Result(name="lemma31_fig2", config=cfg.to_dict(), metrics={"claims": claims}, meta=meta)


def test_note_puts_the_paper_beside_each_verdict_and_the_run_below():
    text = str(report.figure_note(_result(), "Figure 2", "Lemma 3.1 (R3)"))
    lines = text.splitlines()
    assert lines[0] == "Paper: Figure 2: nearly coincide"
    assert lines[1] == "Ours:  [FAIL] Figure 2 (paper): curves coincide: gap 11.2%"
    # "Figure 2" is an exact id, so the prefix rule does not pull in "Figure 2 (alpha)"
    assert lines[2] == "Paper: R3 vanishes for piecewise-linear f"
    assert lines[3] == "Ours:  [PASS] Lemma 3.1 (R3) (check): R3 = 0: max |R3| 0.0e+00 for relu_mlp"
    run = lines[4]
    for part in ("profile cpu", "seed 0, data_seed 0 (+3 derived init seeds)", "commit 0123456789+",
                 "device cpu (2 threads)", "16 s"):
        assert part in run, (part, run)
    assert run.count("config ") == 1 and len(lines) == 5


def test_a_prefix_selects_every_matching_claim_and_shares_the_paper_line():
    text = str(report.figure_note(_result(), "Figure 2 ("))
    assert text.count("Paper:") == 1 and "[PASS] Figure 2 (alpha)" in text and "[FAIL]" not in text
    both = str(report.figure_note(_result(), "Figure"))
    assert both.count("Paper: Figure 2: nearly coincide") == 1 and both.count("Ours:") == 2


def test_markdown_escapes_what_markdown_would_interpret():
    md = report.figure_note(_result(), "Lemma 3.1 (R3)")._repr_markdown_()
    assert r"max \|R3\| 0.0e+00 for relu\_mlp" in md
    assert md.startswith("**Paper:** R3 vanishes") and "- **PASS** *Lemma 3.1 (R3)* (check)" in md
    assert md.splitlines()[-1].startswith("*Run:* profile cpu")


def test_unknown_claim_is_refused_with_the_known_ones():
    with pytest.raises(KeyError, match=r"no claim 'Figure 9'.*Figure 2, Figure 2 \(alpha\), Lemma 3.1 \(R3\)"):
        report.figure_note(_result(), "Figure 9")
    with pytest.raises(ValueError, match="at least one claim id"):
        report.figure_note(_result())


def test_claims_answering_the_same_statement_are_grouped_under_it():
    lines = str(report.figure_note(_result(), "Figure 2", "Lemma 3.1 (R3)", "Figure 2 (alpha)")).splitlines()
    assert lines[:3] == ["Paper: Figure 2: nearly coincide", "Ours:  [FAIL] Figure 2 (paper): curves coincide: gap 11.2%",
                         "Ours:  [PASS] Figure 2 (alpha) (beyond): smaller alpha: gap 2.4%"]
    assert lines[3] == "Paper: R3 vanishes for piecewise-linear f"


def test_summarize_prints_the_headline_then_the_claims_grouped_by_kind_in_the_checked_form():
    """The form nbval compares in every notebook's checked cell: a change here moves every checked output."""
    assert report.summarize(_result()).splitlines() == [
        "paper claims: 0 reproduced, 1 not reproduced, 0 inconclusive (checks: 1 passed, 0 failed)",
        "== paper: the paper's claims, tested here ==",
        "[FAIL] Figure 2: curves coincide",
        "       gap 11.2%",
        "       paper: Figure 2: nearly coincide",
        "== check: true by construction when the code is right ==",
        "[PASS] Lemma 3.1 (R3): R3 = 0",
        "       max |R3| 0.0e+00 for relu_mlp",
        "       paper: R3 vanishes for piecewise-linear f",
        "== beyond: beyond the paper: our extensions and measurements ==",
        "[PASS] Figure 2 (alpha): smaller alpha",
        "       gap 2.4%",
        "       paper: Figure 2: nearly coincide",
    ]
    assert report.summarize(Result("x", {}, {}, {}, {})) == ""


def test_the_summary_reads_back_into_the_claims_it_printed():
    """The README's table and the book's ledger are built from the committed notebooks' checked outputs."""
    from mixup_repro import status

    claims = _result().metrics["claims"]
    back = status.parse_summary(report.summarize(_result()))
    assert sorted(back, key=lambda c: c["id"]) == sorted(claims, key=lambda c: c["id"])
    empty = {**claims[0], "detail": ""}  # an empty detail still reads back (the line may lose its spaces)
    text = report.summarize(Result("x", {}, {"claims": [empty]}, {}, {}))
    assert status.parse_summary(text) == [empty] == status.parse_summary(text.replace("       \n", "\n"))


@pytest.mark.parametrize("text, message", [
    ("paper claims: ...\n== paper: t ==\n[PASS] a: b\n       d", r"line 3 .* neither a kind heading nor a complete claim"),
    ("== paper: t ==\n[PASS] a: b\n       d\n  paper: p", r"claim 'a' \(line 2 .*\) lacks its indented detail"),
    ("== paper: t ==\nstray text\n       d\n       paper: p", r"line 2 .* 'stray text'"),
])
def test_a_summary_that_does_not_fit_the_form_is_refused(text, message):
    from mixup_repro import status

    with pytest.raises(ValueError, match=message):
        status.parse_summary(text)


def test_verdict_values_and_claims_by_id():
    values = report.verdict_values(_result())
    assert values == {"verdict_Figure_2": "FAIL", "verdict_alpha": "PASS", "verdict_R3": "PASS"}
    assert report.claims_by_id(_result())["Lemma 3.1 (R3)"]["verdict"] == "PASS"


def test_glue_values_glues_each_value_without_display(monkeypatch):
    import myst_nb

    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.append((key, value, display)))
    report.glue_values({"a": 1.5, "b": "PASS"})
    assert glued == [("a", 1.5, False), ("b", "PASS", False)]


def test_provenance_text_names_the_config_hash_and_the_meta_record():
    result = _result()
    lines = report.provenance_text(result).splitlines()
    assert lines[0] == f"config hash: {config.load_profile('cpu', 'lemma31_fig2').config_hash()}"
    assert "git_commit: 0123456789abcdef" in lines and "wall_time_s: 16.4" in lines
