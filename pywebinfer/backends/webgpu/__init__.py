"""The WebGPU backend: WGSL compute shaders, tensors resident on the GPU.

    device.py    adapter, device, pipeline cache, command encoding (the only JS-facing code)
    pool.py      the session's buffer pool, driven by the core's memory plan
    tensor.py    GPUTensor and the layout of each element type in GPU buffers
    shaders.py   shaders/wgsl/*.wgsl + a generated preamble (bindings, helpers, uniforms)
    backend.py   the session hooks (upload, download, release, ...) and the kernel API
    kernels/     one file per kernel family, registered under backend "webgpu"

In the browser (Pyodide with navigator.gpu)::

    sess = await pywebinfer.InferenceSession.create_async("model.onnx", providers=["webgpu"])
    (y,) = await sess.run_async(None, {"x": x})

The kernels register in CPython too (no GPU needed), so the registry and the support
table know what WebGPU claims everywhere.
"""
from __future__ import annotations

from . import kernels  # noqa: F401  (registers the webgpu kernels)
from .backend import WebGPUBackend
from .device import WebGPUUnavailableError, available, device_memory, request_device
from .tensor import GPUTensor

__all__ = ["WebGPUBackend", "WebGPUUnavailableError", "GPUTensor", "available", "device_memory",
           "request_device"]
