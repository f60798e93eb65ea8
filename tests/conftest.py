"""Shared fixtures: the known-answer vectors, keys, and a scrubbed environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s9reg.s9pk.keys import PrivateKey

REPO = Path(__file__).resolve().parents[1]
# Copies of the known-answer files of shared/vectors (README there explains each value).
VECTORS = REPO / "tests" / "data" / "vectors"
EXAMPLE_SEED = bytes(range(32))


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The known-answer vector files."""
    return VECTORS


@pytest.fixture(scope="session")
def example_key() -> PrivateKey:
    """The vectors' example key (seed 00..1f). Never use it for anything real."""
    return PrivateKey(EXAMPLE_SEED)


@pytest.fixture(autouse=True)
def _scrub_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never see the developer's home, keys or cloud credentials."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in list(os.environ):
        if name.startswith(("AWS_", "S9REG_")):
            monkeypatch.delenv(name)
