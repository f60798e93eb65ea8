"""The serve: config section, serve_settings, and the s9reg serve command (in and out of process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from serve_client import BuiltSite, free_port, request, rpc

from s9reg import config
from s9reg.cli import cli
from s9reg.errors import ConfigError
from s9reg.s9pk.keys import PrivateKey
from s9reg.serve import ServeSettings

BASE = """\
registry:
  name: T
  url: https://registry.example.com/
  file_urls: [https://cdn.example.com/]
"""


def load(tmp_path: Path, text: str) -> config.SiteConfig:
    return config.loads(BASE + text, path=tmp_path / "site-config.yaml")


def test_serve_section(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "serve:\n  listen: 0.0.0.0:8080\n  site: pub\n  max_body: 2048\n"
        "  client_timeout: 2.5\n  refresh_interval: 60\n  hostnames: [registry.example.com]\n"
        "  max_connections: 2000\n  max_connections_per_client: 2000\n",
    )
    assert cfg.serve == ServeSettings(
        host="0.0.0.0",
        port=8080,
        site=str(tmp_path / "pub"),
        max_body=2048,
        client_timeout=2.5,
        refresh_interval=60,
        hostnames=("registry.example.com",),
        max_connections=2000,
        max_connections_per_client=2000,
    )
    remote = load(tmp_path, "serve:\n  site: s3://bucket/prefix\n")
    assert remote.serve.site == "s3://bucket/prefix"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "serve:\n  max_body: 10\n", "serve.max_body: must be at least 1024", id="tiny body"
        ),
        pytest.param(
            "serve:\n  max_body: big\n",
            "serve.max_body: expected a whole number",
            id="not a number",
        ),
        pytest.param("serve:\n  client_timeout: yes\n", "expected a number", id="boolean timeout"),
        pytest.param(
            "serve:\n  max_connections_per_client: 0\n",
            "serve.max_connections_per_client: must be at least 1",
            id="no connection per client",
        ),
        pytest.param("serve:\n  listen: nowhere\n", "expected a listen address", id="bad listen"),
        pytest.param("serve:\n  lisen: 1.2.3.4:5\n", "did you mean 'listen'", id="typo"),
    ],
)
def test_serve_section_errors(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    assert problem in (e.value.details or e.value.message)


def test_serve_settings_precedence(tmp_path: Path) -> None:
    cfg = load(tmp_path, "output: out\nserve:\n  listen: 10.0.0.1:1234\n")
    s = config.serve_settings(cfg)
    assert (s.site, s.host, s.port) == (str(tmp_path / "out"), "10.0.0.1", 1234)
    s = config.serve_settings(cfg, site="https://x.example/", listen=("::1", 9))
    assert (s.site, s.host, s.port) == ("https://x.example/", "::1", 9)
    assert config.serve_settings(None, site="d").port == 5959
    with pytest.raises(ConfigError):
        config.serve_settings(None)


def test_settings_validation() -> None:
    with pytest.raises(ConfigError, match="port"):
        ServeSettings(port=70000)
    with pytest.raises(ConfigError, match="and 1 more"):
        ServeSettings(client_timeout=0, max_body=1)


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        pytest.param(
            ["serve", "--site", "/nonexistent/site"], 1, "not a directory", id="missing site"
        ),
        pytest.param(["serve", "--site", "x", "--listen", "nope"], 2, "HOST:PORT", id="bad listen"),
        pytest.param(
            ["serve", "--config", "/nonexistent.yaml"], 1, "nonexistent.yaml", id="no config"
        ),
    ],
)
def test_cli_errors(args: list[str], code: int, text: str) -> None:
    from s9reg.cli import main  # noqa: PLC0415

    runner = CliRunner()
    result = runner.invoke(cli, args)
    if code == 2:
        assert result.exit_code == 2
        assert text in result.output
        return
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == code


def test_serve_process_logs_and_stops_on_sigterm(built_site: BuiltSite, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S9REG_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s9reg",
            "serve",
            "--site",
            str(built_site.path),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if request(url, "GET", "/health").status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        r = rpc(url, {"method": "index"}, {"X-StartOS-Auth-Sig": "signature=SECRET-SIG"})
        assert r.json()["error"]["code"] in {6, 34}
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    text = err.decode()
    assert f"Serving {built_site.path} at {url}/" in text
    assert '"POST /rpc/v0" 200' in text
    assert "rpc=index" in text
    assert "SECRET-SIG" not in text
    assert "stopping" in text


@pytest.mark.parametrize(
    ("args", "env", "config_text", "hint"),
    [
        pytest.param(
            ["--site", "/nonexistent/site"], {}, None, "--site must name a built site", id="--site"
        ),
        pytest.param(
            [], {"S9REG_SITE": "/nonexistent/site"}, None, "S9REG_SITE must name", id="env"
        ),
        pytest.param(
            [], {}, "serve:\n  site: /nonexistent/site\n", "serve.site in ", id="serve.site"
        ),
        pytest.param([], {}, "", "run s9reg build first", id="output not built"),
    ],
)
def test_missing_site_hint_fits_where_it_was_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    config_text: str | None,
    hint: str,
) -> None:
    # A user who passed --site was told "or pass --site": the hint names where the path came from.
    from helpers.cli import run_cli  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if config_text is not None:
        key = PrivateKey(b"\x07" * 32)
        (tmp_path / "site-config.yaml").write_text(
            "registry:\n  name: T\n  url: http://127.0.0.1:5959/\n"
            f"signers:\n  - name: A\n    keys: ['{key.public_key.to_pem().strip()}']\n"
            "    admin: true\n" + config_text
        )
    code, _, err = run_cli(["serve", *args], capsys)
    assert code == 1
    assert "not a directory" in err
    assert hint in err
    if args or env:
        assert "pass --site" not in err
