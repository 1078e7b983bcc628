"""The README keeps its promises: short, its two set-up commands are the Makefile's and CI's, its generated parts
equal what the committed reference run implies, and the GitHub workflows run the same commands."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mixup_repro import pipeline, status

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
README_MAX_CHARS = 6000
WORKFLOWS = REPO / ".github" / "workflows"


def _section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert m, f"README has no section '## {title}'"
    return m.group(1)


def _setup_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", _section("Set-up: two commands"), re.S)
    assert block, "the set-up section has no bash block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))


def test_readme_is_read_in_two_minutes():
    assert len(README) <= README_MAX_CHARS, f"README.md has {len(README)} characters, more than {README_MAX_CHARS}"


def test_the_setup_commands_are_the_makefiles_and_ci_runs_the_test_one():
    commands = _setup_commands()
    assert commands == ["make reproduce", "make test"]
    assert {c.removeprefix("make ") for c in commands} <= _make_targets()
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    make_lines = [line for line in ci if re.match(r"(\w+=\S+ )*make\b", line)]  # commands, not messages
    assert make_lines == ["make test || rc=$?"], f".ci/run should run the README's test command only: {make_lines}"
    assert "apt-get" not in (REPO / ".ci" / "run").read_text()  # make test gets its system packages itself


def _make_dry_run(target: str) -> list[str]:
    proc = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target, needs", [("reproduce", "--need data"), ("test", "--need data --need browser")])
def test_each_command_gets_the_system_pieces_before_the_install_and_again_after(target, needs):
    lines = _make_dry_run(target)
    first = f"PYTHONPATH=src python3 -m mixup_repro.doctor {needs}"
    assert lines[0] == first, lines
    after = next(i for i, line in enumerate(lines) if line == f".venv/bin/mixup-repro doctor {needs}")
    assert after > 0 and any(l.startswith(".venv/bin/") for l in lines[after + 1:]), lines


def _fake_python(folder: Path, pip_rc: int) -> Path:
    """A stand-in for python3 whose `-m venv DIR` makes a pip that prints noise and exits with ``pip_rc``."""
    script = folder / "fake-python"
    script.write_text(f"""#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "Collecting torch (noise from pip)"\\nexit {pip_rc}\\n' > "$3/bin/pip"
  chmod +x "$3/bin/pip"
fi
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("pip_rc", [0, 1])
def test_pips_output_goes_to_a_log_named_on_screen_and_is_shown_if_pip_fails(tmp_path, pip_rc):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "requirements").mkdir()
    shutil.copy(REPO / "requirements" / "lock.txt", tmp_path / "requirements" / "lock.txt")
    proc = subprocess.run(["make", "venv", f"PYTHON={_fake_python(tmp_path, pip_rc)}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    log = "_build/logs/pip-install.log"
    assert f"pip's output: {log})" in proc.stdout
    assert "Collecting torch (noise from pip)" in (tmp_path / log).read_text()
    if pip_rc == 0:
        assert proc.returncode == 0 and "noise from pip" not in proc.stdout + proc.stderr
        assert re.search(r"^make: \.venv installed in \d+ s$", proc.stdout, re.M)
    else:
        assert proc.returncode != 0 and "Collecting torch (noise from pip)" in proc.stdout
        assert f"make: pip failed; its output is above and in {log}" in proc.stderr
        assert not (tmp_path / ".venv" / ".installed").exists()


def test_the_generated_parts_equal_what_the_committed_reference_run_implies():
    blocks = status.readme_blocks(README)
    expected = status.render_blocks(REPO, status.claims_from_notebooks(REPO))
    assert set(blocks) == set(expected)
    for name, text in expected.items():
        assert blocks[name] == text, (f"README's '{name}' block is stale; regenerate it: .venv/bin/python -c "
                                      f"\"from mixup_repro import status; status.update_readme('.', "
                                      f"status.claims_from_notebooks('.'))\"")


def test_every_notebook_answers_one_result_of_the_paper():
    listed = [nb for _, notebooks in status.PAPER_RESULTS for nb in notebooks]
    assert sorted(listed) == sorted(pipeline.NOTEBOOKS), "add the notebook to status.PAPER_RESULTS"
    claims = status.claims_from_notebooks(REPO)
    assert all(claims[name] for name in pipeline.NOTEBOOKS), "a committed notebook prints no claim"


def _c(id, kind, verdict):
    return {"id": id, "kind": kind, "verdict": verdict}


@pytest.mark.parametrize("claims, word, detail", [
    (None, "not run", "no saved result"),
    ([_c("a", "beyond", "INFO")], "not tested", "no paper claim could be tested"),
    ([_c("a", "paper", "INFO")], "not tested", "no paper claim could be tested (no verdict: a)"),
    ([_c("a", "paper", "PASS"), _c("b", "beyond", "INFO")], "reproduced", "1 of 1 paper claims"),
    ([_c("a", "paper", "PASS"), _c("b", "paper", "FAIL")], "partly reproduced",
     "1 of 2 paper claims; not reproduced: b"),
    ([_c("a", "paper", "FAIL")], "not reproduced", "0 of 1 paper claims"),
    ([_c("a", "paper", "INCONCLUSIVE")], "inconclusive", "0 of 1 paper claims"),
    ([_c("a", "paper", "PASS"), _c("b", "paper", "INCONCLUSIVE"), _c("c", "paper", "INFO")], "partly reproduced",
     "1 of 2 paper claims; inconclusive: b; no verdict: c"),
    # checks, facts and extensions never make a result of the paper reproduced or not; a failed check is named
    ([_c("a", "paper", "FAIL"), _c("b", "check", "PASS"), _c("c", "beyond", "PASS")], "not reproduced",
     "0 of 1 paper claims"),
    ([_c("a", "paper", "PASS"), _c("b", "check", "FAIL")], "reproduced",
     "1 of 1 paper claims; FAILED CHECKS (bugs): b"),
])
def test_verdict_words_count_the_papers_claims_only(claims, word, detail):
    assert status.verdict(claims) == (word, detail)


def test_update_readme_rewrites_only_changed_blocks(tmp_path):
    (tmp_path / "README.md").write_text("intro\n<!-- begin status (generated) -->\nold\n<!-- end status -->\nrest\n")
    claims = {name: [{"id": "x", "claim": "y", "kind": "paper", "verdict": "PASS"}] for name in pipeline.NOTEBOOKS}
    assert status.update_readme(tmp_path, claims) == ["status"]
    text = (tmp_path / "README.md").read_text()
    n = len(pipeline.NOTEBOOKS)
    assert text.startswith(f"intro\n<!-- begin status (generated) -->\n**paper claims: {n} reproduced, 0 not "
                           f"reproduced, 0 inconclusive (checks: 0 passed, 0 failed)**")
    assert "\n| result of the paper |" in text
    assert text.endswith("<!-- end status -->\nrest\n") and "old" not in text
    assert status.update_readme(tmp_path, claims) == []


def test_the_book_link_is_where_the_repository_publishes_it():
    repo_url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    owner, name = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", repo_url).groups()
    assert status.BOOK_URL == f"https://{owner}.github.io/{name}/"
    assert f"<{status.BOOK_URL}>" in _section("The book")


# -- the GitHub workflows ----------------------------------------------------------------------------


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _runs(workflow: dict) -> list[str]:
    return [step["run"].strip() for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def test_workflows_are_valid_github_actions():
    exe = Path(sys.executable).with_name("check-jsonschema")
    if not exe.exists():
        pytest.fail("check-jsonschema is not installed: pip install -e '.[test]'")
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["book.yml", "test.yml"]
    proc = subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_test_workflow_runs_the_readmes_test_command_on_pushes_and_pull_requests():
    workflow = _workflow("test.yml")
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    assert _runs(workflow) == [_setup_commands()[1]]
    (job,) = workflow["jobs"].values()
    assert job["env"]["CI"] == "true" and job["timeout-minutes"] <= 90


def test_the_book_workflow_publishes_the_book_that_make_book_builds():
    workflow = _workflow("book.yml")
    assert _runs(workflow) == ["make book"] and "book" in _make_targets() and "`make book`" in README
    steps = [step.get("uses", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(s.startswith("actions/upload-pages-artifact@") for s in steps)
    assert any(s.startswith("actions/deploy-pages@") for s in steps)
    upload = next(step for job in workflow["jobs"].values() for step in job["steps"]
                  if step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
