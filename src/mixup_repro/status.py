"""The README's generated parts: the status of each result of the paper, and what the two commands cost.

The status table has one row per result of the paper, the notebooks that check it and a verdict word derived from
their ``paper`` claims only, read either from the saved results (:func:`claims_from_results`) or from the checked
output cells of the committed reference notebooks (:func:`claims_from_notebooks`, which also feed the book's
claims ledger, :mod:`mixup_repro.ledger`). ``mixup-repro reproduce --profile cpu`` rewrites
the README's generated blocks from its run; a test rebuilds them from the committed files and compares, so the
README cannot drift from the reference run. How claims turn into a verdict word is :func:`verdict`, in one place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

from . import timings
from .claims import failed_checks

__all__ = ["PAPER_RESULTS", "README", "claims_from_results", "claims_from_notebooks", "claims_label",
           "notebook_parameters", "parse_summary", "all_claims", "missing", "verdict", "status_rows", "status_table",
           "status_lines", "costs_text", "render_blocks", "readme_blocks", "update_readme"]

PAPER_RESULTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Lemma 3.1, Figure 2", ("lemma31_fig2",)),
    ("Theorems 3.1, 3.2", ("thm31_logistic", "thm32_relu")),
    ("Figure 1a (FGSM)", ("fig1a_fgsm",)),
    ("GLM regularization, Rademacher bounds", ("glm_regularization", "rademacher", "relu_rademacher")),
    ("Figures 1b, 5-8", ("generalization_gap",)),
    ("Figure 3", ("fig3_training_error",)),
)
"""Each result of the paper and the registered notebooks that check it (every notebook is in exactly one row)."""
README = Path("README.md")
BOOK_URL = "https://mixup-repro.github.io/mixup-repro/"
_CLAIM_LINE = re.compile(r"^\[([A-Z]+)\] (.+?): (.*)$")
_KIND_LINE = re.compile(r"^== ([a-z]+): .* ==$")
_LABEL = re.compile(r"^\(([\w-]+-claims)\)=$", re.M)
_BLOCK = re.compile(r"(?P<head><!-- begin (?P<name>[\w-]+) [^>]*-->\n)(?P<body>.*?)(?P<tail><!-- end (?P=name) -->)",
                    re.DOTALL)

Claims = Mapping[str, "list[dict] | None"]


def claims_from_results(profile: str, root: str | Path) -> dict[str, list[dict] | None]:
    """notebook -> the claims of its saved result for ``profile`` (None when there is no valid saved result)."""
    from .pipeline import NOTEBOOKS, resolve_config
    from .results import CorruptResultError, load_result, results_dir

    out: dict[str, list[dict] | None] = {}
    for name in NOTEBOOKS:
        path = results_dir() / name / resolve_config(name, profile, root=root).config_hash()
        try:
            out[name] = list(load_result(path).metrics.get("claims", []))
        except (FileNotFoundError, CorruptResultError):
            out[name] = None
    return out


def parse_summary(text: str) -> list[dict]:
    """The claims printed by :func:`mixup_repro.report.summarize`, as dicts with id, claim, paper, kind, verdict,
    detail (the numbers are not printed). Lines before the first kind heading (the headline) are skipped.

    Raises ``ValueError`` on a line that does not fit the form, naming it.
    """
    from .report import INDENT

    claims: list[dict] = []
    lines = text.splitlines()
    kind, i = None, 0
    while i < len(lines):
        line = lines[i]
        heading, claim = _KIND_LINE.match(line), _CLAIM_LINE.match(line)
        if heading:
            kind = heading.group(1)
            i += 1
            continue
        if kind is None:  # the headline
            i += 1
            continue
        if not claim or i + 2 >= len(lines):
            raise ValueError(f"line {i + 1} of a claims summary is neither a kind heading nor a complete claim: {line!r}")
        detail, paper = lines[i + 1], lines[i + 2]
        if not (detail.startswith(INDENT) or detail == INDENT.rstrip()) or not paper.startswith(f"{INDENT}paper: "):
            raise ValueError(f"claim {claim.group(2)!r} (line {i + 1} of a claims summary) lacks its indented detail "
                             f"and 'paper:' lines")
        claims.append({"id": claim.group(2), "claim": claim.group(3), "paper": paper[len(INDENT) + 7:],
                       "kind": kind, "verdict": claim.group(1), "detail": detail[len(INDENT):]})
        i += 3
    return claims


def _executed(root: str | Path, name: str) -> Path:
    return Path(root) / "book" / "notebooks" / f"{name}.ipynb"


def _checked_output(path: Path) -> str:
    """The text printed by the checked cell (``# NBVAL_CHECK_OUTPUT``) of an executed notebook."""
    import nbformat

    cells = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    if len(cells) != 1:
        raise ValueError(f"{path} has {len(cells)} checked cells (# NBVAL_CHECK_OUTPUT); a notebook has one")
    return "".join(o.get("text", "") for o in cells[0].get("outputs", []) if o.get("output_type") == "stream")


def claims_from_notebooks(root: str | Path) -> dict[str, list[dict] | None]:
    """notebook -> the claims printed by the checked cell of its committed executed copy (:func:`parse_summary`);
    None when the notebook has no executed copy."""
    from .pipeline import NOTEBOOKS

    out: dict[str, list[dict] | None] = {}
    for name in NOTEBOOKS:
        path = _executed(root, name)
        out[name] = parse_summary(_checked_output(path)) if path.is_file() else None
    return out


def notebook_parameters(root: str | Path) -> dict[str, dict | None]:
    """notebook -> the parameters its committed executed copy ran with (papermill's record); None without a copy."""
    import nbformat

    from .pipeline import NOTEBOOKS

    out: dict[str, dict | None] = {}
    for name in NOTEBOOKS:
        path = _executed(root, name)
        out[name] = dict(nbformat.read(path, as_version=4).metadata.papermill.parameters) if path.is_file() else None
    return out


def claims_label(root: str | Path, name: str) -> str | None:
    """The label of the "Checked claims" section of notebook ``name`` (``(<x>-claims)=`` in its source), or None."""
    import nbformat

    from .pipeline import NOTEBOOKS

    path = Path(root) / NOTEBOOKS[name]
    if not path.is_file():
        return None
    found = [m.group(1) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
             for m in _LABEL.finditer(c.source)]
    if len(found) > 1:
        raise ValueError(f"{path} has {len(found)} claims labels ({', '.join(found)}); a notebook has one")
    return found[0] if found else None


def all_claims(claims: Claims) -> list[dict]:
    """Every claim of every notebook that has a result, in notebook order."""
    return [c for found in claims.values() for c in found or []]


def missing(claims: Claims) -> list[str]:
    """The notebooks without a result."""
    return [name for name, found in claims.items() if found is None]


def verdict(claims: Sequence[Mapping] | None) -> tuple[str, str]:
    """The verdict word of one result of the paper and the counts behind it, from its notebooks' ``paper`` claims.

    Only the paper's claims decide the word: ``reproduced`` (all PASS), ``not reproduced`` (all FAIL),
    ``inconclusive`` (all INCONCLUSIVE), otherwise ``partly reproduced``; paper claims reported without a pass
    mark (INFO) are named apart. Failed checks are named too: they are bugs, whatever the word.
    """
    if claims is None:
        return "not run", "no saved result"
    paper = [c for c in claims if c.get("kind") == "paper"]
    decided = [c for c in paper if c["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE")]
    by = {v: [c["id"] for c in decided if c["verdict"] == v] for v in ("PASS", "FAIL", "INCONCLUSIVE")}
    untestable = [c["id"] for c in paper if c["verdict"] == "INFO"]
    bugs = failed_checks(claims)
    if not decided:
        word = "not tested"
        detail = "no paper claim could be tested" + (f" (no verdict: {', '.join(untestable)})"
                                                      if untestable else "")
    else:
        word = next((w for v, w in (("PASS", "reproduced"), ("FAIL", "not reproduced"),
                                    ("INCONCLUSIVE", "inconclusive")) if len(by[v]) == len(decided)),
                    "partly reproduced")
        detail = f"{len(by['PASS'])} of {len(decided)} paper claims"
        if word == "partly reproduced":  # otherwise the word says it of every claim
            detail += "".join(f"; {label}: {', '.join(by[v])}" for v, label in (
                ("FAIL", "not reproduced"), ("INCONCLUSIVE", "inconclusive")) if by[v])
        detail += f"; no verdict: {', '.join(untestable)}" if untestable else ""
    return word, detail + (f"; FAILED CHECKS (bugs): {', '.join(bugs)}" if bugs else "")


def status_rows(claims: Claims) -> list[tuple[str, tuple[str, ...], str, str]]:
    """(paper result, notebooks, verdict word, detail) per result of the paper."""
    rows = []
    for result, notebooks in PAPER_RESULTS:
        found = [claims.get(n) for n in notebooks]
        merged = None if any(f is None for f in found) else [c for f in found for c in f]
        rows.append((result, notebooks, *verdict(merged)))
    return rows


def status_table(claims: Claims) -> str:
    """The README's status: the headline (the paper's claims only), then one row per result of the paper."""
    from .claims import count_by_kind, headline

    lines = [f"**{headline(count_by_kind(all_claims(claims)))}**; all claims: "
             f"[ledger]({BOOK_URL}book/ledger.html).", "",
             "| result of the paper | notebook | verdict |", "|---|---|---|"]
    for result, notebooks, word, detail in status_rows(claims):
        links = ", ".join(f"[`{n}`](book/notebooks/{n}.ipynb)" for n in notebooks)
        lines.append(f"| {result} | {links} | **{word}**: {detail} |")
    return "\n".join(lines) + "\n"


def status_lines(claims: Claims) -> list[str]:
    """The status table as plain text lines (the end of ``mixup-repro reproduce``)."""
    return [f"{result:<38} {word:<18} {detail}" for result, _, word, detail in status_rows(claims)]


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not measured yet"
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"


def costs_text(root: str | Path) -> str:
    """The README's sentence on what the two commands cost, from the measured files of ``book/_generated``."""
    root = Path(root)
    measured = timings.load(root / timings.TIMINGS_FILE).get("notebooks", {})
    again = [measured.get(n, {}).get("cached" if n != timings.BOOK else "computed", {}).get("seconds")
             for n in [*_registered(), timings.BOOK]]
    fresh = timings.load(root / timings.FRESH_MACHINE_FILE)
    if not fresh:
        first = "Not yet measured on a fresh machine."
    else:
        first = (f"Measured on a fresh clone ({fresh['cpus']} CPU cores, {fresh['date']}): `make reproduce` "
                 f"{_minutes(fresh['reproduce_s'])} ({_minutes(fresh['install_s']).removeprefix('about ')} of it "
                 f"installing `.venv`, {fresh['venv_gb']:.1f} GB), `make test` {_minutes(fresh['test_s'])} "
                 f"({fresh['test_counts']}).")
    rerun = (f" Again, with every result saved: `make reproduce` {_minutes(sum(again))}."
             if all(a is not None for a in again) else "")
    return f"{first}{rerun} [Per notebook]({BOOK_URL}book/reproduce.html#timings).\n"


def _registered() -> list[str]:
    from .pipeline import NOTEBOOKS

    return list(NOTEBOOKS)


def render_blocks(root: str | Path, claims: Claims) -> dict[str, str]:
    """The README's generated blocks (name -> Markdown) for the claims of a cpu-profile run."""
    return {"status": status_table(claims), "costs": costs_text(root)}


def readme_blocks(text: str) -> dict[str, str]:
    """The generated blocks of a README's text: ``<!-- begin NAME ... -->`` ... ``<!-- end NAME -->``."""
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}


def update_readme(root: str | Path, claims: Claims) -> list[str]:
    """Rewrite the README's generated blocks from ``claims`` and the measured files; returns the names changed."""
    path = Path(root) / README
    if not path.is_file():
        return []
    text = path.read_text()
    blocks, changed = render_blocks(root, claims), []

    def replace(m: re.Match) -> str:
        name, new = m.group("name"), blocks.get(m.group("name"))
        if new is None or new == m.group("body"):
            return m.group(0)
        changed.append(name)
        return m.group("head") + new + m.group("tail")

    new_text = _BLOCK.sub(replace, text)
    if changed:
        path.write_text(new_text)
    return changed
