"""The demo's Python side in CPython: its preprocessing is build_models.py's, bit for bit."""
from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest
from conftest import LABELS, MODEL, REPO_ROOT, SAMPLES

sys.path.insert(0, str(REPO_ROOT / "demo"))
import classifier  # noqa: E402
from build_models import PHOTOS, preprocess_photo  # noqa: E402

PIL = pytest.importorskip("PIL.Image")


def rgb_of(name: str) -> np.ndarray:
    return np.asarray(PIL.open(SAMPLES / f"{name}.jpg").convert("RGB"))


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_preprocessing_matches_build_models(name):
    rgb = rgb_of(name)
    np.testing.assert_array_equal(classifier.preprocess(rgb), preprocess_photo(rgb))


def test_rgba_pixels_are_read_like_the_canvas_gives_them():
    rgb = rgb_of("chelsea")
    height, width = rgb.shape[:2]
    rgba = np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(classifier.from_rgba(rgba.tobytes(), width, height), rgb)
    with pytest.raises(ValueError, match="RGBA"):
        classifier.from_rgba(rgba.tobytes()[:-4], width, height)


def test_classifier_on_the_samples_and_its_timings():
    demo = classifier.Classifier(str(MODEL), str(LABELS))
    assert {"name": "numpy", "built": True} in demo.backends()

    async def scenario():
        for name, expected in PHOTOS.items():
            result = await demo.classify(rgb_of(name), "numpy")
            assert result["top"][0]["label"] == expected
            assert len(result["top"]) == 5
            assert len(result["model_input_rgb"]) == 224 * 224 * 3
        bench = await demo.benchmark("numpy", runs=2)
        (row,) = bench["timings"]
        assert row["provider"] == "numpy" and row["runs"] == 2
        assert row["load_ms"] > 0 and row["first_ms"] > 0 and row["average_ms"] > 0
        with pytest.raises(ValueError, match="runs"):
            await demo.benchmark("numpy", runs=0)

    asyncio.run(scenario())
