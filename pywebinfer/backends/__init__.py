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
    if name == "webgpu":
        from .webgpu import WebGPUBackend, WebGPUUnavailableError

        try:
            return WebGPUBackend(options)
        except WebGPUUnavailableError as e:
            raise ValueError(f"provider 'webgpu' is not available here: {e}") from None
    if name == "webgl":
        from .webgl import WebGLBackend, WebGLUnavailableError

        try:
            return WebGLBackend(options)
        except WebGLUnavailableError as e:
            raise ValueError(f"provider 'webgl' is not available here: {e}") from None
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


async def prepare_async(names) -> None:
    """Await what the named providers need before a session can use them (the WebGPU
    device is requested with promises).  Unknown or unavailable names are left to
    create(), which says why."""
    if "webgpu" in names:
        from .webgpu import WebGPUUnavailableError, request_device

        try:
            await request_device()
        except WebGPUUnavailableError:
            pass


def load_backend_kernels(name: str) -> None:
    """Register a backend's kernels without needing its runtime (e.g. a GPU), so the
    registry can say what it claims anywhere (support table, conformance skips)."""
    if name == "webgpu":
        from .webgpu import kernels  # noqa: F401
    elif name == "webgl":
        from .webgl import kernels  # noqa: F401
    elif name == "wasm":
        from .wasm import kernels  # noqa: F401


def available_providers() -> list[str]:
    from .wasm import available as wasm_available
    from .webgl import available as webgl_available
    from .webgpu import available as webgpu_available

    return ((["webgpu"] if webgpu_available() else []) + (["webgl"] if webgl_available() else [])
            + (["wasm"] if wasm_available() else []) + ["numpy"])
