"""The package-tree check and icon choice (s9pk-format.md §10.3, §10.4).

Checks a package tree against its manifest as upstream's ``Manifest::validate_for`` and
``Filter::keep_checked`` do (``sc/s9pk/merkle_archive/expected.rs``), and picks icons as
``S9pk::icon``/``S9pk::dependency_icon`` do. Reads no file bodies; no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from s9reg.s9pk.errors import ManifestError
from s9reg.s9pk.manifest import MANIFEST_PATH, ImageConfig, Manifest
from s9reg.s9pk.metadata import bytewise as _bkey
from s9reg.s9pk.metadata import file_extension, is_id, is_image_name, mime
from s9reg.s9pk.tree import Directory, File, Missing, Node
from s9reg.s9pk.writer import file_stem

__all__ = [
    "TreeCheck",
    "Warn",
    "check_tree",
    "dependency_icon",
    "icon",
    "icon_mime",
    "stem_run",
    "validate_for",
]

_log = logging.getLogger(__name__)

Warn = Callable[[str], None]


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


def stem_run(directory: Directory, stem: str) -> Iterator[tuple[str, Node]]:
    """Upstream's ``with_stem``: the entry named ``stem``, then the contiguous run of names.

    The run is the names sorting after ``stem`` (by bytes) whose Rust ``file_stem`` is ``stem``;
    it ends at the first name that is not, so ``icon-x`` hides ``icon.png`` (spec §15.8).
    """
    if stem in directory.entries:
        yield stem, directory.entries[stem]
    key = _bkey(stem)
    for name in sorted((n for n in directory.entries if _bkey(n) > key), key=_bkey):
        if file_stem(name) != stem:
            return
        yield name, directory.entries[name]


@dataclass
class _Expected:
    root: Directory
    keep: set[tuple[str, ...]] = field(default_factory=set)
    problems: list[tuple[str | None, str]] = field(default_factory=list)

    def check_file(self, path: str) -> tuple[str, str] | None:
        """Keep ``path`` if it is a FILE, else return ``(path, problem)``."""
        node = self.root.get(path)
        if isinstance(node, File):
            self.keep.add(_parts(path))
            return None
        why = (
            " (the entry is MISSING)"
            if isinstance(node, Missing)
            else " (it is a directory)"
            if isinstance(node, Directory)
            else ""
        )
        return "/" + path, f"file missing from archive{why}"

    def check_dir(self, path: str) -> bool:
        node = self.root.get(path)
        if not isinstance(node, Directory):
            return False
        # ``file_paths`` lists every non-directory entry (MISSING ones too).
        for sub, child in node.walk(path + "/"):
            if not isinstance(child, Directory):
                self.keep.add(_parts(sub))
        return True

    def check_stem(self, path: str) -> tuple[str, str] | None:
        """Keep the one FILE ``<path>.<image ext>`` of the stem run, else return the problem."""
        parent, _, stem = path.rpartition("/")
        directory = self.root.get(parent) if parent else self.root
        if not isinstance(directory, Directory):
            return "/" + parent, "directory missing from archive"
        run = [name for name, node in stem_run(directory, stem) if isinstance(node, File)]
        valid = [name for name in run if is_image_name(name)]
        if len(valid) > 1:
            names = ", ".join(valid)
            return "/" + path, f"more than one file matching {stem} with valid extension: {names}"
        if not valid:
            return "/" + path, f"file {stem}.<ext> with valid extension missing from archive" + (
                _hidden_hint(directory, stem)
            )
        self.keep.add((*_parts(parent), valid[0]))
        return None


def _hidden_hint(directory: Directory, stem: str) -> str:
    """Explain an image file that the contiguous-run rule does not reach."""
    reached = {name for name, _ in stem_run(directory, stem)}
    hidden = sorted(
        (
            n
            for n, node in directory.entries.items()
            if isinstance(node, File)
            and n not in reached
            and file_stem(n) == stem
            and is_image_name(n)
        ),
        key=_bkey,
    )
    if not hidden:
        return ""
    key = _bkey(stem)
    after = sorted((n for n in directory.entries if _bkey(n) > key), key=_bkey)
    # A hidden candidate implies a name that ended the run before it.
    blocker = next((n for n in after if file_stem(n) != stem), None)
    return f" ({hidden[0]!r} is not considered because {blocker!r} sorts before it; rename that)"


@dataclass(frozen=True, slots=True)
class TreeCheck:
    """The result of checking a tree against its manifest.

    Attributes:
        filtered: the tree with everything outside the keep-set turned MISSING; directories
            keep their sighash and signed size.
        dropped: paths (``/``-rooted) that were present and are now MISSING.
        warnings: problems upstream only logs (``instructions.md``, assets).
    """

    filtered: Directory
    dropped: tuple[str, ...]
    warnings: tuple[str, ...]


def check_tree(root: Directory, manifest: Manifest, arch: str | None) -> TreeCheck:
    """Upstream's ``validate_for`` plus ``keep_checked``, collecting every problem (§10.3).

    Args:
        root: the package tree.
        manifest: its parsed manifest.
        arch: keep only this architecture's images; None checks every declared architecture.

    Returns:
        The filtered tree, what was dropped, and the warnings.

    Raises:
        ManifestError: the tree does not satisfy the manifest (all problems in ``details``).
    """
    ex = _Expected(root)
    warnings: list[str] = []
    for required in (MANIFEST_PATH, "icon", "LICENSE.md", "instructions.md", "javascript.squashfs"):
        problem = ex.check_stem(required) if required == "icon" else ex.check_file(required)
        if problem is None:
            continue
        if required == "instructions.md":
            # Packages built before instructions.md became required are still accepted.
            warnings.append(": ".join(problem))
        else:
            ex.problems.append(problem)
    for dep_id in manifest.dependencies:
        ex.check_file(f"dependencies/{dep_id}/metadata.json")
        ex.check_stem(f"dependencies/{dep_id}/icon")
    missing_assets = ex.check_file("assets.squashfs")
    if missing_assets is not None and not ex.check_dir("assets"):
        warnings.append(": ".join(missing_assets))
    for image_id, config in manifest.images.items():
        _check_image(ex, manifest, image_id, config, arch)
    if ex.problems:
        raise _error(list(dict.fromkeys(ex.problems)))
    filtered, dropped = _keep_checked(root, ex.keep, ())
    return TreeCheck(filtered, tuple(dropped), tuple(warnings))


def _check_image(
    ex: _Expected, manifest: Manifest, image_id: str, config: ImageConfig, arch: str | None
) -> None:
    if arch is not None:
        arches: Sequence[str] = (arch,)
    elif manifest.hardware_requirements.arch is not None:
        arches = manifest.hardware_requirements.arch
    elif config.emulate_missing_as is not None:
        if config.emulate_missing_as not in config.arch:
            problem = f"images.{image_id}.emulateMissingAs: must match an included `arch`"
            ex.problems.append(("/" + MANIFEST_PATH, problem))
            return
        arches = config.arch
    else:
        problem = (
            f"images.{image_id}: `emulateMissingAs` required for all images if no `arch` "
            "specified in `hardwareRequirements`"
        )
        ex.problems.append(("/" + MANIFEST_PATH, problem))
        return
    for a in arches:
        chosen = a
        missing = ex.check_file(f"images/{a}/{image_id}.squashfs")
        if missing is not None and config.emulate_missing_as is not None:
            chosen = config.emulate_missing_as
            missing = ex.check_file(f"images/{chosen}/{image_id}.squashfs")
        if missing is not None:
            ex.problems.append(missing)
            continue
        for ext in ("json", "env"):
            missing = ex.check_file(f"images/{chosen}/{image_id}.{ext}")
            if missing is not None:
                ex.problems.append(missing)


def _keep_checked(
    directory: Directory, keep: set[tuple[str, ...]], prefix: tuple[str, ...]
) -> tuple[Directory, list[str]]:
    kept_dirs = {
        k[: len(prefix) + 1] for k in keep if len(k) > len(prefix) and k[: len(prefix)] == prefix
    }
    entries: dict[str, Node] = {}
    dropped: list[str] = []
    for name, node in directory.entries.items():
        path = (*prefix, name)
        if path in keep or path in kept_dirs:
            if isinstance(node, Directory):
                entries[name], sub_dropped = _keep_checked(node, keep, path)
                dropped += sub_dropped
            else:
                entries[name] = node
        else:
            if not isinstance(node, Missing):
                dropped.append("/" + "/".join(path) + ("/" if isinstance(node, Directory) else ""))
            entries[name] = node.to_missing()
    return directory.with_entries(entries), dropped


def validate_for(
    root: Directory, manifest: Manifest, arch: str | None, *, warn: Warn | None = None
) -> Directory:
    """Check ``root`` against ``manifest`` and return it filtered (``validate_and_filter``).

    Everything outside the keep-set becomes MISSING; a directory survives when anything beneath
    it is kept, and keeps its sighash and signed size.

    Args:
        root: the package tree.
        manifest: its parsed manifest.
        arch: keep only this architecture's images; None checks every declared architecture.
        warn: receives problems upstream only logs; default: this module's logger.

    Returns:
        The filtered tree (same root sighash).

    Raises:
        ManifestError: the tree does not satisfy the manifest (all problems in ``details``).
    """
    result = check_tree(root, manifest, arch)
    for message in result.warnings:
        (warn or _log.warning)(message)
    return result.filtered


# --------------------------------------------------------------------------------------------
# Icons (``S9pk::icon``, ``S9pk::dependency_icon``)
# --------------------------------------------------------------------------------------------


def _best_icon(directory: Directory) -> tuple[str, File] | None:
    best: tuple[str, File] | None = None
    for name, node in stem_run(directory, "icon"):
        # Strictly larger replaces: on a tie the earlier name stays.
        if (
            isinstance(node, File)
            and is_image_name(name)
            and (best is None or node.size > best[1].size)
        ):
            best = (name, node)
    return best


def icon(root: Directory) -> tuple[str, File] | None:
    """The package icon: the largest FILE ``icon.<image ext>`` of the stem run (§10.4).

    Returns:
        ``(name, file)``, or None when there is no icon.
    """
    return _best_icon(root)


def dependency_icon(root: Directory, dep_id: str) -> tuple[str, File] | None:
    """The icon stored for dependency ``dep_id`` (``dependencies/<id>/icon.*``), or None."""
    directory = root.get(f"dependencies/{dep_id}") if is_id(dep_id) else None
    return _best_icon(directory) if isinstance(directory, Directory) else None


def icon_mime(name: str) -> str:
    """The MIME type for an icon name (upstream falls back to ``image/png``)."""
    ext = file_extension(name)
    return (mime(ext) if ext is not None else None) or "image/png"


def _error(items: Sequence[tuple[str | None, str]]) -> ManifestError:
    path, problem = items[0]
    if len(items) > 1:
        problem += f" (and {len(items) - 1} more)"
    err = ManifestError(problem, path=path)
    err.details = "\n".join(": ".join(x for x in (p, t) if x) for p, t in items)
    return err
