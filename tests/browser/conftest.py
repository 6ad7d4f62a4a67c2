"""Browser tests: pytest-pyodide runs them in headless Chromium (--runtime chrome) and Node
(--runtime node) against the offline Pyodide distribution that `make dist` builds:

    pytest tests/browser --runtime "chrome,node" --dist-dir dist/pyodide

Chromium gets the project's flags (scripts/chromium.py): no network, WebGPU and WebGL2
on SwiftShader.  Tests without a `selenium` fixture run once, in CPython ("host" tests).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytest_pyodide import get_global_config
from pytest_pyodide.copy_files_to_pyodide import copy_files_to_emscripten_fs

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import chromium  # noqa: E402  (sets SE_CHROMEDRIVER and SE_OFFLINE for selenium)

MODELS = REPO_ROOT / "models"
MODEL = MODELS / "efficientnet_lite0_dynamo.onnx"
LABELS = MODELS / "imagenet_labels.json"
SAMPLES = MODELS / "samples"

# Where the model files land in Pyodide's file system.
PYODIDE_MODELS = "/home/pyodide/models"


def pytest_configure(config):
    pyodide_config = get_global_config()
    pyodide_config.set_flags("chrome", [*pyodide_config.get_flags("chrome"), *chromium.FLAGS])


@pytest.fixture(scope="session")
def dist_dir(request) -> Path:
    dist = Path(request.config.option.dist_dir).resolve()
    if not (dist / "pyodide-lock.json").exists():
        pytest.exit(f"{dist} has no pyodide-lock.json: run `make dist`", returncode=1)
    return dist


@pytest.fixture
def selenium_with_models(selenium, monkeypatch):
    """The shared Pyodide, with EfficientNet-Lite0, its labels and the samples in its FS."""
    for path in (MODEL, LABELS):
        if not path.exists():
            pytest.exit(f"{path} is missing: run `make models`", returncode=1)
    # pytest-pyodide serves the files from the working directory
    monkeypatch.chdir(REPO_ROOT)
    copy_files_to_emscripten_fs(
        [(MODEL.relative_to(REPO_ROOT), f"{PYODIDE_MODELS}/{MODEL.name}"),
         (LABELS.relative_to(REPO_ROOT), f"{PYODIDE_MODELS}/{LABELS.name}"),
         (SAMPLES.relative_to(REPO_ROOT) / "chelsea.npy", f"{PYODIDE_MODELS}/chelsea.npy"),
         (SAMPLES.relative_to(REPO_ROOT) / "chelsea.jpg", f"{PYODIDE_MODELS}/chelsea.jpg")],
        selenium)
    return selenium


def runtimes() -> set[str]:
    return set(getattr(pytest, "pyodide_runtimes", set()))
