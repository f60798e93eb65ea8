"""The procedures type-check against start-sdk 2.0.9, and so does the manifest their bundle
exports (issue 20, proof 1): `tsc --noEmit` over ``startos/``, then the manifest printed by the
bundle's probe (the one `s9pk pack` runs) checked as the SDK's ``Manifest`` binding.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import STARTOS, need

SDK = STARTOS / "node_modules" / "@start9labs" / "start-sdk"
BINDINGS = SDK / "node_modules" / "@start9labs" / "start-core" / "osBindings"
TSC = STARTOS / "node_modules" / ".bin" / "tsc"
ESBUILD = STARTOS / "node_modules" / ".bin" / "esbuild"


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in (TSC, ESBUILD):
        if not tool.exists():
            pytest.fail(
                f"{tool.relative_to(STARTOS.parent)} not found: run `npm ci --prefix startos`"
            )


def tsc(*args: str, cwd: Path = STARTOS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TSC), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_tsc_no_emit(tools: None) -> None:
    done = tsc("--noEmit", "-p", str(STARTOS))
    assert done.returncode == 0, done.stdout + done.stderr
    version = json.loads((STARTOS / "node_modules/typescript/package.json").read_text())["version"]
    assert version.startswith("5.9."), version


def probe(tmp_path: Path) -> dict[str, object]:
    bundle = tmp_path / "index.js"
    subprocess.run(
        [str(ESBUILD), str(STARTOS / "index.ts"), "--bundle", "--platform=node", "--format=cjs",
         f"--outfile={bundle}", "--log-level=warning"],
        check=True,
    )  # fmt: skip
    script = "console.log(JSON.stringify(require(process.argv[1]).manifest))"
    out = subprocess.run(
        [need("node", "nodejs"), "-e", script, str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    )
    manifest: dict[str, object] = json.loads(out.stdout)
    return manifest


def check_manifests(tmp_path: Path, manifests: dict[str, object]) -> dict[str, str]:
    """Type-check each manifest as a ``Manifest`` in one tsc run: the errors per name."""
    binding = json.dumps(str(BINDINGS / "Manifest"))
    for name, manifest in manifests.items():
        (tmp_path / f"{name}.ts").write_text(
            f"import type {{ Manifest }} from {binding}\n"
            f"export const manifest: Manifest = {json.dumps(manifest, indent=1)}\n"
        )
    done = tsc("--noEmit", "--strict", "--skipLibCheck", "--target", "ES2022",
               "--moduleResolution", "node", *(str(tmp_path / f"{n}.ts") for n in manifests))  # fmt: skip
    return {
        name: "\n".join(line for line in done.stdout.splitlines() if f"{name}.ts(" in line)
        for name in manifests
    }


def test_the_probed_manifest_is_an_sdk_manifest(tools: None, tmp_path: Path) -> None:
    manifest = probe(tmp_path)
    assert manifest["id"] == "s9reg"
    assert manifest["volumes"] == ["main"]
    images = manifest["images"]
    assert isinstance(images, dict)
    assert images["s9reg"]["arch"] == ["x86_64", "aarch64"]
    # The same check must refuse a manifest that is not one (no volumes; an unknown key).
    wrong = {k: v for k, v in manifest.items() if k != "volumes"}
    extra = {**manifest, "alerts": {}}
    errors = check_manifests(tmp_path, {"probed": manifest, "novolumes": wrong, "extra": extra})
    assert errors["probed"] == ""
    assert "volumes" in errors["novolumes"]
    assert "alerts" in errors["extra"]
