"""Shared assertions for the chapter tests: claims are valid, and a claim decided with an interval records it."""

from __future__ import annotations

import math

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
