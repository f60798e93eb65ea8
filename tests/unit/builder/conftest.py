"""Fixtures of the build tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """An empty directory for source packages."""
    d = tmp_path / "src"
    d.mkdir()
    return d
