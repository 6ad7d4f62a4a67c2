"""The wasm backend: hand-written WebAssembly SIMD128 kernels for the CPU.

Its tensors are plain numpy arrays, like the numpy backend's: in Pyodide the kernels work
on them in place (zero copy, see module.py); in CPython, where the module runs under
wasmtime for tests, they are copied in and out.  Kernels are registered in kernels.py
under backend "wasm"; ops without one run on the next provider (``providers=["wasm",
"numpy"]``), and ``InferenceSession.placement`` says which backend ran each node.
"""
from __future__ import annotations

import numpy as np

from . import kernels  # noqa: F401  (registers the wasm kernels)
from .module import WasmUnavailableError, library


class WasmBackend:
    name = "wasm"
    needs_async = False

    def __init__(self):
        self.library = library()  # loads the module now, so a missing one fails at load

    def run(self, entry, ctx, inputs, attrs):
        out = entry.fn(ctx, inputs, attrs)
        if isinstance(out, (list, tuple)):
            return [np.asarray(o) if isinstance(o, np.generic) else o for o in out]
        return [np.asarray(out) if isinstance(out, np.generic) else out]

    def close(self) -> None:
        # packed weights belong to the session's kernel states and are freed with them;
        # the module itself is shared by every session of the process
        pass


def available() -> bool:
    """Whether the wasm backend can run here (module built, a wasm runtime present)."""
    try:
        library()
    except WasmUnavailableError:
        return False
    return True


__all__ = ["WasmBackend", "WasmUnavailableError", "available"]
