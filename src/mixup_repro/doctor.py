"""What this machine has for mixup-repro, what is missing, and the one command that fixes each missing piece.

``mixup-repro doctor`` prints the report: Python, torch and its device, Jupyter Book, Chromium, the datasets of
each profile and where they were found, the GPU, the results directory. ``--need data`` and ``--need browser``
first obtain what ``make reproduce`` and ``make test`` need from the system, in this order:

- the Debian packages (``dataset-fashion-mnist``, ``chromium``) with ``apt-get``, as root or with password-less
  ``sudo -n``;
- else, for Fashion-MNIST, torchvision's download into the cache, when its server answers;
- else one message saying what to run, and exit status 1. A missing Chromium does not stop anything: the browser
  checks of the tests skip, or fail under CI.

The module imports only the standard library at load time: ``make`` runs it with the system Python before it
installs anything (``PYTHONPATH=src python3 -m mixup_repro.doctor --need data``), so a machine that cannot get
the data stops at once instead of after the install.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from . import __version__
from .data.locations import (DEBIAN_FASHION_MNIST, DEBIAN_PACKAGE, FASHION_MNIST_URL, default_cache_dir,
                             fashion_mnist_on_disk)

CHECKOUT = Path(__file__).resolve().parents[2]
"""The checkout this code runs from (an editable install or ``PYTHONPATH=src``)."""
LOG_DIR = Path("_build/logs")
"""Where the logs of the installs go, relative to the checkout (``apt-get.log`` here, ``pip-install.log`` by make)."""
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_PACKAGE = "chromium"
OFFLINE_DATASETS = ("digits", "fake")
"""Datasets that need no files: scikit-learn ships digits, fake is generated."""
NEEDS = ("data", "browser")
DOWNLOAD_TIMEOUT_S = 10
PAPER_DATA_HOW = "torchvision downloads with `-p download true` on a machine with internet, or --data-dir DIR holds the files"

Say = Callable[[str], None]


def _say(line: str) -> None:
    print(f"doctor: {line}", flush=True)


def in_ci() -> bool:
    """Whether ``CI`` is set to something other than empty, 0, false or no (GitHub Actions sets ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_chromium() -> Optional[str]:
    """The path of the first of ``BROWSERS`` on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_prefix() -> Optional[List[str]]:
    """How to run ``apt-get`` as root here: ``[]`` as root, ``["sudo", "-n"]`` where password-less sudo works, else
    None (also without ``apt-get``, i.e. not Debian or Ubuntu)."""
    if not shutil.which("apt-get"):
        return None
    if _as_root():
        return []
    if shutil.which("sudo"):
        probe = subprocess.run(["sudo", "-n", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if probe.returncode == 0:
            return ["sudo", "-n"]
    return None


def _has_sudo() -> bool:
    return shutil.which("sudo") is not None


def apt_command(*packages: str) -> str:
    """The command a person runs to install ``packages``: as is for root, else with ``sudo``, else with ``su``."""
    install = "apt-get install " + " ".join(packages)
    if _as_root():
        return install
    return f"sudo {install}" if _has_sudo() else f"su -c '{install}'"


def apt_install(packages: List[str], log: Path, say: Say = _say) -> Optional[str]:
    """``apt-get update`` then ``apt-get install -y PACKAGES``, output to ``log``; None on success, else why not."""
    prefix = apt_prefix()
    if prefix is None:
        if not shutil.which("apt-get"):
            return "apt-get is not available"
        return "apt-get needs root, and " + ("password-less `sudo -n` is not allowed here" if _has_sudo() else
                                             "sudo is not installed")
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"installing {' '.join(packages)} with apt-get (about a minute; log: {_shown(log)})")
    start = time.monotonic()
    with open(log, "a") as out:
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
            out.write(f"$ {' '.join(prefix + cmd)}\n")
            out.flush()
            rc = subprocess.run([*prefix, "env", "DEBIAN_FRONTEND=noninteractive", *cmd], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
            if rc != 0:
                return f"`{' '.join(cmd)}` failed with exit status {rc} (see {_shown(log)})"
    say(f"installed {' '.join(packages)} in {time.monotonic() - start:.0f} s")
    return None


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it (what a person types)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def download_reachable(url: str = FASHION_MNIST_URL) -> Optional[str]:
    """None when torchvision's Fashion-MNIST server answers a HEAD request, else the reason it does not."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=DOWNLOAD_TIMEOUT_S).close()
    except (OSError, ValueError) as err:  # URLError and socket timeouts are OSErrors
        return str(getattr(err, "reason", None) or err)
    return None


# -- what the profiles need -------------------------------------------------------------------------


def profile_datasets(profile: str, root: Path = CHECKOUT) -> Dict[str, List[str]]:
    """The image datasets a profile's notebooks read: dataset -> notebooks, in file order.

    Read from ``notebooks/params/<profile>.yml`` without PyYAML (it runs before the install): a top-level key is a
    notebook, and its ``dataset: NAME`` or ``datasets: [A, B]`` lines name the datasets. A test compares this
    with the parsed profile.
    """
    found: Dict[str, List[str]] = {}
    notebook = None
    for line in (root / "notebooks" / "params" / f"{profile}.yml").read_text().splitlines():
        line = line.split("#", 1)[0].rstrip()
        top = re.fullmatch(r"(\w+):", line)
        if top:
            notebook = top.group(1)
            continue
        m = re.fullmatch(r"\s+datasets?:\s*\[?([\w\s,]*)\]?", line)
        if m and notebook:
            for name in filter(None, (part.strip() for part in m.group(1).split(","))):
                found.setdefault(name, [])
                if notebook not in found[name]:
                    found[name].append(notebook)
    return found


def needed_datasets(root: Path = CHECKOUT) -> Dict[str, List[str]]:
    """The datasets that need files on disk for ``make reproduce`` and ``make test`` (the cpu profile)."""
    return {k: v for k, v in profile_datasets("cpu", root).items() if k not in OFFLINE_DATASETS}


# -- obtaining what is missing -----------------------------------------------------------------------


def _has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def _missing_message(reasons: List[str], packages: List[str]) -> str:
    raw = default_cache_dir() / "FashionMNIST" / "raw"
    browser = (f" ({CHROMIUM_PACKAGE} is for the browser checks of `make test`)"
               if CHROMIUM_PACKAGE in packages else "")
    return (f"Fashion-MNIST, which the image notebooks of `make reproduce` and `make test` read, is not on this "
            f"machine and could not be fetched: {'; '.join(reasons)}.\n"
            f"  Run:  {apt_command(*packages)}{browser}\n"
            f"  then run the make command again. Without apt: copy the four files (gunzipped) into {raw}/, or set "
            f"MIXUP_REPRO_DATA to a folder holding FashionMNIST/raw/ with them.")


def obtain(needs: List[str], root: Path = CHECKOUT, say: Say = _say) -> Tuple[bool, bool]:
    """Obtain the pieces ``needs`` (``data``, ``browser``) that are missing; returns (all there, any was missing).

    One ``apt-get`` run installs every Debian package that helps; Fashion-MNIST then falls back to torchvision's
    download (now if torchvision is importable, else only checked to be reachable: the install comes next). When
    Fashion-MNIST cannot be had, one message says why and the one command to run.
    """
    datasets = needed_datasets(root) if "data" in needs else {}
    fashion = "fashion_mnist" in datasets and fashion_mnist_on_disk() is None
    others = [name for name in datasets if name != "fashion_mnist"]  # only a torchvision download gets these
    browser = "browser" in needs and find_chromium() is None
    if not (fashion or browser or others):
        return True, False
    packages = ([DEBIAN_PACKAGE] if fashion else []) + ([CHROMIUM_PACKAGE] if browser else [])
    apt_failed = None
    if packages and apt_prefix() is not None:
        what = [f"Fashion-MNIST (not in {default_cache_dir() / 'FashionMNIST' / 'raw'} nor {DEBIAN_FASHION_MNIST})"
                if fashion else "", "Chromium (for the browser checks)" if browser else ""]
        say("not found: " + ", ".join(filter(None, what)))
    if packages:
        apt_failed = apt_install(packages, root / LOG_DIR / "apt-get.log", say)
    ok = True
    if fashion and fashion_mnist_on_disk() is None:
        reasons = [apt_failed or f"apt-get installed {DEBIAN_PACKAGE} but its files are not in {DEBIAN_FASHION_MNIST}"]
        why_not = _download_fashion_mnist(say)
        if why_not:
            say(_missing_message(reasons + [why_not], packages))
            return False, True  # make stops here: the browser note would be a second message
    for name in others:
        ok &= _download_other(name, say)
    if browser and find_chromium() is None:
        fix = apt_command(CHROMIUM_PACKAGE) if shutil.which("apt-get") else "install Chromium or Google Chrome"
        why = apt_failed or "no browser named " + ", ".join(BROWSERS) + " is on PATH"
        if in_ci():  # the tests still run, so that CI reports everything else too; the browser checks fail
            say(f"error: Chromium could not be installed ({why}); under CI (CI={os.environ.get('CI')}) the browser "
                f"checks of `make test` will fail.\n  Run:  {fix}")
        else:
            say(f"the browser checks of `make test` will be skipped ({why}); to run them:  {fix}")
    return ok, True


def _download_fashion_mnist(say: Say) -> Optional[str]:
    """Fashion-MNIST through torchvision's download into the cache; None when it worked (or will, after the
    install), else why not."""
    unreachable = download_reachable()
    if unreachable:
        return f"torchvision's download server does not answer ({FASHION_MNIST_URL}: {unreachable})"
    if not _has_torchvision():
        say("Fashion-MNIST will be downloaded by torchvision once the install has finished")
        return None
    from .data.images import DatasetNotFoundError, ensure_dataset

    say(f"downloading Fashion-MNIST with torchvision into {default_cache_dir()} (30 MB)")
    try:
        ensure_dataset("fashion_mnist", download=True)
    except DatasetNotFoundError as err:
        return f"torchvision's download failed ({err})"
    return None


def _download_other(name: str, say: Say) -> bool:
    if not _has_torchvision():
        return True  # checked once the install has finished
    from .data.images import DatasetNotFoundError, ensure_dataset

    try:
        ensure_dataset(name)
        return True
    except DatasetNotFoundError:
        pass
    say(f"downloading {name} with torchvision into {default_cache_dir()}")
    try:
        ensure_dataset(name, download=True)
    except DatasetNotFoundError as err:
        say(f"{name} is not on this machine and could not be downloaded: {err}")
        return False
    return True


# -- the report --------------------------------------------------------------------------------------


def _version(dist: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _torch_line() -> Tuple[str, Optional[str], str]:
    if importlib.util.find_spec("torch") is None:
        return "not installed", "make reproduce  (installs the Python stack into .venv)", "none"
    import torch

    if not torch.cuda.is_available():
        return f"{torch.__version__}, device cpu", None, "none (torch sees no CUDA device; only the paper " \
                                                          "profile's image chapters need one)"
    try:
        torch.ones(1, device="cuda").add_(1).item()
    except RuntimeError as err:
        return f"{torch.__version__}, device cpu", None, f"{torch.cuda.get_device_name(0)} is not usable: {err}"
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return f"{torch.__version__}, device cuda", None, f"usable: {names}"


def _dataset_where(name: str) -> Tuple[Optional[str], str]:
    """(where the dataset was found or None, how to get it)."""
    if name == "digits":
        return "ships with scikit-learn", ""
    if name == "fake":
        return "generated", ""
    if name == "fashion_mnist":
        found = fashion_mnist_on_disk()
        where = None if found is None else str(found) + (" (Debian package)" if found == DEBIAN_FASHION_MNIST else "")
        return where, apt_command(DEBIAN_PACKAGE)
    if not _has_torchvision():
        return None, "install the Python stack first"
    from .data.images import DatasetNotFoundError, ensure_dataset

    try:
        return ensure_dataset(name), ""
    except DatasetNotFoundError:
        return None, PAPER_DATA_HOW


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def report(root: Path = CHECKOUT) -> Tuple[List[str], List[str], bool]:
    """The report's lines, the fix of each missing piece, and whether a piece that the README's commands need
    is missing (Chromium counts only under CI, where its absence fails the tests)."""
    rows: List[Tuple[str, str, Optional[str], bool]] = []  # (what, state, fix when missing, needed)
    need_python = _requires_python(root)
    rows.append(("python", f"{sys.version.split()[0]} ({sys.executable})",
                 None if sys.version_info[:2] >= need_python else
                 f"make PYTHON=python3.{max(need_python[1], 11)} reproduce  (needs >= {need_python[0]}.{need_python[1]})",
                 True))
    rows.append(("mixup-repro", f"{__version__} ({CHECKOUT})", None, True))
    torch_state, torch_fix, gpu = _torch_line()
    rows.append(("torch", torch_state, torch_fix, True))
    jb = _version("jupyter-book")
    rows.append(("jupyter-book", jb or "not installed", None if jb else "make reproduce  (installs it into .venv)", True))
    chromium = find_chromium()
    chromium_fix = apt_command(CHROMIUM_PACKAGE) if shutil.which("apt-get") else "install Chromium or Google Chrome"
    rows.append(("chromium", chromium or ("not found: the browser checks of make test fail under CI" if in_ci() else
                                          "not found: the browser checks of make test are skipped"),
                 None if chromium else chromium_fix, in_ci()))
    rows.append(("gpu", gpu, None, False))
    datasets: Dict[str, Dict[str, List[str]]] = {}
    for profile in ("cpu", "paper"):
        for name, notebooks in profile_datasets(profile, root).items():
            datasets.setdefault(name, {})[profile] = notebooks
    for name, users in datasets.items():
        where, how = _dataset_where(name)
        used = "; ".join(f"{profile}: {', '.join(nbs)}" for profile, nbs in users.items())
        needed = "cpu" in users
        state = where or ("not found" if needed else "not found (paper profile only)")
        rows.append((f"  {name}", f"{state}   ({used})", None if where or not needed else how, needed))
    lines = [f"mixup-repro doctor ({'CI' if in_ci() else 'developer machine'})"]
    for what, state, _, _ in rows:
        if what.startswith("  ") and not lines[-1].startswith(("  datasets", "    ")):
            lines.append("  datasets      (where found; the profiles and notebooks that read them)")
        lines.append(f"    {what.strip():<14} {state}" if what.startswith("  ") else f"  {what:<13} {state}")
    if any(not needed and fix is None and "not found" in state for what, state, fix, needed in rows[6:]):
        lines.append(f"    (paper profile: {PAPER_DATA_HOW})")
    lines.append(_results_line(root))
    fixes = [f"{what.strip()}: {fix}" for what, _, fix, _ in rows if fix]
    return lines, fixes, any(fix and needed for _, _, fix, needed in rows)


def _results_line(root: Path) -> str:
    env = os.environ.get("MIXUP_REPRO_RESULTS")
    path = Path(env) if env else root / "results"
    if not path.is_dir():
        return f"  results       {path}: none yet"
    runs = sum(1 for m in path.glob("*/*/MANIFEST.json"))
    return f"  results       {path}: {runs} saved runs, {_size(_du(path))}"


def _requires_python(root: Path) -> Tuple[int, int]:
    """The minimum version in ``requires-python`` of ``pyproject.toml``."""
    m = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', (root / "pyproject.toml").read_text())
    if not m:
        raise ValueError(f"no requires-python = \">=X.Y\" in {root / 'pyproject.toml'}")
    return int(m.group(1)), int(m.group(2))


def main(argv: Optional[List[str]] = None) -> int:
    """``mixup-repro doctor [--need data|browser ...]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="mixup-repro doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--need", action="append", choices=NEEDS, default=[],
                        help="obtain this piece first if it is missing (repeatable); print the report only if "
                             "something was missing")
    args = parser.parse_args(argv)
    need_python = _requires_python(CHECKOUT)
    if sys.version_info[:2] < need_python:
        _say(f"mixup-repro needs Python >= {need_python[0]}.{need_python[1]}; {sys.executable} is "
             f"{sys.version.split()[0]}. Run:  make PYTHON=python3.{max(need_python[1], 11)} <target>")
        return 1
    missing_before = False
    if args.need:
        ok, missing_before = obtain(args.need)
        if not ok:
            return 1
        if not missing_before or importlib.util.find_spec("torch") is None:
            return 0  # nothing was missing, or the report would only say "not installed yet"
    lines, fixes, needed_missing = report()
    print("\n".join(lines))
    if fixes:
        print("missing, and the command that fixes it:\n" + "\n".join(f"  {fix}" for fix in fixes))
    else:
        print("nothing missing")
    return 1 if needed_missing else 0


if __name__ == "__main__":
    sys.exit(main())
