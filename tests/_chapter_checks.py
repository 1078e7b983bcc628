"""Shared pieces of the chapter tests: claims are valid, a claim decided with an interval records it, and what a
notebook's checked cells print when it runs with the smoke profile."""

from __future__ import annotations

import math

from mixup_repro import pipeline
from mixup_repro.claims import KINDS, Claim

INTERVAL_KEYS = ("estimate", "ci_low", "ci_high", "level", "n")


def check_claims(claims: list[dict]) -> dict[str, dict]:
    """Every claim is valid; a claim whose detail says it was decided on an interval records that interval."""
    out = {}
    for c in claims:
        Claim.from_dict(c)
        assert c["kind"] in KINDS and c["paper"].strip() and c["id"] not in out
        if "claimed " in c["detail"] and c["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE"):
            nb = c["numbers"]
            assert all(k in nb for k in INTERVAL_KEYS), f"{c['id']}: interval numbers missing, got {sorted(nb)}"
            assert nb["ci_low"] <= nb["estimate"] <= nb["ci_high"] and 0 < nb["level"] < 1 and nb["n"] >= 1
            assert f"n = {int(nb['n'])}" in c["detail"]
            assert c["detail"].count(c["verdict"]) >= 1
            assert (math.isfinite(nb["ci_low"]) and math.isfinite(nb["ci_high"])) or nb["n"] == 1
        out[c["id"]] = c
    return out


def smoke_checked_outputs(name: str, tmp_path) -> list[str]:
    """Run notebook ``name`` with the smoke profile into ``tmp_path``; the text each ``# NBVAL_CHECK_OUTPUT`` cell
    printed, in order."""
    import nbformat

    out = pipeline.run_notebook(name, "smoke", root=pipeline.find_root(__file__), output=tmp_path / f"{name}.ipynb",
                                progress=False)
    nb = nbformat.read(out, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    return [c.outputs[0].text for c in checked]
