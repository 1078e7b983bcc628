"""The papermill runner and the CLI: fail fast on bad parameters, clear exits, real kernel runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from mixup_repro import __version__, cli, config, ledger, pipeline, timings
from mixup_repro.claims import Claim
from mixup_repro.config import ConfigError, Lemma31Config
from mixup_repro.provenance import source_fingerprint
from mixup_repro.results import Result, ResultsDirError, save_result

REPO = Path(__file__).resolve().parents[1]
REAL_NOTEBOOK = REPO / "notebooks" / "lemma31_fig2.ipynb"
CLI = Path(sys.executable).with_name("mixup-repro")


def _fake_notebook(fields: list[str]) -> nbformat.NotebookNode:
    """A stand-in for lemma31_fig2: a parameters cell with ``fields``, then config validation."""
    defaults = Lemma31Config().to_dict()
    params = nbformat.v4.new_code_cell("\n".join(f"{k} = {defaults[k]!r}" for k in fields))
    params.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell('from mixup_repro import config\n'
                                      'cfg = config.from_namespace("lemma31_fig2", globals())\n'
                                      'print("epochs", cfg.epochs, "hash", cfg.config_hash())')
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Fake"), params, check],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                  "language_info": {"name": "python"}})


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A minimal checkout: the real parameter profiles, a fake lemma31_fig2 notebook and its own results
    directory (so results saved by other tests in this session are not counted)."""
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(tmp_path / "results"))
    root = tmp_path / "repo"
    shutil.copytree(REPO / "notebooks" / "params", root / "notebooks" / "params")
    nbformat.write(_fake_notebook(Lemma31Config.field_names()), root / "notebooks" / "lemma31_fig2.ipynb")
    return root


@pytest.fixture
def no_kernel(monkeypatch):
    """Make any attempt to execute a notebook fail the test."""
    import papermill

    def forbidden(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", forbidden)


# -- fail fast --------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    ({"bogus": 1}, r"unknown parameter 'bogus' for notebook 'lemma31_fig2'.*fix the name in the overrides"),
    ({"alhpa": 1}, r"did you mean 'alpha'"),
    ({"epochs": "many"}, r"parameter 'epochs' .* must be an int, got str 'many'"),
    ({"alpha": -1}, r"parameter 'alpha' .* must be in \(0, 64\], got -1.0"),
])
def test_run_notebook_refuses_bad_overrides_before_a_kernel(no_kernel, fake_root, overrides, message):
    with pytest.raises(ConfigError, match=message):
        pipeline.run_notebook("lemma31_fig2", "smoke", overrides, root=fake_root)


def test_run_notebook_refuses_unknown_notebook_and_profile(no_kernel, fake_root):
    with pytest.raises(ConfigError, match=r"unknown notebook 'nope'; known notebooks: lemma31_fig2"):
        pipeline.run_notebook("nope", root=fake_root)
    with pytest.raises(ConfigError, match=r"unknown profile 'fast'"):
        pipeline.run_notebook("lemma31_fig2", "fast", root=fake_root)


def test_run_notebook_refuses_notebook_schema_mismatch(no_kernel, fake_root):
    fields = [f for f in Lemma31Config.field_names() if f != "lr"] + ["learning_rate"]
    nb = _fake_notebook(Lemma31Config.field_names())
    nb.cells[1].source = nb.cells[1].source.replace("lr =", "learning_rate =")
    nbformat.write(nb, fake_root / "notebooks" / "lemma31_fig2.ipynb")
    assert sorted(fields) == sorted(l.split(" =")[0] for l in nb.cells[1].source.splitlines())
    with pytest.raises(ConfigError, match=r"disagree: only in the notebook: \['learning_rate'\]; "
                                          r"only in the schema: \['lr'\]"):
        pipeline.run_notebook("lemma31_fig2", "smoke", root=fake_root)


def test_run_notebook_refuses_an_unwritable_results_dir_before_a_kernel(no_kernel, fake_root, monkeypatch):
    blocker = fake_root / "a_file"
    blocker.write_text("results cannot go below a file")
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(blocker / "results"))
    with pytest.raises(ResultsDirError, match=r"cannot write results under .*a_file/results.*--results-dir DIR"):
        pipeline.run_notebook("lemma31_fig2", "smoke", root=fake_root)
    assert not (fake_root / "runs").exists()


def test_cli_results_dir_is_where_results_go(no_kernel, fake_root, monkeypatch, capsys):
    blocker = fake_root / "a_file"
    blocker.write_text("results cannot go below a file")
    monkeypatch.chdir(fake_root)
    monkeypatch.setenv("MIXUP_REPRO_RESULTS", str(fake_root / "elsewhere"))
    assert cli.main(["run", "lemma31_fig2", "--profile", "smoke", "--results-dir", str(blocker / "res")]) == 2
    assert f"cannot write results under '{blocker / 'res'}'" in capsys.readouterr().err
    assert os.environ["MIXUP_REPRO_RESULTS"] == str(blocker / "res")  # and so the kernel's too


def test_cli_refuses_a_missing_data_dir_before_a_kernel(no_kernel, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out = tmp_path / "out.ipynb"
    code = cli.main(["run", "fig1a_fgsm", "--profile", "smoke", "--output", str(out),
                     "--data-dir", str(tmp_path / "no" / "such_dir")])
    err = capsys.readouterr().err
    assert code == 2 and "such_dir does not exist; pass the directory that holds the dataset files" in err
    assert sorted(tmp_path.iterdir()) == []  # nothing written, no directory created


@pytest.mark.parametrize("output, error, message", [
    (lambda t: t, ConfigError, r"--output .* is a directory; give the executed notebook's file path"),
    (lambda t: t / "out.html", ConfigError, r"--output .*out.html must name a notebook file ending in .ipynb"),
    (lambda t: t / "a_file" / "out.ipynb", ResultsDirError,
     r"cannot write the executed notebook under .*a_file.*; pass --output a path in a writable directory"),
])
def test_run_notebook_refuses_a_bad_output_before_a_kernel(no_kernel, fake_root, tmp_path, output, error, message):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "a_file").write_text("nothing goes below a file")
    before = sorted(out_dir.rglob("*"))
    with pytest.raises(error, match=message):
        pipeline.run_notebook("lemma31_fig2", "smoke", root=fake_root, output=output(out_dir))
    assert sorted(out_dir.rglob("*")) == before and not (fake_root / "runs").exists()


def test_run_notebook_missing_source(no_kernel, fake_root):
    (fake_root / "notebooks" / "lemma31_fig2.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match=r"notebook .*lemma31_fig2.ipynb not found"):
        pipeline.run_notebook("lemma31_fig2", "smoke", root=fake_root)


def test_default_output_never_replaces_the_reference_run():
    cfg = Lemma31Config()
    assert pipeline.default_output("lemma31_fig2", "cpu", cfg, False) == Path("book/notebooks/lemma31_fig2.ipynb")
    assert pipeline.default_output("lemma31_fig2", "smoke", cfg, False) == Path("runs/smoke/lemma31_fig2.ipynb")
    assert pipeline.default_output("lemma31_fig2", "cpu", cfg, True) == Path(
        f"runs/cpu/lemma31_fig2-{cfg.config_hash()}.ipynb")


def test_find_root(tmp_path, fake_root):
    deep = fake_root / "book" / "x"
    deep.mkdir(parents=True)
    assert pipeline.find_root(deep) == fake_root
    with pytest.raises(FileNotFoundError, match=r"no mixup-repro checkout at or above"):
        pipeline.find_root(tmp_path)


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_data_dir_flag(monkeypatch, tmp_path, capsys):
    from mixup_repro import cli

    seen = {}

    def fake_run(name, profile, overrides, *, root, output, progress):
        seen.update(overrides)
        return tmp_path / "out.ipynb"

    monkeypatch.setattr(pipeline, "run_notebook", fake_run)
    monkeypatch.chdir(REPO)
    assert cli.main(["run", "fig1a_fgsm", "--profile", "smoke", "--data-dir", str(tmp_path)]) == 0
    assert seen == {"data_dir": str(tmp_path.resolve())}
    assert cli.main(["run", "thm31_logistic", "--profile", "smoke", "--data-dir", str(tmp_path)]) == 2
    assert "notebook 'thm31_logistic' reads no dataset files; --data-dir applies to the image notebooks only" \
        in capsys.readouterr().err


def test_cli_bad_parameter_exits_2_with_one_line(no_kernel, fake_root, monkeypatch, capsys):
    monkeypatch.chdir(fake_root / "notebooks")
    assert cli.main(["run", "lemma31_fig2", "--profile", "smoke", "-p", "alhpa", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'alpha'" in err and "Traceback" not in err


def test_cli_outside_a_checkout_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["summary"]) == 2
    assert "no mixup-repro checkout" in capsys.readouterr().err


def test_cli_values_are_yaml(no_kernel):
    assert cli._parse_value("1e-3") == 0.001 and cli._parse_value("3") == 3
    assert cli._parse_value("[0.5, 1]") == [0.5, 1] and cli._parse_value("float32") == "float32"
    assert cli._parse_value("true") is True


def test_cli_list(capsys):
    assert cli.main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "lemma31_fig2" in out and "smoke, cpu, paper" in out and "(0, 64]" in out


@pytest.mark.slow
def test_console_script_exit_status(fake_root):
    proc = subprocess.run([str(CLI), "run", "lemma31_fig2", "-p", "epochs", "0"], cwd=fake_root,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "parameter 'epochs' of notebook 'lemma31_fig2' must be in [1, 100000], got 0" in proc.stderr


# -- claims summary and reproduce -------------------------------------------------------------------

def _save_fake_result(root: Path, profile: str, verdict: str = "PASS") -> Path:
    cfg = pipeline.resolve_config("lemma31_fig2", profile, root=root)
    claims = [Claim("Lemma 3.1", "second-order expansion matches", "Lemma 3.1", "check", verdict, "rel err 0.01").to_dict()]
    return save_result(Result(cfg.NAME, cfg.to_dict(), {"claims": claims}, {}, {}))


def test_claims_summary(fake_root, no_kernel):
    lines, counts, absent = pipeline.claims_summary("smoke", root=fake_root)
    assert absent == list(pipeline.NOTEBOOKS) and lines[0].startswith("[MISSING] lemma31_fig2: no saved result")
    assert counts == {"paper": {}, "check": {}, "fact": {}, "beyond": {}}
    _save_fake_result(fake_root, "smoke", "FAIL")
    lines, counts, absent = pipeline.claims_summary("smoke", root=fake_root)
    assert lines[-2:] == ["== check: true by construction when the code is right ==",
                          f"[FAIL] {'Lemma 3.1':<26} second-order expansion matches (rel err 0.01)"]
    assert counts["check"] == {"FAIL": 1} and absent == list(pipeline.NOTEBOOKS)[1:]


def _fake_notebook_run(ran: list, check: str = "PASS"):
    """A stand-in for run_notebook that saves a current result only when there is none, as the notebooks do."""
    def fake_run(name, profile, *, root, progress):
        ran.append((name, profile))
        cfg = pipeline.resolve_config(name, profile, root=root)
        if pipeline._saved_run(name, cfg) is None:
            claims = [Claim(f"{name} claim", "holds", "the paper says so", "paper", "PASS", "rel err 0.01").to_dict(),
                      Claim(f"{name} check", "holds", "not stated: a test run", "check",
                            check if name == "thm32_relu" else "PASS", "rel err 0.01").to_dict()]
            meta = {"mixup_repro_version": __version__, "library_source_sha256": source_fingerprint()}
            save_result(Result(cfg.NAME, cfg.to_dict(), {"claims": claims}, {}, meta))
        return root / pipeline.default_output(name, profile, None, False)
    return fake_run


def test_reproduce_prints_a_line_per_notebook_as_it_starts_and_ends(fake_root, monkeypatch, capsys):
    ran, built = [], []
    monkeypatch.setattr(pipeline, "run_notebook", _fake_notebook_run(ran))
    monkeypatch.setattr(pipeline, "jupyter_book_build", lambda root, log: built.append((root, log)))
    n = len(pipeline.NOTEBOOKS)
    first = pipeline.reproduce("cpu", fake_root, progress=False, jobs=1)
    assert ran == [(name, "cpu") for name in pipeline.NOTEBOOKS]
    assert built == [(fake_root.resolve(), fake_root.resolve() / pipeline.BOOK_LOG)]
    out = capsys.readouterr().out
    assert out.startswith(f"mixup-repro reproduce --profile cpu: {n} notebooks and the book\n")  # nothing timed yet
    for i, name in enumerate(pipeline.NOTEBOOKS, 1):
        assert re.search(rf"^\[{i}/{n}\] {name} +started: computes its result, not timed before$", out, re.M), out
        assert re.search(rf"^\[{i}/{n}\] {name} +computed in \d+\.\d s$", out, re.M), out
    assert [r["status"] for r in first["notebooks"]] == ["computed"] * n
    # The end: the paper's results as in the README's table (paper claims only), the headline, where the book is.
    assert re.search(r"^  Lemma 3.1, Figure 2 +reproduced +1 of 1 paper claims$", out, re.M), out
    assert re.search(rf"^  paper claims: {n} reproduced, 0 not reproduced, 0 inconclusive "
                     rf"\(checks: {n} passed, 0 failed\)$", out, re.M), out
    assert "_build/html/index.html" in out and "rel err 0.01" not in out
    saved = json.loads((Path(os.environ["MIXUP_REPRO_RESULTS"]) / "reproduce_summary.json").read_text())
    assert saved == first and saved["notebooks"][0]["output"] == "book/notebooks/lemma31_fig2.ipynb"
    assert saved["claims_by_kind"] == {"paper": {"PASS": n}, "check": {"PASS": n}, "fact": {}, "beyond": {}}
    assert saved["missing"] == []
    # the book's ledger was written before the build, from the same claims
    ledger_text = (fake_root / ledger.LEDGER_FILE).read_text()
    assert ledger_text.count("| `paper` | the paper says so | **PASS** (reproduced) |") == n
    assert f"paper claims: {n} reproduced" in (fake_root / ledger.HEADLINE_FILE).read_text()
    measured = json.loads((fake_root / timings.TIMINGS_FILE).read_text())
    assert set(measured["notebooks"]) == {*pipeline.NOTEBOOKS, timings.BOOK}
    assert "| `lemma31_fig2` |" in (fake_root / timings.TIMINGS_TABLE).read_text()

    # Again: every result is reused, and the estimate comes from the first run.
    second = pipeline.reproduce("cpu", fake_root, progress=False, jobs=1)
    out = capsys.readouterr().out
    assert [r["status"] for r in second["notebooks"]] == ["cached"] * n
    assert re.search(r"^\[2/\d+\] thm31_logistic +started: reuses the saved result, not timed before", out, re.M), out
    assert re.search(r"^\[2/\d+\] thm31_logistic +cached in \d+\.\d s$", out, re.M), out
    third = pipeline.reproduce("cpu", fake_root, progress=False, jobs=1)
    out = capsys.readouterr().out
    assert re.match(r"mixup-repro reproduce --profile cpu: \d+ notebooks and the book, about \d+ s "
                    r"\(estimated from the last run here\)", out), out
    assert re.search(r"^\[1/\d+\] lemma31_fig2 +started: reuses the saved result, about \d+ s; all done in about "
                     r"\d+ s$", out, re.M), out
    # Both statuses stay measured in the committed timings.
    assert set(json.loads((fake_root / timings.TIMINGS_FILE).read_text())["notebooks"]["rademacher"]) == {
        "computed", "cached"}
    assert third["notebooks"][0]["status"] == "cached"

    before = (fake_root / timings.TIMINGS_FILE).read_text()
    pipeline.reproduce("smoke", fake_root, progress=False, jobs=1)
    assert len(built) == 3 and "book not built" in capsys.readouterr().out
    assert (fake_root / timings.TIMINGS_FILE).read_text() == before  # only the cpu profile is the reference


def _saving_notebook(name: str) -> nbformat.NotebookNode:
    """A stand-in for notebook ``name`` that validates its parameters and saves a result with one paper claim."""
    schema = config.get_schema(name)
    defaults = schema().to_dict()
    params = nbformat.v4.new_code_cell("\n".join(f"{k} = {defaults[k]!r}" for k in schema.field_names()))
    params.metadata["tags"] = ["parameters"]
    save = nbformat.v4.new_code_cell(
        "from mixup_repro import __version__, config\n"
        "from mixup_repro.claims import Claim\n"
        "from mixup_repro.provenance import source_fingerprint\n"
        "from mixup_repro.results import Result, save_result\n"
        f"cfg = config.from_namespace({name!r}, globals())\n"
        "claims = [Claim(cfg.NAME + ' claim', 'holds', 'the paper says so', 'paper', 'PASS', 'rel err 0.01').to_dict()]\n"
        "meta = {'mixup_repro_version': __version__, 'library_source_sha256': source_fingerprint()}\n"
        "save_result(Result(cfg.NAME, cfg.to_dict(), {'claims': claims}, {}, meta))")
    return nbformat.v4.new_notebook(
        cells=[params, save], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                       "language": "python"}, "language_info": {"name": "python"}})


@pytest.mark.slow
def test_reproduce_with_two_jobs_runs_every_notebook_in_real_kernels(fake_root, capsys):
    for name in pipeline.NOTEBOOKS:
        nbformat.write(_saving_notebook(name), fake_root / pipeline.NOTEBOOKS[name])
    n = len(pipeline.NOTEBOOKS)
    summary = pipeline.reproduce("smoke", fake_root, progress=False, jobs=2)
    out = capsys.readouterr().out
    assert out.startswith(f"mixup-repro reproduce --profile smoke: {n} notebooks, 2 at a time\n"), out
    for i, name in enumerate(pipeline.NOTEBOOKS, 1):
        assert re.search(rf"^\[{i}/{n}\] {name} +computed in \d+\.\d s$", out, re.M), out
        assert (fake_root / "runs" / "smoke" / f"{name}.ipynb").is_file()
    assert [r["notebook"] for r in summary["notebooks"]] == list(pipeline.NOTEBOOKS)  # the registry's order
    assert {r["status"] for r in summary["notebooks"]} == {"computed"} and summary["jobs"] == 2
    assert summary["claims_by_kind"]["paper"] == {"PASS": n}


@pytest.mark.slow
def test_ctrl_c_stops_the_notebooks_running_side_by_side(fake_root):
    """SIGINT to the command's process group, as a terminal's Ctrl-C sends it: both running notebooks stop, their
    partial copies go to runs/failed/, nothing else starts, and the command says so and exits 130."""
    import signal
    import time

    for name in pipeline.NOTEBOOKS:
        nb = _saving_notebook(name)
        nb.cells.insert(1, nbformat.v4.new_code_cell(  # the kernel runs in runs/smoke/
            f"import pathlib, time\npathlib.Path('{name}.sleeping').touch()\ntime.sleep(600)"))
        nbformat.write(nb, fake_root / pipeline.NOTEBOOKS[name])
    log = fake_root / "reproduce.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(CLI), "reproduce", "--profile", "smoke", "--jobs", "2"], cwd=fake_root, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(list((fake_root / "runs" / "smoke").glob("*.sleeping"))) < 2:  # both kernels are in their cell
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=90) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert "mixup-repro: interrupted" in text and "Traceback" not in text and text.count("started:") == 2, text
    assert len(list((fake_root / "runs" / "failed").glob("*.ipynb"))) == 2


def test_the_cli_says_what_ctrl_c_left_and_exits_130(fake_root, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "reproduce", interrupted)
    monkeypatch.chdir(fake_root)
    assert cli.main(["reproduce"]) == 130
    assert "interrupted; finished results are saved" in capsys.readouterr().err


def test_a_failed_check_makes_reproduce_exit_non_zero_naming_it(fake_root, monkeypatch, capsys):
    """A check is true by construction when the code is right: its failure is a bug, whatever the paper's verdicts."""
    monkeypatch.setattr(pipeline, "run_notebook", _fake_notebook_run([], check="FAIL"))
    monkeypatch.setattr(pipeline, "jupyter_book_build", lambda root, log: None)
    monkeypatch.chdir(fake_root)
    assert cli.main(["reproduce", "--profile", "cpu", "--jobs", "1"]) == 1
    captured = capsys.readouterr()
    n = len(pipeline.NOTEBOOKS)  # each fake notebook reports one paper claim and one check
    assert (f"paper claims: {n} reproduced, 0 not reproduced, 0 inconclusive (checks: {n - 1} passed, 1 failed)"
            in captured.out)
    assert re.search(r"^  Theorems 3.1, 3.2 +reproduced +2 of 2 paper claims; FAILED CHECKS \(bugs\): "
                     r"thm32_relu check$", captured.out, re.M), captured.out
    assert ("mixup-repro: error: 1 check(s) failed, which is a bug of the code, not a verdict on the paper: "
            "thm32_relu check") in captured.err
    saved = json.loads((Path(os.environ["MIXUP_REPRO_RESULTS"]) / "reproduce_summary.json").read_text())
    assert saved["claims_by_kind"]["check"] == {"PASS": n - 1, "FAIL": 1}  # the summary is written before the exit


@pytest.mark.slow
def test_make_reproduce_exits_non_zero_on_a_failed_check(fake_root, tmp_path):
    """The Makefile's target is the CLI: its status reaches make (a fake `mixup-repro` stands in for the venv's)."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    bin_dir = fake_root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (fake_root / ".venv" / ".installed").touch()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, fake_root / name)
    (fake_root / "requirements").mkdir(exist_ok=True)
    shutil.copy(REPO / "requirements" / "lock.txt", fake_root / "requirements" / "lock.txt")
    os.utime(fake_root / ".venv" / ".installed")  # newer than the files it depends on
    script = bin_dir / "mixup-repro"
    script.write_text("#!/bin/sh\n[ \"$1\" = reproduce ] || exit 0\n"
                      "echo 'mixup-repro: error: 1 check(s) failed, which is a bug of the code, not a verdict on the "
                      "paper: thm32_relu check' >&2\nexit 1\n")
    script.chmod(0o755)
    proc = subprocess.run(["make", "reproduce", "DOCTOR_FIRST=true"], cwd=fake_root, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "thm32_relu check" in proc.stderr


def test_a_kernel_prints_nothing_of_its_own(fake_root, capfd):
    """No "Kernel is running over TCP without encryption" warning, no progress bar: the kernel talks over IPC
    sockets and its own messages go to the kernel log."""
    pipeline.run_notebook("lemma31_fig2", "smoke", root=fake_root, progress=False)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", captured
    assert (fake_root / pipeline.KERNEL_LOG).read_text().startswith("== ")


def test_provenance_table_matches_each_run_to_its_profile(fake_root, no_kernel):
    """One row per saved run; the profile is the one whose parameters the run's config equals, else custom."""
    _save_fake_result(fake_root, "cpu")
    _save_fake_result(fake_root, "smoke")
    cfg = pipeline.resolve_config("lemma31_fig2", "cpu", {"epochs": 7}, root=fake_root)
    save_result(Result(cfg.NAME, cfg.to_dict(), {}, {}, {"wall_time_s": 1.25, "git_commit": "0123456789abc"}))
    rows = [line.split(" | ") for line in pipeline.provenance_table(fake_root).splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("| lemma31_fig2", "smoke"), ("| lemma31_fig2", "cpu"),
                                            ("| lemma31_fig2", "custom")]
    assert rows[2][2] == "1.2" and rows[2][6] == f"`{cfg.config_hash()}`" and rows[2][7] == "`0123456789`"


# -- real kernels -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_run_notebook_executes_with_relative_paths(fake_root):
    out = pipeline.run_notebook("lemma31_fig2", "smoke", {"epochs": 3}, root=fake_root, progress=False)
    cfg = pipeline.resolve_config("lemma31_fig2", "smoke", {"epochs": 3}, root=fake_root)
    assert out == fake_root / "runs" / "smoke" / f"lemma31_fig2-{cfg.config_hash()}.ipynb"
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata.papermill.input_path == "notebooks/lemma31_fig2.ipynb"
    assert nb.metadata.papermill.output_path == str(out.relative_to(fake_root))
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no hidden partial copy left
    assert nb.metadata.papermill.parameters == cfg.to_dict()
    assert f"epochs 3 hash {cfg.config_hash()}" in nb.cells[-1].outputs[0].text
    assert str(fake_root.parent) not in out.read_text(), "an absolute path leaked into the notebook"


@pytest.mark.slow
def test_run_notebook_writes_an_output_outside_the_checkout(fake_root, tmp_path):
    target = tmp_path / "elsewhere" / "run.ipynb"
    out = pipeline.run_notebook("lemma31_fig2", "smoke", {"epochs": 3}, root=fake_root, output=target,
                                progress=False)
    assert out == target and nbformat.read(out, as_version=4).metadata.papermill.output_path == str(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["run.ipynb"]


@pytest.mark.slow
def test_a_failing_notebook_leaves_the_previous_output_and_keeps_its_executed_copy(fake_root, monkeypatch, capsys):
    source = fake_root / "notebooks" / "lemma31_fig2.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("planted failure")'))  # cell 4: papermill injects one
    nbformat.write(nb, source)
    out = fake_root / "book" / "notebooks" / "lemma31_fig2.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("the committed reference run")
    monkeypatch.chdir(fake_root)
    assert cli.main(["run", "lemma31_fig2", "--profile", "smoke", "--output", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    failed = fake_root / "runs" / "failed" / "lemma31_fig2.ipynb"
    assert f"failed in cell 4: RuntimeError: planted failure; the executed copy with the traceback is {failed}" in err
    assert out.read_text() == "the committed reference run"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert "planted failure" in failed.read_text()


def _papermill_bogus(notebook: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    params = tmp_path / "smoke_params.yml"
    params.write_text(yaml.safe_dump(yaml.safe_load((REPO / "notebooks/params/smoke.yml").read_text())["lemma31_fig2"]))
    return subprocess.run([str(Path(sys.executable).with_name("papermill")), str(notebook), str(tmp_path / "out.ipynb"),
                           "-f", str(params), "-p", "bogus", "1", "-k", "python3", "--no-progress-bar"],
                          cwd=tmp_path, capture_output=True, text=True)


@pytest.mark.slow
def test_papermill_unknown_parameter_fails_in_the_kernel(fake_root, tmp_path):
    proc = _papermill_bogus(fake_root / "notebooks" / "lemma31_fig2.ipynb", tmp_path)
    assert proc.returncode != 0
    assert "unknown parameter 'bogus' for notebook 'lemma31_fig2'" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_papermill_unknown_parameter_fails_in_the_real_notebook(tmp_path):
    proc = _papermill_bogus(REAL_NOTEBOOK, tmp_path)
    assert proc.returncode != 0
    assert "unknown parameter 'bogus' for notebook 'lemma31_fig2'" in proc.stderr + proc.stdout
