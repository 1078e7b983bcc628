"""What the README's two commands cost on a fresh machine: clone, ``make reproduce`` (twice), ``make test``.

Clones this checkout's HEAD into an empty temporary folder and runs there, timing each command and keeping its
output in a log beside the clone:

1. ``git clone`` into an empty folder;
2. ``make reproduce``: the system packages it installs, the ``.venv`` install, the notebooks and the book;
3. ``make reproduce`` again, every result saved (the "cached" timings);
4. ``make test``: the counts of pytest's last line.

Then it writes ``book/_generated/fresh_machine.json`` and ``.md`` here, copies the clone's measured
``book/_generated/timings.{json,md}`` here, and regenerates the README's generated blocks. For a true fresh machine
remove first what earlier work installed (as root: ``apt-get remove -y chromium dataset-fashion-mnist``,
``rm -rf ~/.cache/mixup-repro``); the script records whether they were present.

    .venv/bin/python benchmarks/fresh_machine.py [--note "2 cores shared with other jobs"] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from mixup_repro import doctor, status, timings
from mixup_repro.data.locations import DEBIAN_PACKAGE, default_cache_dir
from mixup_repro.durable import write_json_atomic

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, log: Path) -> tuple[float, int, str]:
    """Run ``cmd``, echo and log its output; returns (seconds, exit status, output)."""
    print(f"$ {' '.join(cmd)}   (in {cwd}; log: {log})", flush=True)
    start = time.monotonic()
    lines = []
    with open(log, "w") as out, subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            out.write(line)
            lines.append(line)
    seconds = time.monotonic() - start
    print(f"-> exit {proc.returncode} after {timings.fmt_duration(seconds)}", flush=True)
    return round(seconds, 1), proc.returncode, "".join(lines)


def _apt(output: str) -> tuple[str | None, float | None]:
    m = re.search(r"^doctor: installed (.+) in (\d+) s$", output, re.M)
    return (m.group(1), float(m.group(2))) if m else (None, None)


def _was_present() -> list[str]:
    def installed(pkg: str) -> bool:  # not "rc" (removed, its configuration files left)
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.strip() == "install ok installed"

    present = [pkg for pkg in (DEBIAN_PACKAGE, doctor.CHROMIUM_PACKAGE) if installed(pkg)]
    if default_cache_dir().exists():
        present.append(str(default_cache_dir()))
    return present


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--note", default="", help="what the reader should know about the machine (e.g. its load)")
    ap.add_argument("--keep", action="store_true", help="keep the clone and its logs")
    args = ap.parse_args(argv)
    present = _was_present() if shutil.which("dpkg") else []
    if present:
        print(f"warning: not a fresh machine, already present: {', '.join(present)}", file=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="mixup-repro-fresh-"))
    clone = folder / "mixup-repro"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    clone_s, rc, _ = _run(["git", "clone", "--quiet", str(REPO), str(clone)], folder, folder / "clone.log")
    if rc:
        return rc
    reproduce_s, reproduce_rc, out = _run(["make", "reproduce"], clone, folder / "reproduce.log")
    apt, apt_s = _apt(out)
    install = re.search(r"^make: \.venv installed in (\d+) s$", out, re.M)
    summary = timings.load(clone / "results" / "reproduce_summary.json")
    _, again_rc, _ = _run(["make", "reproduce"], clone, folder / "reproduce-again.log")
    test_s, test_rc, test_out = _run(["make", "test"], clone, folder / "test.log")
    test_apt, test_apt_s = _apt(test_out)
    counts = re.findall(r"^=* ?((?:\d+ \w+(?:, )?)+) in [\d.]+s", test_out, re.M)
    venv_bytes = sum(p.stat().st_size for p in (clone / ".venv").rglob("*") if p.is_file() and not p.is_symlink())
    fresh = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "commit": commit[:7], "cpus": os.cpu_count(),
        "machine": f"{platform.platform(terse=True)}, Python {platform.python_version()}",
        "note": "; ".join(filter(None, [args.note, f"already installed: {', '.join(present)}" if present else ""])),
        "clone_s": clone_s, "reproduce_s": reproduce_s, "reproduce_exit": reproduce_rc,
        "reproduce_apt": apt, "reproduce_apt_s": apt_s, "install_s": float(install.group(1)) if install else None,
        "venv_gb": venv_bytes / 1e9, "notebooks_s": summary.get("total_s"), "again_exit": again_rc,
        "test_s": test_s, "test_exit": test_rc, "test_apt": test_apt, "test_apt_s": test_apt_s,
        "test_counts": counts[-1] if counts else "no pytest summary line",
    }
    print(json.dumps(fresh, indent=1))
    if reproduce_rc == 0 and again_rc == 0:
        write_json_atomic(REPO / timings.FRESH_MACHINE_FILE, fresh)
        (REPO / timings.FRESH_MACHINE_TABLE).write_text(timings.render_fresh_machine(fresh))
        for name in (timings.TIMINGS_FILE, timings.TIMINGS_TABLE):
            shutil.copyfile(clone / name, REPO / name)
        changed = status.update_readme(REPO, status.claims_from_notebooks(REPO))
        print(f"wrote {timings.FRESH_MACHINE_FILE} and .md, {timings.TIMINGS_FILE} and .md; README blocks "
              f"regenerated: {', '.join(changed) or 'none changed'}")
    if args.keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return max(reproduce_rc, again_rc, test_rc)


if __name__ == "__main__":
    raise SystemExit(main())
