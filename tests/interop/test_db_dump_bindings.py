"""``s9reg registry db dump`` output type-checks against start-sdk's bindings (``tsc --strict``).

Upstream's dump is patch-db's ``Dump`` ``{id: u64, value: RegistryDatabase}``. Neither type is
exported to TypeScript (``RegistryDatabase`` has no ``#[ts(export)]``), so both are composed
here from the exported ``FullIndex`` and ``Guid``, as serde writes them (``SC/registry/mod.rs``
36-44; ``patch-db/core/src/patch.rs`` 24-29). Inside the index, only the corrections documented
in ``test_ts_bindings.py`` apply.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_ts_bindings import OSB, PRELUDE, tsc

from s9reg.admin.reader import SiteReader

from helpers.registry_site import build_registry

pytestmark = pytest.mark.interop

DUMP_TYPES = """\
import type {{ Guid }} from '{osb}/Guid';
// Not exported by ts-rs upstream; composed as serde writes them.
type RegistryDatabase = {{ migrations: string[]; admins: Guid[]; index: FullIndex }};
type Dump = {{ id: number; value: RegistryDatabase }};
"""


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    site, _, _ = build_registry(tmp_path_factory.mktemp("dump"), "https://registry.example.com/")
    return SiteReader.open(site).dump()


def test_dump_type_checks(tmp_path: Path, dump: dict[str, object]) -> None:
    value = dump["value"]
    assert isinstance(value, dict)
    assert value["admins"]  # the check covers a non-empty admin list
    assert value["index"]["os"]["versions"]  # and StartOS releases
    body = (
        DUMP_TYPES.format(osb=OSB.as_posix()) + f"export const dump: Dump = {json.dumps(dump)};\n"
    )
    result = tsc(tmp_path, body)
    assert result.returncode == 0, (result.stdout + result.stderr)[:4000]


BAD = {
    "idAsString": (("id",), "1"),
    "adminsAsNumbers": (("value", "admins"), [1]),
    "unknownKey": (("value", "extra"), 1),
}


def test_the_dump_check_catches_wrong_documents(tmp_path: Path, dump: dict[str, object]) -> None:
    """One tsc run: each wrong document is reported, on its own line of the source."""
    body = DUMP_TYPES.format(osb=OSB.as_posix())
    lines = {}
    for name, (path, bad) in BAD.items():
        doc = json.loads(json.dumps(dump))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = bad
        lines[name] = body.count("\n") + 1
        body += f"export const {name}: Dump = {json.dumps(doc)};\n"
    result = tsc(tmp_path, body)
    assert result.returncode != 0
    offset = 1 + PRELUDE.count("\n")  # the prelude tsc() puts before the body
    reported = {int(m) for m in re.findall(r"documents\.ts\((\d+),", result.stdout)}
    for name, line in lines.items():
        assert line + offset - 1 in reported, (name, result.stdout[:2000])
