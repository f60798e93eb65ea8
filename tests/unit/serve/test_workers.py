"""``s9reg serve --workers N``: processes sharing one socket, restarted when they die."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_client import BuiltSite, free_port, request, rpc, serve_process, stop, until

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.serve import ServeSettings

LOG_LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO 127\.0\.0\.1 "GET /health" 200 ')


def _pid(url: str) -> int | None:
    try:
        r = request(url, "GET", "/health")
    except OSError:
        return None
    return int(r.json()["pid"]) if r.status == 200 else None


def _info_calls(url: str) -> int:
    text = request(url, "GET", "/metrics").body.decode()
    found = re.search(r'^s9reg_rpc_requests_total\{method="info"\} (\d+)$', text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def workers(built_site: BuiltSite, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    args = ["--site", str(built_site.path), "--listen", f"127.0.0.1:{port}", "--workers", "3"]
    with serve_process(tmp_path, *args) as proc:
        url = f"http://127.0.0.1:{port}"
        until(lambda: _pid(url) is not None or proc.poll() is not None, "the first answer")
        assert proc.poll() is None, proc.communicate()[1].decode()
        yield proc, url


def test_workers_share_the_socket_are_restarted_and_stop_together(
    workers: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, url = workers
    seen: set[int] = set()

    def three_workers() -> bool:
        pid = _pid(url)
        if pid is not None:
            seen.add(pid)
        return len(seen) == 3

    until(three_workers, "answers from three workers", timeout=60)
    assert all(_parent_of(pid) == proc.pid for pid in seen)
    assert proc.pid not in seen
    for _ in range(10):  # every worker answers the protocol, whichever takes the connection
        r = rpc(url, {"id": 1, "method": "info"})
        assert r.status == 200
        assert r.json()["result"]["name"]
    # /metrics from any worker shows the sums over all of them (snapshots shared each second).
    until(lambda: all(_info_calls(url) == 10 for _ in range(6)), "summed counters", timeout=30)

    # A worker that dies is replaced; the others keep answering meanwhile.
    victim = min(seen)
    os.kill(victim, signal.SIGKILL)
    fresh: set[int] = set()

    def replaced() -> bool:
        pid = _pid(url)
        if pid is not None and pid not in seen:
            fresh.add(pid)
        return bool(fresh) and not _alive(victim)

    until(replaced, "a replacement worker", timeout=60)
    (new,) = fresh
    assert _parent_of(new) == proc.pid
    assert all(_info_calls(url) == 10 for _ in range(6))  # the dead worker's counts stay

    # SIGTERM stops the supervisor and every worker.
    everyone = (seen - {victim}) | fresh
    text = stop(proc)
    assert proc.returncode == 0
    assert not [pid for pid in everyone if _alive(pid)]
    assert "with 3 workers" in text
    assert f"worker {victim} ended (signal SIGKILL); starting another" in text
    health_lines = [line for line in text.splitlines() if '"GET /health"' in line]
    assert health_lines
    assert all(LOG_LINE.match(line) for line in health_lines), health_lines  # no torn lines


def test_a_worker_that_cannot_load_the_site_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    args = ["--site", str(tmp_path / "empty"), "--listen", f"127.0.0.1:{free_port()}"]
    with serve_process(tmp_path, *args, "--workers", "2") as proc:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("ERROR cannot load the site"), lines
    assert "Traceback" not in err.decode()


def test_workers_setting() -> None:
    assert ServeSettings().workers == 1
    with pytest.raises(ConfigError, match="workers must be from 1 to 64"):
        ServeSettings(workers=0)


def test_workers_from_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text(
        "registry:\n  name: T\n  url: https://r.example.org/\nserve:\n  workers: 4\n",
        encoding="utf-8",
    )
    cfg = config.load(path)
    assert config.serve_settings(cfg).workers == 4
    assert config.serve_settings(cfg, workers=2).workers == 2
    path.write_text(
        "registry:\n  name: T\n  url: https://r.example.org/\nserve:\n  workers: 0\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"serve\.workers: must be at least 1"):
        config.load(path)
