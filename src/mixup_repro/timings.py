"""How long ``mixup-repro reproduce`` takes: the measured timings, the estimate of a run, and its progress lines.

Every cpu-profile run records the time of each notebook, computed or reused from the saved results, and of the
book build in ``book/_generated/timings.json`` (committed with the reference run; the book's "Reproduce it" page
shows it as ``timings.md``). The next run estimates its time left from the timings of the last run in the results
directory (``reproduce_summary.json``) and, on a fresh clone, from the committed file.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Mapping, Sequence

__all__ = ["TIMINGS_FILE", "TIMINGS_TABLE", "FRESH_MACHINE_FILE", "FRESH_MACHINE_TABLE", "STATUSES", "Step", "load",
           "record", "estimate", "render_markdown", "render_fresh_machine", "fmt_duration", "Progress"]

TIMINGS_FILE = Path("book/_generated/timings.json")
TIMINGS_TABLE = Path("book/_generated/timings.md")
FRESH_MACHINE_FILE = Path("book/_generated/fresh_machine.json")
"""What ``make reproduce`` and ``make test`` took on a fresh clone, written by ``benchmarks/fresh_machine.py``."""
FRESH_MACHINE_TABLE = Path("book/_generated/fresh_machine.md")
STATUSES = ("computed", "cached")
"""A notebook either computes its result or reuses (``cached``) the saved run of the same config and code."""
BOOK = "book"
"""The key of the book build among the notebooks' timings."""


def load(path: str | Path) -> dict:
    """The JSON object in ``path``; {} when the file is missing (a first run) or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(timings: Mapping, runs: Sequence[Mapping], book_s: float | None, *, commit: str,
           date: str | None = None, jobs: int = 1, wall_s: float | None = None) -> dict:
    """``timings`` updated with this run: each notebook's seconds under its status, the book build and, when
    every notebook had the same status, the wall time of the whole run (``wall_s``) under that status.

    A status not measured in this run keeps its older measurement, so a run that reuses every result does not
    erase the times of computing them. ``jobs`` (notebooks run at once) is stamped on each measurement.
    """
    out = {"profile": timings.get("profile", "cpu"),
           "notebooks": {k: dict(v) for k, v in timings.get("notebooks", {}).items()},
           "wall": dict(timings.get("wall", {}))}
    stamp = {"date": date or datetime.now(timezone.utc).strftime("%Y-%m-%d"), "commit": commit[:7],
             "cpus": os.cpu_count(), "jobs": jobs}
    for run in runs:
        if run.get("status") in STATUSES:
            out["notebooks"].setdefault(run["notebook"], {})[run["status"]] = {"seconds": run["wall_time_s"], **stamp}
    if book_s is not None:
        out["notebooks"][BOOK] = {"computed": {"seconds": book_s, **stamp}}
    statuses = {run.get("status") for run in runs}
    if wall_s is not None and len(statuses) == 1 and statuses <= set(STATUSES):
        out["wall"][statuses.pop()] = {"seconds": wall_s, **stamp}
    return out


def _seconds(entry: Mapping | None) -> float | None:
    return float(entry["seconds"]) if entry and isinstance(entry.get("seconds"), (int, float)) else None


def estimate(name: str, status: str, last_run: Mapping, timings: Mapping) -> float | None:
    """Seconds that notebook ``name`` (or ``"book"``) is expected to take with ``status``, or None if never measured.

    The last run in this results directory comes first (same machine), then the committed timings.
    """
    for run in last_run.get("notebooks", []):
        if run.get("notebook") == name and run.get("status") == status:
            return float(run["wall_time_s"])
    if name == BOOK and last_run.get("book_build_s") is not None:
        return float(last_run["book_build_s"])
    return _seconds(timings.get("notebooks", {}).get(name, {}).get("computed" if name == BOOK else status))


def fmt_duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``; ``?`` for an unknown duration."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def render_markdown(timings: Mapping, order: Sequence[str]) -> str:
    """The timings as a Markdown table, notebooks in ``order``, with the totals, the wall time of a whole run
    and when they were measured."""
    notebooks = timings.get("notebooks", {})
    head = "| step | computing the result | reusing the saved result |\n|---|---|---|\n"
    rows, totals, stamps = [], {s: 0.0 for s in STATUSES}, set()
    for name in [*order, BOOK]:
        entry = notebooks.get(name, {})
        cells = []
        for status in STATUSES:
            measured = entry.get("computed" if name == BOOK else status)
            seconds = _seconds(measured)
            cells.append("not measured" if seconds is None else f"{seconds:.0f} s")
            totals[status] = totals[status] + seconds if seconds is not None and totals[status] is not None else None
            if measured:
                stamps.add((measured.get("date"), measured.get("commit"), measured.get("cpus"), measured.get("jobs", 1)))
        label = "book build (`jupyter-book build`)" if name == BOOK else f"`{name}`"
        rows.append(f"| {label} | {' | '.join(cells)} |")
    rows.append("| **sum of the steps** | " + " | ".join(f"**{fmt_duration(totals[s])}**" for s in STATUSES) + " |")
    wall = timings.get("wall", {})
    if wall:
        cells = [f"**{fmt_duration(_seconds(wall.get(s)))}**, {wall[s].get('jobs', 1)} at a time" if wall.get(s)
                 else "not measured" for s in STATUSES]
        rows.append(f"| **all {len(order)} notebooks and the book, wall clock** | {' | '.join(cells)} |")
    when = "; ".join(f"{d} at commit `{c}` ({n} CPU cores, {j} notebook{'s' if j != 1 else ''} at a time)"
                     for d, c, n, j in sorted(stamps, key=str))
    return (head + "\n".join(rows) + "\n\nMeasured by `mixup-repro reproduce --profile cpu`, each notebook in a "
            f"fresh kernel (a step's time includes the wait for a core when others run beside it): {when or 'never'}.\n")


def render_fresh_machine(fresh: Mapping) -> str:
    """The fresh-machine measurement (``benchmarks/fresh_machine.py``) as a Markdown table."""
    if not fresh:
        return "Not measured yet: run `benchmarks/fresh_machine.py`.\n"

    def apt(prefix: str) -> str:
        return (f"`apt-get` {fmt_duration(fresh[prefix + '_apt_s'])} ({fresh[prefix + '_apt']}); "
                if fresh.get(prefix + "_apt") else "")

    rows = [("`git clone` into an empty folder", fresh["clone_s"], 0, ""),
            ("`make reproduce`", fresh["reproduce_s"], fresh["reproduce_exit"],
             f"{apt('reproduce')}`.venv` {fmt_duration(fresh['install_s'])} ({fresh['venv_gb']:.1f} GB); notebooks "
             f"and book {fmt_duration(fresh['notebooks_s'])}"),
            ("`make test`", fresh["test_s"], fresh["test_exit"], f"{apt('test')}{fresh['test_counts']}")]
    lines = ["| command | time | exit status | of which |", "|---|---|---|---|"]
    lines += [f"| {cmd} | {fmt_duration(t)} | {rc} | {detail} |" for cmd, t, rc, detail in rows]
    return ("\n".join(lines) + f"\n\nMeasured on {fresh['date']} at commit `{fresh['commit']}`: {fresh['machine']}, "
            f"{fresh['cpus']} CPU cores{'; ' + fresh['note'] if fresh.get('note') else ''}.\n")


@dataclass
class Step:
    """One step of a run: a notebook (or the book build), the status it is expected to have, and its estimate."""

    name: str
    expected: str
    estimate: float | None


class Progress:
    """One line per step as it starts and ends and, on a terminal, a bar with the time left below them.

    Several notebooks may run at once (``jobs``); the book is built after them. The time left is the estimate
    of every notebook not yet finished, less the time each running one has run, shared among the ``jobs``
    (but never less than what the longest running one still needs), plus the book.
    """

    def __init__(self, steps: Sequence[Step], stream: IO[str] | None = None, bar: bool = True, jobs: int = 1):
        self.steps, self.stream, self.jobs = list(steps), stream or sys.stdout, max(1, int(jobs))
        self.n = sum(s.name != BOOK for s in self.steps)
        self.t_start = time.monotonic()
        self.started: dict[int, float] = {}  # running steps: index -> when they started
        self.finished: set[int] = set()
        self._lock = threading.RLock()  # the bar's thread reads what start and end change
        self._bar, self._stop, self._thread = None, threading.Event(), None
        # A redrawn bar only where it can be redrawn: on a terminal, not in a log file.
        if bar and hasattr(self.stream, "isatty") and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=1000, file=self.stream, bar_format=self._format(""), leave=False)
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    @staticmethod
    def _format(text: str) -> str:
        return "reproduce {percentage:3.0f}%|{bar:30}| " + text.replace("{", "{{").replace("}", "}}")

    def _label(self, i: int) -> str:
        name = self.steps[i].name
        return f"[book] {'jupyter-book build':<20}" if name == BOOK else f"[{i + 1}/{self.n}] {name:<20}"

    def _ran(self, i: int, now: float) -> float:
        """Seconds step ``i`` has run, capped at its estimate (0 if it has not started)."""
        return min(now - self.started[i], self.steps[i].estimate) if i in self.started else 0.0

    def left(self) -> float | None:
        """Estimated seconds until every step has finished; None if a remaining step was never measured."""
        with self._lock:
            return self._left()

    def _left(self) -> float | None:
        remaining = [i for i in range(len(self.steps)) if i not in self.finished]
        if any(self.steps[i].estimate is None for i in remaining):
            return None
        now = time.monotonic()
        rest = {i: self.steps[i].estimate - self._ran(i, now) for i in remaining}
        notebooks = [i for i in remaining if self.steps[i].name != BOOK]
        longest_running = max((rest[i] for i in notebooks if i in self.started), default=0.0)
        book = sum(rest[i] for i in remaining if self.steps[i].name == BOOK)
        return max(sum(rest[i] for i in notebooks) / self.jobs, longest_running) + book

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def _redraw(self) -> None:
        if self._bar is not None:
            self._refresh()

    def start(self, i: int) -> None:
        with self._lock:
            self._start(i)

    def _start(self, i: int) -> None:
        step = self.steps[i]
        self.started[i] = time.monotonic()
        guess = "computes its result" if step.expected == "computed" else "reuses the saved result"
        if step.name == BOOK:
            guess = "builds the book"
        took = "not timed before" if step.estimate is None else f"about {fmt_duration(step.estimate)}"
        left = self.left()
        self._write(f"{self._label(i)} started: {guess}, {took}"
                    + ("" if left is None else f"; all done in about {fmt_duration(left)}"))
        self._redraw()

    def end(self, i: int, seconds: float, status: str) -> None:
        with self._lock:
            self._end(i, seconds, status)

    def _end(self, i: int, seconds: float, status: str) -> None:
        step = self.steps[i]
        what = "built" if step.name == BOOK else status
        self._write(f"{self._label(i)} {what} in {seconds:.1f} s")
        self.started.pop(i, None)
        self.finished.add(i)
        self._redraw()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._refresh()

    def _refresh(self) -> None:
        with self._lock:
            self._draw()

    def _draw(self) -> None:
        known = [s.estimate for s in self.steps]
        if all(k is not None for k in known) and sum(known) > 0:
            now = time.monotonic()
            done = sum(known[i] for i in self.finished)
            done += sum(min(self._ran(i, now), 0.99 * known[i]) for i in self.started)
            fraction = done / sum(known)
        else:
            fraction = len(self.finished) / max(len(self.steps), 1)
        elapsed = time.monotonic() - self.t_start
        left = self.left()
        finished = sum(self.steps[i].name != BOOK for i in self.finished)
        self._bar.n = int(1000 * fraction)
        self._bar.bar_format = self._format(
            f"{finished}/{self.n} notebooks, {fmt_duration(elapsed)} elapsed, "
            + ("time left unknown" if left is None else f"about {fmt_duration(left)} left"))
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._stop.set()
            self._thread.join()
            self._bar.close()
            self._bar = None
