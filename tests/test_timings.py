"""Measured timings of `mixup-repro reproduce`: what is recorded, the estimate of the time left, the progress lines."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from mixup_repro import pipeline, timings

REPO = Path(__file__).resolve().parents[1]


def _run(name, seconds, status):
    return {"notebook": name, "wall_time_s": seconds, "status": status}


def test_record_keeps_the_status_this_run_did_not_measure():
    first = timings.record({}, [_run("a", 30.0, "computed"), _run("b", 12.0, "computed")], 6.0, commit="abcdef123",
                           date="2026-01-01")
    second = timings.record(first, [_run("a", 8.0, "cached"), _run("b", 14.5, "computed")], 5.0, commit="0123456789")
    assert first["notebooks"]["a"] == {"computed": {"seconds": 30.0, "date": "2026-01-01", "commit": "abcdef1",
                                                    "cpus": first["notebooks"]["a"]["computed"]["cpus"], "jobs": 1}}
    assert second["notebooks"]["a"]["computed"]["seconds"] == 30.0 and second["notebooks"]["a"]["cached"]["seconds"] == 8.0
    assert second["notebooks"]["b"]["computed"]["seconds"] == 14.5 and second["notebooks"]["book"]["computed"]["seconds"] == 5.0
    assert first["notebooks"]["a"]["computed"]["seconds"] == 30.0  # the input is not modified


def test_estimate_prefers_the_last_run_here_then_the_committed_timings():
    committed = timings.record({}, [_run("a", 30.0, "computed"), _run("a", 9.0, "cached")], 6.0, commit="c")
    last = {"notebooks": [_run("a", 40.0, "computed")], "book_build_s": 7.0}
    assert timings.estimate("a", "computed", last, committed) == 40.0
    assert timings.estimate("a", "cached", last, committed) == 9.0
    assert timings.estimate("book", "computed", last, committed) == 7.0
    assert timings.estimate("book", "computed", {}, committed) == 6.0
    assert timings.estimate("b", "computed", last, committed) is None


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0.4, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"),
                                           (3600, "60 min 00 s")])
def test_fmt_duration(seconds, text):
    assert timings.fmt_duration(seconds) == text


def test_the_table_sums_each_column_and_says_when_it_was_measured():
    measured = timings.record({}, [_run("a", 30.0, "computed"), _run("b", 12.0, "computed"), _run("a", 5.0, "cached")],
                              6.0, commit="abc1234", date="2026-01-02")
    text = timings.render_markdown(measured, ["a", "b"])
    assert "| `a` | 30 s | 5 s |" in text and "| `b` | 12 s | not measured |" in text
    assert "| **sum of the steps** | **48 s** | **?** |" in text
    assert "2026-01-02 at commit `abc1234` (" in text and "1 notebook at a time)" in text
    assert "wall clock" not in text  # no whole run was timed


def test_the_wall_time_of_a_whole_run_is_kept_per_status_with_its_jobs():
    both = timings.record({}, [_run("a", 30.0, "computed"), _run("b", 12.0, "computed")], 6.0, commit="abc1234",
                          date="2026-01-03", jobs=2, wall_s=37.0)
    assert both["wall"]["computed"]["seconds"] == 37.0 and both["wall"]["computed"]["jobs"] == 2
    mixed = timings.record(both, [_run("a", 4.0, "cached"), _run("b", 13.0, "computed")], 6.0, commit="d", wall_s=20.0)
    assert mixed["wall"] == both["wall"]  # a run that reused some results is no whole run of either kind
    cached = timings.record(mixed, [_run("a", 4.0, "cached"), _run("b", 3.0, "cached")], 6.0, commit="e", wall_s=9.0)
    assert cached["wall"]["computed"]["seconds"] == 37.0 and cached["wall"]["cached"]["seconds"] == 9.0
    text = timings.render_markdown(both, ["a", "b"])
    assert "| **all 2 notebooks and the book, wall clock** | **37 s**, 2 at a time | not measured |" in text
    assert "2 notebooks at a time" in text


def test_the_committed_tables_are_generated_from_the_committed_measurements():
    measured = timings.load(REPO / timings.TIMINGS_FILE)
    assert (REPO / timings.TIMINGS_TABLE).read_text() == timings.render_markdown(measured, list(pipeline.NOTEBOOKS))
    fresh = timings.load(REPO / timings.FRESH_MACHINE_FILE)
    assert (REPO / timings.FRESH_MACHINE_TABLE).read_text() == timings.render_fresh_machine(fresh)
    if measured:  # every registered notebook has been timed computing its result, and the book build too
        assert all(measured["notebooks"][n]["computed"]["seconds"] > 0 for n in [*pipeline.NOTEBOOKS, timings.BOOK])


def test_progress_prints_a_line_per_step_and_the_time_left():
    out = io.StringIO()
    steps = [timings.Step("a", "computed", 10.0), timings.Step("b", "cached", 20.0), timings.Step("book", "computed", 5.0)]
    progress = timings.Progress(steps, stream=out)  # not a terminal: lines only, no bar
    assert progress.left() == 35.0
    progress.start(0)
    assert 34.0 < progress.left() <= 35.0
    progress.end(0, 9.5, "computed")
    assert progress.left() == 25.0
    progress.start(1)
    progress.end(1, 18.25, "cached")
    progress.start(2)
    progress.end(2, 4.0, "computed")
    progress.close()
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\[1/2\] a +started: computes its result, about 10 s; all done in about 3[45] s", lines[0])
    assert re.fullmatch(r"\[1/2\] a +computed in 9\.5 s", lines[1])
    assert re.fullmatch(r"\[2/2\] b +started: reuses the saved result, about 20 s; all done in about 2[45] s", lines[2])
    assert re.fullmatch(r"\[2/2\] b +cached in 18\.2 s", lines[3])
    assert re.fullmatch(r"\[book\] jupyter-book build +started: builds the book, about 5 s; all done in about [45] s",
                        lines[4])
    assert re.fullmatch(r"\[book\] jupyter-book build +built in 4\.0 s", lines[5]) and len(lines) == 6


def test_with_two_jobs_the_time_left_is_shared_but_not_below_the_longest_running():
    steps = [timings.Step("a", "computed", 100.0), timings.Step("b", "computed", 20.0),
             timings.Step("c", "computed", 20.0), timings.Step("book", "computed", 5.0)]
    progress = timings.Progress(steps, stream=io.StringIO(), jobs=2)
    assert progress.left() == 140.0 / 2 + 5.0
    progress.start(0)
    progress.start(1)
    progress.end(1, 20.0, "computed")
    progress.start(2)
    progress.end(2, 20.0, "computed")
    # b and c are done: only a is left, and two jobs cannot make it shorter
    assert 99.0 < progress.left() - 5.0 <= 100.0
    progress.end(0, 100.0, "computed")
    assert progress.left() == 5.0


def test_progress_without_an_estimate_says_so():
    out = io.StringIO()
    progress = timings.Progress([timings.Step("a", "computed", None), timings.Step("b", "computed", 3.0)], stream=out)
    progress.start(0)
    assert progress.left() is None
    assert out.getvalue() == "[1/2] a                    started: computes its result, not timed before\n"


def test_load_tolerates_a_missing_or_broken_file(tmp_path):
    assert timings.load(tmp_path / "missing.json") == {}
    (tmp_path / "broken.json").write_text("{not json")
    assert timings.load(tmp_path / "broken.json") == {}
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    assert timings.load(tmp_path / "list.json") == {}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_shows_the_share_done_and_the_time_left():
    out = _Terminal()
    progress = timings.Progress([timings.Step("a", "computed", 10.0), timings.Step("b", "computed", 10.0)], stream=out)
    progress.start(0)
    progress.end(0, 9.0, "computed")
    progress.close()
    text = out.getvalue()
    assert "[1/2] a                    computed in 9.0 s\n" in text
    assert re.search(r"reproduce  50%\|[█#]+ +\| 1/2 notebooks, \d+ s elapsed, about 10 s left", text), text
    assert timings.Progress([], stream=io.StringIO())._bar is None  # not a terminal: no bar
