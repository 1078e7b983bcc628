"""mixup-repro doctor: what the README's commands need from the system, obtained in order or refused at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixup_repro import config, doctor, pipeline
from mixup_repro.data import locations

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", config.PROFILES)
def test_profile_datasets_read_without_yaml_match_the_parsed_profile(profile):
    expected: dict[str, list[str]] = {}
    for name in pipeline.NOTEBOOKS:
        cfg = config.load_profile(profile, name, REPO / pipeline.PARAMS_DIR)
        for ds in [getattr(cfg, "dataset", None), *getattr(cfg, "datasets", ())]:
            if ds:
                expected.setdefault(ds, [])
                if name not in expected[ds]:
                    expected[ds].append(name)
    assert doctor.profile_datasets(profile, REPO) == expected


def test_the_cpu_profile_needs_fashion_mnist_from_the_system():
    needed = doctor.needed_datasets(REPO)
    assert "fashion_mnist" in needed and not set(needed) & set(doctor.OFFLINE_DATASETS)


def test_the_download_probe_asks_torchvisions_server():
    from torchvision.datasets import FashionMNIST

    assert locations.FASHION_MNIST_URL == FashionMNIST.mirrors[0] + FashionMNIST.resources[0][0]


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """No Fashion-MNIST anywhere (an empty cache, no Debian folder), no apt, no browser, no network, not CI."""
    monkeypatch.setenv(locations.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(locations, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setattr(doctor, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setattr(doctor, "apt_prefix", lambda: None)
    monkeypatch.setattr(doctor, "find_chromium", lambda: None)
    monkeypatch.setattr(doctor, "download_reachable", lambda url=None: "Name or service not known (simulated)")
    monkeypatch.setattr(doctor, "_as_root", lambda: False)
    monkeypatch.setattr(doctor, "_has_sudo", lambda: True)
    monkeypatch.delenv("CI", raising=False)
    said: list[str] = []
    return tmp_path, said


def _put_fashion_mnist(folder: Path, suffix: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem in locations.FASHION_MNIST_FILES:
        (folder / f"{stem}{suffix}").write_bytes(b"x")


def test_nothing_missing_means_nothing_done(bare, monkeypatch):
    tmp, said = bare
    _put_fashion_mnist(tmp / "cache" / "FashionMNIST" / "raw")
    monkeypatch.setattr(doctor, "apt_install", lambda *a, **k: pytest.fail("apt-get ran"))
    assert doctor.obtain(["data"], REPO, said.append) == (True, False) and said == []
    assert locations.fashion_mnist_on_disk() == tmp / "cache" / "FashionMNIST" / "raw"


def test_apt_comes_first_with_one_run_for_every_package(bare, monkeypatch):
    tmp, said = bare
    calls = []

    def fake_apt(packages, log, say):
        calls.append(packages)
        _put_fashion_mnist(tmp / "debian", ".gz")
        monkeypatch.setattr(doctor, "find_chromium", lambda: "/usr/bin/chromium")
        return None

    monkeypatch.setattr(doctor, "apt_install", fake_apt)
    monkeypatch.setattr(doctor, "download_reachable", lambda url=None: pytest.fail("tried the download"))
    assert doctor.obtain(["data", "browser"], REPO, said.append) == (True, True)
    assert calls == [[locations.DEBIAN_PACKAGE, doctor.CHROMIUM_PACKAGE]]
    assert locations.fashion_mnist_on_disk() == tmp / "debian"


def test_without_apt_and_without_network_it_stops_with_the_command_to_run(bare):
    tmp, said = bare
    assert doctor.obtain(["data"], REPO, said.append) == (False, True)
    message = said[-1]
    assert "Run:  sudo apt-get install dataset-fashion-mnist" in message
    assert "password-less `sudo -n` is not allowed" in message or "apt-get is not available" in message
    assert "Name or service not known (simulated)" in message and str(tmp / "cache") in message


def test_make_test_that_cannot_get_the_data_says_one_command_for_both_packages(bare):
    tmp, said = bare
    assert doctor.obtain(["data", "browser"], REPO, said.append) == (False, True)
    assert len(said) == 1 and "Run:  sudo apt-get install dataset-fashion-mnist chromium (chromium is for" in said[0]


def test_without_apt_the_download_waits_for_torchvision(bare, monkeypatch):
    tmp, said = bare
    monkeypatch.setattr(doctor, "download_reachable", lambda url=None: None)
    monkeypatch.setattr(doctor, "_has_torchvision", lambda: False)
    assert doctor.obtain(["data"], REPO, said.append) == (True, True)
    assert said[-1] == "Fashion-MNIST will be downloaded by torchvision once the install has finished"


def test_the_download_goes_through_the_loader_into_the_cache(bare, monkeypatch):
    tmp, said = bare
    from mixup_repro.data import images

    fetched = []
    monkeypatch.setattr(doctor, "download_reachable", lambda url=None: None)
    monkeypatch.setattr(images, "ensure_dataset", lambda name, download=False: fetched.append((name, download)))
    assert doctor.obtain(["data"], REPO, said.append) == (True, True)
    assert fetched == [("fashion_mnist", True)] and str(tmp / "cache") in said[-1]


def test_a_missing_browser_is_skipped_on_a_developer_machine_and_fails_under_ci(bare, monkeypatch):
    tmp, said = bare
    assert doctor.obtain(["browser"], REPO, said.append) == (True, True)
    assert "the browser checks of `make test` will be skipped" in said[-1]
    assert said[-1].endswith("to run them:  sudo apt-get install chromium")
    monkeypatch.setenv("CI", "true")  # the tests run, and the browser checks fail (tests/test_book.py)
    assert doctor.obtain(["browser"], REPO, said.append) == (True, True)
    assert said[-1].startswith("error: Chromium could not be installed") and "checks of `make test` will fail" in said[-1]
    assert said[-1].endswith("Run:  sudo apt-get install chromium")


def test_the_command_to_run_fits_who_runs_it(monkeypatch):
    monkeypatch.setattr(doctor, "_as_root", lambda: True)
    assert doctor.apt_command("chromium") == "apt-get install chromium"
    monkeypatch.setattr(doctor, "_as_root", lambda: False)
    monkeypatch.setattr(doctor, "_has_sudo", lambda: True)
    assert doctor.apt_command("chromium") == "sudo apt-get install chromium"
    monkeypatch.setattr(doctor, "_has_sudo", lambda: False)
    assert doctor.apt_command("chromium") == "su -c 'apt-get install chromium'"


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("", False), ("false", False), ("0", False)])
def test_in_ci(monkeypatch, value, expected):
    monkeypatch.setenv("CI", value)
    assert doctor.in_ci() is expected


def test_the_report_names_each_missing_piece_and_its_fix(bare, monkeypatch):
    tmp, _ = bare
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp / "results"))
    lines, fixes, needed_missing = doctor.report(REPO)
    text = "\n".join(lines)
    for what in ("python", "torch", "jupyter-book", "chromium", "gpu", "datasets", "fashion_mnist", "results"):
        assert f"  {what} " in text, text
    assert f"results       {tmp / 'results'}: none yet" in text
    assert fixes == ["chromium: sudo apt-get install chromium", "fashion_mnist: sudo apt-get install dataset-fashion-mnist"]
    assert needed_missing  # Fashion-MNIST is needed everywhere; Chromium only under CI
    _put_fashion_mnist(tmp / "cache" / "FashionMNIST" / "raw")
    assert doctor.report(REPO)[2] is False
    monkeypatch.setenv("CI", "true")
    assert doctor.report(REPO)[2] is True


def test_before_the_install_it_needs_only_the_standard_library_and_stops_at_once(tmp_path):
    """The Makefile's first step, as on a fresh machine without root, apt or network: `python -S` has no
    site-packages, so an import of anything but the standard library would fail."""
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, 'src')\n"
        "from mixup_repro.data import locations; from mixup_repro import doctor\n"
        f"locations.DEBIAN_FASHION_MNIST = doctor.DEBIAN_FASHION_MNIST = Path({str(tmp_path / 'debian')!r})\n"
        "doctor.download_reachable = lambda url=None: 'no network (simulated)'\n"
        "sys.exit(doctor.main(['--need', 'data']))\n")
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), locations.CACHE_ENV: str(tmp_path / "cache")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-S", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - start < 20
    out = proc.stdout
    assert out.startswith("doctor: Fashion-MNIST, which the image notebooks") and out.count("doctor:") == 1  # one message
    assert "apt-get is not available" in out and "no network (simulated)" in out
    run = "apt-get install dataset-fashion-mnist" if os.geteuid() == 0 else "su -c 'apt-get install dataset-fashion-mnist'"
    assert f"Run:  {run}" in out  # no sudo on that PATH


def test_cli_runs_the_doctor(bare, capsys, monkeypatch):
    from mixup_repro import cli

    tmp, _ = bare
    _put_fashion_mnist(tmp / "cache" / "FashionMNIST" / "raw")
    assert cli.main(["doctor", "--need", "data"]) == 0 and capsys.readouterr().out == ""
    assert cli.main(["doctor"]) == 0
    assert "missing, and the command that fixes it:\n  chromium: sudo apt-get install chromium" in capsys.readouterr().out
