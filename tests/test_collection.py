"""Every test file in the repository is collected by the README's test command.

pytest silently skips some folders (``build``, ``dist``, dot-folders, …) even under
``testpaths``; a test module there would never run in CI. This asks the command itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _test_files() -> set[str]:
    return {
        str(p.relative_to(REPO))
        for p in (REPO / "tests").rglob("test_*.py")
        if "node_modules" not in p.parts
    }


def _collected() -> set[str]:
    # The same pytest and configuration as `./tasks test` (which runs `pytest -q`).
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {line.split("::", 1)[0] for line in done.stdout.splitlines() if "::" in line}


def test_every_test_file_is_collected() -> None:
    files = _test_files()
    assert "tests/unit/builder/test_pipeline.py" in files  # the walk sees the tree
    missing = sorted(files - _collected())
    assert missing == [], f"never collected by the test command: {missing}"
