"""Publish authorization: admins, per-package version ranges, unknown keys (upstream package.add)."""

from __future__ import annotations

import pytest

from s9reg.exver import ExtendedVersion, VersionRange
from s9reg.registry import (
    FullIndex,
    Guid,
    PackageIndex,
    PackageInfo,
    PublishRules,
    RegistryError,
    SignerInfo,
    UnauthorizedSignerError,
    check_publish,
    signer_guid,
)
from s9reg.s9pk.keys import PrivateKey

ADMIN = PrivateKey(b"\x01" * 32)
ALICE = PrivateKey(b"\x02" * 32)
BOB = PrivateKey(b"\x03" * 32)
STRANGER = PrivateKey(b"\x04" * 32)
G_ADMIN = Guid.generate(b"admin")
G_ALICE = Guid.generate(b"alice")
G_BOB = Guid.generate(b"bob")


def rules() -> PublishRules:
    signers = {
        G_ADMIN: SignerInfo("Admin", (), (ADMIN.public_key.to_pem(),)),
        G_ALICE: SignerInfo("Alice", (), (ALICE.public_key.to_pem(),)),
        G_BOB: SignerInfo("Bob", (), (BOB.public_key.to_pem(),)),
    }
    authorized = {
        "hello": {
            G_ALICE: VersionRange.parse(">=1.0.0:0 <2.0.0:0"),
            G_BOB: VersionRange.parse("*"),
        },
        "bitcoind": {G_ALICE: VersionRange.parse("#knots")},
    }
    return PublishRules(frozenset({G_ADMIN}), signers, authorized)


@pytest.mark.parametrize(
    ("key", "package", "version"),
    [
        pytest.param(ADMIN, "hello", "9.9:0", id="admin-any-version"),
        pytest.param(ADMIN, "brand-new", "1:0", id="admin-new-package"),
        pytest.param(ALICE, "hello", "1.0.0:0", id="range-lower-bound"),
        pytest.param(ALICE, "hello", "1.9.9:3", id="range-inside"),
        pytest.param(BOB, "hello", "#beta:7:0", id="star-any-flavor"),
        pytest.param(ALICE, "bitcoind", "#knots:27.1.0:0", id="flavor-range"),
    ],
)
def test_accepted(key: PrivateKey, package: str, version: str) -> None:
    check_publish(rules(), package, version, key.public_key)
    check_publish(rules(), package, ExtendedVersion.parse(version), key.public_key.to_pem())


@pytest.mark.parametrize(
    ("key", "package", "version", "reason"),
    [
        pytest.param(
            ALICE, "hello", "2.0.0:0", "outside its authorized range", id="range-upper-bound"
        ),
        pytest.param(ALICE, "hello", "0.9:0", "outside its authorized range", id="range-below"),
        pytest.param(
            ALICE, "bitcoind", "27.1.0:0", "outside its authorized range", id="wrong-flavor"
        ),
        pytest.param(
            BOB, "bitcoind", "27.1.0:0", "not authorized for this package", id="other-package"
        ),
        pytest.param(BOB, "brand-new", "1:0", "only admins may add packages", id="new-package"),
        pytest.param(STRANGER, "hello", "1.0.0:0", "belongs to no signer", id="unknown-key"),
    ],
)
def test_refused(key: PrivateKey, package: str, version: str, reason: str) -> None:
    with pytest.raises(UnauthorizedSignerError) as info:
        check_publish(rules(), package, version, key.public_key)
    message = str(info.value)
    assert reason in message
    assert f"{package} {version}" in message
    assert key.public_key.fingerprint[:16] in message
    assert isinstance(info.value, RegistryError)


def test_full_index_has_no_admins() -> None:
    r = rules()
    packages = {pid: PackageInfo(auth, {}) for pid, auth in r.authorized.items()}
    index = FullIndex(package=PackageIndex(packages=packages), signers=r.signers)
    check_publish(index, "hello", "1.5:0", ALICE.public_key)
    with pytest.raises(UnauthorizedSignerError, match="only admins"):
        check_publish(index, "brand-new", "1:0", ADMIN.public_key)
    assert PublishRules.from_index(index, [G_ADMIN]).admins == {G_ADMIN}
    check_publish(PublishRules.from_index(index, [G_ADMIN]), "brand-new", "1:0", ADMIN.public_key)


def test_key_maps_to_first_signer_in_guid_order() -> None:
    shared = ALICE.public_key.to_pem()
    low, high = Guid("A" * 32), Guid("Z" * 32)
    r = PublishRules(
        signers={high: SignerInfo("High", (), (shared,)), low: SignerInfo("Low", (), (shared,))},
        authorized={"hello": {high: VersionRange.parse("*")}},
    )
    assert signer_guid(r, shared) == low
    with pytest.raises(UnauthorizedSignerError, match=f"signer {low}"):
        check_publish(r, "hello", "1:0", shared)


def test_bad_inputs() -> None:
    with pytest.raises(RegistryError, match="signer key"):
        check_publish(rules(), "hello", "1:0", "not a pem")
    with pytest.raises(RegistryError, match=r"version: extended version '1\.0'"):
        check_publish(rules(), "hello", "1.0", ALICE.public_key)
    with pytest.raises(RegistryError, match="invalid signer id"):
        PublishRules.from_index(FullIndex(), ["admin"])
