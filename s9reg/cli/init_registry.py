"""``s9reg init-registry DIR``: a registry repository, ready for the s9reg GitHub Action.

Writes the files only (site-config.yaml, the publish workflow, packages/, .gitignore and an
operator README); it creates no key, bucket or cloud role, and runs no git command on DIR.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import click

from s9reg import __version__, config
from s9reg.errors import ConfigError, S9regError

# Pinned in the workflow this command writes (their versions in comments).
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
CONFIGURE_AWS = (
    "aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c # v6.2.3"
)
PLACEHOLDER_SHA = "0" * 40

_ACTION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+@[0-9a-f]{40}")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

_CONFIG = """\
# The registry: built and published by s9reg (every key: s9reg's docs/configuration.md).
# Secrets are never written here: the registry key comes from the environment variable
# S9REG_REGISTRY_KEY (a secret of the CI environment), storage credentials from the AWS chain.

registry:
  name: {name}
  url: {url}                      # public URL of the registry (s9reg serve or its CDN)
  # file_urls: [https://cdn.example.org/]   # where package files are served, CDN first
  signing_key: env:S9REG_REGISTRY_KEY

# Who signs packages: add yourself with `s9reg key pubkey` (a PEM, or file:keys/NAME.pub.pem).
signers: []
#  - name: Your Name
#    contact: [{{email: you@example.org}}]
#    keys: [file:keys/you.pub.pem]
#    admin: true                   # an admin may publish any package and version

authorized: {{}}                    # package id → signer name → versions, e.g. hello: {{Dev: "*"}}
categories: {{}}

packages:
  sources:
    - packages/                    # .s9pk files committed here (or https:// URLs)

output: _site
storage: s3
publish:
{publish}"""

_WORKFLOW = """\
# Build this registry with s9reg and publish it to S3-compatible storage on every push to main;
# pull requests get a dry run. README.md lists the variables and secrets to set; every input
# and output of the action: s9reg's docs/github-actions.md.
name: publish
on:
  push:
    branches: [main]
  pull_request:
  workflow_dispatch:
permissions: {{}}
jobs:
  preview:
    name: dry run (pull request)
    # Same-repository pull requests only: a fork's code never gets the storage credentials.
    if: >-
      github.event_name == 'pull_request' && vars.S9REG_PREVIEW == 'true' &&
      github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    environment: registry-preview
    permissions:
      contents: read
      id-token: write # OIDC → a read-only AWS role
    concurrency:
      group: s9reg-preview-${{{{ github.event.pull_request.number }}}}
      cancel-in-progress: true
    steps:
      - uses: {checkout}
        with:
          persist-credentials: false
      - if: vars.AWS_PREVIEW_ROLE_ARN != ''
        uses: {configure_aws}
        with:
          role-to-assume: ${{{{ vars.AWS_PREVIEW_ROLE_ARN }}}}
          aws-region: ${{{{ vars.AWS_REGION }}}}
      # No registry-key: a preview is co-signed with a throwaway key.
      - uses: {action}
        with:
          publish: "false"
          aws-access-key-id: ${{{{ secrets.AWS_ACCESS_KEY_ID }}}}
          aws-secret-access-key: ${{{{ secrets.AWS_SECRET_ACCESS_KEY }}}}
          aws-region: ${{{{ vars.AWS_REGION }}}}
  publish:
    name: publish
    if: >-
      github.event_name != 'pull_request' && vars.S9REG_PUBLISH == 'true' &&
      github.ref == 'refs/heads/main'
    runs-on: ubuntu-24.04
    timeout-minutes: 60
    environment:
      name: registry
      url: ${{{{ vars.S9REG_SMOKE_URL }}}}
    permissions:
      contents: read
      id-token: write # OIDC → the AWS role that publishes
    # Publishers are serialized; s9reg's conditional pointer write refuses a concurrent one anyway.
    concurrency:
      group: s9reg-publish
      cancel-in-progress: false
    steps:
      - uses: {checkout}
        with:
          persist-credentials: false
      # Credentials go to configure-aws-credentials or to the s9reg action as inputs, never as a
      # step's env: an empty AWS_ACCESS_KEY_ID there would hide what OIDC exported.
      - if: vars.AWS_ROLE_ARN != ''
        uses: {configure_aws}
        with:
          role-to-assume: ${{{{ vars.AWS_ROLE_ARN }}}}
          aws-region: ${{{{ vars.AWS_REGION }}}}
      - id: s9reg
        uses: {action}
        with:
          registry-key: ${{{{ secrets.S9REG_REGISTRY_KEY }}}}
          aws-access-key-id: ${{{{ secrets.AWS_ACCESS_KEY_ID }}}}
          aws-secret-access-key: ${{{{ secrets.AWS_SECRET_ACCESS_KEY }}}}
          aws-region: ${{{{ vars.AWS_REGION }}}}
          smoke-url: ${{{{ vars.S9REG_SMOKE_URL }}}}
"""

_DEPENDABOT = """\
# Pull requests that move the pinned actions (s9reg's among them: its commit and version
# comment) forward when they release; a week after a release, all in one pull request.
version: 2
updates:
  - package-ecosystem: github-actions
    directory: /
    schedule:
      interval: weekly
    cooldown:
      default-days: 7
    groups:
      actions:
        patterns: ["*"]
"""

_GITIGNORE = """\
# Built site, s9reg's caches, and keys: none of them belong in git.
/_site/
/_published/
.s9reg-cache/
.s9reg-image-cache/
*.key.pem
.keys/
"""

_README = """\
# {name}

A StartOS package registry, built and published by [s9reg](https://github.com/{repo}) with its
GitHub Action (`.github/workflows/publish.yml`): every push to `main` builds the registry from
`site-config.yaml` and `packages/`, publishes what changed to `{target}`, checks the stored
objects and smoke-tests `{url}`; a pull request gets a dry run with the versions it would add.

## Set-up, once

1. **Signers.** Each developer creates a key and adds its public key to `signers:` in
   `site-config.yaml`: `s9reg key init`, then `s9reg key pubkey` (keep the private key out of
   git: `*.key.pem` is ignored).
2. **Registry key.** `s9reg key init --path registry.key.pem` creates the key that co-signs every
   package; store the file's contents as the secret `S9REG_REGISTRY_KEY` of the environment
   `registry` below, then delete the file.
3. **Storage.** The bucket `{bucket}` must exist and allow public reads (a bucket policy; s9reg
   sets no ACL). {endpoint_note}
4. **GitHub** (Settings → Environments, and Secrets and variables → Actions):

   - environment `registry`, its deployment branches limited to `main`: the secret
     `S9REG_REGISTRY_KEY` (the registry key, PEM) and, without OIDC, the storage's static keys
     as the secrets `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`;
   - repository variables: `S9REG_PUBLISH` = `true` (turns publishing on), `AWS_REGION`,
     `AWS_ROLE_ARN` (AWS only: the role the workflow assumes by OIDC; then no static keys),
     `S9REG_SMOKE_URL` (the registry's public URL, smoke-tested after each publish);
   - pull-request dry runs (optional): the variables `S9REG_PREVIEW` = `true` and
     `AWS_PREVIEW_ROLE_ARN` (a read-only role), or read-only static keys as the secrets
     `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` of an environment `registry-preview`.

5. The workflow uses `{action_ref}`; {action_note} Dependabot
   (`.github/dependabot.yml`) proposes new commits of the pinned actions as pull requests.

## Adding a package

Commit the `.s9pk` to `packages/` (and, for a new developer, their signer and `authorized:`
entry) in a pull request: the dry run lists the versions it adds; merging publishes them.

## Locally

    s9reg build                      # the site in _site/ (needs S9REG_REGISTRY_KEY)
    s9reg serve                      # http://127.0.0.1:5959/
    s9reg publish --dry-run          # what a publish would change (needs storage credentials)
"""


def _default_action() -> tuple[str, bool]:
    """``owner/repo@sha`` of the s9reg checkout this runs from, or a placeholder (False)."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        remote = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(root), "remote", "get-url", "origin"],  # noqa: S607
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return f"OWNER/s9reg@{PLACEHOLDER_SHA}", False
    found = re.search(r"github\.com[:/]([^/]+/[^/]+?)(?:\.git)?$", remote)
    if found is None or not re.fullmatch(r"[0-9a-f]{40}", sha):
        return f"OWNER/s9reg@{PLACEHOLDER_SHA}", False
    return f"{found.group(1)}@{sha}", True


def _publish_section(bucket: str, endpoint: str | None, region: str | None, *, path: bool) -> str:
    lines = [f"  bucket: {bucket}"]
    if endpoint is not None:
        lines.append(f"  endpoint_url: {endpoint}      # not AWS: checksums are sent when required")
    if region is not None:
        lines.append(f"  region: {region}")
    if path:
        lines.append("  path_style: true")
    return "\n".join(lines) + "\n"


def _check_inputs(bucket: str, endpoint: str | None, url: str, action: str) -> None:
    if not _BUCKET_RE.fullmatch(bucket):
        raise click.BadParameter(f"{bucket!r} is not an S3 bucket name", param_hint="--s3")
    for value, hint in ((endpoint, "--endpoint"), (url, "--url")):
        if value is not None and urlsplit(value).scheme not in {"http", "https"}:
            raise click.BadParameter(f"{value!r} is not an http(s) URL", param_hint=hint)
    if not _ACTION_RE.fullmatch(action):
        msg = f"{action!r}: expected OWNER/REPO@<full 40-hex commit SHA> (pin actions by commit)"
        raise click.BadParameter(msg, param_hint="--action")


def _write_files(directory: Path, files: dict[str, str], *, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise S9regError(f"{directory}: not a directory")
    if directory.exists() and any(directory.iterdir()) and not force:
        msg = f"{directory}: not empty; refusing to write a registry into it"
        raise S9regError(msg, hint="choose a new directory, or pass --force to overwrite files")
    try:
        for rel, text in files.items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (directory / "packages").mkdir(exist_ok=True)
        (directory / "packages" / ".gitkeep").touch()
    except OSError as e:
        raise S9regError(f"{directory}: cannot write the registry: {e.strerror}") from None


@click.command("init-registry")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", default="My StartOS registry", show_default=True, help="Registry name.")
@click.option(
    "--url", default="https://registry.example.org/", show_default=True,
    help="Public URL of the registry (where devices and the smoke test reach it).",
)  # fmt: skip
@click.option(
    "--s3", "bucket", default="my-startos-registry", show_default=True,
    help="The bucket to publish to.",
)  # fmt: skip
@click.option("--endpoint", help="S3-compatible endpoint URL (not AWS: MinIO, R2, B2, …).")
@click.option("--region", help="The bucket's region.")
@click.option(
    "--path-style", is_flag=True, help="Path-style addressing (servers without bucket host names)."
)
@click.option(
    "--action", "action_ref",
    help="The s9reg action as OWNER/REPO@<commit SHA> (default: this s9reg's git checkout).",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Write into a non-empty DIRECTORY (files replaced).")
def init_registry(  # noqa: PLR0913, PLR0917 - one parameter per option
    directory: Path,
    name: str,
    url: str,
    bucket: str,
    endpoint: str | None,
    region: str | None,
    path_style: bool,
    action_ref: str | None,
    force: bool,
) -> None:
    """Write a registry repository into DIRECTORY, published by the s9reg GitHub Action.

    site-config.yaml (S3 publishing, the registry key by env:S9REG_REGISTRY_KEY),
    .github/workflows/publish.yml (publish on main, dry runs for pull requests), a Dependabot
    configuration that moves the pinned actions forward, packages/,
    .gitignore (the site, caches, keys) and a README saying which secrets and variables to set.
    """
    action, pinned = (action_ref, True) if action_ref is not None else _default_action()
    _check_inputs(bucket, endpoint, url, action)
    if not url.endswith("/"):
        url += "/"
    repo = action.partition("@")[0]
    target = f"s3://{bucket}/" + (f" at {endpoint}" if endpoint else "")
    endpoint_note = (
        f"Its endpoint `{endpoint}` is in `publish.endpoint_url`; as for any endpoint that is not "
        "AWS, s9reg sends checksums only when required (boto3's default CRC headers are refused "
        "by many S3-compatible services)."
        if endpoint
        else "Without `publish.endpoint_url` it is AWS S3."
    )
    action_note = (
        "to update s9reg, change the commit (and its version comment)."
        if pinned
        else "**replace `OWNER/s9reg@000…` with the s9reg repository and the full commit SHA of "
        "the release you trust** (this s9reg was not run from a GitHub checkout)."
    )
    site_config = _CONFIG.format(
        name=json.dumps(name, ensure_ascii=False),  # a JSON string is a YAML scalar
        url=url,
        publish=_publish_section(bucket, endpoint, region, path=path_style),
    )
    try:  # before writing anything: a --name or --url the loader refuses
        config.loads(site_config, path=directory / "site-config.yaml")
    except ConfigError as e:
        raise ConfigError(f"the configuration would not load: {e.message}") from None
    files = {
        "site-config.yaml": site_config,
        ".github/workflows/publish.yml": _WORKFLOW.format(
            checkout=CHECKOUT,
            configure_aws=CONFIGURE_AWS,
            action=f"{action} # v{__version__}" + ("" if pinned else ": set the s9reg commit"),
        ),
        ".github/dependabot.yml": _DEPENDABOT,
        ".gitignore": _GITIGNORE,
        "README.md": _README.format(
            name=name,
            repo=repo,
            target=target,
            url=url,
            bucket=bucket,
            endpoint_note=endpoint_note,
            action_ref=action,
            action_note=action_note,
        ),
    }
    _write_files(directory, files, force=force)
    click.echo(f"Registry repository written to {directory}:")
    for rel in (*files, "packages/"):
        click.echo(f"  {rel}")
    if not pinned:
        click.echo(
            "warning: set the s9reg action in .github/workflows/publish.yml to "
            "OWNER/REPO@<commit SHA> (or pass --action)",
            err=True,
        )
    click.echo(
        "Next: add signers to site-config.yaml, create the registry key "
        "(s9reg key init --path registry.key.pem) and set the secrets and variables "
        f"listed in {directory / 'README.md'}."
    )
