"""Issue 17, proof 2: the upstream flaps between up, refused and black-holed while clients pull.

About 70 s on 127.0.0.1: every pull of cached content succeeds within its deadline, new images
are pulled through whenever the upstream lets them, and the final inventory is the initial one
plus what was pulled. No engine restart is needed for any of the switches.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from modes_kit import (
    CURATED,
    SwitchableUpstream,
    fast_settings,
    settle,
    skopeo_pull,
    supervisor_log,
    wait_mode,
)
from registry_kit import build_image, build_index, push_image, push_index

from s9reg.imagecache.engine import Mode
from s9reg.imagecache.preload import preload_images
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import check_image, list_images
from s9reg.imagecache.supervisor import Supervisor

SOAK_SECONDS = 60.0  # "for a minute" (issue 17)
PULL_DEADLINE = 10.0
CACHED = ("library/alpine:3.19", "library/busybox:1.32")
FRESH = tuple(f"library/fresh{i}:1" for i in range(6))


@dataclass(frozen=True)
class Pull:
    ref: str
    ok: bool
    seconds: float
    upstream: str
    error: str = ""


def pull_once(settings: CacheSettings, ref: str, dest: Path, upstream: str) -> Pull:
    port = settings.upstreams[0].port
    start = time.monotonic()
    try:
        done = subprocess.run(
            [
                "skopeo",
                "copy",
                "--all",
                "--src-tls-verify=false",
                f"docker://127.0.0.1:{port}/{ref}",
                f"oci:{dest}:x",
            ],
            capture_output=True,
            text=True,
            timeout=PULL_DEADLINE,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Pull(ref, ok=False, seconds=PULL_DEADLINE, upstream=upstream, error="deadline")
    took = time.monotonic() - start
    return Pull(ref, done.returncode == 0, took, upstream, done.stderr.strip()[-300:])


def inventory(settings: CacheSettings) -> dict[str, str]:
    return {f"{i.repository}:{t.tag}": t.digest for i in list_images(settings) for t in i.tags}


def test_flapping_upstream_soak(tmp_path: Path, switchable: SwitchableUpstream) -> None:
    with switchable.registry.client() as up:
        push_index(up, "library/alpine", "3.19", build_index(b"alpine"))
        push_image(up, "library/busybox", "1.32", build_image(b"busybox"))
        fresh_digests = {
            ref: push_image(up, ref.split(":")[0], "1", build_image(ref.encode())) for ref in FRESH
        }
    settings = fast_settings(tmp_path, switchable.registry.url, probe_timeout=1.0)
    state = {"now": "up"}
    pulls: list[Pull] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            ref = CACHED[(n + i) % len(CACHED)]
            p = pull_once(settings, ref, tmp_path / f"c{n}-{i}", state["now"])
            with lock:
                pulls.append(p)
            i += 1

    fresh_done: dict[str, Pull] = {}

    def fresh_client() -> None:
        i = 0
        for ref in FRESH:
            while not stop.is_set():
                p = pull_once(settings, ref, tmp_path / f"f-{i}", state["now"])
                i += 1
                if p.ok:
                    fresh_done[ref] = p
                    break
                time.sleep(0.5)

    with Supervisor(settings) as sup:
        preload_images(settings)
        skopeo_pull(settings, "library/busybox:1.32", tmp_path / "warm")
        settle(settings, "busybox:1.32")
        before = inventory(settings)
        assert set(before) == {"library/alpine:3.19", "library/busybox:1.32"}

        threads = [threading.Thread(target=client, args=(n,)) for n in range(2)]
        threads.append(threading.Thread(target=fresh_client))
        for t in threads:
            t.start()
        rng = random.Random(17)
        switches = 0
        end = time.monotonic() + SOAK_SECONDS
        try:
            while time.monotonic() < end:
                nxt = rng.choice([s for s in ("up", "refused", "black-hole") if s != state["now"]])
                {
                    "up": switchable.up,
                    "refused": switchable.refuse,
                    "black-hole": switchable.black_hole,
                }[nxt]()
                state["now"] = nxt
                switches += 1
                time.sleep(rng.uniform(2.0, 4.0))
        finally:
            switchable.up()
            state["now"] = "up"
            stop.set()
            for t in threads:
                t.join(timeout=60)
        # The supervisor completes what the proxy failed to store of the pulls (2.8 fetches a
        # blob twice, for the client and for its store, and the upstream may go in between).
        wait_mode(sup, settings, Mode.PROXY)
        sup.housekeeping()
        # The fresh images not pulled yet are pulled now that the upstream stays up.
        for ref in FRESH:
            if ref not in fresh_done:
                p = pull_once(settings, ref, tmp_path / f"end-{ref[8:14]}", "up")
                assert p.ok, p
                fresh_done[ref] = p
        settle(settings, *(r.removeprefix("library/") for r in FRESH))
        after = inventory(settings)
        complete = {r: check_image(settings, ImageRef.parse(r)).complete for r in (*CACHED, *FRESH)}
        curated_digest = check_image(settings, CURATED).digest
        restarts = [i["restarts"] for i in sup.state()]

    cached = [p for p in pulls if p.ref in CACHED]
    failed = [p for p in cached if not p.ok]
    slowest = max(p.seconds for p in cached)
    by_state = {s: sum(p.upstream == s for p in cached) for s in ("up", "refused", "black-hole")}
    print(  # noqa: T201 - the numbers for the record (pytest -s)
        f"soak: {switches} upstream switches, {len(cached)} cached pulls {by_state}, "
        f"slowest {slowest:.2f} s, {len(fresh_done)} fresh images pulled"
    )
    assert switches >= 10
    assert not failed, failed[:3]
    assert slowest < PULL_DEADLINE
    assert all(by_state.values()), by_state  # pulls happened in every upstream state
    assert after == {**before, **fresh_digests}
    assert all(complete.values()), complete
    assert curated_digest == before["library/alpine:3.19"]
    assert restarts == [0, 0]  # switching modes never restarts an engine
    log = supervisor_log(settings)
    assert "proxy -> offline" in log
    assert "offline -> proxy" in log
