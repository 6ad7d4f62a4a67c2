"""The wasm backend: hand-written WebAssembly SIMD128 kernels for the CPU.

Its tensors are plain numpy arrays, like the numpy backend's: in Pyodide the kernels work
on them in place (zero copy, see module.py); in CPython, where the module runs under
wasmtime for tests, they are copied in and out.  Kernels are registered in kernels.py
under backend "wasm"; ops without one run on the next provider (``providers=["wasm",
"numpy"]``), and ``InferenceSession.placement`` says which backend ran each node.
"""
from __future__ import annotations

import numpy as np

from ... import dtypes

from . import kernels  # noqa: F401  (registers the wasm kernels)
from . import threads
from .module import WasmUnavailableError, kernel_variant, library


# ops whose non-first inputs are integer parameters (axes, shapes), not data
_INDEX_INPUTS = {"Reshape", "Squeeze", "Unsqueeze", "ReduceSum", "ReduceMean", "ReduceMax",
                 "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                 "ReduceLogSumExp", "ReduceSumSquare", "Clip"}


class WasmBackend:
    name = "wasm"
    needs_async = False

    def __init__(self):
        self.library = library()  # loads the module now, so a missing one fails at load
        self.pool = None
        self.threads_report = {"mode": "single", "threads": 1, "requested": 0,
                               "reason": "threads not configured"}

    def set_threads(self, requested: int) -> None:
        """Start a worker pool for ``requested`` threads (0: onnxruntime-web's default)
        where the page allows it (threads.py); otherwise the report says why not."""
        self.pool, self.threads_report = threads.start(self.library, requested)

    def threads_info(self) -> dict:
        """{"mode": "worker-pool" | "starting" | "single", "threads": n, ...}: "starting"
        while the workers boot (this thread must yield first; ops run on one thread)."""
        report = dict(self.threads_report)
        report["kernels"] = self.library.variant  # "relaxed" (FMA) or "plain" (module.py)
        if self.pool is not None:
            report.pop("reason", None)
            report.update(self.pool.info())
        return report

    async def wait_ready(self) -> None:
        if self.pool is not None:
            await self.pool.wait_ready()

    def unsupported(self, node, graph) -> str | None:
        """Why the kernels cannot take this node, so that placement sends it to the next
        provider and says so (they handle float32; other types would only reach numpy
        inside the kernel, out of the user's sight)."""
        for name in list(node.inputs) + list(node.outputs):
            vtype = graph.value_type(name) if name else None
            if vtype is not None and vtype.kind == "tensor" and vtype.elem_type not in (0, dtypes.FLOAT):
                if node.op_type in _INDEX_INPUTS and name in node.inputs[1:]:
                    continue  # integer shapes/axes inputs are fine
                return f"its kernels take float32, {name!r} is {dtypes.name(vtype.elem_type)}"
        if node.op_type == "MaxPool" and len([o for o in node.outputs if o]) > 1:
            return "MaxPool's Indices output is computed by the reference kernel only"
        return None

    def run(self, entry, ctx, inputs, attrs):
        previous, threads.ACTIVE = threads.ACTIVE, self.pool  # big GEMMs / convolutions go to the pool
        try:
            out = entry.fn(ctx, inputs, attrs)
        finally:
            threads.ACTIVE = previous
        if isinstance(out, (list, tuple)):
            return [np.asarray(o) if isinstance(o, np.generic) else o for o in out]
        return [np.asarray(out) if isinstance(out, np.generic) else out]

    def close(self) -> None:
        # packed weights belong to the session's kernel states and are freed with them;
        # the module itself is shared by every session of the process; the pool (its
        # workers and shared memory) is this session's own
        if self.pool is not None:
            self.pool.close()


def available() -> bool:
    """Whether the wasm backend can run here (module built, a wasm runtime present)."""
    try:
        library()
    except WasmUnavailableError:
        return False
    return True


__all__ = ["WasmBackend", "WasmUnavailableError", "available", "kernel_variant"]
