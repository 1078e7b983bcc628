"""The ``mixup-repro`` command: list, run, reproduce, summary, sweep, doctor.

Refused parameters and missing files print one line to stderr and exit 2; a failing notebook or sweep exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from . import config, pipeline, workers
from .config import FLOAT_LITERAL, ConfigError
from .results import ENV_VAR, ResultsDirError



def _parse_value(raw: str) -> Any:
    """Parse a ``-p`` value as YAML (like ``papermill -y``), also reading ``1e-3`` as a float."""
    value = yaml.safe_load(raw)
    # YAML 1.1 reads exponent floats without a dot ("1e-3") as strings.
    return float(value) if isinstance(value, str) and FLOAT_LITERAL.fullmatch(value) else value


_RESULTS_HELP = "where saved results are read and written (default: $MIXUP_REPRO_RESULTS or <checkout>/results)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mixup-repro", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list notebooks and profiles")
    ls.add_argument("-v", "--verbose", action="store_true", help="also list every parameter with its range")
    run = sub.add_parser("run", help="execute one notebook with papermill")
    run.add_argument("name", help="notebook name (see `mixup-repro list`)")
    run.add_argument("--profile", default="cpu", help="parameter profile: smoke, cpu (default) or paper")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                     help="override one parameter; VALUE is read as YAML (e.g. -p alpha_grid '[0.5, 1]')")
    run.add_argument("--output", type=Path, help="executed notebook path (default: book/notebooks for the "
                     "plain cpu run, runs/<profile>/ otherwise)")
    run.add_argument("--no-progress", action="store_true", help="hide the cell progress bar")
    run.add_argument("--data-dir", help="folder holding an image notebook's dataset files (same as -p data_dir DIR)")
    run.add_argument("--results-dir", type=Path, metavar="DIR", help=_RESULTS_HELP)
    rep = sub.add_parser("reproduce", help="run every notebook, build the book, summarise the claims")
    rep.add_argument("--profile", default="cpu", help="parameter profile (the book is built for cpu only)")
    rep.add_argument("--no-book", action="store_true", help="skip the jupyter-book build")
    rep.add_argument("--jobs", type=int, metavar="N", help="notebooks run at once, each in its own process (default: "
                     f"one per CPU core, at most {workers.MAX_DEFAULT_JOBS}; 1 for the paper profile); the numbers do "
                     "not depend on it")
    rep.add_argument("--results-dir", type=Path, metavar="DIR", help=_RESULTS_HELP)
    summ = sub.add_parser("summary", help="print the claims recorded in the saved results")
    summ.add_argument("--profile", default="cpu", help="parameter profile whose results to read")
    summ.add_argument("--results-dir", type=Path, metavar="DIR", help=_RESULTS_HELP)
    summ.add_argument("--markdown", action="store_true", help="print the README's status table (one row per "
                      "result of the paper) instead of every claim")
    sub.add_parser("doctor", add_help=False, help="what is installed and missing, and the command that fixes each "
                   "missing piece (mixup-repro doctor --help)")
    sw = sub.add_parser("sweep", help="run a grid of training runs on Dask (finished runs are skipped)")
    sw.add_argument("grid", type=Path, help="grid file, e.g. sweeps/example.yml")
    sw.add_argument("--scheduler", metavar="ADDR", help="address of a running Dask scheduler, e.g. tcp://host:8786 "
                    "(default: start a LocalCluster)")
    sw.add_argument("--workers", type=int, default=2, metavar="N", help="LocalCluster worker processes (default 2)")
    sw.add_argument("--results-dir", type=Path, metavar="DIR", help="results directory shared with the workers "
                    "(default: $MIXUP_REPRO_RESULTS or ./results)")
    sw.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _sweep(args: argparse.Namespace) -> None:
    from . import sweep

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    grid = sweep.load_grid(args.grid)
    summary = sweep.run_sweep(grid, results_root=args.results_dir, scheduler=args.scheduler,
                              n_workers=args.workers, progress=not args.no_progress)
    counts = ", ".join(f"{v} {k}" for k, v in summary["counts"].items() if v)
    print(f"sweep {grid.name}: {summary['n_runs']} runs ({counts}); results in {summary['results_dir']}/"
          f"{sweep.RUN_NAME}, summary in {summary['results_dir']}/sweeps/{grid.name}.json")


def _list(verbose: bool) -> None:
    print("notebooks:")
    for name, path in pipeline.NOTEBOOKS.items():
        print(f"  {name:<20} {path}")
        if verbose:
            for row in config.get_schema(name).describe():
                print(f"      {row['name']:<12} {row['type']:<15} default {row['default']:<10} "
                      f"{row['range']:<22} {row['help']}")
    print("profiles: " + ", ".join(config.PROFILES) + f"  ({pipeline.PARAMS_DIR}/<profile>.yml)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["doctor"]:  # its own options; it needs neither a checkout nor the installed dependencies
        from . import doctor

        return doctor.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(args.verbose)
            return 0
        if args.command == "sweep":  # needs no checkout: a grid file and a results directory
            _sweep(args)
            return 0
        root = pipeline.find_root()
        if args.results_dir is not None:  # the environment variable reaches the notebook kernels too
            os.environ[ENV_VAR] = str(args.results_dir.expanduser().resolve())
        if args.command == "run":
            overrides = {key: _parse_value(value) for key, value in args.parameter}
            if args.data_dir is not None:
                if "data_dir" not in config.get_schema(args.name).field_names():
                    raise ConfigError(f"notebook '{args.name}' reads no dataset files; --data-dir applies to the "
                                      f"image notebooks only")
                overrides["data_dir"] = str(Path(args.data_dir).expanduser().resolve())
            out = pipeline.run_notebook(args.name, args.profile, overrides, root=root, output=args.output,
                                        progress=not args.no_progress)
            print(f"executed notebook: {out}")
        elif args.command == "reproduce":
            pipeline.reproduce(args.profile, root, build_book=not args.no_book, jobs=args.jobs)
        elif args.command == "summary" and args.markdown:
            from . import status

            print(status.status_table(status.claims_from_results(args.profile, root)), end="")
        elif args.command == "summary":
            from .claims import headline

            lines, counts, absent = pipeline.claims_summary(args.profile, root=root)
            print("\n".join(lines) or "no claims recorded")
            print(headline(counts) + (f"; without a result: {', '.join(absent)}" if absent else ""))
        return 0
    except (ConfigError, FileNotFoundError, ResultsDirError) as err:
        print(f"mixup-repro: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # a notebook or the book build failed, or sweep runs failed after their retries
        print(f"mixup-repro: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mixup-repro: interrupted; finished results are saved and an interrupted training resumes from its "
              "checkpoint when you run the same command again (partial notebooks: runs/failed/)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
