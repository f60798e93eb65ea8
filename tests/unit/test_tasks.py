"""``./tasks`` waits for another apt run instead of failing at once (its apt steps, with stand-ins)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The apt stand-in: `update` finds the lists lock busy $BUSY times, then succeeds (or fails for
# another reason when $OTHER is set); every call is logged.
APT_GET = """#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in *" update "*)
    n=$(grep -c " update " "$LOG")
    if [ -n "$OTHER" ]; then echo "E: Failed to fetch http://deb.example/ 503" >&2; exit 100; fi
    if [ "$n" -le "$BUSY" ]; then
        echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1 (apt-get)" >&2
        exit 100
    fi;;
esac
exit 0
"""


def _tool(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _debian_deps(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "apt-get", APT_GET)
    _tool(bin_dir, "dpkg-query", "#!/bin/sh\nexit 1\n")  # nothing is installed
    _tool(bin_dir, "sleep", "#!/bin/sh\nexit 0\n")
    _tool(bin_dir, "sudo", '#!/bin/sh\nexec "$@"\n')
    log = tmp_path / "apt.log"
    log.touch()
    # Everything in ./tasks up to its dispatch, then one of its steps.
    text = (REPO / "tasks").read_text()
    (tmp_path / "steps.sh").write_text(text[: text.index('\ntask="')])
    script = f'source "{tmp_path / "steps.sh"}"; debian_deps'
    proc = subprocess.run(
        ["bash", "-c", script, str(REPO / "tasks")],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "LOG": str(log),
            "BUSY": "0",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return proc, log.read_text().splitlines()


def test_apt_waits_for_a_busy_lock(tmp_path: Path) -> None:
    proc, calls = _debian_deps(tmp_path, BUSY="2")
    assert proc.returncode == 0, proc.stderr
    assert "waiting for another apt run" in proc.stdout
    assert [c.split(" ", 2)[2].split(" ")[0] for c in calls] == [
        "update", "update", "update", "install"
    ]  # fmt: skip
    # install waits for the dpkg lock by itself
    assert all(c.startswith("-o DPkg::Lock::Timeout=600 ") for c in calls)


def test_apt_update_failing_otherwise_fails_at_once(tmp_path: Path) -> None:
    proc, calls = _debian_deps(tmp_path, OTHER="1")
    assert proc.returncode != 0
    assert "503" in proc.stderr
    assert len(calls) == 1
