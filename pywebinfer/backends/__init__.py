"""Backends: each runs the kernels registered under its name.

A backend never imports another; the session moves values between them.  Provider names
a user passes to InferenceSession map to backends here.  The browser backends (webgpu,
webgl, wasm) are added by their own packages of kernels and appear here when present.
"""
from __future__ import annotations

PROVIDERS = ("webgpu", "webgl", "wasm", "numpy")

# onnxruntime's provider names, so code written for onnxruntime runs unchanged
ALIASES = {"CPUExecutionProvider": "numpy", "WebGpuExecutionProvider": "webgpu",
           "JsExecutionProvider": "webgpu", "WebGLExecutionProvider": "webgl",
           "WasmExecutionProvider": "wasm"}


def create(name: str, options: dict | None = None):
    """Instantiate the backend for a provider name, or raise ValueError naming why not."""
    if name == "numpy":
        from .numpy import NumpyBackend

        return NumpyBackend()
    if name == "wasm":
        from .wasm import WasmBackend, WasmUnavailableError

        try:
            return WasmBackend()
        except WasmUnavailableError as e:
            raise ValueError(f"provider 'wasm' is not available here: {e}") from None
    if name in PROVIDERS:
        raise ValueError(
            f"provider {name!r} is not available in this build of pywebinfer "
            f"(available: ['numpy'])"
        )
    raise ValueError(f"unknown provider {name!r}; known providers: {list(PROVIDERS)}")


def available_providers() -> list[str]:
    from .wasm import available as wasm_available

    return (["wasm"] if wasm_available() else []) + ["numpy"]
