"""Interrupted and overlapping publishes against a real SeaweedFS, each interleaving forced by a
hook in the request path (issue #16): what is live must always match the live manifest."""

from __future__ import annotations

import _thread
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pubkit import Bucket, Recorder, error_response, sha, site_files, write_site

from s9reg.cli import EXIT_INTERRUPTED, EXIT_RETRY, exit_status
from s9reg.publish import PublishConflictError, audit_published, publish_site
from s9reg.publish.errors import PublishInterruptedError, StorageError
from s9reg.publish.state import MANIFEST_DIR, POINTER_KEY, Lease, Pointer

from helpers.cli import run_cli
from helpers.s3server import S3Endpoint


class Killed(BaseException):
    """Stands for the process dying: no ``except Exception`` handler runs."""


@pytest.fixture
def bucket(seaweed: S3Endpoint) -> Bucket:
    return Bucket(seaweed, seaweed.new_bucket("ilv"))


def publish(bucket: Bucket, site: Path, rec: Recorder | None = None, **kw: Any) -> Any:
    settings = bucket.settings(site, **kw)
    target = bucket.target(settings)
    if rec is not None:
        rec.attach(target)
    try:
        return publish_site(settings, target)
    finally:
        target.close()


def assert_live_consistent(bucket: Bucket) -> None:
    """Every reference resolves and every object of the live manifest is stored as recorded."""
    bucket.assert_live_index_complete()
    for key, entry in bucket.manifest().objects.items():
        body = bucket.get(key)
        assert body is not None, f"{key} is live but missing"
        assert sha(body) == entry.sha256, f"{key} is not the live manifest's"


def kill_after_index(op: str, key: str, _n: int) -> None:
    """Die once the new index.json is stored, before the manifest is written."""
    if op == "PutObject" and f"/{MANIFEST_DIR}/" in f"/{key}":
        raise Killed


def test_rollback_after_an_interrupted_publish_restores_the_live_site(
    bucket: Bucket, tmp_path: Path
) -> None:
    a, c = site_files("a"), site_files("c")
    publish(bucket, write_site(tmp_path / "a", a))
    with pytest.raises(Killed):
        publish(bucket, write_site(tmp_path / "c", c), Recorder(fault=kill_after_index))
    assert bucket.get("index.json") == c["index.json"]  # C's index, A's manifest: inconsistent

    report = publish(bucket, write_site(tmp_path / "a2", a), break_lock=True)
    assert report.generation == 1
    assert "index.json" in {i.key for i in report.uploads}
    assert any("uploaded again" in w for w in report.warnings)
    assert_live_consistent(bucket)
    bucket.assert_matches(a)
    # And once consistent, the same site again changes nothing.
    assert publish(bucket, write_site(tmp_path / "a3", a)).uploads == ()
    # --verify says that a lease was broken, whose and by whom.
    note = audit(bucket, tmp_path / "a3").interrupted
    assert note is not None
    assert "was broken at" in note
    assert f"{socket.gethostname()}:{os.getpid()}" in note


def test_rollback_after_a_failed_publish(bucket: Bucket, tmp_path: Path) -> None:
    """A publish that fails (dirty pointer, lease released) is rolled back the same way."""
    a, c = site_files("a"), site_files("c")
    publish(bucket, write_site(tmp_path / "a", a))

    class FailedError(Exception):
        pass

    def failing(op: str, key: str, _n: int) -> None:
        if op == "PutObject" and f"/{MANIFEST_DIR}/" in f"/{key}":
            raise FailedError

    with pytest.raises(FailedError):
        publish(bucket, write_site(tmp_path / "c", c), Recorder(fault=failing))
    assert bucket.pointer().dirty
    assert bucket.pointer().lease is None
    publish(bucket, write_site(tmp_path / "a2", a))
    assert_live_consistent(bucket)
    bucket.assert_matches(a)
    assert not bucket.pointer().dirty
    assert POINTER_KEY in bucket.stored()


def audit(bucket: Bucket, site: Path, **kw: Any) -> Any:
    settings = bucket.settings(site)
    target = bucket.target(settings)
    try:
        return audit_published(target, **kw)
    finally:
        target.close()


def test_orphans_of_an_abandoned_publish_are_reported_then_deleted(
    bucket: Bucket, tmp_path: Path
) -> None:
    a, c, b = site_files("a"), site_files("c"), site_files("b")
    publish(bucket, write_site(tmp_path / "a", a))
    with pytest.raises(Killed):
        publish(bucket, write_site(tmp_path / "c", c), Recorder(fault=kill_after_index))
    only_c = {k for k in c if k not in a}
    assert only_c <= bucket.stored()

    found = audit(bucket, tmp_path / "a")
    assert {o.key for o in found.orphans} == only_c
    assert found.interrupted is not None
    assert "holds the lease" in found.interrupted

    # Within the grace time they stay, even through a publish that lists them.
    publish(bucket, write_site(tmp_path / "a2", a), break_lock=True)
    assert only_c <= bucket.stored()
    note = audit(bucket, tmp_path / "a").interrupted
    assert note is not None
    assert "holds the lease" not in note
    assert "was broken at" in note

    report = publish(bucket, write_site(tmp_path / "b", b), keep_generations=1, grace_seconds=0)
    assert report.orphans == len(only_c)
    user = {k for k in bucket.stored() if not k.startswith("_s9reg/")}
    assert user == set(b)
    assert_live_consistent(bucket)
    assert audit(bucket, tmp_path / "b").orphans == ()


class Paused:
    """A request hook that holds a publisher before its manifest write until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self, op: str, key: str, _n: int) -> None:
        if op == "PutObject" and f"/{MANIFEST_DIR}/" in f"/{key}" and not self.reached.is_set():
            self.reached.set()
            assert self.go.wait(60)


def test_repair_waits_for_a_publish_in_progress(bucket: Bucket, tmp_path: Path) -> None:
    a, b = site_files("a"), site_files("b")
    site_a = write_site(tmp_path / "a", a)
    publish(bucket, site_a)
    pause = Paused()
    result: list[Any] = []
    publisher = threading.Thread(
        target=lambda: result.append(
            publish(bucket, write_site(tmp_path / "b", b), Recorder(fault=pause))
        )
    )
    publisher.start()
    try:
        assert pause.reached.wait(60)
        # The publisher is past its index.json upload: a repair from A would revert its objects.
        with pytest.raises(PublishConflictError, match="in progress"):
            audit(bucket, site_a, repair_from=site_a)
    finally:
        pause.go.set()
        publisher.join(60)
    assert result
    assert result[0].generation == 2
    assert_live_consistent(bucket)
    bucket.assert_matches(b)
    # With no publish running, the repair takes the lease and releases it.
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.key("feed.atom"), Body=b"x")
    site_b = tmp_path / "b"
    fixed = audit(bucket, site_b, repair_from=site_b)
    assert [p.key for p in fixed.problems] == ["feed.atom"]
    assert fixed.ok
    assert bucket.pointer().lease is None
    assert_live_consistent(bucket)


def test_ctrl_c_releases_the_lease_and_says_what_is_live(bucket: Bucket, tmp_path: Path) -> None:
    a, b = site_files("a"), site_files("b")
    publish(bucket, write_site(tmp_path / "a", a))
    sent: list[str] = []

    def ctrl_c(op: str, key: str, _n: int) -> None:
        if op == "PutObject" and key.endswith(".s9pk") and not sent:
            sent.append(key)
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread

    site_b = write_site(tmp_path / "b", b)
    try:
        publish(bucket, site_b, Recorder(fault=ctrl_c))
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the publish as it was: the lease is kept, nothing said")
    except PublishInterruptedError as e:
        stopped = e
    else:
        pytest.fail("the publish was not interrupted")
    assert "the live registry is unchanged (generation 1)" in stopped.message
    assert "the lease was released" in stopped.message
    assert exit_status(stopped) == EXIT_INTERRUPTED
    pointer = bucket.pointer()
    assert pointer.lease is None
    assert pointer.dirty
    assert pointer.generation == 1
    assert_live_consistent(bucket)
    # The next run neither waits nor blames anyone, and resumes.
    report = publish(bucket, site_b)
    assert not any("taking over" in w for w in report.warnings)
    bucket.assert_matches(b)


def test_failure_names_its_step_and_releases_the_lease(bucket: Bucket, tmp_path: Path) -> None:
    publish(bucket, write_site(tmp_path / "a", site_files("a")))

    def broken(op: str, key: str, _n: int) -> Any:
        if op == "PutObject" and f"/{MANIFEST_DIR}/" in f"/{key}":
            return error_response(500, "InternalError")
        return None

    site_b = write_site(tmp_path / "b", site_files("b"))
    with pytest.raises(StorageError) as exc:
        publish(bucket, site_b, Recorder(fault=broken), retries=1)
    assert exc.value.message.startswith(
        "writing the manifest _s9reg/manifests/00000002.json failed"
    )
    assert exc.value.message.endswith(
        "the live registry is unchanged (generation 1); the lease was released"
    )
    assert bucket.pointer().lease is None


def test_lease_of_a_dead_local_process_is_taken_over(bucket: Bucket, tmp_path: Path) -> None:
    """A publish of this machine killed with SIGKILL: the next run does not wait two minutes."""
    publish(bucket, write_site(tmp_path / "a", site_files("a")))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    owner = f"{socket.gethostname()}:{dead.stdout.strip()}"
    raw = bucket.get(POINTER_KEY)
    assert raw is not None
    now = datetime.now(UTC)
    held = Pointer.from_json(raw, "p").with_lease(
        Lease(id="x", owner=owner, started=now, heartbeat=now)
    )
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.key(POINTER_KEY), Body=held.to_json())
    report = publish(bucket, write_site(tmp_path / "b", site_files("b")))
    assert any("no longer running" in w for w in report.warnings)
    bucket.assert_matches(site_files("b"))
    # A live one on this machine is waited for, without offering --break-lock.
    alive = f"{socket.gethostname()}:{os.getpid()}"
    raw = bucket.get(POINTER_KEY)
    assert raw is not None
    held = Pointer.from_json(raw, "p").with_lease(
        Lease(id="y", owner=alive, started=now, heartbeat=datetime.now(UTC))
    )
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.key(POINTER_KEY), Body=held.to_json())
    with pytest.raises(PublishConflictError) as exc:
        publish(bucket, write_site(tmp_path / "c", site_files("c")))
    assert exc.value.hint is not None
    assert "--break-lock" not in exc.value.hint
    assert exit_status(exc.value) == EXIT_RETRY == 75


def test_kill_point_loop_always_ends_consistent(seaweed: S3Endpoint, tmp_path: Path) -> None:
    """32 rounds: a publish killed after its n-th request, then one publish of some site.

    Sites alternate, so a round may roll back to the live site, finish the killed one, or
    publish a third. After the kill every reference of the live index resolves; after the
    next publish every live object is the live manifest's and nothing else is stored.
    """
    bucket = Bucket(seaweed, seaweed.new_bucket("kill"))
    sites = {
        tag: site_files(tag, pkgs)
        for tag, pkgs in (("a", ("hello", "notes")), ("b", ("hello", "wiki")), ("c", ("photos",)))
    }
    publish(bucket, write_site(tmp_path / "a0", sites["a"]), keep_generations=1, grace_seconds=0)
    live = "a"
    tags = sorted(sites)
    kills = 0
    for round_ in range(32):
        killed_tag = [t for t in tags if t != live][round_ % 2]
        kill_at = 1 + (round_ * 7) % 17  # from the lease write to the last cleanup

        def die(op: str, _key: str, n: int, at: int = kill_at) -> None:
            if op in ("PutObject", "CopyObject", "DeleteObjects") and n >= at:
                raise Killed

        site = write_site(tmp_path / f"k{round_}", sites[killed_tag])
        try:
            publish(bucket, site, Recorder(fault=die), keep_generations=1, grace_seconds=0)
            live = killed_tag
        except Killed:
            kills += 1
        bucket.assert_live_index_complete()
        nxt = (live, killed_tag, tags[(round_ + 2) % 3])[round_ % 3]
        publish(
            bucket,
            write_site(tmp_path / f"n{round_}", sites[nxt]),
            keep_generations=1,
            grace_seconds=0,
            break_lock=True,
        )
        live = nxt
        assert_live_consistent(bucket)
        bucket.assert_matches(sites[live])
        user = {k for k in bucket.stored() if not k.startswith("_s9reg/")}
        assert user == set(sites[live]), f"round {round_}: orphans {user - set(sites[live])}"
    assert kills >= 30, kills


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_to_a_real_publish_process(
    seaweed: S3Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: int
) -> None:
    """``s9reg publish`` in its own process, frozen with SIGSTOP while uploading, then Ctrl-C
    (or SIGTERM: a CI job cancelled)."""
    bucket = Bucket(seaweed, seaweed.new_bucket("sigint"), prefix="")
    assert run_cli(["demo", "init", str(tmp_path / "d")], capsys)[0] == 0
    cfg = tmp_path / "d" / "site-config.yaml"
    cfg.write_text(
        cfg.read_text() + f"\npublish:\n  bucket: {bucket.name}\n  endpoint_url: {seaweed.url}\n"
        "  path_style: true\n"
    )
    publish(bucket, write_site(tmp_path / "a", site_files("a")))
    files = site_files("b")
    files["hello/2.0:0/hello_big.s9pk"] = os.urandom(64 << 20)  # 8 parts: long enough to catch
    site = write_site(tmp_path / "b", files)
    env = {**os.environ, **seaweed.env(), "PYTHONPATH": str(Path.cwd())}
    argv = [sys.executable, "-m", "s9reg", "publish", "--config", str(cfg), "--site", str(site)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while bucket.pointer().lease is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGSTOP)
        assert bucket.pointer().generation == 1  # frozen while uploading, before the pointer
        proc.send_signal(signum)
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT_INTERRUPTED, err
    text = err.decode()
    assert "Aborted." not in text
    assert "the live registry is unchanged (generation 1); the lease was released" in text
    assert out == b""
    pointer = bucket.pointer()
    assert pointer.lease is None
    assert pointer.generation == 1
    assert_live_consistent(bucket)
    publish(bucket, site)  # no wait, no --break-lock
    bucket.assert_matches(files)
