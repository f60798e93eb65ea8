"""The official start-sdk reader (Node) as an oracle for the interop tests (s9pk-format.md §14.3).

The tests FAIL, never skip, when Node or ``tests/interop/node_modules`` is missing: an interop
suite that silently does nothing would hide exactly the regressions it exists to catch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "oracle.mjs"
SDK_VERSION = "2.0.9"
SDK_PACKAGE = HERE / "node_modules" / "@start9labs" / "start-sdk" / "package.json"
HINT = "run `npm ci --prefix tests/interop` (needs Node >= 20 and npm)"
# Paths per Node process: keeps the command line far below ARG_MAX.
MAX_BATCH = 2000

Verdict = dict[str, Any]


@dataclass(frozen=True)
class Oracle:
    """Runs ``oracle.mjs``; see its header comment for the JSON it prints."""

    node: str

    def run(
        self, paths: Sequence[Path], *, bare: bool = False, options: Sequence[str] = ()
    ) -> list[Verdict]:
        """One verdict per path, in order."""
        return self.submit(paths, bare=bare, options=options)()

    def check(self, path: Path, *, bare: bool = False) -> Verdict:
        """The verdict on one archive."""
        return self.run([path], bare=bare)[0]

    def submit(
        self,
        paths: Sequence[Path],
        *,
        bare: bool = False,
        options: Sequence[str] = (),
        timeout: float = 300,
    ) -> Callable[[], list[Verdict]]:
        """Start reading ``paths`` in one Node process per core; call the result to wait.

        The caller can do its own work meanwhile. Output goes to temporary files, so a process
        never blocks on a full pipe while another one is being waited for.
        """
        workers = os.cpu_count() or 1
        size = min(MAX_BATCH, max(1, -(-len(paths) // workers)))
        batches = [list(paths[i : i + size]) for i in range(0, len(paths), size)]
        flags = [*(["--bare"] if bare else []), *options]
        started = [self._start(batch, flags) for batch in batches]

        def wait() -> list[Verdict]:
            out: list[Verdict] = []
            for batch, (proc, stdout, stderr) in zip(batches, started, strict=True):
                with stdout, stderr:
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                        pytest.fail(f"oracle.mjs took over {timeout} s for {len(batch)} files")
                    stdout.seek(0)
                    stderr.seek(0)
                    out += self._verdicts(batch, proc.returncode, stdout.read(), stderr.read())
            return out

        return wait

    def _start(
        self, batch: list[Path], flags: list[str]
    ) -> tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]:
        cmd = [self.node, str(SCRIPT), *flags, *map(str, batch)]
        # Closed by the waiter returned from submit(), after the process has ended.
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        return subprocess.Popen(cmd, stdout=stdout, stderr=stderr), stdout, stderr

    @staticmethod
    def _verdicts(batch: list[Path], code: int, stdout: bytes, stderr: bytes) -> list[Verdict]:
        if code != 0:
            pytest.fail(f"oracle.mjs exited {code}:\n{stderr.decode(errors='replace')}")
        lines = stdout.decode().splitlines()
        if len(lines) != len(batch):
            pytest.fail(f"oracle.mjs printed {len(lines)} lines for {len(batch)} files")
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    """The official reader, pinned to start-sdk 2.0.9 by ``package-lock.json``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node not found on PATH: the interop tests need it; {HINT}")
    if not SDK_PACKAGE.is_file():
        pytest.fail(f"{SDK_PACKAGE.relative_to(HERE.parents[1])} not found; {HINT}")
    version = json.loads(SDK_PACKAGE.read_text(encoding="utf-8")).get("version")
    if version != SDK_VERSION:
        pytest.fail(f"start-sdk {version} installed, the tests pin {SDK_VERSION}; {HINT}")
    return Oracle(node)
