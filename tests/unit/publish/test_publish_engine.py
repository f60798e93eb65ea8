"""publish_site against moto's S3 server: change detection, order, retention, conflicts, faults."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pubkit import Bucket, Recorder, error_response, race, sha, site_files, write_site

from s9reg.publish import Phase, PublishConflictError, PublishError, classify, publish_site
from s9reg.publish.policy import CACHE_DOCUMENT
from s9reg.publish.state import POINTER_KEY, manifest_key
from s9reg.s3 import StorageAuthError, StorageError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Killed(BaseException):
    """Stands for the process dying: no ``except Exception`` handler runs."""


def publish(bucket: Bucket, site: Path, rec: Recorder | None = None, **kw: Any) -> Any:
    clock = kw.pop("clock", None)
    settings = bucket.settings(site, **kw)
    target = bucket.target(settings)
    if rec is not None:
        rec.attach(target)
    try:
        if clock is None:
            return publish_site(settings, target)
        return publish_site(settings, target, clock=clock)
    finally:
        target.close()


def test_first_publish_then_noop_from_fresh_checkout(moto_bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    site = write_site(tmp_path / "site", files)
    report = publish(moto_bucket, site)
    assert report.generation == 1
    assert len(report.uploads) == len(files)
    moto_bucket.assert_matches(files)
    moto_bucket.assert_live_index_complete()

    fresh = write_site(tmp_path / "checkout", files)  # new mtimes, as in CI
    rec = Recorder()
    report = publish(moto_bucket, fresh, rec)
    assert report.uploads == ()
    assert report.unchanged == len(files)
    assert report.generation == 1
    # Two reads in all (pointer, manifest): nothing per object, nothing written.
    assert rec.ops() == [
        ("GetObject", f"reg/{POINTER_KEY}"),
        ("GetObject", "reg/" + manifest_key(1)),
    ]


def test_publish_order_and_pointer_last(moto_bucket: Bucket, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_files("a"))
    publish(moto_bucket, site)
    files = site_files("b", packages=("hello", "notes", "wiki"))
    write_site(site, files)
    rec = Recorder()
    publish(moto_bucket, site, rec, jobs=4)
    puts = [k.removeprefix("reg/") for op, k in rec.ops("PutObject")]
    pointer_writes = [n for n, k in enumerate(puts) if k == POINTER_KEY]
    # lease, commit, release
    assert len(pointer_writes) == 3
    assert pointer_writes[0] == 0
    content = puts[1 : pointer_writes[1]]
    assert content[-1] == manifest_key(2)
    phases = [classify(k)[0] for k in content[:-1]]
    assert phases == sorted(phases)
    assert set(phases) == set(Phase)
    # the full index and home page after every API result
    assert content.index("index.json") > max(
        n for n, k in enumerate(content) if k.startswith("rpc.v0/")
    )


def test_changed_file_uploads_only_it(moto_bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    site = write_site(tmp_path / "site", files)
    publish(moto_bucket, site)
    files["hello/index.html"] = b"<h1>new</h1>"
    write_site(site, files)
    report = publish(moto_bucket, site)
    assert [(i.key, i.reason) for i in report.uploads] == [("hello/index.html", "changed")]
    assert report.generation == 2
    moto_bucket.assert_matches(files)
    first = moto_bucket.manifest(1).objects["index.json"].first_published
    assert moto_bucket.manifest(2).objects["index.json"].first_published == first


def test_headers_per_kind_and_header_repair(moto_bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    site = write_site(tmp_path / "site", files)
    publish(moto_bucket, site)
    expected = {
        "hello/1.0:0/hello_a.s9pk": (
            "application/octet-stream",
            "public, max-age=31536000, immutable, no-transform",
        ),
        "index.json": ("application/json; charset=utf-8", "public, max-age=60, must-revalidate"),
        "index.html": ("text/html; charset=utf-8", "public, max-age=60, must-revalidate"),
        "feed.atom": ("application/atom+xml; charset=utf-8", "public, max-age=60, must-revalidate"),
        "hello/index.html": ("text/html; charset=utf-8", CACHE_DOCUMENT),
        POINTER_KEY: ("application/json; charset=utf-8", "no-cache"),
    }
    for key, (ctype, cache) in expected.items():
        head = moto_bucket.head(key)
        assert (head["ContentType"], head["CacheControl"]) == (ctype, cache), key
    # Someone changed headers behind s9reg's back; the manifest says so: one copy, no upload.
    client = moto_bucket.client
    key = moto_bucket.key("hello/index.json")
    manifest = moto_bucket.manifest()
    raw = manifest.to_json().replace(b"max-age=300", b"max-age=999", 1)
    client.put_object(Bucket=moto_bucket.name, Key=moto_bucket.key(manifest_key(1)), Body=raw)
    rec = Recorder()
    report = publish(moto_bucket, site, rec)
    assert report.uploads == ()
    assert len(report.header_updates) == 1
    assert [op for op, k in rec.ops("CopyObject")] == ["CopyObject"]
    assert client.head_object(Bucket=moto_bucket.name, Key=key)["CacheControl"] == CACHE_DOCUMENT


def test_removed_package_deleted_only_after_generations_and_grace(
    moto_bucket: Bucket, tmp_path: Path
) -> None:
    clock = Clock()
    kw: dict[str, Any] = {"keep_generations": 2, "grace_seconds": 3600, "clock": clock}
    site = write_site(tmp_path / "site", site_files("a", ("hello", "notes")))
    publish(moto_bucket, site, **kw)
    gone = "notes/1.0:0/notes_a.s9pk"
    write_site(site, site_files("a", ("hello",)))
    clock.now += timedelta(minutes=1)
    report = publish(moto_bucket, site, **kw)
    assert report.deletions == ()
    assert gone in moto_bucket.stored()
    # Generation 1 leaves the last two, but it was retired a minute ago: still in grace.
    site2 = site_files("b", ("hello",))
    write_site(site, site2)
    clock.now += timedelta(minutes=1)
    assert publish(moto_bucket, site, **kw).deletions == ()
    assert gone in moto_bucket.stored()
    # Past the grace period, a no-op publish cleans up.
    clock.now += timedelta(hours=2)
    report = publish(moto_bucket, site, **kw)
    deleted = {d.key for d in report.deletions}
    assert gone in deleted
    assert "hello/1.0:0/hello_a.s9pk" not in deleted  # still in generation 2 (retained)
    assert gone not in moto_bucket.stored()
    assert manifest_key(1) not in moto_bucket.stored()
    assert [g.number for g in moto_bucket.pointer().history] == [2, 3]
    moto_bucket.assert_matches(site2)
    moto_bucket.assert_live_index_complete()


def test_max_delete_defers_everything(moto_bucket: Bucket, tmp_path: Path) -> None:
    clock = Clock()
    kw: dict[str, Any] = {"keep_generations": 1, "grace_seconds": 0, "clock": clock}
    site = write_site(tmp_path / "site", site_files("a", ("hello", "notes", "wiki")))
    publish(moto_bucket, site, **kw)
    write_site(site, site_files("b", ("hello",)))
    clock.now += timedelta(seconds=1)
    report = publish(moto_bucket, site, max_delete=2, **kw)
    assert report.deletions == ()
    assert report.deferred_deletions > 2
    assert any("--max-delete" in w for w in report.warnings)
    assert "wiki/1.0:0/wiki_a.s9pk" in moto_bucket.stored()
    report = publish(moto_bucket, site, **kw)
    assert report.deletions
    assert report.deferred_deletions == 0
    assert "wiki/1.0:0/wiki_a.s9pk" not in moto_bucket.stored()
    assert manifest_key(1) not in moto_bucket.stored()


def test_dry_run_writes_nothing(moto_bucket: Bucket, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_files("a"))
    rec = Recorder()
    report = publish(moto_bucket, site, rec, dry_run=True)
    assert report.dry_run
    assert len(report.uploads) == len(site_files("a"))
    assert rec.ops("PutObject", "DeleteObjects", "CopyObject") == []
    assert moto_bucket.stored() == set()


def test_two_publishers_one_wins_no_update_lost(moto_bucket: Bucket, tmp_path: Path) -> None:
    site0 = write_site(tmp_path / "s0", site_files("base"))
    publish(moto_bucket, site0)
    for round_ in range(20):
        sites = [
            write_site(tmp_path / f"p{n}", site_files(f"r{round_}p{n}", ("hello", f"only{n}")))
            for n in range(2)
        ]
        results = race(publish, moto_bucket, sites)
        losers = [n for n in range(2) if isinstance(results[n], PublishConflictError)]
        assert len(losers) == 1, results
        winner = 1 - losers[0]
        moto_bucket.assert_matches(site_files(f"r{round_}p{winner}", ("hello", f"only{winner}")))
        # The loser retries and its update lands.
        publish(moto_bucket, sites[losers[0]])
        moto_bucket.assert_matches(
            site_files(f"r{round_}p{losers[0]}", ("hello", f"only{losers[0]}"))
        )
        moto_bucket.assert_live_index_complete()


def test_live_lease_refuses_then_break_lock(moto_bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    site = write_site(tmp_path / "site", files)
    publish(moto_bucket, site)
    write_site(site, site_files("b"))

    def die_after_lease(op: str, key: str, _n: int) -> None:
        if op == "PutObject" and not key.endswith(POINTER_KEY):
            raise Killed

    with pytest.raises(Killed):
        publish(moto_bucket, site, Recorder(fault=die_after_lease))
    assert moto_bucket.pointer().lease is not None
    with pytest.raises(PublishConflictError, match="in progress") as exc:
        publish(moto_bucket, site)
    assert exc.value.hint is not None
    # The "dead" publisher is this test process, alive: waiting is the advice, not --break-lock.
    assert "running on this machine" in exc.value.hint
    report = publish(moto_bucket, site, break_lock=True)
    assert any("taking over" in w for w in report.warnings)
    moto_bucket.assert_matches(site_files("b"))


@pytest.mark.parametrize("kill_at", list(range(1, 31)))
def test_killed_publish_leaves_previous_site_and_rerun_converges(
    moto_bucket: Bucket, tmp_path: Path, kill_at: int
) -> None:
    old = site_files("old", ("hello", "notes"))
    new = site_files("new", ("hello", "wiki", "photos"))
    site = write_site(tmp_path / "site", old)
    publish(moto_bucket, site)
    write_site(site, new)

    def die(op: str, _key: str, n: int) -> None:
        if op in ("PutObject", "CopyObject", "DeleteObjects") and n >= kill_at:
            raise Killed

    # lease_seconds=0: the dead publisher's lease is stale at once, as if its heartbeat stopped.
    try:
        publish(moto_bucket, site, Recorder(fault=die), jobs=3, lease_seconds=0)
        killed = False
    except Killed:
        killed = True
    moto_bucket.assert_live_index_complete()
    live = moto_bucket.pointer().generation
    assert live in (1, 2)
    if live == 1:
        assert killed
        assert set(moto_bucket.manifest().objects) == set(old)
    rec = Recorder()
    report = publish(moto_bucket, site, rec, lease_seconds=0)
    moto_bucket.assert_matches(new)
    moto_bucket.assert_live_index_complete()
    # Nothing already stored is sent again.
    resent = {k.removeprefix("reg/") for op, k in rec.ops("PutObject")} & set(new)
    assert resent == {i.key for i in report.uploads}
    if live == 1:
        assert report.resumed + len(report.uploads) == sum(
            1 for k in new if k not in old or old[k] != new[k]
        )


def test_transient_5xx_is_retried(moto_bucket: Bucket, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_files("a"))
    failed: set[str] = set()

    def flaky(op: str, key: str, _n: int) -> Any:
        if op == "PutObject" and key.endswith(".s9pk") and key not in failed:
            failed.add(key)
            return error_response(503, "SlowDown")
        return None

    rec = Recorder(fault=flaky)
    publish(moto_bucket, site, rec, retries=3)
    assert len(failed) == 2
    moto_bucket.assert_matches(site_files("a"))
    assert len([c for c in rec.ops("PutObject") if c[1].endswith(".s9pk")]) == 4


def test_persistent_errors_fail_cleanly_previous_intact(
    moto_bucket: Bucket, tmp_path: Path
) -> None:
    files = site_files("a")
    site = write_site(tmp_path / "site", files)
    publish(moto_bucket, site)
    write_site(site, site_files("b"))

    def broken(op: str, key: str, _n: int) -> Any:
        if op == "PutObject" and key.endswith("rpc.v0/info.json"):
            return error_response(500, "InternalError")
        return None

    with pytest.raises(StorageError, match="InternalError"):
        publish(moto_bucket, site, Recorder(fault=broken), retries=1)
    pointer = moto_bucket.pointer()
    assert pointer.generation == 1
    assert pointer.lease is None
    assert pointer.dirty
    moto_bucket.assert_live_index_complete()
    assert set(moto_bucket.manifest().objects) == set(files)
    # nothing deleted
    assert set(files) <= moto_bucket.stored()
    rec = Recorder()
    report = publish(moto_bucket, site, rec)
    assert report.resumed > 0  # the package files sent before the failure are not sent again
    moto_bucket.assert_matches(site_files("b"))
    assert not moto_bucket.pointer().dirty


def test_multipart_upload_and_range(moto_bucket: Bucket, tmp_path: Path) -> None:
    files = site_files("a")
    big = bytes(range(256)) * (6 * 4096 + 3)  # a little over 6 MiB
    files["hello/2.0:0/hello_big.s9pk"] = big
    site = write_site(tmp_path / "site", files)
    rec = Recorder()
    publish(moto_bucket, site, rec, multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    assert len(rec.ops("UploadPart")) == 2
    moto_bucket.assert_matches(files)
    client = moto_bucket.client
    key = moto_bucket.key("hello/2.0:0/hello_big.s9pk")
    head = client.head_object(Bucket=moto_bucket.name, Key=key)
    assert head["ContentLength"] == len(big)
    assert head["ETag"].endswith('-2"')  # multipart: not an MD5, hence s9reg's own SHA-256
    assert head["Metadata"]["s9-sha256"] == sha(big)
    part = client.get_object(Bucket=moto_bucket.name, Key=key, Range="bytes=100-199")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["Body"].read() == big[100:200]


def test_malformed_pointer_is_reported(moto_bucket: Bucket, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_files("a"))
    client = moto_bucket.client
    client.put_object(Bucket=moto_bucket.name, Key=moto_bucket.key(POINTER_KEY), Body=b"{}")
    with pytest.raises(PublishError, match="unsupported publish state format"):
        publish(moto_bucket, site)


def test_site_must_be_built(moto_bucket: Bucket, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublishError, match="not a built site"):
        publish(moto_bucket, tmp_path / "empty")


def test_no_credentials_is_a_clear_error(
    moto_bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    site = write_site(tmp_path / "site", site_files("a"))
    settings = moto_bucket.settings(site)
    with pytest.raises(StorageAuthError, match="cannot read"):
        publish_site(settings)  # the AWS chain is empty in tests


def test_failure_inside_multipart_upload_then_rerun(moto_bucket: Bucket, tmp_path: Path) -> None:
    old = site_files("old")
    site = write_site(tmp_path / "site", old)
    publish(moto_bucket, site)
    new = site_files("new")
    new["hello/2.0:0/hello_big.s9pk"] = bytes(range(256)) * (6 * 4096 + 3)
    write_site(site, new)
    parts = {"n": 0}

    def cut(op: str, _key: str, _n: int) -> None:
        if op == "UploadPart":
            parts["n"] += 1
            if parts["n"] == 2:
                raise ConnectionResetError("injected: connection lost mid-part")

    mp = {"multipart_threshold": 5 << 20, "multipart_chunksize": 5 << 20, "retries": 1}
    with pytest.raises(StorageError, match=r"hello_big\.s9pk"):
        publish(moto_bucket, site, Recorder(fault=cut), **mp)
    assert moto_bucket.pointer().generation == 1
    assert moto_bucket.pointer().dirty
    moto_bucket.assert_live_index_complete()
    report = publish(moto_bucket, site, **mp)
    assert report.resumed > 0
    moto_bucket.assert_matches(new)
    moto_bucket.assert_live_index_complete()
    uploads = moto_bucket.client.list_multipart_uploads(Bucket=moto_bucket.name)
    assert uploads.get("Uploads", []) == []


_KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from helpers.s3server import S3Endpoint
from pubkit import Bucket, Recorder
from s9reg.publish import publish_site
bucket = Bucket(S3Endpoint(sys.argv[3], "testing", "testing"), sys.argv[4])
settings = bucket.settings(
    Path(sys.argv[5]), multipart_threshold=5 << 20, multipart_chunksize=5 << 20, jobs=2
)
target = bucket.target(settings)
parts = []
def die(op, key, n):
    if op == "UploadPart":
        parts.append(key)
        if len(parts) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
Recorder(fault=die).attach(target)
publish_site(settings, target)
"""


def test_process_killed_inside_multipart_upload(moto_bucket: Bucket, tmp_path: Path) -> None:
    old = site_files("old")
    site = write_site(tmp_path / "site", old)
    publish(moto_bucket, site)
    new = site_files("new")
    new["hello/2.0:0/hello_big.s9pk"] = bytes(range(256)) * (12 * 4096)  # 12 MiB: 3 parts
    write_site(site, new)
    here = Path(__file__).parent
    args = [sys.executable, "-c", _KILL_SCRIPT, str(here.parents[1]), str(here)]
    args += [moto_bucket.endpoint.url, moto_bucket.name, str(site)]
    proc = subprocess.run(args, check=False, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert moto_bucket.pointer().generation == 1
    assert moto_bucket.pointer().lease is not None  # the dead publisher's
    moto_bucket.assert_live_index_complete()
    unfinished = moto_bucket.client.list_multipart_uploads(Bucket=moto_bucket.name)
    assert len(unfinished.get("Uploads", [])) == 1
    publish(moto_bucket, site, lease_seconds=0, multipart_threshold=5 << 20)
    moto_bucket.assert_matches(new)
    moto_bucket.assert_live_index_complete()
    unfinished = moto_bucket.client.list_multipart_uploads(Bucket=moto_bucket.name)
    assert unfinished.get("Uploads", []) == []
