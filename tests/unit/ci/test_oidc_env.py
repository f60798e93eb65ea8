"""With OIDC, the publish job's s9reg steps find the credentials a previous step exported (#18).

configure-aws-credentials exports the role's credentials through GITHUB_ENV; a step whose
`env:` sets AWS_ACCESS_KEY_ID (to an empty secret, say) hides them. The publish job of this
repository's workflow, and of the one `s9reg init-registry` writes, is run by the stand-in
runner from the workflow YAML: vars for OIDC, no static-key secrets, a stand-in for
configure-aws-credentials that exports what the real action exports (the credentials are
SeaweedFS's), and the s9reg action run step by step. The old workflow's mistake, an empty
AWS_ACCESS_KEY_ID in the calling step's env, is shown to fail the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.actionkit import ACTION_SHA, REPO, make_registry, make_runner
from helpers.actions_runner import Runner, evaluate
from helpers.s3server import S3Endpoint

ROLE = "arn:aws:iam::123456789012:role/s9reg-publish"


def _configure_aws(seaweed: S3Endpoint) -> Any:
    def stand_in(inputs: dict[str, str], runner: Runner) -> dict[str, str]:
        # OIDC: a role and a region, never static keys, are given to the action.
        assert inputs.get("role-to-assume") == ROLE
        assert not inputs.get("aws-access-key-id")
        assert not inputs.get("aws-secret-access-key")
        for name, value in {
            "AWS_ACCESS_KEY_ID": seaweed.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
            "AWS_REGION": inputs["aws-region"],
            "AWS_DEFAULT_REGION": inputs["aws-region"],
        }.items():
            runner.export(name, value)
        return {}

    return stand_in


def _job(workflow: Path) -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]["publish"]
    return job


@pytest.fixture
def registry(
    tmp_path: Path, seaweed: S3Endpoint, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, str]:
    """A fresh checkout of a registry `s9reg init-registry` made, and its registry key."""
    repo = make_registry(tmp_path / "registry", seaweed, "http://127.0.0.1:9/", capsys)
    return repo.checkout(tmp_path / "checkout"), repo.registry_key


def _run(
    workspace: Path,
    workflow: Path,
    seaweed: S3Endpoint,
    runner_bin: Path,
    tmp: Path,
    registry_key: str,
    *,
    caller_env_bug: bool = False,
) -> tuple[list[Any], Any]:
    runner = make_runner(tmp, runner_bin, workspace)
    runner.github.update(event_name="push", ref="refs/heads/main", repository="example/registry")
    runner.vars.update(S9REG_PUBLISH="true", AWS_ROLE_ARN=ROLE, AWS_REGION=seaweed.region)
    runner.secrets.update(S9REG_REGISTRY_KEY=registry_key)  # no AWS_* secrets
    runner.stand_ins["actions/checkout"] = None  # the workspace is the checkout
    runner.stand_ins["aws-actions/configure-aws-credentials"] = _configure_aws(seaweed)
    spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    job = spec["jobs"]["publish"]
    contexts = {"github": runner.github, "vars": runner.vars, "secrets": runner.secrets}
    assert evaluate(job["if"], contexts) is True
    if caller_env_bug:
        # The old workflow's publish step: `env: AWS_ACCESS_KEY_ID: ${{ secrets.… }}`, unset.
        step = next(s for s in job["steps"] if "with" in s and "registry-key" in s["with"])
        step["env"] = {"AWS_ACCESS_KEY_ID": "${{ secrets.AWS_ACCESS_KEY_ID }}"}
        workflow = tmp / "buggy.yml"
        workflow.write_text(yaml.safe_dump(spec), encoding="utf-8")
    local = dict.fromkeys(("$/.", f"example/s9reg@{ACTION_SHA}"), REPO)
    return runner.run_job(workflow, "publish", local)


def _normalized(workflow: Path) -> dict[str, Any]:
    """The workflow, the s9reg action's reference aside."""
    spec: dict[str, Any] = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    for job in spec["jobs"].values():
        for step in job["steps"]:
            if step.get("uses") in {"$/.", f"example/s9reg@{ACTION_SHA}"}:
                step["uses"] = "S9REG"
    return spec


def test_oidc_credentials_reach_the_publish_step(
    registry: tuple[Path, str], seaweed: S3Endpoint, runner_bin: Path, tmp_path: Path
) -> None:
    checkout, key = registry
    workflow = checkout / ".github" / "workflows" / "publish.yml"
    # This repository's workflow is the one init-registry writes, but for the action's ref:
    # what is run here holds for both.
    assert _normalized(REPO / ".github" / "workflows" / "publish.yml") == _normalized(workflow)
    spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    job = spec["jobs"]["publish"]
    # Secrets and the OIDC token are the job's, in a deployment environment; no workflow, job
    # or step env sets AWS credentials or the registry key.
    assert spec["permissions"] == {}
    assert job["environment"]["name"] == "registry"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert "env" not in spec
    assert "env" not in job
    for step in job["steps"]:
        assert not {k for k in step.get("env", {}) if k.startswith(("AWS_", "S9REG_"))}
    steps, action = _run(checkout, workflow, seaweed, runner_bin, tmp_path, key)
    assert [s.outcome for s in steps] == ["skipped", "success", "success"], steps
    assert action is not None
    assert action.ok, [(s.name, s.stderr[-500:]) for s in action.steps]
    assert action.outputs["generation"] == "1"
    assert action.step("publish").ran
    # The publish step saw the exported credentials, not an empty override.
    assert action.env["AWS_ACCESS_KEY_ID"] == seaweed.access_key


def test_an_empty_key_in_the_calling_step_env_hides_them(
    registry: tuple[Path, str], seaweed: S3Endpoint, runner_bin: Path, tmp_path: Path
) -> None:
    checkout, key = registry
    workflow = checkout / ".github" / "workflows" / "publish.yml"
    _, action = _run(checkout, workflow, seaweed, runner_bin, tmp_path, key, caller_env_bug=True)
    assert action is not None
    failed = action.failed
    assert failed is not None
    assert failed.name == "build"
    assert "Unable to locate credentials" in failed.stderr
    # The job summary says why, in one line.
    head, _, line = action.summary.strip().partition("\n\n")
    assert head == "### s9reg: the build failed"
    assert line.startswith("`ERROR ")
    assert "Unable to locate credentials" in line
    assert "\n" not in line
