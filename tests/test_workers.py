"""Notebooks side by side (mixup_repro.workers): how many, in which order, at once for real, and what a failure,
a dead child or Ctrl-C in a child does. The calls below run in spawned child processes, so they are module-level
functions that take their folder from a partial."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import pytest

from mixup_repro import workers
from mixup_repro.config import ConfigError


def _wait_for(path: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} never appeared")
        time.sleep(0.02)


def _meet(name: str, *, folder: str, names: tuple[str, ...]) -> str:
    """Say that ``name`` started, then wait until all of ``names`` have: only possible if they run at once."""
    (Path(folder) / f"{name}.started").touch()
    for other in names:
        _wait_for(Path(folder) / f"{other}.started")
    return name.upper()


def _fail_or_pass(name: str, *, folder: str) -> str:
    (Path(folder) / f"{name}.started").touch()
    if name == "bad":
        raise RuntimeError("notebook bad failed in cell 3: ValueError: no data")
    _wait_for(Path(folder) / "bad.started")
    return name


class _Unpicklable(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.hook = lambda: None  # a lambda does not pickle


def _misbehave(name: str) -> str:
    if name == "dies":
        os._exit(3)
    if name == "unpicklable":
        raise _Unpicklable("kernel state lost")
    if name == "interrupted":
        raise KeyboardInterrupt
    return name


def test_default_jobs_is_one_per_core_at_most_four_and_one_on_the_gpu_profile():
    assert [workers.default_jobs("cpu", cores=c) for c in (1, 2, 3, 16)] == [1, 2, 3, workers.MAX_DEFAULT_JOBS]
    assert workers.default_jobs("smoke", cores=2) == 2 and workers.default_jobs("paper", cores=16) == 1
    assert 1 <= workers.default_jobs("cpu") <= workers.MAX_DEFAULT_JOBS  # this machine's cores


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5, "2", None])
def test_jobs_must_be_a_positive_integer(jobs):
    with pytest.raises(ConfigError, match=r"jobs must be a positive integer \(notebooks run at once\), got"):
        workers.check_jobs(jobs)


def test_the_longest_start_first_and_the_never_timed_before_them():
    estimates = {"a": 10.0, "b": 100.0, "c": None, "d": 10.0, "e": 50.0}
    assert workers.longest_first(["a", "b", "c", "d", "e"], estimates) == ["c", "b", "e", "a", "d"]
    assert workers.longest_first(["x", "y"], {}) == ["x", "y"]  # nothing timed: the given order


def test_two_jobs_run_at_once_and_report_each_end(tmp_path):
    starts, ends = [], []
    names = ("a", "b", "c")
    values = workers.side_by_side(list(names), 3, functools.partial(_meet, folder=str(tmp_path), names=names),
                                  on_start=starts.append, on_end=lambda n, s, v: ends.append((n, v)))
    assert values == {"a": "A", "b": "B", "c": "C"}  # each waited for the others: they ran at once
    assert starts == ["a", "b", "c"] and sorted(ends) == [("a", "A"), ("b", "B"), ("c", "C")]


def test_after_a_failure_nothing_new_starts_and_the_failure_is_raised(tmp_path):
    call = functools.partial(_fail_or_pass, folder=str(tmp_path))
    with pytest.raises(RuntimeError, match="notebook bad failed in cell 3: ValueError: no data"):
        workers.side_by_side(["bad", "later"], 1, call)
    assert not (tmp_path / "later.started").exists()
    ended = []
    with pytest.raises(RuntimeError, match="notebook bad failed"):  # the one beside it runs to its end first
        workers.side_by_side(["bad", "beside"], 2, call, on_end=lambda n, s, v: ended.append(n))
    assert ended == ["beside"]


def test_a_child_that_dies_an_unpicklable_error_and_ctrl_c_in_a_child():
    with pytest.raises(RuntimeError, match=r"the process running dies died \(exit code 3\)"):
        workers.side_by_side(["dies"], 1, _misbehave)
    with pytest.raises(RuntimeError, match="_Unpicklable: kernel state lost"):
        workers.side_by_side(["unpicklable"], 1, _misbehave)
    with pytest.raises(KeyboardInterrupt):
        workers.side_by_side(["interrupted", "fine"], 1, _misbehave)
