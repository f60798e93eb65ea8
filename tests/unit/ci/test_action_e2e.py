"""The action's steps, run as a runner would, in a repository `s9reg init-registry` made (issue 18).

action.yml is read and run by the stand-in runner (``helpers.actions_runner``): its inputs
through ``env:``, each ``run:`` step with bash, ``GITHUB_OUTPUT``/``GITHUB_STEP_SUMMARY``
files. s9reg is installed by the action's own step from this checkout. The storage is a real
SeaweedFS and the smoke URL is ``s9reg serve`` over the bucket. Three runs, each on a fresh
clone: the first publish; one package added (only its objects are uploaded, and it is the
``changed`` output); a package file corrupted in the bucket (the smoke test fails, one line).
Between the last two, a pull request's dry run (``publish: false``, no registry key).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers.actionkit import (
    REPO,
    SKIPPED_ACTIONS,
    free_port,
    make_registry,
    make_runner,
    serve_over_bucket,
    stop,
)
from helpers.actions_runner import ActionRun
from helpers.buildkit import pkg
from helpers.s3server import S3Endpoint


def _objects(seaweed: S3Endpoint, bucket: str) -> dict[str, str]:
    """Key → ETag of every object in the bucket, s9reg's state aside."""
    client = seaweed.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {
        o["Key"]: o["ETag"]
        for page in pages
        for o in page.get("Contents", [])
        if not o["Key"].startswith("_s9reg/")
    }


def _run(
    tmp: Path, runner_bin: Path, workspace: Path, inputs: dict[str, str], start_serve: object
) -> ActionRun:
    runner = make_runner(tmp, runner_bin, workspace)

    def before(name: str) -> None:
        # The CDN in front of the bucket comes up once something is published.
        if name.startswith("smoke test"):
            start_serve()  # type: ignore[operator]

    runner.before_step = before
    return runner.run_action(REPO, inputs)


def _explain(run: ActionRun) -> str:
    return "\n".join(
        f"--- {s.name}: {s.outcome} {s.note} {s.seconds:.1f} s\n{s.stdout[-3000:]}\n{s.stderr[-3000:]}"
        for s in run.steps
    )


def test_action_publishes_adds_and_catches_a_corrupt_file(
    tmp_path: Path,
    seaweed: S3Endpoint,
    runner_bin: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    repo = make_registry(tmp_path / "registry", seaweed, f"http://127.0.0.1:{port}/", capsys)
    start = serve_over_bucket(tmp_path, seaweed, repo.bucket, port)
    inputs = {
        "registry-key": repo.registry_key,
        "aws-access-key-id": seaweed.access_key,
        "aws-secret-access-key": seaweed.secret_key,
        "aws-region": seaweed.region,
        "smoke-url": repo.url,
        "smoke-wait": "30",
    }
    server = None
    try:
        # 1. The first publish.
        first = _run(tmp_path / "r1", runner_bin, repo.checkout(tmp_path / "c1"), inputs, start)
        server = start()
        assert first.ok, _explain(first)
        skipped = {s.name for s in first.steps if not s.ran}
        assert skipped == {
            "set up Python",
            "restore the verification cache",
            "save the verification cache",
        }, _explain(first)
        assert len(SKIPPED_ACTIONS) == len(skipped)
        assert first.outputs["generation"] == "1"
        assert json.loads(first.outputs["changed"]) == {
            "added": {"alpha": ["1.0.0:0"]},
            "removed": {},
            "packagesAdded": ["alpha"],
            "packagesRemoved": [],
        }
        live_index = seaweed.client().get_object(Bucket=repo.bucket, Key="index.json")
        digest = hashlib.sha256(live_index["Body"].read()).hexdigest()
        assert first.outputs["index-sha256"] == digest
        assert "### s9reg: published generation 1 (was 0)" in first.summary
        assert "| added | `alpha` | `1.0.0:0` |" in first.summary
        assert "- smoke test: OK http://127.0.0.1:" in first.summary
        assert "- storage check (head): Generation 1:" in first.summary
        assert len(first.summary) < 4096
        assert repo.registry_key not in first.summary
        for step in first.steps:
            assert repo.registry_key.splitlines()[1] not in step.stdout + step.stderr

        # 2. A package added, published from a new checkout: only its objects are uploaded.
        before = _objects(seaweed, repo.bucket)
        repo.add_package("beta-2.0.0.s9pk", "beta", "2.0.0:0")
        second = _run(
            tmp_path / "r2", runner_bin, repo.checkout(tmp_path / "c2"),
            {**inputs, "verify": "none"}, start,
        )  # fmt: skip
        assert second.ok, _explain(second)
        assert second.outputs["generation"] == "2"
        changed = json.loads(second.outputs["changed"])
        assert (changed["added"], changed["removed"]) == ({"beta": ["2.0.0:0"]}, {})
        after = _objects(seaweed, repo.bucket)
        written = {k for k, etag in after.items() if before.get(k) != etag}
        assert {k for k in written if k.endswith(".s9pk")} == {"beta/2.0.0:0/beta-2.0.0.s9pk"}
        assert {k for k in written if k.startswith("beta/")} >= {"beta/index.json"}
        # Of alpha's objects only its catalogue page changes: every page's footer names the
        # date of the last release. Its data and precomputed answers are not uploaded again.
        assert {k for k in written if "alpha" in k} == {"alpha/index.html"}
        assert "published generation 2 (was 1)" in second.summary
        assert not second.step("verify the published objects").ran

        # A pull request's dry run: a package added on a branch, no registry key given (a
        # throwaway key co-signs), nothing stored, no storage check or smoke test.
        branch = repo.checkout(tmp_path / "c-pr")
        pkg(branch / "packages", "gamma-0.1.0.s9pk", repo.admin, id_="gamma", version="0.1.0:0")
        stored = _objects(seaweed, repo.bucket)
        preview_inputs = {k: v for k, v in inputs.items() if k != "registry-key"}
        preview = _run(
            tmp_path / "rp", runner_bin, branch, {**preview_inputs, "publish": "false"}, start
        )
        assert preview.ok, _explain(preview)
        assert preview.outputs["generation"] == "3"
        assert preview.step("publish").outputs["dry-run"] == "true"
        assert json.loads(preview.outputs["changed"])["added"] == {"gamma": ["0.1.0:0"]}
        assert preview.summary.startswith("### s9reg: dry run, would publish generation 3\n")
        assert "co-signed with a throwaway key" in preview.step("build").stdout
        assert not preview.step("verify the published objects").ran
        assert not preview.step("smoke test through the public URL").ran
        assert _objects(seaweed, repo.bucket) == stored

        # 3. The published package file corrupted in the bucket, keeping its size, metadata
        # and headers (so the storage check by HEAD passes): the smoke test fails, one line.
        client = seaweed.client()
        key = "beta/2.0.0:0/beta-2.0.0.s9pk"
        head = client.head_object(Bucket=repo.bucket, Key=key)
        body = bytearray(client.get_object(Bucket=repo.bucket, Key=key)["Body"].read())
        body[-10] ^= 0xFF  # inside the last file body
        client.put_object(
            Bucket=repo.bucket, Key=key, Body=bytes(body), Metadata=head["Metadata"],
            ContentType=head["ContentType"], CacheControl=head["CacheControl"],
        )  # fmt: skip
        third = _run(tmp_path / "r3", runner_bin, repo.checkout(tmp_path / "c3"), inputs, start)
        failed = third.failed
        assert failed is not None
        assert failed.name == "smoke test through the public URL", _explain(third)
        assert third.step("verify the published objects").outcome == "success"
        assert third.outputs["generation"] == "2"  # nothing to publish
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1, failed.stderr
        assert lines[0].startswith(f"ERROR {repo.url}beta/2.0.0:0/beta-2.0.0.s9pk: ")
        assert "- smoke test: **failed**: `ERROR " in third.summary
    finally:
        if server is not None:
            stop(server)
