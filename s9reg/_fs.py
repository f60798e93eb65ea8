"""Whole-directory swaps: build a tree beside its destination, then put it in place atomically.

Used for every tree s9reg writes as a whole (the built site, a pulled copy). The caller names the
marker file that proves a non-empty destination is its own, and the error type to raise; nothing
here knows what the tree holds.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from s9reg.errors import S9regError

__all__ = ["replace_dir", "staging_dir"]


def _check_output(output: Path, marker: str, error: type[S9regError]) -> None:
    if not output.parent.is_dir():
        raise error(f"{output.parent}: the output's parent directory does not exist")
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise error(f"{output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not (output / marker).is_file():
        raise error(
            f"{output}: not empty and not a site built by s9reg (no {marker})",
            hint="choose an empty or new output directory",
        )


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
    _check_output(output, marker, error)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.build-", dir=output.parent))
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
            old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
            output.replace(old)
        staged.replace(output)
    except OSError as e:
        if old is not None and not output.exists():
            with contextlib.suppress(OSError):
                old.replace(output)
        raise error(f"{output}: cannot replace the site: {e}") from e
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
