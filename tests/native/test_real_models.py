"""Real models (built by scripts/build_models.py) through pywebinfer vs onnxruntime.

The models directory is $PYWEBINFER_MODELS, or <repo>/models; the tests skip only when that
directory does not exist (build it with `.venv/bin/python scripts/build_models.py`).

Tolerance: every output must satisfy
    max |pywebinfer - onnxruntime| <= 1e-4 * max(1, max |onnxruntime|)
that is 1e-4 absolute for outputs of magnitude up to 1, and 1e-4 relative to the largest
output value beyond that (EfficientNet logits reach about 9, MiniLM hidden states about 6; onnxruntime agrees
with torch, and an independent numpy float32 evaluation with onnxruntime, to about 4e-6).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(os.environ.get("PYWEBINFER_MODELS", REPO_ROOT / "models"))
RELATIVE_TOLERANCE = 1e-4

EFFICIENTNET_EXPORTS = ["efficientnet_lite0_dynamo.onnx", "efficientnet_lite0_torchscript.onnx"]
MINILM = "minilm_l6_v2.onnx"
MINILM_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PHOTOS = {"chelsea": "Egyptian cat", "coffee": "espresso", "rocket": "missile"}


@pytest.fixture(scope="module")
def models_dir() -> Path:
    if not MODELS_DIR.is_dir():
        pytest.skip(f"no models directory at {MODELS_DIR}: build it with "
                    f"scripts/build_models.py or set PYWEBINFER_MODELS")
    return MODELS_DIR


def model_file(models_dir: Path, name: str) -> Path:
    path = models_dir / name
    assert path.is_file(), f"{path} is missing: rebuild with scripts/build_models.py"
    return path


@pytest.fixture(scope="module")
def labels(models_dir: Path) -> list[str]:
    labels = json.loads(model_file(models_dir, "imagenet_labels.json").read_text())
    assert len(labels) == 1000
    return labels


def run_reference(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def run_pywebinfer(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import pywebinfer

    session = pywebinfer.InferenceSession(str(path), providers=["numpy"])
    return session.run(None, feeds)


def assert_close(name: str, actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype} != {expected.dtype}"
    assert np.all(np.isfinite(actual)), f"{name}: non-finite values"
    tolerance = RELATIVE_TOLERANCE * max(1.0, float(np.abs(expected).max()))
    diff = float(np.abs(actual.astype(np.float64) - expected).max())
    assert diff <= tolerance, f"{name}: max abs diff {diff:.3g} > tolerance {tolerance:.3g}"


def load_minilm_feeds(models_dir: Path, npz_name: str) -> dict[str, np.ndarray]:
    with np.load(model_file(models_dir, f"samples/{npz_name}")) as npz:
        return {k: npz[k] for k in MINILM_INPUTS}


@pytest.mark.parametrize("export", EFFICIENTNET_EXPORTS)
def test_efficientnet_lite0_matches_onnxruntime(models_dir, labels, export):
    path = model_file(models_dir, export)
    feeds = {"input": np.load(model_file(models_dir, "samples/chelsea.npy"))}
    assert feeds["input"].shape == (1, 3, 224, 224) and feeds["input"].dtype == np.float32

    (expected,) = run_reference(path, feeds)
    (actual,) = run_pywebinfer(path, feeds)

    assert_close(f"{export} logits", actual, expected)
    assert labels[int(expected.argmax())] == "Egyptian cat"
    assert labels[int(actual.argmax())] == "Egyptian cat"


@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_efficientnet_lite0_samples_are_classified_by_onnxruntime(models_dir, labels, photo):
    """Guards the preprocessed samples themselves (onnxruntime only, milliseconds)."""
    path = model_file(models_dir, EFFICIENTNET_EXPORTS[0])
    (logits,) = run_reference(path, {"input": np.load(model_file(models_dir, f"samples/{photo}.npy"))})
    assert labels[int(logits.argmax())] == PHOTOS[photo]


@pytest.mark.parametrize("npz_name, shape", [("minilm_4x11.npz", (4, 11)),
                                             ("minilm_1x128.npz", (1, 128))])
def test_minilm_l6_v2_matches_onnxruntime(models_dir, npz_name, shape):
    path = model_file(models_dir, MINILM)
    feeds = load_minilm_feeds(models_dir, npz_name)
    for name, value in feeds.items():
        assert value.shape == shape and value.dtype == np.int64, name

    (expected,) = run_reference(path, feeds)
    (actual,) = run_pywebinfer(path, feeds)

    assert expected.shape == shape + (384,)
    assert_close(f"{MINILM} last_hidden_state ({npz_name})", actual, expected)
