"""Test-session setup: results go to a temporary directory; figures render off-screen."""

from __future__ import annotations

import os
import shutil
import tempfile

import matplotlib
import pytest

_saved_env: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts a Jupyter kernel or a subprocess (seconds); runs by default")
    # Set in os.environ so kernels started by tests (papermill, nbval) write there too.
    _saved_env["MIXUP_REPRO_RESULTS"] = os.environ.get("MIXUP_REPRO_RESULTS")
    _saved_env["_tmp"] = tempfile.mkdtemp(prefix="mixup-repro-test-results-")
    os.environ["MIXUP_REPRO_RESULTS"] = _saved_env["_tmp"]
    # Agg for this process only: an MPLBACKEND env var would reach kernels and drop their figures.
    matplotlib.use("Agg", force=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    _say_browser_checks_skipped(config)
    if "_tmp" not in _saved_env:
        return
    shutil.rmtree(_saved_env.pop("_tmp"), ignore_errors=True)
    old = _saved_env.pop("MIXUP_REPRO_RESULTS")
    if old is None:
        os.environ.pop("MIXUP_REPRO_RESULTS", None)
    else:
        os.environ["MIXUP_REPRO_RESULTS"] = old



def _say_browser_checks_skipped(config: pytest.Config) -> None:
    """The last line of the run: how many browser checks were skipped (no Chromium), and how to run them."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    skipped = [r for r in getattr(reporter, "stats", {}).get("skipped", []) if "chromium not found" in str(r.longrepr)]
    if skipped:
        longrepr = skipped[0].longrepr
        reason = str(longrepr[-1] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
        reporter.write_line(f"{len(skipped)} browser checks skipped: {reason}", yellow=True, bold=True)
