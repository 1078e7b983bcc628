"""Run notebooks side by side, each from its own child process: the ``--jobs`` of ``mixup-repro reproduce``.

The cpu profile's notebooks each compute on one torch thread (their ``threads`` parameter, or their chapter's
setting), in their own kernel, from their own seeds; what one computes does not depend on what else runs. So on a
machine with two or more cores, a few can run at once and the numbers stay the same to the last bit (the
reference run in ``book/`` was made this way; ``nbval`` re-executes each notebook alone).

Why a child process per notebook rather than a thread: Ctrl-C. The terminal sends SIGINT to every process of
its foreground group, so each child's papermill shuts its kernel down and keeps the partial notebook in
``runs/failed/``, as a notebook run alone does; a thread could not be interrupted that way (the kernels run in
sessions of their own and would not see the signal).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import time
from multiprocessing.connection import Connection, wait
from typing import Callable, Mapping, Sequence

from .config import ConfigError

__all__ = ["MAX_DEFAULT_JOBS", "check_jobs", "default_jobs", "longest_first", "side_by_side"]

MAX_DEFAULT_JOBS = 4
"""At most this many notebooks at once unless ``--jobs`` says otherwise: each holds its data in its own kernel
(Figure 1a's float64 Fashion-MNIST is the largest), so the default stays modest on a many-core machine."""

GRACE_S = 30.0
"""After Ctrl-C, how long the children get to stop their kernels before they are killed."""


def check_jobs(jobs: object) -> int:
    """``jobs`` as a positive int, or a :class:`~mixup_repro.config.ConfigError` that says what is accepted."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a positive integer (notebooks run at once), got {jobs!r}")
    return jobs


def default_jobs(profile: str, cores: int | None = None) -> int:
    """How many notebooks ``reproduce`` runs at once by default: one per usable core, at most
    :data:`MAX_DEFAULT_JOBS`; one for the ``paper`` profile, whose image notebooks share one GPU."""
    if profile == "paper":
        return 1
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_JOBS))


def longest_first(names: Sequence[str], estimates: Mapping[str, float | None]) -> list[str]:
    """``names`` in the order to start them: never-timed ones first (they may be long), then by decreasing
    estimate; ties keep the given order. Starting the longest first keeps the last ones from running alone."""
    rank = {name: i for i, name in enumerate(names)}
    return sorted(names, key=lambda n: (estimates.get(n) is not None, -(estimates.get(n) or 0.0), rank[n]))


def _portable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling (most do), else a RuntimeError carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - any failure to round-trip means: send the text instead
        return RuntimeError(f"{type(err).__name__}: {err}")


def _child(conn: Connection, call: Callable[[str], object], name: str) -> None:
    """In the child process: run ``call(name)`` and send back ("ok", value), ("error", exception) or
    ("interrupted", None)."""
    try:
        value = call(name)
    except KeyboardInterrupt:
        conn.send(("interrupted", None))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
        conn.send(("error", _portable(err)))
    else:
        conn.send(("ok", value))
    finally:
        conn.close()


def side_by_side(names: Sequence[str], jobs: int, call: Callable[[str], object], *,
                 on_start: Callable[[str], None] = lambda name: None,
                 on_end: Callable[[str, float, object], None] = lambda name, seconds, value: None) -> dict:
    """Run ``call(name)`` for each of ``names``, ``jobs`` at a time, each in a fresh (spawned) child process.

    ``call`` must be picklable (a module-level function, or a ``functools.partial`` of one). ``on_start(name)``
    and ``on_end(name, seconds, value)`` are called in this process as each starts and ends. Returns
    {name: value}. After the first failure no new one starts; those running finish (their results are saved),
    then the failure is raised. On Ctrl-C the children stop too (they get the terminal's SIGINT, or ours after
    a moment), and KeyboardInterrupt is raised once they have.
    """
    check_jobs(jobs)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch's thread pools
    pending, running, values = list(names), {}, {}
    failure: BaseException | None = None
    try:
        while pending or running:
            while pending and failure is None and len(running) < jobs:
                name = pending.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(send, call, name), name=f"mixup-repro {name}")
                on_start(name)
                proc.start()
                send.close()
                running[proc.sentinel] = (name, proc, receive, time.perf_counter())
            if not running:
                break
            for sentinel in wait(list(running)):
                name, proc, receive, t0 = running.pop(sentinel)
                kind, value = _message(name, proc, receive)
                if kind == "ok":
                    values[name] = value
                    on_end(name, round(time.perf_counter() - t0, 1), value)
                elif kind == "interrupted":
                    raise KeyboardInterrupt
                elif failure is None:
                    failure = value
    except KeyboardInterrupt:
        _stop(running.values())
        raise
    if failure is not None:
        raise failure
    return values


def _message(name: str, proc, receive: Connection) -> tuple[str, object]:
    """What the child that ran ``name`` sent before it ended; an error if it died without a word."""
    try:
        message = receive.recv() if receive.poll() else None
    except (EOFError, OSError):
        message = None
    finally:
        receive.close()
    proc.join()
    if message is None:
        return "error", RuntimeError(f"the process running {name} died (exit code {proc.exitcode}) before it could "
                                     f"say why; the kernels' messages are in _build/logs/kernels.log")
    return message


def _stop(running) -> None:
    """After Ctrl-C: give each child a moment to stop on the terminal's SIGINT, then send one ourselves (a
    signal sent to this process alone did not reach them), then kill what is left after :data:`GRACE_S`."""
    procs = [proc for _, proc, _, _ in running]
    deadline = time.monotonic() + 2.0
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
