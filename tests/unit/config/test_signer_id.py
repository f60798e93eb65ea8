"""``signers[].id``: a signer's Guid fixed in the file (imports, renames), else derived."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.registry import Guid

BASE = """\
registry:
  name: Tiny
  url: https://r.example.org/
signers:
"""
ID = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def load(tmp_path: Path, signers: str) -> config.SiteConfig:
    path = tmp_path / "site-config.yaml"
    path.write_text(BASE + signers, encoding="utf-8")
    return config.load(path)


def test_an_id_is_the_signers_guid(tmp_path: Path) -> None:
    cfg = load(tmp_path, f"  - name: Alice\n    id: {ID}\n  - name: Bob\n")
    alice, bob = cfg.signers
    assert config.signer_guid(alice) == Guid(ID)
    assert config.signer_guid(bob) == Guid.generate(seed=b"Bob")  # still derived from the name
    assert set(config.build_settings(cfg).signers) == {Guid(ID), Guid.generate(seed=b"Bob")}


@pytest.mark.parametrize(
    ("signers", "message"),
    [
        pytest.param("  - name: A\n    id: abc\n", "not a signer id", id="not a guid"),
        pytest.param("  - name: A\n    id: 12\n", "signer id", id="a number"),
        pytest.param(
            f"  - name: A\n    id: {ID}\n  - name: B\n    id: {ID}\n",
            "signers 'A' and 'B' have the same id",
            id="the same id twice",
        ),
        pytest.param(
            f"  - name: A\n  - name: B\n    id: {Guid.generate(seed=b'A')}\n",
            "have the same id",
            id="an id equal to another's derived id",
        ),
    ],
)
def test_bad_ids_are_refused(tmp_path: Path, signers: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, signers)
    assert message in e.value.message
