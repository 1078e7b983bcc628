"""A checked claim: what we test, what the paper says, what kind of statement it is, and the verdict.

Every chapter builds its claims as :class:`Claim` objects, which refuse an unknown verdict or kind and an empty
statement, paper line or id when they are made, and stores their JSON form (:meth:`Claim.to_dict`) in
``Result.metrics["claims"]``:

    {"id", "claim" (the statement), "paper", "kind", "verdict", "detail", "numbers"}

Kinds say how much a verdict means:

- ``paper``: a statement the paper makes, tested in our setting;
- ``check``: an implementation or hypothesis check, true by construction when the code is right;
- ``fact``: a mathematical fact we derived, not claimed by the paper;
- ``beyond``: our extension of the paper (another attack, another dataset, a measurement it does not make).

Results saved before claims had a kind hold claims without ``kind`` and ``numbers``; they keep loading (a
result's claims stay plain dicts), and ``Claim.from_dict(d, legacy=True)`` reads them with the kind
``UNRECORDED``, a value that no new claim may have.

How claims are counted is decided here, once, for every place that reports them (the notebooks' checked cells,
``mixup-repro summary`` and ``reproduce``, the README's status table, the book's claims ledger):
:func:`count_by_kind` counts claims per kind and verdict, :func:`headline` states the paper's claims only (a
``check`` that fails is a bug, not a verdict on the paper), :func:`group_by_kind` orders them for display.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from .stats import Decision

__all__ = ["KINDS", "KIND_TITLES", "UNRECORDED", "VERDICTS", "Claim", "check_claims", "count_by_kind", "failed_checks",
           "group_by_kind", "headline"]

VERDICTS = ("PASS", "FAIL", "INFO", "INCONCLUSIVE")
KINDS = ("paper", "check", "fact", "beyond")
#: The kind of a claim read from a result saved before claims had kinds (``from_dict(..., legacy=True)`` only).
UNRECORDED = "unrecorded"
#: How each kind is introduced wherever claims are grouped by kind.
KIND_TITLES = {
    "paper": "the paper's claims, tested here",
    "check": "true by construction when the code is right",
    "fact": "derived by us, not claimed by the paper",
    "beyond": "beyond the paper: our extensions and measurements",
    UNRECORDED: "saved before claims had a kind",
}


@dataclass(frozen=True)
class Claim:
    """One checked statement and its verdict (see the module docstring for the kinds).

    Args:
        id: a short unique name within its run, e.g. ``"Lemma 3.1 (identity)"``; figure notes select claims by it.
        statement: what we test, in one line (saved as ``"claim"``).
        paper: what the paper states about it, or ``"not stated: ..."`` and why we test it anyway.
        kind: ``paper``, ``check``, ``fact`` or ``beyond``.
        verdict: ``PASS``, ``FAIL``, ``INFO`` (a measurement without a pass mark) or ``INCONCLUSIVE``.
        detail: the numbers behind the verdict, as text (rounded: it is printed in checked notebook cells).
        numbers: the same numbers as floats, by name (may be empty).
    """

    id: str
    statement: str
    paper: str
    kind: str
    verdict: str
    detail: str = ""
    numbers: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validate(KINDS)

    def _validate(self, kinds: tuple[str, ...]) -> None:
        where = f"claim {self.id!r}" if isinstance(self.id, str) and self.id.strip() else "a claim"
        for name in ("id", "statement", "paper"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: '{name}' must be a non-empty string, got {value!r}")
        # Summaries print one claim per line as "[VERDICT] id: statement", and the ledger is read back from them.
        if ": " in self.id:
            raise ValueError(f"{where}: an id must not contain ': ' (it ends the id in printed summaries)")
        if self.kind not in kinds:
            raise ValueError(f"{where}: kind {self.kind!r} is not one of {', '.join(kinds)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"{where}: verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        if not isinstance(self.detail, str):
            raise ValueError(f"{where}: 'detail' must be a string, got {type(self.detail).__name__}")
        for name in ("id", "statement", "paper", "detail"):
            if "\n" in getattr(self, name):
                raise ValueError(f"{where}: '{name}' must be one line (summaries print it on one), got a line break")
        if not isinstance(self.numbers, Mapping):
            raise ValueError(f"{where}: 'numbers' must be a mapping of name -> float, got {self.numbers!r}")
        checked = {}
        for key, value in self.numbers.items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{where}: numbers[{key!r}] = {value!r}: numbers map names to floats")
            checked[key] = float(value)
        object.__setattr__(self, "numbers", checked)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form saved in ``metrics["claims"]`` (the statement under ``"claim"``)."""
        return {"id": self.id, "claim": self.statement, "paper": self.paper, "kind": self.kind,
                "verdict": self.verdict, "detail": self.detail, "numbers": dict(self.numbers)}

    @classmethod
    def decided(cls, id: str, statement: str, paper: str, kind: str, decision: "Decision", *, what: str,
                extra: str = "", digits: int = 3, numbers: Mapping[str, float] | None = None) -> "Claim":
        """A claim whose verdict is a three-outcome decision on an interval (:mod:`mixup_repro.stats`).

        The verdict is ``decision.outcome``; ``numbers`` record ``estimate``, ``ci_low``, ``ci_high``, ``level`` and
        ``n`` (plus any given); the detail reads ``<what> <estimate> [<low>, <high>] (95% t interval, n = 5);
        claimed <criterion>: <outcome>`` followed by ``extra``. ``what`` names the estimated quantity. A tie of a
        one-sided t-interval claim also records ``seeds_to_resolve`` (:func:`mixup_repro.stats.seeds_to_resolve`)
        and says it in the detail.
        """
        from .stats import seeds_to_resolve

        iv = decision.interval
        recorded = {"estimate": iv.estimate, "ci_low": iv.ci_low, "ci_high": iv.ci_high, "level": iv.level,
                    "n": float(iv.n), **(numbers or {})}
        detail = f"{what} {decision.describe(digits)}"
        if decision.outcome == "INCONCLUSIVE" and decision.margin is not None and iv.method == "t interval" and iv.n > 1:
            need = seeds_to_resolve(iv, decision.margin)
            if need is not None:
                recorded["seeds_to_resolve"] = float(need)
                detail += f" (about {need} seeds would resolve a difference this large at this spread)"
        detail += f"; {extra}" if extra else ""
        return cls(id, statement, paper, kind, decision.outcome, detail, recorded)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, legacy: bool = False) -> "Claim":
        """The claim saved as ``d`` (the JSON form of :meth:`to_dict`), validated like a new one.

        ``legacy=True`` also reads a claim saved before claims had a kind (no ``"kind"`` key): its kind is
        ``UNRECORDED``, and a missing ``"paper"`` reads as ``UNRECORDED`` too.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"a claim must be a mapping, got {d!r}")
        missing = [k for k in ("id", "claim", "verdict") + (() if legacy else ("paper", "kind")) if k not in d]
        if missing:
            raise ValueError(f"claim {d.get('id', d)!r} lacks {', '.join(missing)}; a claim needs id, claim, paper, "
                             f"kind, verdict and optionally detail and numbers")
        values = dict(id=d["id"], statement=d["claim"], paper=d.get("paper", UNRECORDED),
                      kind=d.get("kind", UNRECORDED), verdict=d["verdict"], detail=d.get("detail", ""),
                      numbers=d.get("numbers", {}))
        if "kind" in d or not legacy:
            return cls(**values)
        claim = object.__new__(cls)
        for name, value in values.items():
            object.__setattr__(claim, name, value)
        claim._validate((*KINDS, UNRECORDED))
        return claim


def check_claims(claims: Any) -> None:
    """Refuse ``metrics["claims"]`` unless it is a list of valid claim dicts (each with a kind); says which one."""
    if not isinstance(claims, list):
        raise ValueError(f"metrics['claims'] must be a list of claims, got {type(claims).__name__}")
    for i, c in enumerate(claims):
        try:
            Claim.from_dict(c)
        except ValueError as err:
            raise ValueError(f"metrics['claims'][{i}]: {err}") from None


def _kind_of(claim: Mapping[str, Any]) -> str:
    return str(claim.get("kind", UNRECORDED))


def group_by_kind(claims: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """(kind, claims) in the order of ``KINDS`` (then ``UNRECORDED``), each group in its original order; no empty group."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in claims:
        groups.setdefault(_kind_of(c), []).append(c)
    order = [*KINDS, UNRECORDED]
    unknown = sorted(set(groups) - set(order))
    if unknown:
        raise ValueError(f"unknown claim kind(s) {', '.join(map(repr, unknown))}; kinds are {', '.join(order)}")
    return [(k, groups[k]) for k in order if k in groups]


def count_by_kind(claims: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """kind -> verdict -> number of claims: every kind of ``KINDS`` (possibly ``{}``), ``UNRECORDED`` only if present,
    the verdicts in the order of ``VERDICTS`` and only those that occur."""
    counts: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    for kind, group in group_by_kind(claims):
        seen = [c["verdict"] for c in group]
        counts[kind] = {v: seen.count(v) for v in VERDICTS if v in seen}
    return counts


def headline(counts: Mapping[str, Mapping[str, int]]) -> str:
    """The one line that reports a run: the paper's claims by outcome, then the checks.

    ``paper claims: 9 reproduced, 2 not reproduced, 3 inconclusive (checks: 14 passed, 0 failed)``; paper claims
    reported without a pass mark (verdict INFO: their hypothesis never held in the run, or no criterion could be
    set up front) are added as ``without a verdict``, checks that were not decided as ``undecided``. Facts and
    extensions are reported beside the claims, not in this line.
    """
    paper, check = counts.get("paper", {}), counts.get("check", {})
    parts = [f"{paper.get('PASS', 0)} reproduced", f"{paper.get('FAIL', 0)} not reproduced",
             f"{paper.get('INCONCLUSIVE', 0)} inconclusive"]
    if paper.get("INFO"):
        parts.append(f"{paper['INFO']} without a verdict")
    checks = [f"{check.get('PASS', 0)} passed", f"{check.get('FAIL', 0)} failed"]
    undecided = sum(n for v, n in check.items() if v not in ("PASS", "FAIL"))
    if undecided:
        checks.append(f"{undecided} undecided")
    return f"paper claims: {', '.join(parts)} (checks: {', '.join(checks)})"


def failed_checks(claims: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids of the ``check`` claims whose verdict is FAIL: each is a bug of the code, not a result."""
    return [str(c["id"]) for c in claims if _kind_of(c) == "check" and c["verdict"] == "FAIL"]
