"""The WebGPU backend of a session: the device hooks the session calls (see
pywebinfer/session.py) and the small API kernels use (empty, dispatch, copy, view).

Residency: a host value a GPU node reads is uploaded once per run (weights once per
session); every node output stays in a GPU buffer; the run's dispatches go into one
command encoder, submitted when something must be read back (the outputs, together, at
the end; or a value a CPU node reads); outputs the caller keeps on the GPU are never
read back.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...ops.registry import REGISTRY
from .device import Encoder, current_device
from .pool import BufferPool
from .shaders import Program, dispatch_grid
from .tensor import ONNX_KINDS, GPUTensor, from_gpu_words, gpu_nbytes, to_gpu_words

# a tensor this small keeps its values on the host as well ("known"): shape-like inputs
# (Reshape's shape, Slice's starts, ...) are read from there without a readback
KNOWN_LIMIT = 64
QUERY_CAPACITY = 4096  # timestamp queries per submission (two per timed pass)


class WebGPUBackend:
    name = "webgpu"
    device = True  # holds values in device memory: the session runs it through run_async
    needs_async = True

    def __init__(self, options: dict | None = None):
        self.gpu = current_device()
        usage = self.gpu.usage
        self.pool = BufferPool(self.gpu, usage.STORAGE | usage.COPY_SRC | usage.COPY_DST, "tensor")
        self.staging = BufferPool(self.gpu, usage.MAP_READ | usage.COPY_DST, "readback")
        self.chunks: list = []  # uniform buffers, reused by every run
        self.encoder: Encoder | None = None
        self.groups: dict[tuple, object] = {}  # bind groups by (pipeline, buffers, chunk)
        self.constants: dict[int, tuple] = {}  # id(host array) -> (array, resident tensor)
        self.kept: set[GPUTensor] = set()  # outputs handed to the caller
        self.profiling = False
        self.profiler: _Profiler | None = None
        self.programs_used: set[Program] = set()
        self.pipelines_compiled = 0
        self.in_run = False
        self.closed = False
        # what the current (or last) run did: one submission and one readback per output
        # when every node is on the GPU
        self.counts = {"submits": 0, "readbacks": 0, "uploads": 0, "dispatches": 0}
        self._outputs: tuple = ()
        self._temps: list[GPUTensor] = []
        self._dummy: GPUTensor | None = None

    # ---- session hooks ----------------------------------------------------------------

    def unsupported(self, node, graph) -> str | None:
        from .kernels import dtype_rule  # noqa: PLC0415

        kinds_in = [_kind_of_value(graph, n) for n in node.inputs]
        kinds_out = [_kind_of_value(graph, n) for n in node.outputs]
        for name, kind in zip(list(node.inputs) + list(node.outputs), kinds_in + kinds_out):
            if kind is False:
                vtype = graph.value_type(name)
                return f"{name!r} is {vtype.describe()}, which the GPU does not hold"
        about = _NodeFacts(graph.opset(node.domain),
                           [graph.initializers.get(n) if n else None for n in node.inputs],
                           [bool(n) for n in node.inputs])
        return dtype_rule(node.op_type, node.domain)(kinds_in, kinds_out, node.attrs, about)

    def bind_plan(self, plan, graph) -> None:
        self.pool.bind_plan(plan)

    def begin_run(self) -> None:
        self._check_open()
        self.in_run = True
        self.counts = {"submits": 0, "readbacks": 0, "uploads": 0, "dispatches": 0}
        self.gpu.js.pushErrorScope("validation")
        self.gpu.js.pushErrorScope("out-of-memory")
        if self.profiling and self.gpu.timestamps:
            self.profiler = self.profiler or _Profiler(self)
            self.profiler.start_run()

    def run(self, entry, ctx, inputs, attrs):
        self._outputs = ctx.output_names
        self._temps = []
        if self.profiler is not None and self.in_run:
            self.profiler.node(ctx.node_name or entry.op_type, entry.op_type, self._encoder())
        try:
            out = entry.fn(ctx, inputs, attrs)
        finally:
            for t in self._temps:
                self.release(t)
            self._temps = []
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        self._mirror_known(entry, ctx, inputs, attrs, outs)
        return outs

    def upload(self, array, constant: bool = False) -> GPUTensor:
        if constant:
            cached = self.constants.get(id(array))
            if cached is not None and cached[0] is array:
                return cached[1]
        array = np.asarray(array)
        if not isinstance(array, np.ndarray) or array.dtype == object:
            raise ValueError(f"webgpu: cannot upload {type(array).__name__} values to the GPU")
        words = to_gpu_words(array)
        if array.size <= KNOWN_LIMIT:
            tensor = GPUTensor(self, array.shape, array.dtype, None, known=array.copy(), constant=constant)
            tensor._pending = words
        else:
            nbytes = gpu_nbytes(array.dtype, array.size)
            storage = (self.pool.constant(nbytes) if constant else
                       self.pool.acquire(nbytes, avoid=self._touched()))
            self.gpu.write(storage.buffer, 0, words)
            self.counts["uploads"] += 1
            tensor = GPUTensor(self, array.shape, array.dtype, storage, constant=constant)
        if constant:
            self.constants[id(array)] = (array, tensor)
        return tensor

    async def download(self, tensors) -> list[np.ndarray]:
        self._check_open()
        results: list = [None] * len(tensors)
        reads = []
        for i, t in enumerate(tensors):
            if not t._live:
                raise RuntimeError("webgpu: reading a tensor that was released or disposed")
            if t.storage is None:  # never written on the GPU: its host values are its data
                results[i] = np.array(t.known, dtype=t.dtype).reshape(t.shape)
                continue
            if t.size == 0:
                results[i] = np.empty(t.shape, t.dtype)
                continue
            nbytes = 4 * t.words_per_element * t.size
            staging = self.staging.acquire(nbytes)
            self.counts["readbacks"] += 1
            self._encoder().copy(t.storage.buffer, 0, staging.buffer, 0, nbytes)
            reads.append((i, t, staging, nbytes))
        if reads:
            self._submit()
            await self.gpu.map_all([s.buffer for _, _, s, _ in reads])
            for i, t, staging, nbytes in reads:
                raw = self.gpu.read_mapped(staging.buffer, nbytes)
                staging.buffer.unmap()
                self.staging.give_back(staging)
                results[i] = from_gpu_words(raw, t.dtype, t.shape)
        return results

    def release(self, tensor) -> None:
        if not isinstance(tensor, GPUTensor) or not tensor._live or tensor.constant:
            return
        tensor._live = False
        self.kept.discard(tensor)
        storage = tensor.storage
        if storage is not None:
            storage.refs -= 1
            if storage.refs == 0:
                storage.owner.give_back(storage)

    def adopt(self, value) -> GPUTensor | None:
        """A tensor of another session on this same device, read in place (an earlier
        model's output kept on the GPU); None when it is not one."""
        if isinstance(value, GPUTensor) and value.backend.gpu is self.gpu and value._live:
            tensor = GPUTensor(self, value.shape, value.dtype, value.storage, known=value.known)
            tensor._pending = value._pending
            return tensor
        return None

    def keep(self, tensor: GPUTensor) -> GPUTensor:
        """Hand an output to the caller, on the GPU (preferred_output_location)."""
        self.kept.add(tensor)
        return tensor

    async def end_run(self) -> None:
        if self.closed:
            return
        if self.encoder is not None and self.encoder.used:
            self._submit()
        self.encoder = None
        self.in_run = False
        errors = [await self.gpu.js.popErrorScope(), await self.gpu.js.popErrorScope()]
        if self.profiler is not None:
            await self.profiler.collect()
        self.pool.end_run()
        self.staging.end_run()
        live = self.pool.live
        self.groups = {k: g for k, g in self.groups.items() if all(i in live for i in k[1])}
        messages = [str(e.message) for e in errors if e]
        if messages:
            raise RuntimeError("webgpu: the GPU reported errors during the run:\n" + "\n".join(messages))

    def memory(self) -> dict:
        tensors = self.pool.stats()
        readback = self.staging.stats()
        uniform_bytes = sum(len(data) for _, data in self.chunks)
        return {
            "buffers": tensors["buffers"] + readback["buffers"] + len(self.chunks),
            "bytes": tensors["bytes"] + readback["bytes"] + uniform_bytes,
            "tensor_buffers": tensors, "readback_buffers": readback["buffers"],
            "readback_bytes": readback["bytes"], "uniform_buffers": len(self.chunks),
            "uniform_bytes": uniform_bytes, "kept_outputs": len(self.kept),
            "bind_groups_cached": len(self.groups),
        }

    def profile(self) -> dict:
        nodes = self.profiler.last if self.profiler is not None else []
        return {
            "adapter": dict(self.gpu.adapter_info),
            "pipelines_used": len(self.programs_used),
            "pipelines_compiled": self.pipelines_compiled,
            "pipelines_on_device": self.gpu.compiled,
            "timestamp_query": self.gpu.timestamps,
            "profiling": bool(self.profiling),
            "last_run": dict(self.counts),  # submissions, readbacks, uploads, dispatches
            "nodes": nodes,  # [{"node", "op", "gpu_ms"}] of the last profiled run
            "gpu_ms": round(sum(n["gpu_ms"] for n in nodes), 4) if nodes else None,
        }

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in list(self.kept):
            t._live = False
        self.kept.clear()
        self.pool.destroy()
        self.staging.destroy()
        for buffer, data in self.chunks:
            self.gpu.destroy_buffer(buffer, len(data))
        self.chunks.clear()
        if self.profiler is not None:
            self.profiler.destroy()
        self.constants.clear()
        self.groups.clear()
        self.encoder = None
        self._dummy = None

    # ---- what kernels use ------------------------------------------------------------

    def empty(self, shape, dtype, out: int | None = None) -> GPUTensor:
        """A new tensor: node output ``out`` (placed by the memory plan), or a scratch
        tensor released when the node's kernel returns."""
        shape = tuple(int(d) for d in shape)
        count = int(np.prod(shape, dtype=np.int64))
        name = self._outputs[out] if out is not None and out < len(self._outputs) else ""
        storage = self.pool.acquire(gpu_nbytes(dtype, count), name)
        tensor = GPUTensor(self, shape, dtype, storage)
        if out is None:
            self._temps.append(tensor)
        return tensor

    def view(self, x: GPUTensor, shape) -> GPUTensor:
        """``x``'s data under another shape, without a copy (Reshape, Squeeze, ...)."""
        known = None if x.known is None else np.asarray(x.known).reshape(shape)
        tensor = GPUTensor(self, shape, x.dtype, x.storage, known=known)
        if x.storage is None:
            tensor._pending = x._pending
        return tensor

    def host_value(self, array: np.ndarray) -> GPUTensor:
        """A node output whose values the host computed from metadata (Shape, Size):
        written to the GPU when a shader first reads it."""
        array = np.asarray(array)
        tensor = GPUTensor(self, array.shape, array.dtype, None, known=array)
        tensor._pending = to_gpu_words(array)
        return tensor

    def scratch(self, array: np.ndarray) -> GPUTensor:
        """Host data a kernel needs for one dispatch (a lookup table): uploaded now,
        released when the kernel returns."""
        tensor = self.upload(np.ascontiguousarray(array))
        self._temps.append(tensor)
        return tensor

    def dummy(self) -> GPUTensor:
        """A one-element tensor bound where a program's optional input is absent (the
        shader never reads it: the program is compiled without that input)."""
        if self._dummy is None:
            self._dummy = self.upload(np.zeros(1, np.float32), constant=True)
        return self._dummy

    def dispatch(self, program: Program, tensors: list, params: dict, threads: int | None = None,
                 grid: tuple | None = None) -> None:
        if threads is not None and threads == 0:
            return
        pipeline, compiled = self.gpu.pipeline(program)
        self.pipelines_compiled += compiled
        self.programs_used.add(program)
        encoder = self._encoder()
        for t in tensors:
            self._materialize(t)
        uniform, offset = encoder.uniform(program.pack(params))
        ids = tuple(t.storage.id for t in tensors)
        key = (pipeline.id, ids, encoder.chunk)
        group = self.groups.get(key)
        if group is None:
            group = self.gpu.bind_group(pipeline, [t.storage.buffer for t in tensors],
                                        [t.storage.nbytes for t in tensors], uniform,
                                        program.uniform_bytes)
            self.groups[key] = group
        encoder.touched.update(ids)
        self.counts["dispatches"] += 1
        if grid is None:
            grid = dispatch_grid(-(-int(threads) // program.workgroup))
        encoder.dispatch(pipeline, group, offset, grid)

    def copy(self, src: GPUTensor, dst: GPUTensor, src_element: int = 0, dst_element: int = 0,
             count: int | None = None) -> None:
        """Copy elements (a contiguous run) between tensors of the same element type."""
        words = src.words_per_element
        count = src.size if count is None else count
        if count == 0:
            return
        self._materialize(src)
        self._materialize(dst)
        encoder = self._encoder()
        encoder.touched.update((src.storage.id, dst.storage.id))
        encoder.copy(src.storage.buffer, 4 * words * src_element, dst.storage.buffer,
                     4 * words * dst_element, 4 * words * count)

    # ---- internals --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("webgpu: this session was closed")

    def _encoder(self) -> Encoder:
        if self.encoder is None:
            self.encoder = Encoder(self.gpu, self.chunks, self.profiler if self.in_run else None)
        return self.encoder

    def _touched(self) -> set:
        return self.encoder.touched if self.encoder is not None else set()

    def _submit(self) -> None:
        if self.encoder is not None:
            self.counts["submits"] += 1
            self.encoder.submit()
            self.encoder = None

    def _materialize(self, t: GPUTensor) -> None:
        """Write a host-known tensor into a buffer the first time a shader reads it."""
        if t.storage is not None:
            return
        if not t._live:
            raise RuntimeError("webgpu: a released tensor was used")
        nbytes = gpu_nbytes(t.dtype, t.size)
        storage = self.pool.constant(nbytes) if t.constant else self.pool.acquire(nbytes, avoid=self._touched())
        if t.size:
            self.gpu.write(storage.buffer, 0, t._pending)
            self.counts["uploads"] += 1
        t.storage = storage
        storage.refs += 1
        t._pending = None

    def _mirror_known(self, entry, ctx, inputs, attrs, outs) -> None:
        """Give small outputs computed only from host-known values their host values too
        (the numpy kernel's result), so shape arithmetic (Shape -> Gather -> Concat ->
        Reshape) never waits for a readback.  The GPU computed them as well."""
        tensors = [t for t in inputs if t is not None]
        if not tensors or not all(isinstance(t, GPUTensor) and t.known is not None for t in tensors):
            return
        if not all(isinstance(o, GPUTensor) and o.known is None and o.size <= KNOWN_LIMIT for o in outs):
            return
        reference = REGISTRY.lookup(entry.op_type, entry.domain, ctx.opset, "numpy")
        if reference is None or reference.prepare is not None:
            return
        try:
            host = reference.fn(dataclasses.replace(ctx, state=None),
                                [None if t is None else t.known for t in inputs], attrs)
        except Exception:  # noqa: BLE001  (no host copy then; the GPU result stands)
            return
        host = list(host) if isinstance(host, (list, tuple)) else [host]
        for o, h in zip(outs, host):
            h = np.asarray(h)
            if h.shape == o.shape and h.dtype == o.dtype:
                o.known = h


class _NodeFacts:
    """What a kernel's load-time rule may know of a node besides its types."""

    __slots__ = ("opset", "constants", "present")

    def __init__(self, opset: int, constants: list, present: list):
        self.opset = opset
        self.constants = constants  # each input's value when it is an initializer
        self.present = present  # whether each input is given (not an empty name)


def _kind_of_value(graph, name: str):
    """The GPU kind of a value's element type; None when unknown; False when the GPU
    cannot hold it (strings, bfloat16, float8, complex, sequences ...)."""
    if not name:
        return None
    vtype = graph.value_type(name)
    if vtype is None or (vtype.kind == "tensor" and not vtype.elem_type):
        return None
    if vtype.kind != "tensor":
        return False
    return ONNX_KINDS.get(vtype.elem_type, False)


class _Profiler:
    """Per-node GPU times from timestamp queries: each node's dispatches get their own
    compute pass, whose begin and end the GPU stamps (copies between passes are not
    timed).  Read back at the end of the run."""

    def __init__(self, backend: WebGPUBackend):
        gpu = backend.gpu
        self.gpu = gpu
        self.query_set = gpu.js.createQuerySet(gpu.obj({"type": "timestamp", "count": QUERY_CAPACITY}))
        self.resolve_buffer = gpu.create_buffer(
            8 * QUERY_CAPACITY, gpu.usage.QUERY_RESOLVE | gpu.usage.COPY_SRC, "timestamps")
        self.staging = backend.staging
        self.current = ("", "")
        self.count = 0
        self.labels: list[tuple[str, str]] = []
        self.pending: list = []
        self.last: list[dict] = []
        self._totals: dict = {}

    def start_run(self) -> None:
        self.pending = []
        self._totals = {}

    def node(self, name: str, op: str, encoder: Encoder) -> None:
        encoder.end_pass()  # the node's dispatches open a pass of their own
        self.current = (name, op)

    def pass_descriptor(self, encoder: Encoder):
        if self.count + 2 > QUERY_CAPACITY:
            return None
        index = self.count
        self.count += 2
        self.labels.append(self.current)
        return self.gpu.obj({"timestampWrites": {
            "querySet": self.query_set, "beginningOfPassWriteIndex": index,
            "endOfPassWriteIndex": index + 1}})

    def resolve(self, encoder: Encoder) -> None:
        if not self.count:
            return
        nbytes = 8 * self.count
        staging = self.staging.acquire(nbytes)
        encoder.js.resolveQuerySet(self.query_set, 0, self.count, self.resolve_buffer, 0)
        encoder.js.copyBufferToBuffer(self.resolve_buffer, 0, staging.buffer, 0, nbytes)
        self.pending.append((staging, nbytes, self.labels))
        self.count = 0
        self.labels = []

    async def collect(self) -> None:
        if not self.pending:
            return
        await self.gpu.map_all([s.buffer for s, _, _ in self.pending])
        order: list[tuple[str, str]] = []
        for staging, nbytes, labels in self.pending:
            stamps = self.gpu.read_timestamps(staging.buffer.getMappedRange(0, nbytes))
            staging.buffer.unmap()
            self.staging.give_back(staging)
            for k, label in enumerate(labels):
                if label not in self._totals:
                    order.append(label)
                    self._totals[label] = 0.0
                self._totals[label] += max(0, stamps[2 * k + 1] - stamps[2 * k]) / 1e6
        self.pending = []
        self.last = [{"node": n, "op": op, "gpu_ms": round(self._totals[(n, op)], 4)} for n, op in order]

    def destroy(self) -> None:
        self.query_set.destroy()
        self.gpu.destroy_buffer(self.resolve_buffer, 8 * QUERY_CAPACITY)


__all__ = ["WebGPUBackend"]
