#!/usr/bin/env python3
"""Build the JupyterLite site with pywebinfer (offline) and serve it on localhost.

    build_notebook.py [--out build/notebook/site] [--dist dist/pyodide] [--no-serve]
                      [--port 8888] [--open]

The site is built from pinned local inputs only; at run time it fetches nothing from a
CDN or PyPI:
  * JupyterLab in the browser: jupyterlite-core and jupyterlite-pyodide-kernel
    (requirements-dev.txt), lab app only, without source maps;
  * its kernel's Pyodide: the part of the project's offline distribution (dist/pyodide,
    `make dist`) that the kernel and the notebooks load (pywebinfer, numpy, matplotlib,
    Pillow, IPython, ...), with a lock file cut down to match, plus the kernel's own
    start-up wheels (ipykernel and pyodide_kernel from jupyterlite-pyodide-kernel, `comm`
    from notebook/requirements-site.txt) added to that lock;
  * notebook/jupyter-lite.json: the kernel's settings.  It has Pyodide load every start-up
    package in one go (loadPyodideOptions.packages) instead of one piplite install after
    another: back to back on a busy 2-core machine, the kernel was ready 52 and 77 s
    after the page opened, against 95 and 101 s the other way;
  * the notebooks demo/*.ipynb, and the models and photos they fetch, linked (or copied
    where links cannot be made) from models/ (`make models`) into <site>/models/.

Without --no-serve it then serves the site on http://127.0.0.1:PORT/ until Ctrl-C.  No
cross-origin isolation headers: with them JupyterLite's kernel lost cell executions.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import webbrowser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "notebook"
SITE_REQUIREMENTS = CONFIG_DIR / "requirements-site.txt"
PYODIDE_DIST = REPO_ROOT / "dist" / "pyodide"
MODELS = REPO_ROOT / "models"
NOTEBOOK_DIR = REPO_ROOT / "demo"
DEFAULT_OUT = REPO_ROOT / "build" / "notebook" / "site"
CACHE = REPO_ROOT / ".cache" / "notebook"
LOCK = "pyodide-lock.json"
KERNEL_WHEELS = (Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyterlite"
                 / "pyodide-kernel-extension" / "static" / "pypi")
PYODIDE_CORE = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
                "python_stdlib.zip", "package.json")
# What the kernel needs at start from Pyodide's lock, and what the notebooks load; their
# dependencies come along.
KERNEL_PACKAGES = ("ssl", "sqlite3", "jedi", "ipython", "micropip", "matplotlib-inline")
# The kernel's start-up wheels that Pyodide lacks: jupyterlite-pyodide-kernel ships these.
KERNEL_WHEEL_PROJECTS = ("ipykernel", "pyodide-kernel")
NOTEBOOK_PACKAGES = ("pywebinfer", "numpy", "matplotlib", "pillow")
# The files the notebooks fetch, relative to models/.
MODEL_FILES = ("efficientnet_lite0_dynamo.onnx", "minilm_l6_v2.onnx", "minilm_vocab.txt",
               "imagenet_labels.json", "samples/chelsea.jpg", "samples/coffee.jpg",
               "samples/rocket.jpg")
CONTENT_TYPES = {".wasm": "application/wasm", ".js": "text/javascript",
                 ".mjs": "text/javascript", ".json": "application/json",
                 ".onnx": "application/octet-stream", ".whl": "application/octet-stream",
                 ".ipynb": "application/json"}


def log(message: str) -> None:
    print(f"build_notebook: {message}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"build_notebook: ERROR: {message}")


def normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link costs no space; across file systems it is a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def download_site_wheels(cache: Path) -> list[Path]:
    """The hash-pinned wheels of requirements-site.txt (kept in the cache and reused)."""
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", str(SITE_REQUIREMENTS),
         "-d", str(cache)], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"pip download of {SITE_REQUIREMENTS.name} failed:\n{result.stderr}")
    wheels = []
    for line in SITE_REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].split("--hash", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            found = [p for p in cache.glob("*.whl")
                     if normalize(p.name.split("-")[0]) == normalize(name)
                     and p.name.split("-")[1] == version]
            if not found:
                fail(f"{name}=={version} is not in {cache} after pip download")
            wheels.append(found[0])
    return wheels


def with_dependencies(packages: dict, wanted: tuple[str, ...], dist: Path) -> list[str]:
    """Lock keys of `wanted` and everything they depend on."""
    by_name = {normalize(key): key for key in packages}
    keys, todo = set(), [normalize(name) for name in wanted]
    while todo:
        name = todo.pop()
        if name not in by_name:
            hint = " (run `make dist`)" if name == "pywebinfer" else ""
            fail(f"{dist / LOCK} has no package {name!r}{hint}")
        key = by_name[name]
        if key not in keys:
            keys.add(key)
            todo.extend(normalize(dep) for dep in packages[key]["depends"])
    return sorted(keys)


def kernel_wheels() -> list[Path]:
    wheels = [p for p in KERNEL_WHEELS.glob("*.whl")
              if normalize(p.name.split("-")[0]) in KERNEL_WHEEL_PROJECTS]
    if sorted(normalize(p.name.split("-")[0]) for p in wheels) != sorted(KERNEL_WHEEL_PROJECTS):
        fail(f"expected the wheels of {KERNEL_WHEEL_PROJECTS} in {KERNEL_WHEELS}, found "
             f"{[p.name for p in wheels]}: is jupyterlite-pyodide-kernel installed?")
    return wheels


def stage_pyodide(dist: Path, out: Path, extra_wheels: list[Path]) -> list[str]:
    """The distribution's runtime and the packages the site needs, with their own lock,
    and `extra_wheels` added to it."""
    from pyodide_lock import PyodideLockSpec
    from pyodide_lock.utils import add_wheels_to_spec

    if not (dist / LOCK).exists():
        fail(f"{dist / LOCK} is missing: run `make dist`")
    lock = json.loads((dist / LOCK).read_text())
    keys = with_dependencies(lock["packages"], KERNEL_PACKAGES + NOTEBOOK_PACKAGES, dist)
    out.mkdir(parents=True)
    for name in PYODIDE_CORE:
        link_or_copy(dist / name, out / name)
    for key in keys:
        link_or_copy(dist / lock["packages"][key]["file_name"],
                     out / lock["packages"][key]["file_name"])
    lock["packages"] = {key: lock["packages"][key] for key in keys}
    (out / LOCK).write_text(json.dumps(lock))
    for wheel in extra_wheels:
        link_or_copy(wheel, out / wheel.name)
    spec = add_wheels_to_spec(PyodideLockSpec.from_json(out / LOCK),
                              [out / wheel.name for wheel in extra_wheels], base_path=out)
    spec.to_json(out / LOCK)
    return sorted(spec.packages)


def stage_lite_dir(dist: Path, lite: Path) -> None:
    """The JupyterLite input folder: settings, Pyodide, notebooks."""
    if lite.exists():
        shutil.rmtree(lite)
    lite.mkdir(parents=True)
    shutil.copy2(CONFIG_DIR / "jupyter-lite.json", lite / "jupyter-lite.json")
    extra = kernel_wheels() + download_site_wheels(CACHE / "wheels")
    keys = stage_pyodide(dist, lite / "static" / "pyodide", extra)
    log(f"Pyodide with {len(keys)} packages: {', '.join(keys)}")
    notebooks = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if not notebooks:
        fail(f"no notebooks in {NOTEBOOK_DIR}")
    (lite / "files").mkdir()
    for notebook in notebooks:
        shutil.copy2(notebook, lite / "files" / notebook.name)


def run_jupyter_lite(lite: Path, out: Path) -> None:
    command = [sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", str(lite),
               "--output-dir", str(out), "--apps", "lab", "--no-sourcemaps",
               "--no-unused-shared-packages"]
    # nothing may come from the network: no Pyodide URL, only the staged distribution
    env = {k: v for k, v in os.environ.items() if k != "JUPYTERLITE_PYODIDE_URL"}
    result = subprocess.run(command, cwd=lite, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"jupyter lite build failed ({result.returncode}):\n{result.stdout[-4000:]}"
             f"\n{result.stderr[-4000:]}")


def check_site(out: Path) -> None:
    config = json.loads((out / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    if kernel.get("pyodideUrl") != "./static/pyodide/pyodide.js":
        fail(f"the kernel's pyodideUrl is {kernel.get('pyodideUrl')!r}, not the site's own")
    if kernel.get("disablePyPIFallback") is not True:
        fail("piplite may fall back to PyPI: disablePyPIFallback is not set")
    lock = json.loads((out / "static" / "pyodide" / LOCK).read_text())
    missing = [p["file_name"] for p in lock["packages"].values()
               if not (out / "static" / "pyodide" / p["file_name"]).exists()]
    if missing:
        fail(f"the site's Pyodide lock names files it lacks: {missing}")
    preloaded = kernel.get("loadPyodideOptions", {}).get("packages", [])
    unknown = [name for name in preloaded
               if normalize(name) not in {normalize(key) for key in lock["packages"]}]
    if unknown:
        fail(f"loadPyodideOptions.packages names packages the site's lock lacks: {unknown}")


def build(out: Path, dist: Path = PYODIDE_DIST) -> Path:
    start = time.perf_counter()
    missing = [name for name in MODEL_FILES if not (MODELS / name).exists()]
    if missing:
        fail(f"models/ lacks {missing}: run `make models`")
    lite = out.parent / "lite"
    stage_lite_dir(dist, lite)
    if out.exists():
        shutil.rmtree(out)
    run_jupyter_lite(lite, out)
    check_site(out)
    app_bytes = size_of(out)
    for name in MODEL_FILES:
        link_or_copy(MODELS / name, out / "models" / name)
    pyodide_bytes = size_of(out / "static" / "pyodide")
    log(f"{out}: {app_bytes / 2**20:.1f} MiB (Pyodide {pyodide_bytes / 2**20:.1f} MiB) "
        f"+ models {size_of(out / 'models') / 2**20:.1f} MiB, "
        f"built in {time.perf_counter() - start:.1f} s")
    return out


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **CONTENT_TYPES}

    def __init__(self, *args, quiet: bool, **kwargs):
        self.quiet = quiet
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def start_server(site: Path, port: int = 0,
                 quiet: bool = True) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve `site` in a background thread on 127.0.0.1; returns the server and its URL."""
    if not (site / "jupyter-lite.json").exists():
        fail(f"{site} is not a built site: run `make notebook` or build_notebook.py --no-serve")
    handler = functools.partial(SiteHandler, directory=str(site), quiet=quiet)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="notebook-site", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def notebook_url(base: str, notebook: str) -> str:
    return f"{base}lab/index.html?path={notebook}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--dist", type=Path, default=PYODIDE_DIST,
                        help="the Pyodide distribution with pywebinfer (`make dist`)")
    parser.add_argument("--no-serve", action="store_true", help="build only (tests, CI)")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--open", action="store_true", help="open the notebook in a browser")
    args = parser.parse_args(argv)
    site = build(args.out.resolve(), args.dist.resolve())
    if args.no_serve:
        return 0
    server, url = start_server(site, args.port, quiet=False)
    first = sorted(NOTEBOOK_DIR.glob("*.ipynb"))[0].name
    print(f"serving the notebooks at {notebook_url(url, first)} (Ctrl-C stops)", flush=True)
    if args.open:
        webbrowser.open(notebook_url(url, first))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
