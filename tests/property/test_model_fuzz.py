"""The registry model's parsers take hostile JSON: only ``RegistryError`` may escape them.

``serve`` and ``publish`` read indexes from storage and from other registries, so every
``from_dict`` must turn any JSON value into a model or a located ``RegistryError``. Inputs are
arbitrary JSON and mutations (deleted keys, replaced values) of a real index from a real build.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s9reg.builder import build_site
from s9reg.registry import FullIndex, RegistryError
from s9reg.registry.model import GetPackageResponse, PackageInfo, PackageVersionInfo

from helpers.buildkit import ADMIN, REGISTRY, pkg
from helpers.buildkit import settings as build_settings

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("index")
    src = tmp / "src"
    src.mkdir()
    sources = [
        pkg(src, "a.s9pk", ADMIN, id_="hello", version="1.0.0:0", with_deps=True),
        pkg(src, "b.s9pk", ADMIN, id_="hello", version="#knots:1.1.0:0", arches=("aarch64",)),
    ]
    s = build_settings(tmp, sources, registry_key=REGISTRY)
    build_site(s)
    data: dict[str, Any] = json.loads((s.output / "index.json").read_bytes())
    return data


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(doc))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


@settings(max_examples=400, deadline=None)
@given(value=json_values)
def test_arbitrary_json_gives_a_model_or_a_registry_error(value: object) -> None:
    for parse in (
        FullIndex.from_dict,
        PackageInfo.from_dict,
        PackageVersionInfo.from_dict,
        GetPackageResponse.from_dict,
    ):
        with contextlib.suppress(RegistryError):
            parse(value)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), new=json_values, delete=st.booleans())
def test_mutated_real_index_gives_a_model_or_a_located_error(
    real_index: dict[str, Any], data: st.DataObject, new: object, delete: bool
) -> None:
    path = data.draw(st.sampled_from(_paths(real_index)))
    doc = _mutate(real_index, path, new, delete)
    error: RegistryError | None = None
    try:
        index = FullIndex.from_dict(doc)
    except RegistryError as e:
        error = e
    if error is not None:
        assert error.path is not None
        assert str(error).startswith(f"{error.path}: " if error.path else error.problem)
        return
    # Accepted: it must serialize again and parse back to the same model.
    assert FullIndex.from_dict(json.loads(json.dumps(index.to_dict()))) == index


def test_the_real_index_parses(real_index: dict[str, Any], tmp_path: Path) -> None:
    assert FullIndex.from_dict(real_index).to_dict() == real_index
