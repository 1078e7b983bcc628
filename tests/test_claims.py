"""claims.py: a Claim is validated when it is made, keeps its JSON form, and results saved before kinds still load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixup_repro.claims import KINDS, UNRECORDED, VERDICTS, Claim, check_claims

GOOD = dict(id="Figure 2", statement="the curves coincide", paper="Figure 2: they nearly coincide", kind="paper",
            verdict="PASS", detail="gap 2.1%")


def test_json_form_keeps_the_old_keys_and_adds_kind_and_numbers():
    claim = Claim(**GOOD, numbers={"gap": np.float64(0.021), "n": np.int64(3)})
    d = claim.to_dict()
    assert list(d) == ["id", "claim", "paper", "kind", "verdict", "detail", "numbers"]
    assert d["claim"] == "the curves coincide" and d["numbers"] == {"gap": 0.021, "n": 3.0}
    assert all(type(v) is float for v in d["numbers"].values())
    assert Claim.from_dict(d) == claim


@pytest.mark.parametrize("change, message", [
    (dict(verdict="OK"), r"claim 'Figure 2': verdict 'OK' is not one of PASS, FAIL, INFO, INCONCLUSIVE"),
    (dict(kind="theorem"), r"claim 'Figure 2': kind 'theorem' is not one of paper, check, fact, beyond"),
    (dict(kind=UNRECORDED), r"kind 'unrecorded' is not one of paper, check, fact, beyond"),
    (dict(statement="  "), r"claim 'Figure 2': 'statement' must be a non-empty string, got '  '"),
    (dict(paper=""), r"claim 'Figure 2': 'paper' must be a non-empty string"),
    (dict(id=""), r"a claim: 'id' must be a non-empty string"),
    (dict(detail=None), r"'detail' must be a string, got NoneType"),
    (dict(numbers={"gap": "2%"}), r"numbers\['gap'\] = '2%': numbers map names to floats"),
    (dict(numbers={"ok": True}), r"numbers\['ok'\] = True: numbers map names to floats"),
    (dict(numbers=[1.0]), r"'numbers' must be a mapping of name -> float"),
])
def test_a_bad_claim_is_refused_when_it_is_made(change, message):
    with pytest.raises(ValueError, match=message):
        Claim(**(GOOD | change))


def test_claims_are_frozen_and_every_listed_value_is_accepted():
    claim = Claim(**GOOD)
    with pytest.raises(AttributeError):
        claim.verdict = "FAIL"
    for kind in KINDS:
        for verdict in VERDICTS:
            assert Claim(**(GOOD | dict(kind=kind, verdict=verdict))).to_dict()["verdict"] == verdict
    assert math.isnan(Claim(**GOOD, numbers={"first": float("nan")}).numbers["first"])


def test_a_claim_saved_before_kinds_loads_only_as_legacy():
    """Saved results from before this change have no 'kind' (and no 'numbers'): they keep loading, explicitly."""
    old = {"id": "Figure 2", "claim": "the curves coincide", "paper": "Figure 2", "verdict": "FAIL", "detail": "11%"}
    with pytest.raises(ValueError, match=r"claim 'Figure 2' lacks kind"):
        Claim.from_dict(old)
    claim = Claim.from_dict(old, legacy=True)
    assert claim.kind == UNRECORDED and claim.numbers == {} and claim.verdict == "FAIL"
    older = {k: v for k, v in old.items() if k != "paper"}
    assert Claim.from_dict(older, legacy=True).paper == UNRECORDED
    with pytest.raises(ValueError, match="verdict 'OK' is not one of"):
        Claim.from_dict(old | {"verdict": "OK"}, legacy=True)  # legacy relaxes the kind only


def test_check_claims_names_the_bad_one():
    good = Claim(**GOOD).to_dict()
    check_claims([good, good])
    with pytest.raises(ValueError, match=r"metrics\['claims'\]\[1\]: claim 'Figure 2' lacks paper, kind"):
        check_claims([good, {"id": "Figure 2", "claim": "x", "verdict": "PASS"}])
    with pytest.raises(ValueError, match=r"metrics\['claims'\] must be a list of claims, got dict"):
        check_claims(good)


@pytest.mark.parametrize("diffs, outcome", [
    ([0.020, 0.025, 0.030, 0.022, 0.027], "PASS"),      # every seed ahead: the interval lies above 0
    ([-0.020, -0.025, -0.030, -0.022, -0.027], "FAIL"),  # every seed behind
    ([0.013, -0.010, 0.002, -0.004, 0.001], "INCONCLUSIVE"),  # a tie: the interval spans 0
])
def test_a_claim_decided_on_per_seed_differences_has_three_outcomes(diffs, outcome):
    from scipy import stats as sp

    from mixup_repro.stats import compare_paired

    b = np.linspace(0.5, 0.6, len(diffs))
    claim = Claim.decided("Figure X", "mixup is ahead of ERM", "the paper says so", "paper",
                          compare_paired(b + np.array(diffs), b, "greater"), what="mixup - ERM")
    assert claim.verdict == outcome
    # the recorded interval is the textbook paired t interval, computed here independently
    d = np.array(diffs)
    half = sp.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert claim.numbers["estimate"] == pytest.approx(d.mean(), abs=1e-12)
    assert claim.numbers["ci_low"] == pytest.approx(d.mean() - half, abs=1e-12)
    assert claim.numbers["ci_high"] == pytest.approx(d.mean() + half, abs=1e-12)
    assert (claim.numbers["level"], claim.numbers["n"]) == (0.95, 5.0)
    assert claim.detail.startswith("mixup - ERM ") and f"claimed > 0: {outcome}" in claim.detail
    assert Claim.from_dict(claim.to_dict()) == claim  # the numbers survive the JSON form
    # a tie says how many seeds would resolve a difference of its size at its spread (a planning estimate)
    from mixup_repro.stats import seeds_to_resolve

    tie_need = seeds_to_resolve(compare_paired(b + np.array(diffs), b, "greater").interval)
    if outcome == "INCONCLUSIVE":
        assert tie_need is not None and claim.numbers["seeds_to_resolve"] == tie_need
    else:
        assert "seeds_to_resolve" not in claim.numbers
    assert ("seeds would resolve" in claim.detail) == (outcome == "INCONCLUSIVE")


def _c(kind, verdict, id="x"):
    return {"id": id, "claim": "s", "paper": "p", "kind": kind, "verdict": verdict, "detail": ""}


def test_counts_per_kind_and_the_headline_count_the_papers_claims_only():
    from mixup_repro.claims import count_by_kind, failed_checks, group_by_kind, headline

    claims = ([_c("paper", "PASS")] * 9 + [_c("paper", "FAIL")] * 2 + [_c("paper", "INCONCLUSIVE")] * 3
              + [_c("check", "PASS")] * 14 + [_c("beyond", "INFO")] * 5 + [_c("beyond", "PASS")])
    counts = count_by_kind(claims)
    assert counts == {"paper": {"PASS": 9, "FAIL": 2, "INCONCLUSIVE": 3}, "check": {"PASS": 14}, "fact": {},
                      "beyond": {"PASS": 1, "INFO": 5}}
    assert headline(counts) == "paper claims: 9 reproduced, 2 not reproduced, 3 inconclusive (checks: 14 passed, 0 failed)"
    # a beyond PASS is not a reproduced claim, a paper claim whose hypothesis was never met is said so
    more = count_by_kind(claims + [_c("paper", "INFO"), _c("check", "FAIL", "broken"), _c("check", "INFO")])
    assert headline(more) == ("paper claims: 9 reproduced, 2 not reproduced, 3 inconclusive, 1 without a verdict "
                              "(checks: 14 passed, 1 failed, 1 undecided)")
    assert failed_checks(claims + [_c("check", "FAIL", "broken"), _c("paper", "FAIL", "a result")]) == ["broken"]
    legacy = {"id": "old", "claim": "s", "verdict": "PASS"}  # saved before kinds: counted apart, never as paper
    assert count_by_kind([legacy])["unrecorded"] == {"PASS": 1} and headline(count_by_kind([legacy])).startswith(
        "paper claims: 0 reproduced")
    order = [k for k, _ in group_by_kind([legacy, _c("beyond", "INFO", "b"), _c("paper", "PASS", "a")])]
    assert order == ["paper", "beyond", "unrecorded"]
    with pytest.raises(ValueError, match=r"unknown claim kind\(s\) 'theorem'"):
        group_by_kind([_c("theorem", "PASS")])


@pytest.mark.parametrize("change, message", [
    (dict(id="Figure 2: left"), r"an id must not contain ': '"),
    (dict(detail="a\nb"), r"'detail' must be one line"),
    (dict(paper="p\nq"), r"'paper' must be one line"),
])
def test_what_would_break_the_printed_summary_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        Claim(**(GOOD | change))
