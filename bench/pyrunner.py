"""pywebinfer's side of the benchmark: runs inside Pyodide, in one worker per backend.

The harness (harness.js) writes this file and the workload's files into the worker's file
system, then calls Runner's methods through pywebinfer.js's runPython.  Times are taken
here, around the session calls only, with time.perf_counter (performance.now() in Pyodide).
"""
from __future__ import annotations

import collections
import gc
import time

import js  # Pyodide's bridge to the worker's JS globals (bench.meter, from common.js)
import numpy as np
import pyodide_js

import pywebinfer

# GPU backends read results back through the event loop: they run with run_async
ASYNC_BACKENDS = ("webgpu", "webgl")
# CPU backends, best first: nodes a backend lacks fall back to the next ones, as
# onnxruntime-web's EPs fall back to its CPU kernels
CPU_BACKENDS = ("wasm", "numpy")


def read_tensor(desc: dict) -> np.ndarray:
    return np.fromfile(desc["path"], dtype=np.dtype(desc["dtype"])).reshape(desc["shape"])


def max_abs_diff(outputs: list, references: list) -> float:
    worst = 0.0
    for actual, expected in zip(outputs, references):
        actual = np.asarray(actual, dtype=np.float64)
        if actual.shape != expected.shape:
            raise ValueError(f"output shape {actual.shape} differs from the reference's "
                             f"{expected.shape}")
        diff = np.abs(actual - expected)
        worst = max(worst, float(diff.max()) if np.isfinite(diff).all() else float("inf"))
    return worst


class Runner:
    def __init__(self, backend: str, threads: int = 1):
        self.backend = backend
        self.threads = int(threads or 1)  # the wasm backend's (intra_op_num_threads)
        self.available = list(pywebinfer.get_available_providers())
        fallback = CPU_BACKENDS[CPU_BACKENDS.index(backend) + 1:] if backend in CPU_BACKENDS \
            else CPU_BACKENDS
        self.providers = [backend] + [p for p in fallback if p in self.available]
        self.session = None

    def describe(self) -> dict:
        return {"version": pywebinfer.__version__, "available": self.available,
                "providers": self.providers}

    async def load(self, spec: dict) -> dict:
        self.feeds = {d["name"]: read_tensor(d) for d in spec["inputs"]}
        self.references = [read_tensor(d).astype(np.float64) for d in spec["outputs"]]
        self.output_names = [d["name"] for d in spec["outputs"]]
        with open(spec["model_path"], "rb") as f:
            model = f.read()
        js.bench.meter.resetPeak()
        start = time.perf_counter()
        options = pywebinfer.SessionOptions()
        options.intra_op_num_threads = self.threads
        # create_async awaits what a GPU backend needs (its device), and the wasm
        # backend's worker pool, before building
        self.session = await pywebinfer.InferenceSession.create_async(model, options,
                                                                     providers=self.providers)
        load_ms = (time.perf_counter() - start) * 1000
        threads = self.session.wasm_threads
        if self.backend == "wasm" and self.threads > 1 and threads["mode"] != "worker-pool":
            # never report one thread's times as several threads'
            raise RuntimeError(f"{self.threads} wasm threads requested, got {threads}")
        placement = collections.Counter(backend for _, _, backend in self.session.placement)
        return {"load_ms": load_ms, "providers": self.providers, "placement": dict(placement),
                "wasm_threads": threads}

    async def run(self, check: bool) -> dict:
        start = time.perf_counter()
        if self.backend in ASYNC_BACKENDS:
            outputs = await self.session.run_async(self.output_names, self.feeds)
        else:
            outputs = self.session.run(self.output_names, self.feeds)
        result = {"ms": (time.perf_counter() - start) * 1000}
        if check:
            result["max_abs_diff"] = max_abs_diff(outputs, self.references)
        return result

    def memory(self) -> dict:
        snapshot = js.bench.meter.snapshot().to_py()
        # Pyodide's own heap: the meter was installed after Pyodide had made it
        snapshot["wasm_heap_bytes"] = pyodide_js._module.HEAPU8.length
        return snapshot

    def unload(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = self.feeds = self.references = None
        gc.collect()
