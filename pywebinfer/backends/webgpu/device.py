"""The WebGPU device: adapter and device, buffers, the pipeline cache, command encoding.

One device per page, shared by every session (like onnxruntime-web's): a session owns
only its buffers, which ``close()`` destroys, so the device stays usable for the next.
The device is requested with promises, so ``await request_device()`` (or
``await InferenceSession.create_async(...)``) must run before a session uses "webgpu".

Only this module and the backend touch the JavaScript API (through Pyodide's FFI); the
kernels describe dispatches as data (shaders.Program + tensors + parameter values).
"""
from __future__ import annotations

import numpy as np

from .shaders import UNIFORM_ALIGN, Program, source


class WebGPUUnavailableError(RuntimeError):
    """WebGPU cannot be used here (not in a browser, no navigator.gpu, no adapter)."""


_device: "Device | None" = None


def _js():
    try:
        import js  # noqa: PLC0415  (only inside Pyodide)
        from pyodide.ffi import create_proxy, to_js  # noqa: PLC0415
    except ImportError:
        raise WebGPUUnavailableError("not running in a browser (Pyodide): no WebGPU") from None
    return js, to_js, create_proxy


def available() -> bool:
    """Whether the page offers WebGPU (navigator.gpu); an adapter may still be refused."""
    try:
        js, _, _ = _js()
    except WebGPUUnavailableError:
        return False
    return bool(getattr(getattr(js, "navigator", None), "gpu", None))  # Node has no navigator


def device_memory() -> dict:
    """GPU buffers alive on the shared device, every session together (none: no device)."""
    if _device is None:
        return {"buffers": 0, "bytes": 0}
    return {"buffers": _device.live_buffers, "bytes": _device.live_bytes}


def current_device() -> "Device":
    if _device is None or _device.lost:
        raise WebGPUUnavailableError(
            "no WebGPU device yet: `await pywebinfer.InferenceSession.create_async(...)` or "
            "`await pywebinfer.backends.webgpu.request_device()` before creating the session")
    return _device


async def request_device() -> "Device":
    """The shared device, requested on first use (and again if it was lost)."""
    global _device
    if _device is not None and not _device.lost:
        return _device
    js, to_js, _ = _js()
    gpu = getattr(getattr(js, "navigator", None), "gpu", None)
    if not gpu:
        raise WebGPUUnavailableError("this browser has no navigator.gpu (WebGPU disabled?)")
    adapter = await gpu.requestAdapter()
    if not adapter:
        raise WebGPUUnavailableError("navigator.gpu.requestAdapter() found no adapter")
    features = [f for f in ("timestamp-query",) if adapter.features.has(f)]
    wanted = ("maxStorageBufferBindingSize", "maxBufferSize", "maxStorageBuffersPerShaderStage",
              "maxComputeWorkgroupStorageSize", "maxComputeInvocationsPerWorkgroup",
              "maxComputeWorkgroupSizeX")
    limits = {k: getattr(adapter.limits, k) for k in wanted}
    descriptor = to_js({"requiredFeatures": features, "requiredLimits": limits},
                       dict_converter=js.Object.fromEntries)
    gpu_device = await adapter.requestDevice(descriptor)
    _device = Device(adapter, gpu_device, set(features), limits)
    return _device


# Encoding helpers written in JavaScript: one FFI call per dispatch instead of four.
_HELPERS = r"""
({
  dispatch(pass, pipeline, group, offset, x, y, z) {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group, [offset]);
    pass.dispatchWorkgroups(x, y, z);
  },
  bindGroup(device, layout, buffers, sizes, uniform, uniformSize) {
    const entries = buffers.map((buffer, i) => ({binding: i, resource: {buffer, size: sizes[i]}}));
    entries.push({binding: buffers.length, resource: {buffer: uniform, size: uniformSize}});
    return device.createBindGroup({layout, entries});
  },
  layout(device, writable) {
    const entries = writable.map((w, i) => ({binding: i, visibility: GPUShaderStage.COMPUTE,
      buffer: {type: w ? "storage" : "read-only-storage"}}));
    entries.push({binding: writable.length, visibility: GPUShaderStage.COMPUTE,
      buffer: {type: "uniform", hasDynamicOffset: true}});
    const group = device.createBindGroupLayout({entries});
    return [group, device.createPipelineLayout({bindGroupLayouts: [group]})];
  },
  timestamps(buffer) {
    return Array.from(new BigUint64Array(buffer), (t) => Number(t));
  },
})
"""


class Pipeline:
    __slots__ = ("js", "group_layout", "program", "id")

    def __init__(self, js_pipeline, group_layout, program: Program, ident: int):
        self.js = js_pipeline
        self.group_layout = group_layout
        self.program = program
        self.id = ident


class Device:
    """A GPUDevice with its queue, the compiled-pipeline cache and FFI helpers."""

    def __init__(self, adapter, gpu_device, features: set, limits: dict):
        js, to_js, create_proxy = _js()
        from pyodide.code import run_js  # noqa: PLC0415

        self.js = gpu_device
        self.queue = gpu_device.queue
        self.features = features
        self.limits = limits
        self.timestamps = "timestamp-query" in features
        info = adapter.info
        self.adapter_info = {"vendor": info.vendor, "architecture": info.architecture,
                             "description": info.description,
                             "fallback": bool(getattr(info, "isFallbackAdapter", False))}
        self.lost = False
        self.helpers = run_js(_HELPERS)
        self.usage = js.GPUBufferUsage
        self.map_read = js.GPUMapMode.READ
        self._to_js = to_js
        self._create_proxy = create_proxy
        self._object = js.Object.fromEntries
        self._uint8 = js.Uint8Array
        self._promise_all = js.Promise.all
        self.pipelines: dict[Program, Pipeline] = {}
        self._layouts: dict[tuple, tuple] = {}
        self.compiled = 0  # pipelines compiled on this device, all sessions together
        self.live_buffers = 0  # GPU buffers alive on the device, all sessions together
        self.live_bytes = 0
        self._next_id = 0

        def on_lost(_info):
            self.lost = True

        self._on_lost = create_proxy(on_lost)
        gpu_device.lost.then(self._on_lost)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def obj(self, d: dict):
        return self._to_js(d, dict_converter=self._object)

    # ---- buffers -------------------------------------------------------------------

    def create_buffer(self, nbytes: int, usage: int, label: str = ""):
        buffer = self.js.createBuffer(self.obj({"size": int(nbytes), "usage": usage, "label": label}))
        self.live_buffers += 1
        self.live_bytes += int(nbytes)
        return buffer

    def destroy_buffer(self, buffer, nbytes: int) -> None:
        buffer.destroy()
        self.live_buffers -= 1
        self.live_bytes -= int(nbytes)

    def write(self, buffer, offset: int, data) -> None:
        """queue.writeBuffer from host memory without an intermediate copy."""
        raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        if raw.nbytes % 4:
            raw = np.concatenate([raw, np.zeros(4 - raw.nbytes % 4, np.uint8)])
        proxy = self._create_proxy(raw)
        view = proxy.getBuffer("u8")
        try:
            self.queue.writeBuffer(buffer, offset, view.data)
        finally:
            view.release()
            proxy.destroy()

    def read_mapped(self, buffer, nbytes: int) -> np.ndarray:
        """Bytes of a mapped MAP_READ buffer, copied into a new numpy array."""
        out = np.empty(nbytes, np.uint8)
        self._uint8.new(buffer.getMappedRange(0, nbytes)).assign_to(out)
        return out

    async def map_all(self, buffers) -> None:
        await self._promise_all(self._to_js([b.mapAsync(self.map_read) for b in buffers]))

    # ---- pipelines -----------------------------------------------------------------

    def layout(self, writable: tuple):
        if writable not in self._layouts:
            pair = self.helpers.layout(self.js, self._to_js(list(writable)))
            self._layouts[writable] = (pair[0], pair[1])
        return self._layouts[writable]

    def pipeline(self, program: Program) -> tuple[Pipeline, bool]:
        """The compiled pipeline of a program, and whether it was compiled just now."""
        found = self.pipelines.get(program)
        if found is not None:
            return found, False
        group_layout, pipeline_layout = self.layout(tuple(w for _, _, w in program.tensors))
        module = self.js.createShaderModule(self.obj({"code": source(program), "label": program.label}))
        js_pipeline = self.js.createComputePipeline(self.obj({
            "label": program.label, "layout": pipeline_layout,
            "compute": {"module": module, "entryPoint": "main"}}))
        pipeline = Pipeline(js_pipeline, group_layout, program, self.new_id())
        self.pipelines[program] = pipeline
        self.compiled += 1
        return pipeline, True

    def bind_group(self, pipeline: Pipeline, buffers: list, sizes: list, uniform, uniform_size: int):
        return self.helpers.bindGroup(self.js, pipeline.group_layout, self._to_js(buffers),
                                      self._to_js(sizes), uniform, uniform_size)

    def read_timestamps(self, mapped_buffer) -> list[int]:
        return list(self.helpers.timestamps(mapped_buffer).to_py())


UNIFORM_CHUNK = 64 * 1024  # one uniform buffer holds this many bytes of dispatch blocks


class Encoder:
    """The command stream of one run: one GPUCommandEncoder until submit(), compute
    passes opened and closed around copies, and the dispatches' uniform blocks gathered
    into 64 KiB chunks written once, just before the submit."""

    def __init__(self, device: Device, chunks: list, profiler=None):
        self.device = device
        self.js = device.js.createCommandEncoder()
        self.pass_ = None
        self.chunks = chunks  # the backend's reusable uniform buffers: [js buffer, bytearray]
        self.chunk = 0
        self.offset = 0
        self.used = False
        self.touched: set[int] = set()  # storage ids the stream reads or writes
        self.profiler = profiler

    def uniform(self, block: bytes) -> tuple[object, int]:
        """Place a dispatch's parameters; returns (uniform buffer, offset)."""
        size = len(block)
        if self.offset + size > UNIFORM_CHUNK:
            self.chunk += 1
            self.offset = 0
        if self.chunk == len(self.chunks):
            buffer = self.device.create_buffer(
                UNIFORM_CHUNK, self.device.usage.UNIFORM | self.device.usage.COPY_DST, "uniforms")
            self.chunks.append([buffer, bytearray(UNIFORM_CHUNK)])
        buffer, data = self.chunks[self.chunk]
        data[self.offset:self.offset + size] = block
        offset = self.offset
        self.offset += -(-size // UNIFORM_ALIGN) * UNIFORM_ALIGN
        return buffer, offset

    def _compute_pass(self):
        if self.pass_ is None:
            descriptor = self.profiler.pass_descriptor(self) if self.profiler else None
            self.pass_ = self.js.beginComputePass(descriptor) if descriptor else self.js.beginComputePass()
        return self.pass_

    def end_pass(self) -> None:
        if self.pass_ is not None:
            self.pass_.end()
            self.pass_ = None

    def dispatch(self, pipeline: Pipeline, group, uniform_offset: int, grid) -> None:
        self.used = True
        self.device.helpers.dispatch(self._compute_pass(), pipeline.js, group, uniform_offset, *grid)

    def copy(self, src, src_offset: int, dst, dst_offset: int, nbytes: int) -> None:
        self.used = True
        self.end_pass()
        self.js.copyBufferToBuffer(src, src_offset, dst, dst_offset, nbytes)

    def submit(self) -> None:
        self.end_pass()
        if self.profiler:
            self.profiler.resolve(self)
        used = self.chunk + 1 if self.offset or self.chunk else 0
        for buffer, data in self.chunks[:used]:
            length = UNIFORM_CHUNK if buffer is not self.chunks[self.chunk][0] else self.offset
            if length:
                self.device.write(buffer, 0, np.frombuffer(data, np.uint8, length))
        self.device.queue.submit(self.device._to_js([self.js.finish()]))
