"""Whole-directory swaps: build a tree beside its destination, then put it in place atomically.

Used for every tree s9reg writes as a whole (the built site, a pulled copy). The caller names the
marker file that proves a non-empty destination is its own, and the error type to raise; nothing
here knows what the tree holds. A work directory's name carries its process id and host
(``.<output>.build-<pid>@<host>-<random>``), so a later run removes those whose process is gone
(killed, or the machine rebooted) and never one of a live build.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from s9reg.errors import S9regError

__all__ = ["check_output", "remove_stale_dirs", "replace_dir", "staging_dir"]


def check_output(output: Path, *, marker: str, error: type[S9regError]) -> None:
    """Check that ``output`` can be (re)placed, before any costly work.

    Raises:
        S9regError: (``error``) missing parent, not a directory, or a non-empty directory
            without ``marker``.
    """
    if not output.parent.is_dir():
        raise error(f"{output.parent}: the output's parent directory does not exist")
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise error(f"{output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not (output / marker).is_file():
        raise error(
            f"{output}: not empty and not a site built by s9reg (no {marker})",
            hint="choose an empty or new output directory",
        )


def _host() -> str:
    # Short and file-name safe; it only tells this machine's directories from another's on a
    # shared file system.
    return hashlib.sha256(os.uname().nodename.encode()).hexdigest()[:8]


def _prefix(output: Path, kind: str) -> str:
    return f".{output.name}.{kind}-{os.getpid()}@{_host()}-"


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


def remove_stale_dirs(output: Path) -> list[Path]:
    """Remove the work directories beside ``output`` left by processes of this host now gone.

    Returns:
        The directories removed, sorted.
    """
    pattern = re.compile(
        rf"\.{re.escape(output.name)}\.(?:build|old)-(?P<pid>[0-9]+)@(?P<host>[0-9a-f]{{8}})-"
    )
    removed: list[Path] = []
    try:
        entries = sorted(output.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or m["host"] != _host() or _is_alive(int(m["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def staging_dir(output: Path, *, marker: str, error: type[S9regError]) -> Iterator[Path]:
    """A new empty directory beside ``output``, removed on leaving unless it was swapped in.

    Args:
        output: the directory to (re)place.
        marker: a file every tree of this kind holds; a non-empty ``output`` without it is
            someone else's and is never replaced.
        error: the error type to raise.

    Raises:
        S9regError: (``error``) ``output`` cannot be (re)placed: missing parent, not a
            directory, or a non-empty directory without ``marker``.
    """
    check_output(output, marker=marker, error=error)
    remove_stale_dirs(output)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(output, "build"), dir=output.parent))
    except OSError as e:
        raise error(f"{output.parent}: cannot create a build directory: {e}") from e
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(staged: Path, output: Path, *, error: type[S9regError]) -> None:
    """Put ``staged`` in place of ``output``; the old tree is deleted afterwards.

    Two renames in the same directory: readers see either the old or the new tree, except
    for the instant between them, when ``output`` is absent. If the second rename fails the
    old tree is put back.

    Raises:
        S9regError: (``error``) a rename failed (the previous tree is then still in place).
    """
    staged.chmod(0o755)
    old: Path | None = None
    try:
        if output.exists():
            old = Path(tempfile.mkdtemp(prefix=_prefix(output, "old"), dir=output.parent))
            output.replace(old)
        staged.replace(output)
    except OSError as e:
        if old is not None and not output.exists():
            with contextlib.suppress(OSError):
                old.replace(output)
        raise error(f"{output}: cannot replace the site: {e}") from e
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


def regular_file(path: Path, what: str, *, error: type[S9regError]) -> os.stat_result:
    """``path``'s status once it is known to be a regular file (symlinks followed), unopened.

    A FIFO would block on open, a device read without end, a symlink loop fail deep inside the
    standard library: each is refused here by its ``stat`` alone.

    Raises:
        S9regError: (``error``) ``path`` is missing, a symlink loop, or not a regular file.
    """
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise error(f"{path}: {what} is a symlink loop") from None
        raise error(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise error(f"{path}: {what} is {kind}, not a regular file")
    return st


def read_small_file(path: Path, what: str, max_bytes: int, *, error: type[S9regError]) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes`` (checked before reading).

    Raises:
        S9regError: (``error``) ``path`` is not a regular file (:func:`regular_file`), is
            larger, or cannot be read.
    """
    st = regular_file(path, what, error=error)
    if st.st_size > max_bytes:
        raise error(f"{path}: the {what} is larger than {max_bytes} bytes ({st.st_size})")
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: the {what} is larger than {max_bytes} bytes")
    return data
