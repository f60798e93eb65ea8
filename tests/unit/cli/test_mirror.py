"""``s9reg mirror`` (issue 21): SIGKILLed at random points, resumed, then served offline.

The upstream is a site run by ``s9reg serve``; the mirror runs as a real ``python -m s9reg``
process; the copy is served by ``s9reg serve`` with the upstream stopped, and read by a client
that asks what a device asks (``package.get`` list, then per version ``targetVersion`` and
``otherVersions: none``, ``os.version.get``) and downloads and verifies every file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from s9reg.builder.fetch import download_resumable
from s9reg.builder.mirror import MirrorSettings, mirror
from s9reg.exver import VersionRange
from s9reg.registry import FullIndex
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.reader import read_archive
from s9reg.serve import BackgroundServer, ServeSettings

from helpers.upstream import Upstream, free_port

ROOT = Path(__file__).resolve().parents[3]


def _rpc(url: str, method: str, params: dict[str, Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(
        url + "/rpc/v0", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        answer = json.loads(response.read())
    assert "error" not in answer, answer
    return answer["result"]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _device(url: str, tmp: Path) -> tuple[int, int]:
    """List and install every package, and fetch every OS image, as a device would."""
    listing = _rpc(url, "package.get", {"id": None, "otherVersions": "short"})
    files = 0
    for pid, entry in sorted(listing.items()):
        versions = [*entry["best"], *entry.get("otherVersions", {})]
        for version in versions:
            got = _rpc(
                url,
                "package.get",
                {"id": pid, "targetVersion": f"={version}", "otherVersions": "none"},
            )
            for _, asset in got["best"][version]["s9pks"]:
                assert asset["urls"][0].startswith(url)  # this copy first
                commitment = MerkleArchiveCommitment.from_dict(asset["commitment"])
                commitment.verify_pems(asset["signatures"])
                path = tmp / f"{files}.s9pk"
                path.write_bytes(_get(asset["urls"][0]))
                with path.open("rb") as f:
                    read_archive(f, commitment=commitment).verify_all()
                files += 1
    images = 0
    for info in _rpc(url, "os.version.get", {}).values():
        for asset in info["squashfs"].values():
            data = _get(asset["urls"][0])
            commitment = Blake3Commitment.from_dict(asset["commitment"])
            commitment.verify_pems(asset["signatures"])
            assert Blake3Commitment.from_stream(__import__("io").BytesIO(data)) == commitment
            images += 1
    return files, images


def _local_references_resolve(dest: Path, base: str) -> int:
    """Every URL of this copy in the index names a file that is there; how many."""
    index = FullIndex.from_dict(json.loads((dest / "index.json").read_bytes()))
    urls = [
        u
        for info in index.package.packages.values()
        for pv in info.versions.values()
        for _, asset in pv.s9pks
        for u in asset.urls
    ]
    urls += [
        u
        for info in index.os.versions.values()
        for kind in (info.iso, info.img, info.squashfs)
        for asset in kind.values()
        for u in asset.urls
    ]
    ours = [u for u in urls if u.startswith(base)]
    for u in ours:
        rel = urllib.request.url2pathname(u.removeprefix(base))
        assert (dest / rel).is_file(), u
    assert not list(dest.rglob("*.part"))
    return len(ours)


def _mirror_process(source: str, dest: Path, base: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "s9reg", "mirror", "--from", source, str(dest), "--os",
         "--jobs", "2", "--url", base],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_mirror_killed_at_random_points_resumes_and_serves_offline(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up", os_image_bytes=48 << 20)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    dest = tmp_path / "mirror"
    rng = random.Random(21)
    kills = 0
    with up.serving():
        for _ in range(6):  # bounded: at most six interruptions
            proc = _mirror_process(up.url, dest, base)
            time.sleep(rng.uniform(0.2, 1.5))
            if proc.poll() is not None:
                proc.communicate()
                break
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            kills += 1
        proc = _mirror_process(up.url, dest, base)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert "0 failed" in out.decode()
    assert kills >= 1
    assert _local_references_resolve(dest, base) == 10  # 9 packages files and the image
    with BackgroundServer(ServeSettings(site=str(dest), port=port, client_timeout=5)) as server:
        files, images = _device(server.url, tmp_path)
    assert (files, images) == (9, 1)


def test_a_part_file_is_continued_and_a_bad_file_left_out(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up", os_image_bytes=1 << 20)
    assert up.os_image is not None
    dest = tmp_path / "mirror"
    name = up.os_image.name
    part = dest / "_startos" / "0.4.0" / f"{name}.part"
    part.parent.mkdir(parents=True)
    (dest / "_s9reg" / "mirror").mkdir(parents=True)  # as an interrupted run leaves it
    part.write_bytes(up.os_image.read_bytes()[: 300 << 10])
    # A body byte of one package changed on the upstream after it was listed.
    bad = up.file("1.1.0:0", "x86_64")
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    settings = MirrorSettings(
        source=up.url,
        dest=dest,
        file_urls=("http://127.0.0.1:1/",),
        packages={"hello": VersionRange.parse("=1.1.0:0")},
        os=True,
    )
    with up.serving():
        report = mirror(settings)
        again = mirror(settings)
    assert report.resumed == 1
    assert [rel for rel, _ in report.failed] == ["hello/1.1.0:0/hello_1.1.0_0_x86_64.s9pk"]
    assert (report.files, again.present, again.downloaded) == (2, 2, 0)
    index = FullIndex.from_dict(json.loads((dest / "index.json").read_bytes()))
    variants = index.package.packages["hello"].versions
    assert [hw.arch for v in variants.values() for hw, _ in v.s9pks] == [("aarch64",)]
    assert not (dest / "hello" / "1.1.0:0" / "hello_1.1.0_0_x86_64.s9pk").exists()


def test_when_every_file_fails_the_destination_is_left_as_it_was(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    dest = tmp_path / "mirror"
    settings = MirrorSettings(
        source=up.url,
        dest=dest,
        file_urls=("http://127.0.0.1:1/",),
        packages={"hello": VersionRange.parse("=1.1.0:0")},
    )
    for arch in ("x86_64", "aarch64"):  # changed on the upstream after it was listed
        bad = up.file("1.1.0:0", arch)
        data = bytearray(bad.read_bytes())
        data[-100] ^= 0xFF
        bad.write_bytes(bytes(data))
    with up.serving():
        report = mirror(settings)
    assert (report.files, len(report.failed)) == (0, 2)
    assert not (dest / "index.json").exists()
    assert not (dest / "s9reg-site.json").exists()


def test_download_resumable_continues_with_a_range_request(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    src = up.file("1.0.0:0", "x86_64")
    dest = tmp_path / "copy.s9pk"
    dest.with_name("copy.s9pk.part").write_bytes(src.read_bytes()[:1000])
    seen: list[int] = []
    with up.serving():
        size, resumed = download_resumable(
            f"{up.url}/{src.relative_to(up.site).as_posix()}",
            dest,
            max_bytes=1 << 30,
            progress=seen.append,
        )
    assert resumed
    assert size == src.stat().st_size
    assert dest.read_bytes() == src.read_bytes()
    assert seen[0] == 1000


@pytest.mark.parametrize("sel", ["Hello", "hello>>1"])
def test_a_bad_selection_is_one_line(tmp_path: Path, sel: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "s9reg", "mirror", "--from", "http://127.0.0.1:1/",
         str(tmp_path / "m"), "--packages", sel],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--packages" in done.stderr
    assert "Traceback" not in done.stderr
