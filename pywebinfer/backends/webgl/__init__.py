"""The WebGL2 backend: GLSL ES 3.00 fragment shaders on float textures, for browsers
without WebGPU.

    device.py    the shared WebGL2 context, program cache, draws, readbacks (the only
                 JS-facing code)
    pool.py      the session's texture pool, driven by the core's memory plan
    tensor.py    GLTensor, and how tensors are packed in RGBA32F textures
    shaders.py   shaders/glsl/*.glsl + a generated preamble (index helpers, uniforms)
    backend.py   the session hooks (upload, download, release, ...) and the kernel API
    kernels/     one file per kernel family, registered under backend "webgl"

In the browser (Pyodide)::

    sess = pywebinfer.InferenceSession("model.onnx", providers=["webgl"])
    (y,) = await sess.run_async(None, {"x": x})

The kernels register in CPython too (no browser needed), so the registry and the
support table know what WebGL claims everywhere.
"""
from __future__ import annotations

from . import kernels  # noqa: F401  (registers the webgl kernels)
from .backend import WebGLBackend
from .device import WebGLContextLostError, WebGLUnavailableError, available, context_memory
from .tensor import GLTensor

__all__ = ["WebGLBackend", "WebGLContextLostError", "WebGLUnavailableError", "GLTensor", "available",
           "context_memory"]
