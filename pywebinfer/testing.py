"""pytest plugin: test your pywebinfer code in the browser (and Node) with pytest-pyodide.

Installing pywebinfer registers it (entry point `pytest11`); it needs pytest-pyodide
only when its fixtures are used.

Fixtures:
    selenium_pywebinfer   pytest-pyodide's `selenium` (Chromium, Firefox, Node, ... as
                          `--runtime` says) with pywebinfer already loaded in Pyodide.
    pywebinfer_models     {file name: URL} for every file of your model folder, served on
                          127.0.0.1 for the test session (CORS allowed); pass it to a
                          `run_in_pyodide` test and fetch with `pyodide.http.pyfetch`.
    pywebinfer_model_dir  the folder served: `--pywebinfer-models DIR`, the ini option
                          `pywebinfer_models`, or override this fixture in conftest.py.

Where pywebinfer comes from: `--pywebinfer-dist DIR` (or $PYWEBINFER_DIST), a Pyodide
distribution with pywebinfer in its pyodide-lock.json as pywebinfer's `make dist` builds
it; by default the project's own `dist/pyodide` beside this package (a source checkout).
Pyodide boots from pytest-pyodide's `--dist-dir`; left at its default (and no ./pyodide
there), that is the pywebinfer distribution, where `loadPackage("pywebinfer")` finds
it.  A `--dist-dir` without pywebinfer (an official Pyodide release) gets pywebinfer's
wheel from the pywebinfer distribution through micropip; numpy then comes from its own
lock.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path

import pytest

PACKAGE = "pywebinfer"
LOCK = "pyodide-lock.json"
# pytest-pyodide's own default for --dist-dir
PYTEST_PYODIDE_DEFAULT_DIST = Path("pyodide")
DIST_KEY = pytest.StashKey[Path | None]()


def project_dist() -> Path:
    """dist/pyodide of the source checkout this package was imported from."""
    return Path(__file__).resolve().parent.parent / "dist" / "pyodide"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_entry(dist: Path, package: str) -> dict | None:
    lock = dist / LOCK
    if not lock.is_file():
        return None
    packages = json.loads(lock.read_text()).get("packages", {})
    return next((entry for name, entry in packages.items()
                 if _normalize(name) == _normalize(package)), None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pywebinfer", "pywebinfer in pytest-pyodide")
    group.addoption("--pywebinfer-dist", metavar="DIR", default=None,
                    help="Pyodide distribution with pywebinfer in its lock (pywebinfer's "
                         "`make dist`); default: $PYWEBINFER_DIST, else the project's "
                         "dist/pyodide")
    group.addoption("--pywebinfer-models", metavar="DIR", default=None,
                    help="folder of model files that the pywebinfer_models fixture serves")
    parser.addini("pywebinfer_models", "folder of model files to serve (relative to the "
                  "ini file)", type="paths", default=[])


def _find_dist(config: pytest.Config) -> Path | None:
    given = config.getoption("pywebinfer_dist") or os.environ.get("PYWEBINFER_DIST")
    if given:
        return Path(given).resolve()
    return project_dist() if (project_dist() / LOCK).is_file() else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    dist = _find_dist(config)
    config.stash[DIST_KEY] = dist
    # before pytest-pyodide reads --dist-dir: left at its default, boot the pywebinfer one
    dist_dir = getattr(config.option, "dist_dir", None)
    if dist is not None and dist_dir is not None and Path(dist_dir) == PYTEST_PYODIDE_DEFAULT_DIST \
            and not PYTEST_PYODIDE_DEFAULT_DIST.exists():
        config.option.dist_dir = dist


def pywebinfer_dist(config: pytest.Config) -> Path:
    """The distribution pywebinfer comes from; a clear failure if there is none."""
    dist = config.stash.get(DIST_KEY, None)
    if dist is None:
        pytest.fail("pywebinfer: no Pyodide distribution with pywebinfer: pass "
                    "--pywebinfer-dist DIR (or set PYWEBINFER_DIST); pywebinfer's "
                    "`make dist` builds one", pytrace=False)
    entry = _lock_entry(dist, PACKAGE)
    if entry is None:
        pytest.fail(f"pywebinfer: {dist / LOCK} has no {PACKAGE} package (run pywebinfer's "
                    "`make dist`)", pytrace=False)
    if not (dist / entry["file_name"]).is_file():
        pytest.fail(f"pywebinfer: {dist / entry['file_name']} is missing", pytrace=False)
    return dist


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                      ".whl": "application/octet-stream", ".npy": "application/octet-stream"}

    def end_headers(self) -> None:
        # the test page is served from another port: a cross-origin fetch
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        pass


class FileServer:
    """Serves one folder on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        handler = functools.partial(_Handler, directory=str(self.root))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"pywebinfer-files-{self.root.name}", daemon=True)
        self._thread.start()

    def url(self, relative: str) -> str:
        return self.base_url + relative

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def pywebinfer_model_dir(request: pytest.FixtureRequest) -> Path:
    given = request.config.getoption("pywebinfer_models")
    if given:
        return Path(given).resolve()
    from_ini = request.config.getini("pywebinfer_models")
    if from_ini:
        return Path(from_ini[0]).resolve()
    pytest.fail("pywebinfer_models: no model folder: pass --pywebinfer-models DIR, set "
                "`pywebinfer_models` in the ini file, or override the pywebinfer_model_dir "
                "fixture", pytrace=False)


@pytest.fixture(scope="session")
def pywebinfer_models(pywebinfer_model_dir: Path):
    """{relative path: URL} of every file under the model folder, served for the session."""
    root = Path(pywebinfer_model_dir)
    if not root.is_dir():
        pytest.fail(f"pywebinfer_models: {root} is not a folder", pytrace=False)
    server = FileServer(root)
    try:
        yield {path.relative_to(root).as_posix(): server.url(path.relative_to(root).as_posix())
               for path in sorted(root.rglob("*")) if path.is_file()}
    finally:
        server.close()


@pytest.fixture(scope="session")
def _pywebinfer_wheel_url(request: pytest.FixtureRequest):
    """pywebinfer's wheel, served from its distribution (for a --dist-dir without it)."""
    dist = pywebinfer_dist(request.config)
    server = FileServer(dist)
    try:
        yield server.url(_lock_entry(dist, PACKAGE)["file_name"])
    finally:
        server.close()


@pytest.fixture
def selenium_pywebinfer(request: pytest.FixtureRequest, selenium):
    """pytest-pyodide's `selenium` with pywebinfer loaded in its Pyodide."""
    booted = Path(request.config.option.dist_dir)
    if _lock_entry(booted, PACKAGE) is not None:
        selenium.load_package([PACKAGE])
    else:
        url = request.getfixturevalue("_pywebinfer_wheel_url")
        selenium.run_js(f"""
            await pyodide.loadPackage("micropip");
            await pyodide.runPythonAsync("import micropip\\nawait micropip.install({url!r})");
        """)
    selenium.run(f"import {PACKAGE}")
    return selenium
