"""The demo page's Python side: EfficientNet-Lite0 ImageNet classification with pywebinfer.

It runs inside Pyodide in the page's worker (the page writes it into the worker's file
system and imports it), and in CPython for the tests.  Images are prepared exactly as
scripts/build_models.py prepared the reference inputs, with the same Pillow filter:
centre square crop, antialiased bilinear resize to 224x224 (the same pixels as resizing
the shorter side to 224 and cropping the centre), (x - 127) / 128, NCHW float32.

The browser decodes the image (its JPEG decoder gives the very pixels CPython's Pillow
does; Pyodide's Pillow is built on a different libjpeg whose pixels differ by up to 13
levels), and Pillow in Pyodide resizes: the model input is then bit-identical to the one
made natively from the same file.
"""
from __future__ import annotations

import hashlib
import json
import time

import numpy as np
from PIL import Image

import pywebinfer
from pywebinfer.backends import PROVIDERS

IMAGE_SIZE = 224
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
TOP_K = 5
# The providers each backend choice runs with.  The wasm backend's tensors are numpy arrays
# in the same memory, so the few ops it leaves to numpy (reshape-like views) cost no copy;
# the GPU backends run alone: a node they lack fails at load instead of leaving the GPU.
PROVIDER_CHAINS = {"wasm": ["wasm", "numpy"]}


def from_rgba(pixels: bytes, width: int, height: int) -> np.ndarray:
    """Canvas ImageData bytes (RGBA, row-major) -> HxWx3 uint8 RGB."""
    rgba = np.frombuffer(pixels, dtype=np.uint8)
    if rgba.size != width * height * 4:
        raise ValueError(f"expected {width}x{height} RGBA pixels ({width * height * 4} bytes), "
                         f"got {rgba.size} bytes")
    return rgba.reshape(height, width, 4)[:, :, :3]


def crop_and_resize(rgb: np.ndarray) -> np.ndarray:
    """Centre square of HxWx3 uint8 RGB, resized to 224x224 with Pillow's bilinear filter."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(np.ascontiguousarray(rgb[top:top + side, left:left + side]))
    return np.asarray(square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))


def to_input(resized: np.ndarray) -> np.ndarray:
    """224x224x3 uint8 RGB -> 1x3x224x224 float32 model input."""
    normalized = (resized.astype(np.float32) - np.float32(PIXEL_MEAN)) / np.float32(PIXEL_STD)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)[None])


def preprocess(rgb: np.ndarray) -> np.ndarray:
    return to_input(crop_and_resize(rgb))


def top_k(logits: np.ndarray, labels: list[str], k: int = TOP_K) -> list[dict]:
    """The k most probable classes with softmax probabilities."""
    logits = np.asarray(logits, dtype=np.float64).ravel()
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    order = np.argsort(-logits, kind="stable")[:k]
    return [{"index": int(i), "label": labels[i], "probability": float(probabilities[i]),
             "logit": float(logits[i])} for i in order]


def milliseconds_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class Classifier:
    """One model, one session per backend, and the timings the page shows.

    Sessions are made with ``create_async`` and run with ``run_async``: the GPU backends
    wait for the browser's device and its readbacks, and the CPU ones run as they would
    with ``run``, so every backend goes through the same calls.
    """

    def __init__(self, model_path: str, labels_path: str):
        with open(model_path, "rb") as f:
            self.model = f.read()
        with open(labels_path, encoding="utf-8") as f:
            self.labels = json.load(f)
        if len(self.labels) != 1000:
            raise ValueError(f"{labels_path}: expected 1000 ImageNet labels, "
                             f"got {len(self.labels)}")
        self.sessions: dict[str, pywebinfer.InferenceSession] = {}
        self.timings: dict[str, dict] = {}
        self.last_input: np.ndarray | None = None

    @staticmethod
    def backends() -> list[dict]:
        """Every backend pywebinfer knows, and whether this build of it has it."""
        built = set(pywebinfer.get_available_providers())
        return [{"name": name, "built": name in built} for name in PROVIDERS]

    async def session(self, provider: str) -> pywebinfer.InferenceSession:
        if provider not in self.sessions:
            start = time.perf_counter()
            session = await pywebinfer.InferenceSession.create_async(
                self.model, providers=PROVIDER_CHAINS.get(provider, [provider]))
            self.sessions[provider] = session
            nodes: dict[str, int] = {}
            for _, _, backend in session.placement:
                nodes[backend] = nodes.get(backend, 0) + 1
            self.timings[provider] = {"provider": provider, "load_ms": milliseconds_since(start),
                                      "first_ms": None, "average_ms": None, "runs": 0,
                                      "nodes": nodes}
        return self.sessions[provider]

    async def load(self, provider: str) -> dict:
        await self.session(provider)
        return self.timings[provider]

    async def predict(self, x: np.ndarray, provider: str) -> tuple[np.ndarray, float]:
        session = await self.session(provider)
        start = time.perf_counter()
        (logits,) = await session.run_async(None, {session.get_inputs()[0].name: x})
        elapsed = milliseconds_since(start)
        if self.timings[provider]["first_ms"] is None:
            self.timings[provider]["first_ms"] = elapsed
        return logits, elapsed

    async def classify(self, rgb: np.ndarray, provider: str) -> dict:
        """Top-5 for an RGB image, the 224x224 crop the model saw, and how long each step took."""
        start = time.perf_counter()
        resized = crop_and_resize(rgb)
        x = to_input(resized)
        preprocess_ms = milliseconds_since(start)
        self.last_input = x
        logits, predict_ms = await self.predict(x, provider)
        return {"provider": provider, "top": top_k(logits, self.labels),
                "image_size": [int(rgb.shape[1]), int(rgb.shape[0])],
                "model_input_rgb": resized.tobytes(),
                "model_input_sha256": hashlib.sha256(x.tobytes()).hexdigest(),
                "preprocess_ms": preprocess_ms, "predict_ms": predict_ms,
                "timings": self.timing_table()}

    async def classify_rgba(self, pixels: bytes, width: int, height: int, provider: str) -> dict:
        return await self.classify(from_rgba(pixels, width, height), provider)

    async def benchmark(self, provider: str, runs: int = 20) -> dict:
        """Average time of `runs` predictions on the last classified image."""
        if self.last_input is None:
            raise ValueError("classify an image before benchmarking")
        if runs < 1:
            raise ValueError(f"runs must be at least 1, got {runs}")
        times = [(await self.predict(self.last_input, provider))[1] for _ in range(runs)]
        row = self.timings[provider]
        row["average_ms"] = float(np.mean(times))
        row["runs"] = runs
        return {"provider": provider, "times_ms": times, "timings": self.timing_table()}

    def timing_table(self) -> list[dict]:
        return [dict(row) for row in self.timings.values()]
