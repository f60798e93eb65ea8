"""``s9reg registry db dump`` output type-checks against start-sdk's bindings (``tsc --strict``).

Upstream's dump is patch-db's ``Dump`` ``{id: u64, value: RegistryDatabase}``. Neither type is
exported to TypeScript (``RegistryDatabase`` has no ``#[ts(export)]``), so both are composed
here from the exported ``FullIndex`` and ``Guid``, as serde writes them (``SC/registry/mod.rs``
36-44; ``patch-db/core/src/patch.rs`` 24-29). Inside the index, only the corrections documented
in ``test_ts_bindings.py`` apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_ts_bindings import OSB, tsc

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


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        pytest.param(("id",), "1", id="id as a string"),
        pytest.param(("value", "admins"), [1], id="admins as numbers"),
        pytest.param(("value", "extra"), 1, id="an unknown key"),
    ],
)
def test_the_dump_check_catches_a_wrong_document(
    tmp_path: Path, dump: dict[str, object], path: tuple[str, ...], bad: object
) -> None:
    doc = json.loads(json.dumps(dump))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    body = DUMP_TYPES.format(osb=OSB.as_posix()) + f"export const dump: Dump = {json.dumps(doc)};\n"
    assert tsc(tmp_path, body).returncode != 0
