"""The README's generated parts: the status of each result of the paper, and what the two commands cost.

The status table has one row per result of the paper, the notebooks that check it and a verdict word derived from
their claims, read either from the saved results (:func:`claims_from_results`) or from the checked output cells of
the committed reference notebooks (:func:`claims_from_notebooks`). ``mixup-repro reproduce --profile cpu`` rewrites
the README's generated blocks from its run; a test rebuilds them from the committed files and compares, so the
README cannot drift from the reference run. How claims turn into a verdict word is :func:`verdict`, in one place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

from . import timings

__all__ = ["PAPER_RESULTS", "README", "claims_from_results", "claims_from_notebooks",
           "count_verdicts", "verdict", "status_rows", "status_table", "status_lines", "costs_text", "render_blocks",
           "readme_blocks", "update_readme"]

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
CHECKED = ("PASS", "FAIL")
"""Verdicts that count as a check; INFO claims are measurements reported beside them."""
_SUMMARY_LINE = re.compile(r"^\[([A-Z]+)\] (.+?): (.*)$")
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


def claims_from_notebooks(root: str | Path) -> dict[str, list[dict] | None]:
    """notebook -> the claims printed by the checked cell (``# NBVAL_CHECK_OUTPUT``) of its committed executed copy.

    Each claim line reads ``[VERDICT] id: claim`` (:func:`mixup_repro.report.summarize`); None when the
    notebook has no executed copy.
    """
    import nbformat

    from .pipeline import NOTEBOOKS

    out: dict[str, list[dict] | None] = {}
    for name in NOTEBOOKS:
        path = Path(root) / "book" / "notebooks" / f"{name}.ipynb"
        if not path.is_file():
            out[name] = None
            continue
        claims = []
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or not cell.source.startswith("# NBVAL_CHECK_OUTPUT"):
                continue
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            for line in text.splitlines():
                m = _SUMMARY_LINE.match(line)
                if m:
                    claims.append({"verdict": m.group(1), "id": m.group(2), "claim": m.group(3)})
        out[name] = claims
    return out


def count_verdicts(claims: Claims) -> dict[str, int]:
    """How many claims have each verdict; MISSING counts the notebooks without a result."""
    counts = {"PASS": 0, "FAIL": 0, "INFO": 0, "MISSING": 0}
    for found in claims.values():
        if found is None:
            counts["MISSING"] += 1
        for c in found or []:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    return counts


def verdict(claims: Sequence[Mapping] | None) -> tuple[str, str]:
    """The verdict word of one result of the paper and the counts behind it, from its notebooks' claims."""
    if claims is None:
        return "not run", "no saved result"
    checked = [c for c in claims if c["verdict"] in CHECKED]
    failed = [c["id"] for c in checked if c["verdict"] != "PASS"]
    if not checked:
        return "not checked", f"{len(claims)} measurements, no pass/fail check"
    word = "reproduced" if not failed else "not reproduced" if len(failed) == len(checked) else "partly reproduced"
    return word, f"{len(checked) - len(failed)} of {len(checked)} checks pass" + (
        f"; fails: {', '.join(failed)}" if failed else "")


def status_rows(claims: Claims) -> list[tuple[str, tuple[str, ...], str, str]]:
    """(paper result, notebooks, verdict word, detail) per result of the paper."""
    rows = []
    for result, notebooks in PAPER_RESULTS:
        found = [claims.get(n) for n in notebooks]
        merged = None if any(f is None for f in found) else [c for f in found for c in f]
        rows.append((result, notebooks, *verdict(merged)))
    return rows


def status_table(claims: Claims) -> str:
    """The Markdown status table of the README."""
    lines = ["| result of the paper | notebook | verdict |", "|---|---|---|"]
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
