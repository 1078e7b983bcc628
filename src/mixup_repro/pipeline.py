"""Run the notebooks with papermill and rebuild the book: the ``mixup-repro run`` / ``reproduce`` engine.

Parameters are validated against the notebook's schema before a kernel starts. The cpu profile's
executed notebooks go to ``book/notebooks/`` (the book renders them); other profiles and runs with
overrides go to ``runs/<profile>/`` so they never replace the reference run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import config, ledger, timings, workers
from . import status as paper_status
from .claims import count_by_kind, failed_checks, group_by_kind, headline
from .config import ConfigError
from .data.images import check_data_dir
from .durable import write_bytes_atomic, write_json_atomic
from .report import kind_heading
from .results import ENV_VAR, CorruptResultError, check_writable, is_current, load_result, result_path, results_dir

__all__ = ["NOTEBOOKS", "FailedCheckError", "NotebookError", "find_root", "resolve_config", "default_output", "run_notebook", "claims_summary",
           "provenance_table", "reproduce", "jupyter_book_build"]

NOTEBOOKS: dict[str, Path] = {name: Path("notebooks") / f"{name}.ipynb" for name in config.REGISTRY}
"""Registered notebooks in reproduction order (the order of ``config.REGISTRY``): name -> source path relative
to the repository root. Each has a schema in :mod:`mixup_repro.config` and a chapter in :mod:`mixup_repro.chapters`."""

PARAMS_DIR = Path("notebooks/params")
FAILED_DIR = Path("runs/failed")
"""Where the executed copy of a failed or interrupted notebook goes (the previous output stays as it was)."""


class NotebookError(RuntimeError):
    """A notebook raised in one of its cells; the message names the cell, the error and the executed copy."""


class FailedCheckError(RuntimeError):
    """A ``check`` claim failed in the run: a bug of the code (the message names the claims)."""


RUNS_TABLE = Path("book/_generated/runs.md")
"""The provenance table of every saved run, written by ``reproduce`` and included by the book."""
BOOK_LOG = Path("_build/logs/jupyter-book.log")
"""Where ``reproduce`` sends the output of the book build (printed in full when the build fails)."""


def find_root(start: str | Path | None = None) -> Path:
    """The repository root: the first directory at or above ``start`` (default cwd) holding notebooks/params."""
    start = Path(start or Path.cwd()).resolve()
    for d in (start, *start.parents):
        if (d / PARAMS_DIR).is_dir():
            return d
    raise FileNotFoundError(f"no mixup-repro checkout at or above {start} (looked for {PARAMS_DIR}/); "
                            f"run this command inside the repository")


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    # papermill records input/output paths in the notebook: run from the root so they are relative.
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _check_name(name: str) -> None:
    if name not in NOTEBOOKS:
        raise ConfigError(f"unknown notebook '{name}'; known notebooks: {', '.join(NOTEBOOKS)}")


def _use_root_results(root: Path) -> None:
    """Point ``MIXUP_REPRO_RESULTS`` at ``<root>/results`` unless the user set it."""
    os.environ.setdefault(ENV_VAR, str(Path(root).resolve() / "results"))


def resolve_config(name: str, profile: str = "cpu", overrides: Mapping[str, Any] | None = None,
                   *, root: str | Path = Path(".")) -> config.NotebookConfig:
    """The validated config of notebook ``name``: the profile's values with ``overrides`` applied."""
    _check_name(name)
    cfg = config.load_profile(profile, name, Path(root) / PARAMS_DIR)
    return cfg.with_overrides(overrides, source="the overrides (-p KEY VALUE)")


def default_output(name: str, profile: str, cfg: config.NotebookConfig, overridden: bool) -> Path:
    """Where an executed notebook goes, relative to the root (only the plain cpu run feeds the book)."""
    if profile == "cpu" and not overridden:
        return Path("book/notebooks") / f"{name}.ipynb"
    stem = f"{name}-{cfg.config_hash()}" if overridden else name
    return Path("runs") / profile / f"{stem}.ipynb"


def _check_notebook_parameters(name: str, source: Path, schema: type[config.NotebookConfig]) -> None:
    import papermill

    in_notebook = set(papermill.inspect_notebook(str(source)))
    in_schema = set(schema.field_names())
    if in_notebook != in_schema:
        raise ConfigError(
            f"notebook {source} and schema '{name}' ({schema.__name__}) disagree: only in the notebook: "
            f"{sorted(in_notebook - in_schema) or 'none'}; only in the schema: {sorted(in_schema - in_notebook) or 'none'}; "
            f"make the notebook's parameters cell list exactly the schema's fields")


def _check_output(out: Path) -> None:
    """Refuse an ``--output`` that cannot become the executed notebook, before any work starts."""
    if out.is_dir():
        raise ConfigError(f"--output {out} is a directory; give the executed notebook's file path, e.g. "
                          f"{out / 'executed.ipynb'}")
    if out.suffix != ".ipynb":
        raise ConfigError(f"--output {out} must name a notebook file ending in .ipynb")
    check_writable(out.parent, fix="pass --output a path in a writable directory", what="the executed notebook")


def run_notebook(name: str, profile: str = "cpu", overrides: Mapping[str, Any] | None = None, *,
                 root: str | Path = Path("."), output: str | Path | None = None, progress: bool = True) -> Path:
    """Execute notebook ``name`` with papermill and return the executed copy's path.

    Args:
        name: a key of ``NOTEBOOKS``.
        profile: ``smoke``, ``cpu`` or ``paper`` (``notebooks/params/<profile>.yml``).
        overrides: parameter values replacing the profile's (validated the same way).
        root: the repository root.
        output: the executed notebook's path (default: see ``default_output``).
        progress: show papermill's cell progress bar.
    """
    root = Path(root).resolve()
    cfg = resolve_config(name, profile, overrides, root=root)  # fail fast: no kernel yet
    source = NOTEBOOKS[name]
    if not (root / source).is_file():
        raise FileNotFoundError(f"notebook {root / source} not found; is {root} the repository root?")
    with _chdir(root):
        _check_notebook_parameters(name, source, type(cfg))
    if getattr(cfg, "data_dir", "") and not getattr(cfg, "download", False):
        check_data_dir(cfg.data_dir)  # a typo fails here, not minutes later inside the kernel
    if output:
        out = Path(output).expanduser().resolve()
        _check_output(out)
        out = out.relative_to(root) if out.is_relative_to(root) else out  # root / out is out when absolute
    else:
        out = default_output(name, profile, cfg, bool(overrides))
    _use_root_results(root)
    check_writable(results_dir())  # the notebook saves its result at the end: refuse before the work
    import papermill

    (root / out).parent.mkdir(parents=True, exist_ok=True)
    # Execute into a hidden sibling and rename on success: a failed or interrupted run never replaces the
    # previous executed copy (for the cpu profile, the committed reference notebook in book/).
    partial = out.with_name(f".{out.stem}.running{out.suffix}")
    try:
        with _chdir(root), _kernel_options(root / KERNEL_LOG) as kernel_options:
            papermill.execute_notebook(str(source), str(partial), parameters=cfg.to_dict(), kernel_name="python3",
                                       cwd=str(out.parent), progress_bar=progress, **kernel_options)
    except BaseException as err:
        failed = FAILED_DIR / out.name
        if (root / partial).exists():
            (root / failed).parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / partial, root / failed)
        from papermill.exceptions import PapermillExecutionError

        if isinstance(err, PapermillExecutionError):
            raise NotebookError(f"notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}; the "
                                f"executed copy with the traceback is {root / failed}, and {root / out} is "
                                f"unchanged") from err
        if isinstance(err, Exception):  # e.g. the kernel died: its own messages may say why
            raise NotebookError(f"notebook {name} did not run to the end ({type(err).__name__}: {err}); the "
                                f"kernel's messages are in {root / KERNEL_LOG}, and {root / out} is unchanged") from err
        raise
    import nbformat

    nb = nbformat.read(root / partial, as_version=4)
    nb.metadata.papermill["output_path"] = str(out)  # papermill recorded the hidden name
    nbformat.write(nb, root / partial)
    os.replace(root / partial, root / out)
    return root / out


KERNEL_LOG = Path("_build/logs/kernels.log")
"""Where the kernels' own messages go (not the cells' output, which the executed notebook keeps)."""


@contextlib.contextmanager
def _kernel_options(log: Path) -> Iterator[dict]:
    """Papermill engine arguments for a kernel that talks over private sockets and logs its own messages to ``log``.

    Over TCP, ipykernel (>= 7) warns at every start that the kernel "is running over TCP without encryption": any
    local user can connect to its ports. Unix-domain (IPC) sockets in a folder only this user can enter (``mkdtemp``
    makes it 0700) close that hole, so the warning has nothing left to say. Without Unix sockets (Windows) the
    transport stays TCP. The kernel process's own stdout and stderr (log lines such as the "KeyboardInterrupt
    caught" that jupyter_client's interrupt-before-shutdown can provoke) go to ``log`` instead of the screen.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets.config import Config

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:  # the documented hook
            with open(log, "ab") as out:  # Popen duplicates the descriptor; ours can close after the launch
                out.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(kernel_cmd[:3])} ...\n".encode())
                out.flush()
                kw.setdefault("stdout", out)
                kw.setdefault("stderr", subprocess.STDOUT)
                await super()._async_launch_kernel(kernel_cmd, **kw)

    log.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"kernel_manager_class": LoggedKernelManager}
    if os.name == "nt":
        yield options
        return
    with tempfile.TemporaryDirectory(prefix="mixup-repro-kernel-") as folder:
        kernel = Config()
        kernel.KernelManager.transport = "ipc"
        kernel.KernelManager.ip = os.path.join(folder, "kernel")  # the socket files are kernel-1, kernel-2, ...
        yield {**options, "config": kernel}


def jupyter_book_build(root: str | Path = Path("."), log: str | Path | None = None) -> None:
    """``jupyter-book build <root> -W -n --keep-going``; raises ``RuntimeError`` if it fails.

    With ``log``, the build's output goes to that file and is printed only when the build fails.
    """
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book"),
           "build", str(root), "-W", "-n", "--keep-going"]
    if log is None:
        if subprocess.run(cmd).returncode != 0:
            raise RuntimeError(f"the book build failed ({' '.join(cmd[1:])}); its warnings are printed above")
        return
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        print(log.read_text(), file=sys.stderr)
        raise RuntimeError(f"the book build failed ({' '.join(cmd[1:])}); its output is printed above and in {log}")


def claims_summary(profile: str = "cpu", *, root: str | Path = Path("."),
                   detail: bool = True) -> tuple[list[str], dict[str, dict[str, int]], list[str]]:
    """The claims of every notebook's saved result for ``profile``, grouped by kind, with their counts.

    Returns the lines to print (a heading per kind, then ``[VERDICT] id  statement (detail)`` per claim in notebook
    order, and a ``[MISSING]`` line per notebook without a valid result), the counts per kind and verdict
    (:func:`mixup_repro.claims.count_by_kind`) and the notebooks without a result. The result of a notebook is
    ``results_dir()/<name>/<config_hash>`` for the profile's config. ``detail=False`` leaves out the numbers behind
    each verdict (a one-screen summary).
    """
    _use_root_results(Path(root))
    found = paper_status.claims_from_results(profile, root)
    absent = paper_status.missing(found)
    claims = paper_status.all_claims(found)
    lines = [f"[MISSING] {name}: no saved result for profile '{profile}' (run: mixup-repro run {name} --profile "
             f"{profile})" for name in absent]
    for kind, group in group_by_kind(claims):
        lines.append(kind_heading(kind))
        for c in group:
            extra = f" ({c['detail']})" if detail and c.get("detail") else ""
            lines.append(f"[{c['verdict']}] {c['id']:<26} {c['claim']}{extra}")
    return lines, count_by_kind(claims), absent


def provenance_table(root: str | Path = Path(".")) -> str:
    """A Markdown table of every saved run of the registered notebooks, read from their provenance.

    One row per result directory: notebook, profile (matched by config hash; ``custom`` for runs with
    overrides), wall time, device, threads, platform, commit and date. Corrupt results are skipped.
    """
    root = Path(root).resolve()
    _use_root_results(root)
    rows = []
    for name in NOTEBOOKS:
        base = results_dir() / name
        for path in sorted(base.iterdir()) if base.is_dir() else []:
            try:
                res = load_result(path)
            except (FileNotFoundError, CorruptResultError, OSError):
                continue
            m = res.meta
            commit = str(m.get("git_commit", "unknown"))[:10] + ("+" if m.get("git_dirty") is True else "")
            platform = str(m.get("platform", "?")).split("-with-")[0]
            rows.append((name, config.profile_of(name, res.config, root), f"{float(m.get('wall_time_s', float('nan'))):.1f}",
                         str(m.get("device", "?")), str(m.get("torch_threads", "?")), platform,
                         f"`{path.name}`", f"`{commit}`", str(m.get("timestamp_utc", "?"))[:10]))
    order = {p: k for k, p in enumerate((*config.PROFILES, "custom"))}
    rows.sort(key=lambda r: (list(NOTEBOOKS).index(r[0]), order[r[1]], r[-1]))
    head = ("notebook", "profile", "wall time (s)", "device", "threads", "platform", "config hash", "commit", "date")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if not rows:
        lines.append("| (no saved runs) |" + " |" * (len(head) - 1))
    return "\n".join(lines) + "\n"


def _saved_run(name: str, cfg: config.NotebookConfig) -> tuple[int, int] | None:
    """An identity of the saved result of ``cfg`` (inode and time of its manifest) if it is current, else None.

    Current as for the notebook's cache: same config (the folder), package version and library source. Equal
    identities before and after a notebook ran mean that it reused the saved result.
    """
    path = result_path(name, cfg.to_dict())
    try:
        result = load_result(path)
        stat = (path / "MANIFEST.json").stat()
    except (FileNotFoundError, CorruptResultError, OSError):
        return None
    return (stat.st_ino, stat.st_mtime_ns) if is_current(result, cfg.to_dict()) else None


def reproduce(profile: str = "cpu", root: str | Path = Path("."), build_book: bool = True,
              progress: bool = True, jobs: int | None = None) -> dict:
    """Run every registered notebook, build the book (cpu profile only), print timings and the paper's results.

    ``jobs`` notebooks run at once, each from its own process (:mod:`mixup_repro.workers`; default
    :func:`~mixup_repro.workers.default_jobs`: one per core, at most four, and one for ``paper``), the longest
    first; with ``jobs=1`` they run one after the other in the registry's order. One line per notebook as it
    starts and ends (computed, or reused from the saved results) and, on a terminal, a bar with the time left,
    estimated from the last run's timings (:mod:`mixup_repro.timings`). The run's timings go to
    ``results_dir()/reproduce_summary.json`` and, for the cpu profile, to the committed
    ``book/_generated/timings.json``. Returns the summary.
    """
    root = Path(root).resolve()
    jobs = workers.check_jobs(workers.default_jobs(profile) if jobs is None else jobs)
    _use_root_results(root)
    configs = {name: resolve_config(name, profile, root=root) for name in NOTEBOOKS}  # every entry before a run
    last_run = timings.load(results_dir() / "reproduce_summary.json")
    last_run = last_run if last_run.get("profile") == profile else {}
    measured = timings.load(root / timings.TIMINGS_FILE) if profile == "cpu" else {}
    before = {name: _saved_run(name, cfg) for name, cfg in configs.items()}
    steps = [timings.Step(name, status, timings.estimate(name, status, last_run, measured))
             for name, status in ((n, "computed" if before[n] is None else "cached") for n in NOTEBOOKS)]
    book = build_book and profile == "cpu"
    if book:
        steps.append(timings.Step(timings.BOOK, "computed", timings.estimate(timings.BOOK, "computed", last_run,
                                                                            measured)))
    t_start, book_s = time.perf_counter(), None
    display = timings.Progress(steps, bar=progress, jobs=min(jobs, len(NOTEBOOKS)))
    source = "the last run here" if last_run else "the committed timings" if measured else "no earlier run"
    left = display.left()
    print(f"mixup-repro reproduce --profile {profile}: {len(NOTEBOOKS)} notebooks" + (" and the book" if book else "")
          + (f", {jobs} at a time" if jobs > 1 else "")
          + (f", about {timings.fmt_duration(left)} (estimated from {source})" if left is not None
             else "; not every step was timed before, so no estimate yet" if last_run or measured else ""),
          flush=True)
    try:
        ran = _run_notebooks(profile, root, jobs, display, configs, before)
        runs = [{"notebook": name, "output": os.path.relpath(ran[name][2], root),
                 "config_hash": configs[name].config_hash(), "wall_time_s": ran[name][0], "status": ran[name][1]}
                for name in NOTEBOOKS]  # the registry's order, whatever order they ran in
        write_bytes_atomic(root / RUNS_TABLE, provenance_table(root).encode())
        claims = paper_status.claims_from_results(profile, root)
        counts = count_by_kind(paper_status.all_claims(claims))
        if profile == "cpu":  # the book's ledger renders the reference run, so it is written before the build
            ledger.write(root, ledger.render(claims, {n: c.to_dict() for n, c in configs.items()}, root))
        if book:
            display.start(len(NOTEBOOKS))
            t0 = time.perf_counter()
            jupyter_book_build(root, log=root / BOOK_LOG)
            book_s = round(time.perf_counter() - t0, 1)
            display.end(len(NOTEBOOKS), book_s, "computed")
    finally:
        display.close()
    if build_book and not book:
        print(f"book not built: it renders the cpu reference run, not profile '{profile}'")
    summary = {"profile": profile, "jobs": jobs, "notebooks": runs, "book_build_s": book_s,
               "total_s": round(time.perf_counter() - t_start, 1), "claims_by_kind": counts,
               "missing": paper_status.missing(claims)}
    write_json_atomic(results_dir() / "reproduce_summary.json", summary)
    if profile == "cpu":
        git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
        new = timings.record(measured, runs, book_s, commit=git.stdout.strip() if git.returncode == 0 else "unknown",
                             jobs=jobs, wall_s=summary["total_s"] if book else None)
        write_json_atomic(root / timings.TIMINGS_FILE, new)
        (root / timings.TIMINGS_TABLE).write_text(timings.render_markdown(new, list(NOTEBOOKS)))
        changed = paper_status.update_readme(root, claims)
    _print_report(summary, root, claims, changed if profile == "cpu" else [])
    bugs = failed_checks(paper_status.all_claims(claims))
    if bugs:
        raise FailedCheckError(f"{len(bugs)} check(s) failed, which is a bug of the code, not a verdict on the "
                               f"paper: {', '.join(bugs)}; see `mixup-repro summary --profile {profile}`")
    return summary


def _run_notebooks(profile: str, root: Path, jobs: int, display: timings.Progress,
                   configs: Mapping[str, config.NotebookConfig],
                   before: Mapping[str, tuple[int, int] | None]) -> dict[str, tuple[float, str, Path]]:
    """Run every notebook, ``jobs`` at a time; return {name: (seconds, status, executed copy)}, the status
    ``cached`` when the saved result the notebook found before it ran is the one there after."""
    index = {name: i for i, name in enumerate(NOTEBOOKS)}
    done: dict[str, tuple[float, str, Path]] = {}

    def ended(name: str, seconds: float, out: Path) -> None:
        after = _saved_run(name, configs[name])
        status = "cached" if before[name] is not None and after == before[name] else "computed"
        done[name] = (seconds, status, Path(out))
        display.end(index[name], seconds, status)

    if jobs == 1:  # in this process, in the registry's order
        for name in NOTEBOOKS:
            display.start(index[name])
            t0 = time.perf_counter()
            out = run_notebook(name, profile, root=root, progress=False)
            ended(name, round(time.perf_counter() - t0, 1), out)
        return done
    order = workers.longest_first(list(NOTEBOOKS), {s.name: s.estimate for s in display.steps})
    # a partial of a module-level function pickles: each child imports this module and runs run_notebook
    workers.side_by_side(order, jobs, functools.partial(run_notebook, profile=profile, root=str(root), progress=False),
                         on_start=lambda name: display.start(index[name]), on_end=ended)
    return done


def _print_report(summary: dict, root: Path, claims: paper_status.Claims, readme_changed: list[str]) -> None:
    """The end of ``reproduce``: each step's time and output, the status of each result of the paper, the
    headline (the paper's claims only) and the counts per kind."""
    profile, runs, book_s, counts = (summary["profile"], summary["notebooks"], summary["book_build_s"],
                                     summary["claims_by_kind"])
    print(f"\n== mixup-repro reproduce --profile {profile}: {timings.fmt_duration(summary['total_s'])} ==")
    for r in runs:
        print(f"  {r['notebook']:<24} {r['wall_time_s']:>7.1f} s  {r['status']:<9} -> {r['output']}")
    if book_s is not None:
        print(f"  {'book build':<24} {book_s:>7.1f} s            -> {root / '_build/html/index.html'}")
    print("the paper's results (verdicts of the paper's claims; checks, facts and extensions are counted apart):")
    print("\n".join(f"  {line}" for line in paper_status.status_lines(claims)))
    print(f"  {headline(counts)}")
    print("  by kind: " + "; ".join(f"{kind} " + ", ".join(f"{v} {n}" for v, n in by.items())
                                   for kind, by in counts.items() if by)
          + "; each claim with its numbers: .venv/bin/mixup-repro summary")
    if readme_changed:
        print(f"  README.md: {', '.join(readme_changed)} regenerated from this run (commit it with the reference run)")
