"""Parts of the GitHub Actions tests: the runner's environment, a registry repository, serve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from s9reg.s9pk.keys import PrivateKey

from helpers.actions_runner import Runner
from helpers.buildkit import pkg
from helpers.cli import run_cli
from helpers.s3server import S3Endpoint, free_ports

REPO = Path(__file__).resolve().parents[2]
ACTION_SHA = "1" * 40


def runner_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """A runner's environment: no AWS variables, s9reg not installed, pip offline."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{bin_dir}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's inverted spelling: build isolation off
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


# Third-party actions the stand-in runner does not run (they need node and GitHub's services):
# setup-python (the runner's `python` is already on PATH), and the cache, whose restore and
# save only move .s9reg-cache between runs (a missing cache means a full verification).
SKIPPED_ACTIONS = ("actions/setup-python", "actions/cache/restore", "actions/cache/save")


def make_runner(tmp: Path, bin_dir: Path, workspace: Path) -> Runner:
    return Runner(
        workspace=workspace,
        temp=tmp / "runner-temp",
        base_env=runner_env(bin_dir, tmp / "home"),
        github={"workspace": str(workspace)},
        stand_ins=dict.fromkeys(SKIPPED_ACTIONS),
    )


@dataclass
class RegistryRepo:
    """A registry repository made by `s9reg init-registry`, with one admin signer."""

    root: Path
    admin: PrivateKey
    registry_key: str
    bucket: str
    url: str

    def add_package(self, name: str, id_: str, version: str) -> None:
        pkg(self.root / "packages", name, self.admin, id_=id_, version=version)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", f"add {id_} {version}")

    def checkout(self, dest: Path) -> Path:
        """A fresh checkout: the committed files only (no site, no caches)."""
        git(self.root.parent, "clone", "-q", str(self.root), str(dest))
        return dest


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, timeout=60)


def make_registry(
    root: Path, seaweed: S3Endpoint, url: str, capsys: pytest.CaptureFixture[str]
) -> RegistryRepo:
    bucket = seaweed.new_bucket("action")
    argv = [
        "init-registry", str(root), "--name", "CI registry", "--url", url, "--s3", bucket,
        "--endpoint", seaweed.url, "--path-style", "--action", f"example/s9reg@{ACTION_SHA}",
    ]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    admin = PrivateKey.generate()
    pem = "\n".join(f"          {line}" for line in admin.public_key.to_pem().splitlines())
    cfg = root / "site-config.yaml"
    text = cfg.read_text(encoding="utf-8")
    assert "\nsigners: []\n" in text
    signer = f"\nsigners:\n  - name: Admin\n    keys:\n      - |\n{pem}\n    admin: true\n"
    cfg.write_text(text.replace("\nsigners: []\n", signer), encoding="utf-8")
    key_file = root.parent / f"{root.name}-registry.key.pem"
    code, _, err = run_cli(["key", "init", "--path", str(key_file)], capsys)
    assert code == 0, err
    registry_key = key_file.read_text(encoding="ascii")
    key_file.unlink()
    git(root, "init", "-q", "-b", "main")
    repo = RegistryRepo(root, admin, registry_key, bucket, url)
    repo.add_package("alpha-1.0.0.s9pk", "alpha", "1.0.0:0")
    return repo


@dataclass
class ServeProcess:
    """`s9reg serve` over the bucket: the public URL of the smoke test."""

    url: str
    proc: subprocess.Popen[bytes] | None = None
    log: BinaryIO | None = None


def serve_over_bucket(
    tmp: Path, seaweed: S3Endpoint, bucket: str, port: int
) -> Callable[[], ServeProcess]:
    """A starter of `s9reg serve --site s3://bucket/` (it needs a published index to start)."""
    config = tmp / "serve-config.yaml"
    config.write_text(
        "registry:\n  name: serve\n  url: http://127.0.0.1/\n"
        f"serve:\n  refresh_interval: 1\n  s3:\n    endpoint_url: {seaweed.url}\n"
        "    path_style: true\n",
        encoding="utf-8",
    )
    server = ServeProcess(url=f"http://127.0.0.1:{port}/")

    def start() -> ServeProcess:
        if server.proc is not None:
            return server
        env = {**os.environ, **seaweed.env(), "PYTHONPATH": str(REPO)}
        log = server.log = (tmp / "serve.log").open("wb")
        server.proc = subprocess.Popen(
            [sys.executable, "-m", "s9reg", "serve", "--config", str(config),
             "--site", f"s3://{bucket}/", "--listen", f"127.0.0.1:{port}"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.proc.poll() is None, (tmp / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"{server.url}health", timeout=2):
                    return server
            except OSError:
                time.sleep(0.2)
        msg = f"s9reg serve did not start: {(tmp / 'serve.log').read_text()}"
        raise AssertionError(msg)

    return start


def stop(server: ServeProcess) -> None:
    if server.proc is not None and server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    if server.log is not None:
        server.log.close()


def free_port() -> int:
    return free_ports(1)[0]
