"""The book's claims ledger: every claim of the reference run, by kind, with its verdict, numbers, run and cell.

Generated, never typed. ``mixup-repro reproduce --profile cpu`` writes the two files from its saved results, before
it builds the book: :data:`HEADLINE_FILE` (the headline of :func:`mixup_repro.claims.headline` in a sentence, included
by the introduction and the ledger page) and :data:`LEDGER_FILE` (the counts per kind and one row per claim, included
by ``book/ledger.md``). Both are functions of the claims and the parameters of each notebook's run only, which the
committed executed notebooks hold too (their checked outputs, re-executed by nbval, and papermill's record of the
parameters): a test renders them from a fresh clone's notebooks (:func:`from_notebooks`) and compares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from . import status
from .claims import KIND_TITLES, UNRECORDED, count_by_kind, group_by_kind, headline
from .config import profile_of

__all__ = ["HEADLINE_FILE", "LEDGER_FILE", "from_notebooks", "render", "render_headline", "render_ledger",
           "run_text", "write"]

LEDGER_FILE = Path("book/_generated/ledger.md")
HEADLINE_FILE = Path("book/_generated/headline.md")
#: What a verdict means for each kind, in the ledger's verdict column.
_MEANING = {
    "paper": {"PASS": "reproduced", "FAIL": "not reproduced", "INCONCLUSIVE": "inconclusive",
              "INFO": "no verdict"},
    "check": {"PASS": "passed", "FAIL": "failed: a bug"},
}
_HEAD = "| claim (what we test) | kind | the paper says | verdict | our numbers | run |"


def _md(text: str) -> str:
    """``text`` safe inside a Markdown table cell (Markdown and MyST syntax escaped, ``|`` included)."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|#$~{}" else ch for ch in str(text))


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def run_text(name: str, params: Mapping | None, root: str | Path = Path(".")) -> str:
    """``cpu; seeds 0, 1, 2`` or ``cpu; 5 seeds (base seed 0)``: the profile of a run and its seeds."""
    if params is None:
        return "not run"
    profile = profile_of(name, params, start=root)
    if "seeds" in params:
        seeds = f"seeds {', '.join(str(s) for s in params['seeds'])}"
    elif "n_seeds" in params:
        seeds = f"{params['n_seeds']} seeds (base seed {params['seed']})"
    else:
        seeds = f"seed {params['seed']}" + (f", data seed {params['data_seed']}" if "data_seed" in params else "")
    return f"{profile}; {seeds}"


def render_headline(claims: status.Claims) -> str:
    """The sentence the introduction and the ledger page open with: the paper's claims, then the rest."""
    counts = count_by_kind(status.all_claims(claims))
    total = {k: sum(v.values()) for k, v in counts.items()}
    absent = status.missing(claims)
    return (f"**{headline(counts)}** in the reference run ({len(claims) - len(absent)} notebooks, `cpu` profile"
            + (f"; without a result: {', '.join(absent)}" if absent else "")
            + f"). Beside the paper's {_n(total['paper'], 'claim')} tested here, the notebooks report "
            f"{_n(total['check'], 'check')} of the code, {_n(total['fact'], 'fact')} we derived and "
            f"{_n(total['beyond'], 'result')} beyond the paper.\n")


def _counts_table(claims: status.Claims) -> list[str]:
    counts = count_by_kind(status.all_claims(claims))
    verdicts = ("PASS", "FAIL", "INCONCLUSIVE", "INFO")
    lines = ["| kind | what it means | claims | " + " | ".join(verdicts) + " |", "|---|---|---|" + "---|" * 4]
    for kind, by in counts.items():
        lines.append(f"| `{kind}` | {KIND_TITLES[kind]} | {sum(by.values())} | "
                     + " | ".join(str(by.get(v, 0)) for v in verdicts) + " |")
    return lines


def render_ledger(claims: status.Claims, params: Mapping[str, Mapping | None], labels: Mapping[str, str | None],
                  root: str | Path = Path(".")) -> str:
    """The ledger: counts per kind and verdict, then per kind one row per claim.

    ``claims`` and ``params``: notebook -> its claims and the parameters it ran with (None: no result);
    ``labels``: notebook -> the label of its "Checked claims" section, which each row links to.
    """
    rows = [(name, c) for name, found in claims.items() for c in found or []]
    lines = ["## Counts per kind and verdict", "", *_counts_table(claims)]
    for kind, _ in group_by_kind(c for _, c in rows):
        lines += ["", f"## `{kind}`: {KIND_TITLES[kind]}", "", _HEAD,
                  "|---|---|---|---|---|---|"]
        for name, c in ((n, c) for n, c in rows if c.get("kind", UNRECORDED) == kind):
            label = labels.get(name)
            where = f"{{ref}}`{c['id']} <{label}>`" if label else _md(c["id"])
            meaning = _MEANING.get(kind, {}).get(c["verdict"])
            verdict = f"**{c['verdict']}**" + (f" ({meaning})" if meaning else "")
            lines.append(f"| {where}: {_md(c['claim'])} | `{kind}` | {_md(c['paper'])} | {verdict} | "
                         f"{_md(c.get('detail', ''))} | `{name}`, {_md(run_text(name, params.get(name), root))} |")
    absent = status.missing(claims)
    if absent:
        lines += ["", f"Notebooks without a result: {', '.join(absent)}."]
    return "\n".join(lines) + "\n"


def render(claims: status.Claims, params: Mapping[str, Mapping | None], root: str | Path = Path(".")) -> dict[Path, str]:
    """The generated files (path relative to the root -> text) for the claims and parameters of the cpu run."""
    labels = {name: status.claims_label(root, name) for name in claims}
    return {HEADLINE_FILE: render_headline(claims), LEDGER_FILE: render_ledger(claims, params, labels, root)}


def from_notebooks(root: str | Path) -> dict[Path, str]:
    """The generated files as the committed executed notebooks imply them (what a fresh clone can check)."""
    return render(status.claims_from_notebooks(root), status.notebook_parameters(root), root)


def write(root: str | Path, files: Mapping[Path, str]) -> list[str]:
    """Write the generated files under ``root``; returns those whose text changed."""
    changed = []
    for rel, text in files.items():
        path = Path(root) / rel
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(str(rel))
    return changed
