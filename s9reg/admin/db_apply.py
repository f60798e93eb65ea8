"""``registry db apply EXPR``: a jq expression over the database, written back as config edits.

Upstream's ``db apply`` evaluates a jq (jaq) expression over the whole ``RegistryDatabase``,
checks that the result deserializes as one, and replaces the database (registry-protocol.md §5).
Here the database is the built site's dump, and the *difference* between the two documents is
turned into edits of ``site-config.yaml`` (:class:`~s9reg.config.EditSession`): the registry's
name and icon, signers (with their Guid kept as ``id`` when a name changes), admins,
authorized ranges, categories and their members, and StartOS releases' texts. What the file
cannot hold is refused with the reason, before anything is written: package versions and
assets (they come from the ``.s9pk`` sources), StartOS images and their signatures (signed at
build), references to signers that do not exist, migrations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from s9reg import config
from s9reg._json import JSONValue
from s9reg.admin.reader import SiteReader
from s9reg.config import EditSession
from s9reg.errors import ConfigError, S9regError
from s9reg.exver import Version, VersionRange
from s9reg.registry import FullIndex, Guid, RegistryError, SignerInfo
from s9reg.s9pk.keys import PublicKey

__all__ = ["ApplyResult", "apply_expression", "evaluate", "parse_database"]


@dataclass(frozen=True, slots=True)
class Database:
    """A parsed ``RegistryDatabase``: migrations, admins and the index."""

    migrations: tuple[str, ...]
    admins: frozenset[Guid]
    index: FullIndex


@dataclass(slots=True)
class ApplyResult:
    """What ``db apply`` changed (or would change, with ``dry_run``)."""

    changes: list[str] = field(default_factory=list)
    written: bool = False


def _refuse(what: str, why: str) -> ConfigError:
    return ConfigError(
        f"db apply: {what}: cannot be expressed in site-config.yaml ({why})",
        hint="nothing was written",
    )


def evaluate(expr: str, value: JSONValue) -> JSONValue:
    """The single result of the jq expression ``expr`` over ``value``.

    Raises:
        ConfigError: the expression does not compile, fails, or does not give one value.
    """
    import jq  # noqa: PLC0415 - only db apply needs the jq engine

    try:
        program = jq.compile(expr)
    except ValueError as e:
        raise ConfigError(f"db apply: invalid jq expression: {_first_line(e)}") from None
    try:
        results = program.input_value(value).all()
    except ValueError as e:
        raise ConfigError(f"db apply: the jq expression failed: {_first_line(e)}") from None
    if len(results) != 1:
        msg = f"db apply: the jq expression gave {len(results)} values, expected one database"
        raise ConfigError(msg)
    return cast("JSONValue", results[0])


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or ["error"])[0]


def parse_database(value: JSONValue, where: str = "result") -> Database:
    """Validate ``value`` as ``RegistryDatabase`` (``SC/registry/mod.rs:36-44``).

    ``migrations`` may be absent (``serde(default)``); ``admins`` and ``index`` are required.

    Raises:
        RegistryError: naming the first problem.
    """
    if not isinstance(value, dict):
        raise RegistryError(f"{where}: expected a RegistryDatabase object")
    migrations = value.get("migrations", [])
    if not isinstance(migrations, list) or not all(isinstance(m, str) for m in migrations):
        raise RegistryError(f"{where}.migrations: expected a list of strings")
    admins = value.get("admins")
    if not isinstance(admins, list):
        raise RegistryError(f"{where}.admins: expected a list of signer ids")
    guids = frozenset(Guid.parse(a, f"{where}.admins") for a in admins)
    if "index" not in value:
        raise RegistryError(f"{where}: missing field `index`")
    index = FullIndex.from_dict(value["index"], path=f"{where}.index")
    return Database(tuple(sorted(set(cast("list[str]", migrations)))), guids, index)


def apply_expression(
    config_path: Path, expr: str, site: SiteReader, *, dry_run: bool = False
) -> ApplyResult:
    """Evaluate ``expr`` over the site's database and write the difference into the config.

    Raises:
        ConfigError: the site is older than the config, the expression fails, the result is
            not a RegistryDatabase, a change cannot be expressed in the config, or the edited
            file does not validate. The file is then unchanged.
        RegistryError: the site's own database is invalid.
    """
    cfg = config.load(config_path)
    before_value = site.dump()["value"]
    before = parse_database(before_value, "database")
    _check_current(cfg, before)
    after_value = evaluate(expr, before_value)
    try:
        after = parse_database(after_value)
    except S9regError as e:
        msg = f"db apply: the result is not a RegistryDatabase: {e.message}"
        raise ConfigError(msg, hint="nothing was written") from None
    result = ApplyResult()
    session = EditSession.open(config_path)
    _Differ(cfg, session, before, after, result.changes).run()
    if result.changes and not dry_run:
        session.commit()
        result.written = True
    return result


def _configured_signers(cfg: config.SiteConfig) -> dict[Guid, SignerInfo]:
    return {
        config.signer_guid(s): SignerInfo(
            name=s.name, contact=s.contacts, keys=tuple(k.to_pem() for k in s.keys)
        )
        for s in cfg.signers
    }


def _check_current(cfg: config.SiteConfig, db: Database) -> None:
    """The built site must show the configuration as it is now (else the diff would lie)."""
    admins = frozenset(config.signer_guid(s) for s in cfg.admins)
    stale = []
    if db.index.name != cfg.registry.name:
        stale.append("registry name")
    if dict(db.index.signers) != _configured_signers(cfg):
        stale.append("signers")
    if db.admins != admins:
        stale.append("admins")
    if set(db.index.os.versions) != {r.version for r in cfg.os_releases}:
        stale.append("StartOS releases")
    built = db.index.package
    if {k: c.name for k, c in built.categories.items()} != {c.id: c.name for c in cfg.categories}:
        stale.append("categories")
    members = {
        pid: sorted(c.id for c in cfg.categories if pid in c.packages) for pid in built.packages
    }
    if {pid: sorted(info.categories) for pid, info in built.packages.items()} != members:
        stale.append("category members")
    guids = {s.name: config.signer_guid(s) for s in cfg.signers}
    authorized = {
        pid: {guids[n]: str(r) for n, r in cfg.authorized.get(pid, {}).items() if n in guids}
        for pid in built.packages
    }
    shown = {
        pid: {g: str(r) for g, r in info.authorized.items()} for pid, info in built.packages.items()
    }
    if shown != authorized:
        stale.append("authorized signers")
    if stale:
        raise ConfigError(
            f"db apply: the built site is older than {cfg.path.name} ({', '.join(stale)} differ)",
            hint="run s9reg build first, then db apply",
        )


def _canon(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class _Differ:
    """Turns the difference between two databases into edits of one session."""

    def __init__(
        self,
        cfg: config.SiteConfig,
        session: EditSession,
        before: Database,
        after: Database,
        changes: list[str],
    ) -> None:
        self.cfg = cfg
        self.doc = session
        self.before = before
        self.after = after
        self.changes = changes
        self.old_names = {g: s.name for g, s in before.index.signers.items()}
        self.new_names = {g: s.name for g, s in after.index.signers.items()}

    def run(self) -> None:
        if set(self.after.migrations) != set(self.before.migrations):
            raise _refuse("migrations", "a static site is built at its current format")
        self._check_references()
        self._versions()
        self._registry()
        self._signers()
        self._authorized()
        self._categories()
        self._os()

    # --- what cannot change ---------------------------------------------------------------

    def _check_references(self) -> None:
        signers = set(self.after.index.signers)
        for g in sorted(self.after.admins - signers):
            raise _refuse(f"admins: {g}", "not a signer in index.signers")
        for pid, info in sorted(self.after.index.package.packages.items()):
            for g in sorted(set(info.authorized) - signers):
                raise _refuse(
                    f"index.package.packages.{pid}.authorized.{g}",
                    "not a signer in index.signers; site-config.yaml names signers",
                )
            for cid in info.categories:
                if cid not in self.after.index.package.categories:
                    raise _refuse(
                        f"index.package.packages.{pid}.categories: {cid}",
                        "no such category in index.package.categories",
                    )

    def _versions(self) -> None:
        old = self.before.index.package.packages
        new = self.after.index.package.packages
        for pid in sorted(set(old) | set(new)):
            before = old[pid].to_dict()["versions"] if pid in old else {}
            after = new[pid].to_dict()["versions"] if pid in new else {}
            if _canon(before) != _canon(after):
                raise _refuse(
                    f"index.package.packages.{pid}.versions",
                    "versions and their assets come from the .s9pk sources; add or remove "
                    "packages with s9reg registry package add|remove",
                )

    # --- registry -------------------------------------------------------------------------

    def _registry(self) -> None:
        old, new = self.before.index, self.after.index
        if new.name != old.name:
            if new.name is None:
                raise _refuse("index.name: null", "the registry's name is required")
            self.doc.set(("registry", "name"), new.name)
            self.changes.append(f"registry.name: {new.name}")
        if new.icon != old.icon:
            if new.icon is None:
                if self.doc.has(("registry", "icon")):
                    self.doc.remove(("registry", "icon"))
            else:
                self.doc.set(("registry", "icon"), new.icon)
            self.changes.append("registry.icon: " + ("removed" if new.icon is None else "set"))

    # --- signers and admins ---------------------------------------------------------------

    def _signers(self) -> None:
        old, new = self.before.index.signers, self.after.index.signers
        position = {config.signer_guid(s): i for i, s in enumerate(self.cfg.signers)}
        removed = sorted((position[g] for g in set(old) - set(new)), reverse=True)
        for g in sorted(set(old) & set(new), key=lambda g: position[g]):
            self._edit_signer(position[g], g, old[g], new[g])
        for i in removed:
            name = self.cfg.signers[i].name
            self.doc.remove(("signers", i))
            self.changes.append(f"signers: removed {name}")
        for g in sorted(set(new) - set(old)):
            s = new[g]
            entry: dict[str, object] = {"name": s.name, "id": str(g)}
            if s.contact:
                entry["contact"] = [c.to_dict() for c in s.contact]
            entry["keys"] = list(s.keys)
            if g in self.after.admins:
                entry["admin"] = True
            self.doc.append(("signers",), entry)
            self.changes.append(f"signers: added {s.name} ({g})")

    def _edit_signer(self, i: int, g: Guid, old: SignerInfo, new: SignerInfo) -> None:
        path: tuple[str | int, ...] = ("signers", i)
        configured = self.cfg.signers[i]
        if new.name != old.name:
            self.doc.set((*path, "name"), new.name)
            if configured.id is None:  # keep the Guid the index already carries
                self.doc.set((*path, "id"), str(g))
            self.changes.append(f"signers: {old.name} renamed {new.name} ({g})")
        if new.contact != old.contact:
            contacts = [c.to_dict() for c in new.contact]
            if contacts or self.doc.has((*path, "contact")):
                self.doc.set((*path, "contact"), contacts)
            self.changes.append(f"signers: {new.name}: contacts set")
        if new.keys != old.keys:
            self._edit_keys(i, configured.keys, new.keys)
            self.changes.append(f"signers: {new.name}: keys set")
        was, now = g in self.before.admins, g in self.after.admins
        if was != now:
            if now:
                self.doc.set((*path, "admin"), True)  # noqa: FBT003 - a YAML value
            elif self.doc.has((*path, "admin")):
                self.doc.remove((*path, "admin"))
            self.changes.append(f"admins: {'added' if now else 'removed'} {new.name} ({g})")

    def _edit_keys(self, i: int, configured: tuple[PublicKey, ...], keys: tuple[str, ...]) -> None:
        """Remove the keys no longer listed, add the new ones (``file:`` references kept)."""
        pems = [k.to_pem() for k in configured]
        for n in reversed(range(len(pems))):
            if pems[n] not in keys:
                self.doc.remove(("signers", i, "keys", n))
        for pem in keys:
            if pem not in pems:
                self.doc.append(("signers", i, "keys"), pem)

    # --- authorized -------------------------------------------------------------------------

    def _authorized(self) -> None:
        current = self.doc.get(("authorized",)) if self.doc.has(("authorized",)) else {}
        current = current if isinstance(current, dict) else {}
        renames = {
            self.old_names[g]: self.new_names[g]
            for g in self.old_names
            if g in self.new_names and self.old_names[g] != self.new_names[g]
        }
        # A removed signer leaves the entries of packages the index does not list (no version
        # built yet): the database cannot name them, and the file cannot keep them.
        removed = {n for g, n in self.old_names.items() if g not in self.new_names}
        old = self.before.index.package.packages
        new = self.after.index.package.packages
        for pid in sorted(set(old) | set(new) | set(current)):
            scopes = current.get(pid) if isinstance(current.get(pid), dict) else {}
            have = {str(k): str(v) for k, v in cast("dict[str, object]", scopes or {}).items()}
            want = {renames.get(n, n): r for n, r in have.items() if n not in removed}
            before = old[pid].authorized if pid in old else {}
            after = new[pid].authorized if pid in new else {}
            if dict(before) != dict(after):
                want = {self.new_names[g]: str(r) for g, r in sorted(after.items())}
            self._set_scopes(pid, have, want)

    def _set_scopes(self, pid: str, have: Mapping[str, str], want: Mapping[str, str]) -> None:
        def same(a: str, b: str) -> bool:
            return str(VersionRange.parse(a)) == str(VersionRange.parse(b))

        if set(have) == set(want) and all(same(have[n], want[n]) for n in want):
            return
        if not want:
            self.doc.remove(("authorized", pid))
            self.changes.append(f"authorized.{pid}: removed")
            return
        for name in have:
            if name not in want:
                self.doc.remove(("authorized", pid, name))
        for name, text in want.items():
            if name not in have or not same(have[name], text):
                self.doc.set(("authorized", pid, name), text)
        self.changes.append(
            f"authorized.{pid}: " + ", ".join(f"{n} {r}" for n, r in sorted(want.items()))
        )

    # --- categories -------------------------------------------------------------------------

    def _members(self, db: Database) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {cid: [] for cid in db.index.package.categories}
        for pid, info in sorted(db.index.package.packages.items()):
            for cid in info.categories:
                out.setdefault(cid, []).append(pid)
        return out

    def _categories(self) -> None:
        old = self.before.index.package.categories
        new = self.after.index.package.categories
        old_members, new_members = self._members(self.before), self._members(self.after)
        for cid in sorted(set(old) - set(new)):
            self.doc.remove(("categories", cid))
            self.changes.append(f"categories: removed {cid}")
        for cid in sorted(new):
            path: tuple[str | int, ...] = ("categories", cid)
            name = new[cid].name.json_value()
            if cid not in old:
                self.doc.set(path, {"name": name, "packages": new_members.get(cid, [])})
                self.changes.append(f"categories: added {cid}")
                continue
            if _canon(old[cid].name.json_value()) != _canon(name):
                self.doc.set((*path, "name"), name)
                self.changes.append(f"categories.{cid}: renamed")
            self._members_edit(cid, old_members.get(cid, []), new_members.get(cid, []))

    def _members_edit(self, cid: str, old: list[str], new: list[str]) -> None:
        if old == new:
            return
        path: tuple[str | int, ...] = ("categories", cid, "packages")
        listed = self.doc.get(path) if self.doc.has(path) else []
        listed = [str(p) for p in listed] if isinstance(listed, list) else []
        for pid in sorted(set(old) - set(new), key=listed.index, reverse=True):
            if pid in listed:
                self.doc.remove((*path, listed.index(pid)))
                listed.remove(pid)
        for pid in new:
            if pid not in listed:
                self.doc.append(path, pid)
                listed.append(pid)
        self.changes.append(f"categories.{cid}.packages: {', '.join(listed)}")

    # --- StartOS releases -------------------------------------------------------------------

    def _os(self) -> None:
        old = self.before.index.os.versions
        new = self.after.index.os.versions
        position = {r.version: i for i, r in enumerate(self.cfg.os_releases)}
        admins = sorted(self.after.admins)
        for v in sorted(set(old) & set(new), key=lambda v: position.get(v, 0)):
            self._edit_release(position[v], v, old[v].to_dict(), new[v].to_dict(), admins)
        for v in sorted((v for v in set(old) - set(new)), key=lambda v: -position[v]):
            self.doc.remove(("os", position[v]))
            self.changes.append(f"os: removed {v}")
        for v in sorted(set(new) - set(old), key=lambda v: v.sort_key):
            info = new[v]
            if info.iso or info.img or info.squashfs:
                raise _refuse(
                    f"index.os.versions.{v}",
                    "StartOS images are hashed and signed at build: add the version first, "
                    "then its images as files or URLs under os[]",
                )
            entry: dict[str, object] = {"version": str(v), "headline": info.headline}
            if info.release_notes:
                entry["release_notes"] = info.release_notes
            entry["source_version"] = str(info.source_version)
            self.doc.append(("os",), entry)
            self.changes.append(f"os: added {v}")

    def _edit_release(
        self,
        i: int,
        version: Version,
        old: dict[str, JSONValue],
        new: dict[str, JSONValue],
        admins: list[Guid],
    ) -> None:
        path: tuple[str | int, ...] = ("os", i)
        if new["headline"] != old["headline"]:
            self.doc.set((*path, "headline"), new["headline"])
            self.changes.append(f"os.{version}: headline")
        if new["releaseNotes"] != old["releaseNotes"]:
            self.doc.set((*path, "release_notes"), new["releaseNotes"])
            self.changes.append(f"os.{version}: release notes")
        if new["sourceVersion"] != old["sourceVersion"]:
            self.doc.set((*path, "source_version"), new["sourceVersion"])
            self.changes.append(f"os.{version}: source version {new['sourceVersion']}")
        if _canon(new["authorized"]) != _canon(old["authorized"]) and sorted(
            cast("list[str]", new["authorized"])
        ) != [str(a) for a in admins]:
            raise _refuse(
                f"index.os.versions.{version}.authorized",
                "s9reg lists the admins as every StartOS version's signers",
            )
        for kind in ("iso", "img", "squashfs"):
            before = cast("dict[str, JSONValue]", old[kind])
            after = cast("dict[str, JSONValue]", new[kind])
            for platform in sorted(before):
                if platform not in after:
                    self.doc.remove((*path, kind, platform))
                    self.changes.append(f"os.{version}.{kind}: removed {platform}")
                elif _canon(before[platform]) != _canon(after[platform]):
                    raise _refuse(
                        f"index.os.versions.{version}.{kind}.{platform}",
                        "images are hashed and signed at build from the file or URL in os[]",
                    )
            for platform in sorted(set(after) - set(before)):
                raise _refuse(
                    f"index.os.versions.{version}.{kind}.{platform}",
                    "images are hashed and signed at build: give the file or URL in os[]",
                )
