"""The atheris fuzz target runs a bounded session in every mode without a crash (§6).

A crash here is either a reader bug (an exception that is not an ``S9pkError``, a hang, or an
accepted hostile archive) or a broken fuzz harness; libFuzzer's output names the input it saved.
"""

from __future__ import annotations

import subprocess
import sys
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


def test_fuzz_target_rejects_unknown_mode() -> None:
    cmd = [sys.executable, str(TARGET), "--mode=nope", "-runs=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "unknown mode 'nope'" in done.stderr
