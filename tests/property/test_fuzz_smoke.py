"""The atheris fuzz target runs a bounded session in every mode without a crash (§6).

A crash here is either a reader bug (an exception that is not an ``S9pkError``, a hang, or an
accepted hostile archive) or a broken fuzz harness; libFuzzer's output names the input it saved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parent / "fuzz_reader.py"
RUNS = 2000


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["plain", "resign", "rehash", "tree", "manifest"])
def test_fuzz_target_bounded_run(mode: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cmd = [
        sys.executable,
        str(TARGET),
        f"--mode={mode}",
        f"-runs={RUNS}",
        "-seed=1",
        "-timeout=20",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={tmp_path}/",
        str(corpus),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    tail = done.stderr[-3000:]
    assert done.returncode == 0, tail
    assert f"Done {RUNS} runs" in done.stderr, tail
    assert not list(tmp_path.glob("crash-*")), tail


@pytest.mark.parametrize("runs", ["-runs=5", "-max_total_time=1"])
def test_fuzz_target_removes_its_seeds(tmp_path: Path, runs: str) -> None:
    """libFuzzer's exit skips atexit: the seeds were left in /tmp on every run (issue #16)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cmd = [sys.executable, str(TARGET), "--mode=manifest", runs, "-seed=1"]
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(tmp.iterdir()) == []


def test_fuzz_target_removes_its_seeds_on_ctrl_c(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cmd = [sys.executable, str(TARGET), "--mode=manifest", "-max_total_time=60"]
    env = {**os.environ, "TMPDIR": str(tmp)}
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while not list(tmp.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert list(tmp.iterdir()), "the target wrote no seeds"
            time.sleep(2)  # fuzzing by now
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert list(tmp.iterdir()) == [], err[-3000:]


def test_fuzz_target_rejects_unknown_mode() -> None:
    cmd = [sys.executable, str(TARGET), "--mode=nope", "-runs=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "unknown mode 'nope'" in done.stderr
