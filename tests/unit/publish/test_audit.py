"""``s9reg publish --verify``: damage in storage is found, reported and repaired."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pubkit import Bucket, site_files, write_site

from s9reg.publish import DirSettings, PublishError, PublishSettings, audit_published, publish_site
from s9reg.publish.policy import ObjectHeaders
from s9reg.publish.pull import live_manifest
from s9reg.publish.state import ObjectEntry, manifest_key
from s9reg.publish.target import DirTarget

from helpers.cli import run_cli as _cli
from helpers.s3server import S3Endpoint

PKG = "hello/1.0:0/hello_a.s9pk"


def _published_dir(tmp_path: Path) -> tuple[PublishSettings, DirTarget, dict[str, bytes]]:
    files = site_files("a")
    write_site(tmp_path / "site", files)
    settings = PublishSettings(site=tmp_path / "site", target=DirSettings(path=tmp_path / "pub"))
    publish_site(settings)
    return settings, DirTarget(tmp_path / "pub"), files


def test_an_intact_publication_passes(tmp_path: Path) -> None:
    _, target, files = _published_dir(tmp_path)
    report = audit_published(target, content=True)
    assert report.ok
    assert report.problems == ()
    assert report.objects == len(files)
    assert report.bytes == sum(len(v) for v in files.values())


def test_damage_is_found_by_kind_and_repaired_from_the_site(tmp_path: Path) -> None:
    settings, target, files = _published_dir(tmp_path)
    pub = tmp_path / "pub"
    (pub / "notes/index.html").unlink()  # missing
    (pub / "index.html").write_bytes(b"<html>longer</html>")  # other size
    body = bytearray(files[PKG])  # same size, other bytes
    body[7] ^= 1
    (pub / PKG).write_bytes(bytes(body))

    # A directory keeps no metadata: its "HEAD" hashes the file, so even the flipped bit shows.
    found = audit_published(target)
    assert {(p.key, p.kind) for p in found.problems} == {
        ("notes/index.html", "missing"),
        ("index.html", "size"),
        (PKG, "sha256"),
    }
    assert not found.ok

    # The site holds the recorded files: all three are uploaded again.
    (settings.site / "rpc.v0/info.json").write_bytes(b"{}")  # a changed site file is not used
    (pub / "rpc.v0/info.json").unlink()
    repaired = audit_published(target, content=True, repair_from=settings.site)
    assert {p.key for p in repaired.problems if p.repaired} == {
        "notes/index.html",
        "index.html",
        PKG,
    }
    assert [p.key for p in repaired.problems if not p.repaired] == ["rpc.v0/info.json"]
    assert (pub / PKG).read_bytes() == files[PKG]
    again = audit_published(target, content=True)
    assert [(p.key, p.kind) for p in again.problems] == [("rpc.v0/info.json", "missing")]


def test_nothing_published_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublishError, match="nothing is published"):
        audit_published(DirTarget(tmp_path / "empty"))


def test_damage_in_s3_metadata_and_headers(seaweed: S3Endpoint, tmp_path: Path) -> None:
    bucket = Bucket(seaweed, seaweed.new_bucket("audit"))
    files = site_files("a")
    site = write_site(tmp_path / "site", files)
    settings = bucket.settings(site)
    target = bucket.target(settings)
    try:
        publish_site(settings, target)
        assert audit_published(target, content=True).ok
        client = bucket.client
        # Overwritten by another tool: same size, no s9reg metadata, another content type.
        client.put_object(
            Bucket=bucket.name,
            Key=bucket.key("index.html"),
            Body=b"<html>b</html>",
            ContentType="text/plain",
        )
        client.delete_object(Bucket=bucket.name, Key=bucket.key(PKG))
        # Same size, same metadata and headers, other bytes: only a download tells.
        icon = next(k for k in files if k.startswith("_icons/"))
        stored = bucket.head(icon)
        client.put_object(
            Bucket=bucket.name,
            Key=bucket.key(icon),
            Body=bytes(len(files[icon])),
            ContentType=stored["ContentType"],
            CacheControl=stored["CacheControl"],
            Metadata=stored["Metadata"],
        )
        found = audit_published(target)
        assert {(p.key, p.kind) for p in found.problems} == {
            ("index.html", "headers"),
            (PKG, "missing"),
        }
        content = audit_published(target, content=True)
        assert {(p.key, p.kind) for p in content.problems} == {
            ("index.html", "headers"),
            (PKG, "missing"),
            (icon, "content"),
        }
        fixed = audit_published(target, content=True, repair_from=site)
        assert all(p.repaired for p in fixed.problems)
        assert audit_published(target, content=True).ok
        for key in (PKG, "index.html", icon):
            assert bucket.get(key) == files[key]
    finally:
        target.close()


def test_cli_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, files = _published_dir(tmp_path)
    cfg = tmp_path / "site-config.yaml"
    cfg.write_text(
        "registry:\n  name: T\n  url: https://r.example.org/\noutput: site\nstorage: file:pub\n",
        encoding="utf-8",
    )
    c = ["--config", str(cfg)]
    code, out, err = _cli(["publish", *c, "--verify", "--content"], capsys)
    assert code == 0, err
    assert "Every object is stored as recorded." in out
    (tmp_path / "pub" / PKG).unlink()
    code, out, err = _cli(["publish", *c, "--verify"], capsys)
    assert code == 1
    assert f"DAMAGED  missing    {PKG}" in out
    assert err.strip().splitlines()[0] == (
        f"ERROR 1 of {len(files)} objects are not stored as the manifest records"
    )
    code, out, _ = _cli(["publish", *c, "--verify", "--json"], capsys)
    assert code == 1
    assert json.loads(out)["problems"][0]["kind"] == "missing"
    code, out, err = _cli(["publish", *c, "--verify", "--repair"], capsys)
    assert code == 0, err
    assert "were uploaded again" in out
    assert _cli(["publish", *c, "--repair"], capsys)[0] == 2  # usage: --repair needs --verify


def test_repair_never_reads_outside_the_site(tmp_path: Path) -> None:
    # A manifest in storage naming ../secret with the secret's SHA-256 must not make the
    # repair upload a local file from outside the site.
    settings, target, _ = _published_dir(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for the bucket")
    manifest = live_manifest(target)
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    entry = ObjectEntry(
        sha256=digest,
        size=secret.stat().st_size,
        headers=ObjectHeaders("text/plain", "no-cache"),
        first_published=datetime(2026, 1, 1, tzinfo=UTC),
    )
    objects = {**manifest.objects, "../secret": entry}
    key = manifest_key(manifest.generation)
    (tmp_path / "pub" / key).write_bytes(replace(manifest, objects=objects).to_json())
    uploads: list[str] = []

    class Recording(DirTarget):
        def upload(self, key: str, *args: Any) -> None:
            uploads.append(key)
            super().upload(key, *args)

    report = audit_published(Recording(tmp_path / "pub"), repair_from=settings.site)
    (bad,) = report.problems
    assert (bad.key, bad.kind, bad.repaired) == ("../secret", "unreadable", False)
    assert uploads == []
