"""Registry policy on package texts: a size limit per manifest field (``docs/build.md``, Limits).

Upstream's reader accepts texts of any length, so these are the registry's limits, checked
when a package enters the build (from a fresh verification or from the cache alike), not by
the format library. Every text of the index is in ``index.json``, which each device downloads
whole: one package with a 10 MB description made a 20 MB index. Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from s9reg.registry.errors import RegistryError
from s9reg.registry.model import PackageVersionInfo
from s9reg.s9pk.metadata import LocaleString

__all__ = [
    "DOMINANT_INDEX_BYTES",
    "DOMINANT_SHARE",
    "MAX_TRANSLATIONS",
    "TEXT_LIMITS",
    "TextLimit",
    "check_texts",
    "dominant_package",
]


@dataclass(frozen=True, slots=True)
class TextLimit:
    """The largest accepted text of one field, in characters, and where the number comes from."""

    field: str
    limit: int
    source: str


#: Per-field limits; ``source`` says where each number comes from (docs/build.md).
TEXT_LIMITS: Mapping[str, TextLimit] = {
    t.field: t
    for t in (
        TextLimit("title", 100, "s9reg: one line on a marketplace tile"),
        TextLimit("description.short", 160, "start-core Description::validate (160 bytes)"),
        TextLimit("description.long", 5000, "start-core Description::validate (5000 bytes)"),
        TextLimit("releaseNotes", 20_000, "s9reg: no upstream limit; a long changelog fits"),
        TextLimit("license", 128, "s9reg: an SPDX expression"),
        TextLimit("gitHash", 128, "s9reg: a commit hash"),
        TextLimit("packageRepo", 2048, "s9reg: a URL"),
        TextLimit("upstreamRepo", 2048, "s9reg: a URL"),
        TextLimit("marketingUrl", 2048, "s9reg: a URL"),
        TextLimit("donationUrl", 2048, "s9reg: a URL"),
        TextLimit("hardwareRequirements.device[].description", 1000, "s9reg: one sentence"),
        TextLimit("icon", 512 << 10, "s9reg: a data URL inlined in the index"),
        TextLimit("instructions.md", 256 << 10, "s9reg: catalogue page; no upstream limit"),
        TextLimit("LICENSE.md", 256 << 10, "s9reg: catalogue page; the AGPL is 34 KB"),
    )
}
#: Most translations of one LocaleString (StartOS ships a handful of UI languages).
MAX_TRANSLATIONS = 32
#: ``index.json`` size from which a package holding ``DOMINANT_SHARE`` of it is warned about.
DOMINANT_INDEX_BYTES = 1 << 20
DOMINANT_SHARE = 0.5


def _texts(info: PackageVersionInfo, extras: Mapping[str, str | None]) -> Iterator[tuple[str, str]]:
    """(field, text) pairs; a LocaleString yields one per translation, named ``field (locale)``."""
    locale: dict[str, LocaleString] = {
        "description.short": info.description.short,
        "description.long": info.description.long,
        "releaseNotes": info.release_notes,
    }
    yield "title", info.title
    for name, value in locale.items():
        translations = value.translations
        if translations is None:
            assert isinstance(value.value, str)  # noqa: S101 - a plain string otherwise
            yield name, value.value
        else:
            for lang, text in translations.items():
                yield f"{name} ({lang})", text
    yield "license", info.license
    plain: dict[str, str | None] = {
        "gitHash": info.git_hash,
        "packageRepo": info.package_repo,
        "upstreamRepo": info.upstream_repo,
        "marketingUrl": info.marketing_url,
        "donationUrl": info.donation_url,
        "icon": info.icon,
        "instructions.md": extras.get("instructions"),
        "LICENSE.md": extras.get("license"),
    }
    for name, maybe in plain.items():
        if maybe is not None:
            yield name, maybe
    for hardware, _ in info.s9pks:
        for device in hardware.device:
            yield "hardwareRequirements.device[].description", device.description


def _problems(info: PackageVersionInfo, extras: Mapping[str, str | None]) -> list[str]:
    out: list[str] = []
    for name, value in (
        ("description.short", info.description.short),
        ("description.long", info.description.long),
        ("releaseNotes", info.release_notes),
    ):
        count = len(value.translations or {})
        if count > MAX_TRANSLATIONS:
            out.append(f"{name} has {count} translations (limit {MAX_TRANSLATIONS})")
    for name, text in _texts(info, extras):
        limit = TEXT_LIMITS[name.split(" (", 1)[0]].limit
        if len(text) > limit:
            out.append(f"{name} is {len(text):,} characters (limit {limit:,})")
    return out


def check_texts(where: str, info: PackageVersionInfo, extras: Mapping[str, str | None]) -> None:
    """Refuse a package version whose texts exceed :data:`TEXT_LIMITS`.

    Args:
        where: the source and package version, for the message.
        info: the version's index entry.
        extras: the catalogue's texts (``instructions``, ``license``).

    Raises:
        RegistryError: a text is too long or has too many translations (the first in the
            message, every one in ``details``).
    """
    problems = _problems(info, extras)
    if not problems:
        return
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    err = RegistryError(
        f"{where}: {problems[0]}{more}",
        hint="shorten the text in the package's manifest; limits: docs/build.md",
    )
    err.details = "\n".join(problems)
    raise err


def dominant_package(index_size: int, package_sizes: Mapping[str, int]) -> str | None:
    """A warning when one package holds most of a large ``index.json``, else None."""
    if index_size < DOMINANT_INDEX_BYTES or len(package_sizes) < 2:
        return None
    pid, size = max(package_sizes.items(), key=lambda kv: (kv[1], kv[0]))
    if size < DOMINANT_SHARE * index_size:
        return None
    return (
        f"index.json: package {pid} makes {size * 100 // index_size} % of its "
        f"{index_size:,} bytes, which every device downloads"
    )
