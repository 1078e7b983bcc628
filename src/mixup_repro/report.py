"""How a run's claims and provenance are shown: checked summary lines, figure notes, provenance text, glue values.

Notebooks print :func:`summarize` in their checked cell (rounded and deterministic, so nbval can compare it),
put a :func:`figure_note` under each figure, end with :func:`provenance_text`, and hand the values of their
chapter's ``book_values`` to :func:`glue_values` for the book's theory pages; :func:`verdict_values` and
:func:`claims_by_id` help build those.
"""

from __future__ import annotations

from .claims import KIND_TITLES, UNRECORDED, count_by_kind, group_by_kind, headline
from .config import profile_of
from .results import Result, config_hash

__all__ = ["INDENT", "FigureNote", "claims_by_id", "figure_note", "glue_values", "kind_heading", "provenance_text",
           "summarize", "verdict_values"]


#: Indent of a claim's detail and paper lines in :func:`summarize` (under the verdict in brackets).
INDENT = " " * 7


def kind_heading(kind: str) -> str:
    """The line that opens a group of claims of one kind in :func:`summarize`: ``== paper: <title> ==``."""
    return f"== {kind}: {KIND_TITLES[kind]} =="


def summarize(result: Result) -> str:
    """A short, rounded, deterministic text summary of a run's claims (for checked notebook cells).

    The headline (:func:`mixup_repro.claims.headline`), then the claims grouped by kind, each as
    ``[VERDICT] id: statement``, its detail and ``paper: <what the paper states>`` on indented lines.
    :func:`mixup_repro.status.parse_summary` reads it back (the README's status table and the book's claims
    ledger are built from the committed notebooks' checked outputs).
    """
    claims = result.metrics.get("claims", [])
    if not claims:
        return ""
    lines = [headline(count_by_kind(claims))]
    for kind, group in group_by_kind(claims):
        lines.append(kind_heading(kind))
        for c in group:
            lines += [f"[{c['verdict']}] {c['id']}: {c['claim']}", f"{INDENT}{c.get('detail', '')}",
                      f"{INDENT}paper: {c.get('paper', UNRECORDED)}"]
    return "\n".join(lines)


def claims_by_id(result: Result) -> dict[str, dict]:
    """The run's claims (their saved form) keyed by id."""
    return {c["id"]: c for c in result.metrics["claims"]}


def verdict_values(result: Result) -> dict[str, str]:
    """``verdict_<slug>`` -> verdict for every claim, the slug made from the part of the id in parentheses.

    ``"Theorem 3.1 (chain, two-moons)"`` gives ``verdict_chain_two_moons``.
    """
    out = {}
    for c in result.metrics["claims"]:
        slug = c["id"].split("(", 1)[-1].rstrip(")").replace(" ", "_").replace(",", "").replace("-", "_")
        out[f"verdict_{slug}"] = str(c["verdict"])
    return out


def glue_values(values: dict[str, float | str]) -> None:
    """Glue each value under its key (``myst_nb.glue(key, value, display=False)``), from a notebook cell.

    The book's theory pages show them with ``{glue:text}`` roles that name the notebook and the key.
    """
    from myst_nb import glue

    for key, value in values.items():
        glue(key, value, display=False)


class FigureNote:
    """What sits under a figure: the paper's claim, our verdicts with their numbers, and the run.

    ``str()`` gives plain text; in a notebook (and in the book) it renders as Markdown.
    """

    def __init__(self, claims: list[dict], run: str):
        self.claims, self.run = claims, run

    def _groups(self) -> list[tuple[str, list[dict]]]:
        """The claims grouped by the paper's statement they answer, in order of first appearance."""
        groups: dict[str, list[dict]] = {}
        for c in self.claims:
            groups.setdefault(c.get("paper", "not stated"), []).append(c)
        return list(groups.items())

    def __str__(self) -> str:
        lines = []
        for paper, claims in self._groups():
            lines.append(f"Paper: {paper}")
            lines += [f"Ours:  [{c['verdict']}] {c['id']} ({c.get('kind', UNRECORDED)}): {c['claim']}: "
                      f"{c.get('detail', '')}" for c in claims]
        return "\n".join(lines + [f"Run:   {self.run}"])

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        parts = []
        for paper, claims in self._groups():
            parts.append(f"**Paper:** {_md(paper)}")
            parts.append("\n".join(f"- **{c['verdict']}** *{_md(c['id'])}* ({c.get('kind', UNRECORDED)}): "
                                   f"{_md(c['claim'])}: {_md(c.get('detail', ''))}" for c in claims))
        parts.append(f"*Run:* {_md(self.run)}")
        return "\n\n".join(parts)


def _md(text: str) -> str:
    """``text`` with the characters Markdown would interpret escaped."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|#$~" else ch for ch in str(text))


def _seeds_text(seeds) -> str:
    """The run's seeds for one line: the given ones, and how many per-model seeds were derived from them."""
    if not isinstance(seeds, dict):
        return str(seeds)
    given = ", ".join(f"{k} {v}" for k, v in seeds.items() if not isinstance(v, dict))
    derived = sum(len(v) for v in seeds.values() if isinstance(v, dict))
    return given + (f" (+{derived} derived init seeds)" if derived else "")


def figure_note(result: Result, *claim_ids: str) -> FigureNote:
    """The note printed under a figure for the claims ``claim_ids`` (an id, or a prefix of several ids).

    Each claim shows the paper's statement beside our verdict and numbers; the run line (profile, seeds,
    config hash, commit, device, wall time) is read from the saved provenance, never typed by hand.
    """
    claims = result.metrics.get("claims", [])
    chosen: list[dict] = []
    for wanted in claim_ids:
        hits = [c for c in claims if c["id"] == wanted] or [c for c in claims if c["id"].startswith(wanted)]
        if not hits:
            raise KeyError(f"no claim {wanted!r} in this result; claims: {', '.join(c['id'] for c in claims)}")
        chosen += [c for c in hits if c not in chosen]
    if not chosen:
        raise ValueError("figure_note needs at least one claim id")
    m = result.meta
    commit = str(m.get("git_commit", "unknown"))[:10] + ("+" if m.get("git_dirty") is True else "")
    run = (f"profile {profile_of(result.name, result.config)}, seeds {_seeds_text(m.get('seeds'))}, "
           f"config {config_hash(result.config, name=result.name)}, commit {commit}, "
           f"device {m.get('device')} ({m.get('torch_threads')} threads), {float(m.get('wall_time_s', 0)):.0f} s")
    return FigureNote(chosen, run)


def provenance_text(result: Result) -> str:
    """A few lines saying what produced a result: config hash, commit, versions, device, seeds, wall time."""
    meta = result.meta
    keys = [k for k in ("mixup_repro_version", "git_commit", "git_dirty", "python", "torch", "numpy", "device",
                        "torch_threads", "platform", "seeds", "wall_time_s") if k in meta]
    lines = [f"config hash: {config_hash(result.config, name=result.name)}"]
    lines += [f"{k}: {meta[k]}" for k in keys]
    return "\n".join(lines)
