"""The smoke test of a published registry, through its public URL (``s9reg check-live``).

Checks what devices get against the built site that was published: ``index.json`` byte for
byte, the JSON-RPC results of ``info`` and ``package.get`` of every package, and one package
file per package, downloaded and verified in full (signature, every file body, the index's
commitment and registry signatures). Optionally, the storage pointer names the expected
generation. It changes nothing; the HTTP answers of a CDN that still holds the previous index
are retried until a deadline.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s9reg.errors import S9regError
from s9reg.publish.errors import PublishError
from s9reg.publish.state import POINTER_KEY, Manifest, Pointer, manifest_key
from s9reg.publish.target import Target
from s9reg.registry.model.assets import RegistryAsset
from s9reg.registry.model.index import FullIndex
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.package import S9pk
from s9reg.site_layout import INDEX_FILE, RPC_DIR, RPC_INFO, package_get_result

__all__ = ["LiveCheck", "LiveCheckError", "check_live"]

_CHUNK = 1 << 20
_USER_AGENT = "s9reg-check-live"


class LiveCheckError(PublishError):
    """What the public URL serves is not what was published (one line, no hint)."""

    code = "LIVE_MISMATCH"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveCheck:
    """A passed smoke test.

    Attributes:
        url: the registry URL checked.
        generation: the live generation read from storage, or None when not asked.
        index_sha256: SHA-256 of the ``index.json`` served (the site's).
        packages: packages whose ``package.get`` matched.
        files: URLs of the package files downloaded and verified.
        file_bytes: their total size.
        attempts: rounds of HTTP checks until everything matched (1 without a stale cache).
    """

    url: str
    generation: int | None
    index_sha256: str
    packages: int
    files: tuple[str, ...]
    file_bytes: int
    attempts: int


def _fail(message: str) -> LiveCheckError:
    return LiveCheckError(message)


def _open(request: urllib.request.Request, timeout: float) -> Any:  # noqa: ANN401 - urllib's
    if not request.full_url.startswith(("http://", "https://")):
        raise _fail(f"{request.full_url}: not an http(s) URL")
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked
    except urllib.error.HTTPError as e:
        e.close()  # it holds the response: its socket would linger until collected
        raise _fail(f"{request.full_url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise _fail(f"{request.full_url}: cannot connect: {reason}") from None


def _get(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})  # noqa: S310
    with _open(request, timeout) as answer:
        data: bytes = answer.read()
    return data


def _rpc(api: str, method: str, params: dict[str, Any], timeout: float) -> object:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked in _open
        api,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
    )
    with _open(request, timeout) as answer:
        raw = answer.read()
    what = f"{api}: {method} {json.dumps(params, separators=(',', ':'))}"
    try:
        envelope = json.loads(raw)
    except ValueError:
        raise _fail(f"{what}: the answer is not JSON") from None
    if not isinstance(envelope, dict):
        raise _fail(f"{what}: the answer is not a JSON-RPC object")
    if "error" in envelope:
        error = envelope["error"]
        text = error.get("message", error) if isinstance(error, dict) else error
        raise _fail(f"{what}: JSON-RPC error: {text}")
    if "result" not in envelope:
        raise _fail(f"{what}: the answer has no result")
    return envelope["result"]


def _site_json(site: Path, rel: str) -> object:
    try:
        return json.loads((site / rel).read_bytes())
    except (OSError, ValueError) as e:
        msg = f"{site}: cannot read {rel}: {e}"
        raise PublishError(msg, hint="--site must name the site that was published") from None


def _check_api(base: str, site: Path, index: FullIndex, index_sha: str, timeout: float) -> int:
    """One round of the HTTP checks; the number of packages checked."""
    got = hashlib.sha256(_get(f"{base}/{INDEX_FILE}", timeout)).hexdigest()
    if got != index_sha:
        msg = f"{base}/{INDEX_FILE}: sha256 {got[:16]}…, not the published {index_sha[:16]}…"
        raise _fail(msg + " (an older generation, or another site)")
    api = f"{base}/rpc/v0"
    if _rpc(api, "info", {}, timeout) != _site_json(site, f"{RPC_DIR}/{RPC_INFO}"):
        raise _fail(f"{api}: info: the result differs from the published one")
    for pid in index.package.packages:
        expected = _site_json(site, f"{RPC_DIR}/{package_get_result(pid, 'short')}")
        if _rpc(api, "package.get", {"id": pid}, timeout) != expected:
            raise _fail(f"{api}: package.get {pid}: the result differs from the published one")
    return len(index.package.packages)


def _newest_assets(index: FullIndex) -> Iterator[RegistryAsset[MerkleArchiveCommitment]]:
    """Per package, the file published last (ties: the last in index order)."""
    for info in index.package.packages.values():
        assets = [asset for v in info.versions.values() for _, asset in v.s9pks]
        if assets:
            yield max(reversed(assets), key=lambda a: a.published_at)


@contextmanager
def _download(url: str, timeout: float, limit: int) -> Iterator[tuple[Path, int]]:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})  # noqa: S310
    with tempfile.TemporaryDirectory(prefix="s9reg-live-") as tmp:
        path = Path(tmp) / "file.s9pk"
        size = 0
        with _open(request, timeout) as answer, path.open("wb") as out:
            while chunk := answer.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _fail(f"{url}: larger than {limit} bytes")
                out.write(chunk)
        yield path, size


def _check_file(url: str, asset: RegistryAsset[MerkleArchiveCommitment], timeout: float) -> int:
    # A package's signed root TOC bound is no bound on its bodies; 64 GiB is.
    with _download(url, timeout, 64 << 30) as (path, size):
        try:
            with S9pk.open(path, asset.commitment) as pkg:
                pkg.archive.verify_all()
                if pkg.commitment != asset.commitment:
                    raise _fail(f"{url}: not the file the index commits to")
            asset.commitment.verify_pems(asset.signatures)
        except S9regError as e:
            if isinstance(e, LiveCheckError):
                raise
            problem = e.message.removeprefix(f"{path.name}: ")
            raise _fail(f"{url}: {problem}") from None
    return size


def _live_generation(target: Target, index_sha: str) -> int:
    where = str(target)
    got = target.read(POINTER_KEY)
    if got is None:
        raise _fail(f"{where}: nothing is published")
    pointer = Pointer.from_json(got[0], f"{where}: {POINTER_KEY}")
    got = target.read(manifest_key(pointer.generation))
    if got is None:
        raise _fail(f"{where}: the live generation {pointer.generation} has no manifest")
    manifest = Manifest.from_json(got[0], where)
    entry = manifest.objects.get(INDEX_FILE)
    if entry is None or entry.sha256 != index_sha:
        msg = f"{where}: generation {pointer.generation} did not publish this site's {INDEX_FILE}"
        raise _fail(msg)
    return pointer.generation


def check_live(  # noqa: PLR0913 - the check's inputs, passed explicitly
    url: str,
    site: Path,
    *,
    target: Target | None = None,
    generation: int | None = None,
    wait: float = 0.0,
    timeout: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LiveCheck:
    """Check that ``url`` serves the registry of the built ``site``.

    Args:
        url: the registry's public URL (the JSON-RPC API is ``url/rpc/v0``).
        site: the built site that was published.
        target: the storage it was published to; with ``generation``, its pointer must name
            that generation and the generation's manifest this site's ``index.json``.
        generation: the generation just published.
        wait: seconds to keep retrying the HTTP checks while the answers are stale or failing
            (a CDN holding the previous index for its ``max-age``); package files are checked
            once the API matches.
        timeout: seconds to wait for each connection and answer.
        clock: monotonic time (tests).
        sleep: how to wait between rounds (tests).

    Returns:
        What was checked.

    Raises:
        LiveCheckError: any mismatch, one line naming the URL and what differs.
        PublishError: the site cannot be read.
        StorageError: the target cannot be read.
    """
    base = url.rstrip("/")
    try:
        raw = (site / INDEX_FILE).read_bytes()
    except OSError as e:
        msg = f"{site}: cannot read {INDEX_FILE}: {e.strerror}"
        raise PublishError(msg, hint="--site must name the site that was published") from None
    index_sha = hashlib.sha256(raw).hexdigest()
    index = FullIndex.from_bytes(raw, path=INDEX_FILE)
    live = None
    if generation is not None and target is not None:
        live = _live_generation(target, index_sha)
        if live != generation:
            raise _fail(f"{target}: the live generation is {live}, not {generation}")
    deadline = clock() + wait
    attempts = 0
    while True:
        attempts += 1
        try:
            packages = _check_api(base, site, index, index_sha, timeout)
            break
        except LiveCheckError:
            if clock() >= deadline:
                raise
        sleep(min(5.0, max(0.0, deadline - clock())))
    files: list[str] = []
    total = 0
    for asset in _newest_assets(index):
        if not asset.urls:
            continue
        total += _check_file(asset.urls[0], asset, timeout)
        files.append(asset.urls[0])
    return LiveCheck(
        url=base,
        generation=live,
        index_sha256=index_sha,
        packages=packages,
        files=tuple(files),
        file_bytes=total,
        attempts=attempts,
    )
