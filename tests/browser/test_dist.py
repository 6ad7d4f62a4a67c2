"""The offline Pyodide distribution that `make setup` and `make dist` build (CPython only)."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from conftest import REPO_ROOT

NPM_LOCK = REPO_ROOT / "node_modules" / "pyodide" / "pyodide-lock.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock(dist_dir: Path) -> dict:
    return json.loads((dist_dir / "pyodide-lock.json").read_text())


def test_every_lock_entry_is_present_with_its_hash(dist_dir):
    packages = lock(dist_dir)["packages"]
    names = {name.replace("_", "-").lower() for name in packages}
    for name, entry in packages.items():
        path = dist_dir / entry["file_name"]
        assert path.exists(), f"{name}: {path.name} missing"
        assert sha256(path) == entry["sha256"], f"{name}: sha256 differs from the lock"
        for dep in entry["depends"]:
            assert dep.replace("_", "-").lower() in names, f"{name} needs {dep}"


def test_official_wheels_are_the_official_builds(dist_dir):
    official = json.loads(NPM_LOCK.read_text())["packages"]
    ours = lock(dist_dir)["packages"]
    assert lock(dist_dir)["info"] == json.loads(NPM_LOCK.read_text())["info"]
    for name in ("numpy", "micropip", "packaging", "pillow"):
        assert ours[name]["sha256"] == official[name]["sha256"], name
        assert ours[name]["file_name"] == official[name]["file_name"], name


def test_pywebinfer_entry_depends_on_numpy(dist_dir):
    entry = lock(dist_dir)["packages"]["pywebinfer"]
    assert entry["depends"] == ["numpy"]
    assert entry["imports"] == ["pywebinfer"]
    assert entry["file_name"].endswith("-py3-none-any.whl")


def test_wheel_carries_package_data(dist_dir):
    """Shaders ship inside the package, so Pyodide finds them beside the code."""
    (wheel,) = dist_dir.glob("pywebinfer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shaders = [p for p in (REPO_ROOT / "shaders").rglob("*") if p.is_file()]
    for shader in shaders:
        assert f"pywebinfer/shaders/{shader.relative_to(REPO_ROOT / 'shaders').as_posix()}" \
            in names
    sources = [p for p in (REPO_ROOT / "pywebinfer").rglob("*.py")]
    for source in sources:
        assert source.relative_to(REPO_ROOT).as_posix() in names


def test_worker_entry_is_served_with_the_dist(dist_dir):
    for name in ("pywebinfer.js", "pywebinfer-worker.js", "comlink.mjs", "pyodide.mjs",
                 "pyodide.asm.wasm", "python_stdlib.zip"):
        assert (dist_dir / name).exists(), name
