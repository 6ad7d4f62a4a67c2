"""The WebGL2 backend of a session: the device hooks the session calls (see
pywebinfer/session.py) and the small API kernels use (output, scratch, view, draw).

Residency: a host value a node reads is written to a texture when a shader first reads
it (weights once per session, feeds once per run); every node output stays in a
texture; only what the caller or a host node reads comes back (readPixels).

Shape arithmetic stays on the host: Shape and Size give host values, small integer
constants are host values, and a node whose inputs are all such values (Gather of a
shape, Concat of dimensions, ...) is evaluated on the host by the op's reference
kernel, its result a host value too.  Kernels read shape-like inputs (Reshape's shape,
Slice's starts ...) from there; such a value reaches a texture only if a shader reads
it.  ``profile()["host_nodes"]`` counts them; every other node runs as shader draws.
"""
from __future__ import annotations

import time

import numpy as np

from ... import dtypes
from ...ops.registry import REGISTRY
from .device import LOST_MESSAGE, WebGLContextLostError, shared_context
from .pool import TexturePool
from .shaders import Program
from .tensor import ONNX_KINDS, GLTensor, from_texel_data, kind_of, texels, to_texel_data

# an integer constant this small is a shape value: it stays on the host (see above)
META_LIMIT = 1024


class WebGLBackend:
    name = "webgl"
    device = True  # holds values in textures: the session runs it through run_async
    needs_async = True

    def __init__(self, options: dict | None = None):
        self.gl = shared_context()
        self.pool = TexturePool(self.gl)
        self.framebuffer = self.gl.create_framebuffer()
        self.constants: dict[int, tuple] = {}  # id(host array) -> (array, tensor)
        self.derived: dict[tuple, tuple] = {}  # (id(weight), key) -> (weight, tensor)
        self.kept: set[GLTensor] = set()  # outputs handed to the caller
        self.profiling = False
        self.programs_used: set[Program] = set()
        self.programs_compiled = 0
        self.closed = False
        self.lost = False
        self.counts = {"draws": 0, "host_nodes": 0, "readbacks": 0, "uploads": 0}
        self.nodes: list[dict] = []  # per-node times of the last profiled run
        self._outputs: tuple = ()
        self._temps: list[GLTensor] = []

    # ---- session hooks ----------------------------------------------------------------

    def unsupported(self, node, graph) -> str | None:
        from .kernels import rule_of  # noqa: PLC0415

        kinds_in = [_kind_of_value(graph, n) for n in node.inputs]
        kinds_out = [_kind_of_value(graph, n) for n in node.outputs]
        for name, kind in zip(list(node.inputs) + list(node.outputs), kinds_in + kinds_out):
            if kind is False:
                vtype = graph.value_type(name)
                what = vtype.describe()
                if vtype.kind == "tensor" and dtypes.name(vtype.elem_type) not in what:
                    what += f" ({dtypes.name(vtype.elem_type)})"
                return f"{name!r} is {what}, which WebGL2 float textures do not hold"
        return rule_of(node.op_type, node.domain)(node, kinds_in, kinds_out)

    def bind_plan(self, plan, graph) -> None:
        self.pool.bind_plan(plan, graph)

    def begin_run(self) -> None:
        self._check()
        self.counts = dict.fromkeys(self.counts, 0)
        self.nodes = []

    def run(self, entry, ctx, inputs, attrs):
        self._check()
        if self._on_host(entry, inputs):
            return self._evaluate_on_host(entry, ctx, inputs, attrs)
        self._outputs = ctx.output_names
        self._temps = []
        start = time.perf_counter() if self.profiling else 0.0
        try:
            out = entry.fn(ctx, inputs, attrs)
        finally:
            for t in self._temps:
                self.release(t)
            self._temps = []
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if self.profiling:
            self._finish(outs)
            self.nodes.append({"node": ctx.node_name, "op": entry.op_type,
                               "ms": round((time.perf_counter() - start) * 1000, 4)})
        return outs

    def upload(self, array, constant: bool = False) -> GLTensor:
        if constant:
            cached = self.constants.get(id(array))
            if cached is not None and cached[0] is array:
                return cached[1]
        if not isinstance(array, np.ndarray) or array.dtype == object:
            raise ValueError(f"webgl: cannot hold {type(array).__name__} values in a texture")
        kind = kind_of(array.dtype)
        meta = constant and kind == "int" and array.size <= META_LIMIT
        tensor = GLTensor(self, array.shape, array.dtype, host=array, meta=meta, constant=constant)
        if constant:
            self.constants[id(array)] = (array, tensor)
        return tensor

    async def download(self, tensors) -> list[np.ndarray]:
        self._check()
        results = []
        for t in tensors:
            if not t.live:
                raise RuntimeError("webgl: reading a tensor that was released or disposed")
            if t.texture is None:
                results.append(np.array(t.host, dtype=t.dtype).reshape(t.shape))
                continue
            self._check_errors()
            rows = t.texture.rows(t.size)
            values = self.gl.read(self.framebuffer, t.texture.handle, t.texture.width, rows)
            self.counts["readbacks"] += 1
            results.append(from_texel_data(values, t.dtype, t.shape))
        return results

    def release(self, tensor) -> None:
        if not isinstance(tensor, GLTensor) or not tensor.live or tensor.constant:
            return
        tensor.live = False
        self.kept.discard(tensor)
        texture = tensor.texture
        if texture is not None:
            texture.refs -= 1
            if texture.refs == 0 and not self.closed:
                self.pool.give_back(texture)

    def keep(self, tensor: GLTensor) -> GLTensor:
        """Hand an output to the caller, in its texture (preferred_output_location)."""
        if tensor.texture is not None:
            self.pool.detach(tensor.texture)
        self.kept.add(tensor)
        return tensor

    async def end_run(self) -> None:
        if self.closed or self.lost:
            return
        if self.gl.lost:
            self.lost = True
            return
        self.pool.end_run()
        self._check_errors()

    def memory(self) -> dict:
        stats = self.pool.stats()
        return {"buffers": stats["textures"], "bytes": stats["bytes"], "textures": stats["textures"],
                "framebuffers": 0 if self.closed else 1, "free_textures": stats["free"],
                "slot_textures": stats["slots"], "resident_textures": stats["resident"],
                "textures_created": stats["created"], "kept_outputs": len(self.kept)}

    def profile(self) -> dict:
        return {
            "renderer": self.gl.renderer,
            "programs_used": len(self.programs_used),
            "programs_compiled": self.programs_compiled,
            "programs_on_context": self.gl.compiled,
            "draws": self.counts["draws"],  # of the last run
            "host_nodes": self.counts["host_nodes"],
            "readbacks": self.counts["readbacks"],
            "uploads": self.counts["uploads"],
            "profiling": bool(self.profiling),
            # [{"node", "op", "ms"}] of the last profiled run: wall time of each node up
            # to its output being readable (the profiled run waits after every node)
            "nodes": list(self.nodes),
        }

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in list(self.kept):
            t.live = False
        self.kept.clear()
        self.pool.destroy()
        self.gl.delete_framebuffer(self.framebuffer)
        self.constants.clear()
        self.derived.clear()

    # ---- what kernels use ------------------------------------------------------------

    def output(self, index: int, shape, dtype) -> GLTensor:
        """Node output ``index``, in the texture the memory plan gives it."""
        shape = tuple(int(d) for d in shape)
        name = self._outputs[index] if index < len(self._outputs) else ""
        count = int(np.prod(shape, dtype=np.int64))
        return GLTensor(self, shape, dtype, self.pool.acquire(count, name))

    def scratch(self, shape, dtype=np.float32, texture_shape: tuple[int, int] | None = None) -> GLTensor:
        """A temporary tensor, released when the node's kernel returns; ``texture_shape``:
        in a texture of exactly that (width, height)."""
        count = int(np.prod(shape, dtype=np.int64))
        tensor = GLTensor(self, shape, dtype, self.pool.acquire(count, shape=texture_shape))
        self._temps.append(tensor)
        return tensor

    def scratch_targets(self, k: int, shape, dtype=np.float32) -> list[GLTensor]:
        """``k`` temporary tensors in textures of one shape, for a draw into all of them
        (WebGL renders only to attachments of one size)."""
        first = self.scratch(shape, dtype)
        size = (first.texture.width, first.texture.height)
        return [first] + [self.scratch(shape, dtype, size) for _ in range(k - 1)]

    def view(self, x: GLTensor, shape, temporary: bool = False) -> GLTensor:
        """``x``'s data under another shape, without a copy (Reshape, Squeeze, ...); a
        temporary view is released when the node's kernel returns."""
        shape = tuple(int(d) for d in shape)
        if x.texture is None and x.constant and not x.meta:
            self._texture_of(x)  # views of a weight share its resident texture
        host = None if x.host is None else np.asarray(x.host).reshape(shape)
        tensor = GLTensor(self, shape, x.dtype, x.texture, host=host, meta=x.meta)
        if temporary:
            self._temps.append(tensor)
        return tensor

    def host_tensor(self, array: np.ndarray) -> GLTensor:
        """A node output the host computed from shape values (Shape, Size)."""
        array = np.asarray(array)
        return GLTensor(self, array.shape, array.dtype, host=array, meta=True)

    def derive(self, t: GLTensor, key: str, shape, build) -> GLTensor:
        """A tensor computed from ``t`` by ``build(out)`` (weights re-laid out): made once
        and kept for the session when ``t`` is a weight, else a scratch tensor."""
        if not t.constant:
            out = self.scratch(shape, t.dtype)
            build(out)
            return out
        found = self.derived.get((id(t), key))
        if found is not None and found[0] is t:
            return found[1]
        out = GLTensor(self, shape, t.dtype, self.pool.resident(int(np.prod(shape))), constant=True)
        build(out)
        self.derived[(id(t), key)] = (t, out)
        return out

    def temporary_host(self, array: np.ndarray) -> GLTensor:
        """Host data a shader reads during this node only (a table of taps ...)."""
        tensor = GLTensor(self, array.shape, array.dtype, host=array)
        self._temps.append(tensor)
        return tensor

    def values(self, t: GLTensor) -> np.ndarray:
        """The values of a shape-like input: its host copy, else read back now."""
        if t.host is not None:
            return np.asarray(t.host)
        rows = t.texture.rows(t.size)
        data = self.gl.read(self.framebuffer, t.texture.handle, t.texture.width, rows)
        self.counts["readbacks"] += 1
        return from_texel_data(data, t.dtype, t.shape)

    def draw(self, program: Program, out, inputs, values: dict | None = None) -> None:
        """Render ``out`` with ``program``, reading ``inputs`` (in program.inputs order);
        ``out``: a list of program.outs tensors of one size in textures of one shape for
        a program with several render targets (scratch_targets)."""
        targets = list(out) if isinstance(out, (list, tuple)) else [out]
        out = targets[0]
        if len(targets) != program.outs or any(
                t.size != out.size or (t.texture.width, t.texture.height) != (out.texture.width, out.texture.height)
                for t in targets):
            raise ValueError(f"webgl: {program.label} renders {program.outs} texture(s) of one size and shape")
        if out.size == 0:
            return
        compiled, fresh = self.gl.program(program)
        self.programs_compiled += fresh
        self.programs_used.add(program)
        textures = [self._texture_of(t) for t in inputs]
        params = dict(values or {})
        for (name, _), texture in zip(program.inputs, textures):
            params[f"{name}_wmask"] = texture.width - 1
            params[f"{name}_winv"] = 2.0 / texture.width
        count = out.size
        params["out_texels"] = texels(count)
        params["out_width"] = out.texture.width
        params["out_count"] = count
        if program.rank:
            shape = params.pop("oshape", None) or out.shape
            params["oshape"] = shape
            params["ostride"] = strides(shape)
        ints, floats = program.pack(params)
        if program.outs == 1:
            self.gl.draw(self.framebuffer, compiled, ints, floats, [t.handle for t in textures],
                         out.texture.handle, out.texture.width, out.texture.rows(count))
        else:
            self.gl.draw_multi(self.framebuffer, compiled, ints, floats, [t.handle for t in textures],
                               [t.texture.handle for t in targets], out.texture.width,
                               out.texture.rows(count))
        self.counts["draws"] += 1

    # ---- internals --------------------------------------------------------------------

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("webgl: this session was closed")
        if self.lost or self.gl.lost:
            self.lost = True
            raise WebGLContextLostError(LOST_MESSAGE)

    def _check_errors(self) -> None:
        codes = self.gl.errors()
        if codes:
            self._check()
            raise RuntimeError(f"webgl: the context reported GL errors {[hex(c) for c in codes]}")

    def _texture_of(self, t: GLTensor):
        """The texture of a tensor, written from its host values on first use."""
        if t.texture is not None:
            return t.texture
        if not t.live:
            raise RuntimeError("webgl: a released tensor was used")
        host = np.asarray(t.host)
        texture = self.pool.resident(t.size) if t.constant else self.pool.acquire(t.size)
        texture.refs += 1
        try:
            rows = texture.rows(t.size)
            self.gl.write(texture.handle, texture.width, rows, to_texel_data(host, texture.width * rows))
        except BaseException:
            texture.refs -= 1
            self.pool.give_back(texture)
            raise
        t.texture = texture
        self.counts["uploads"] += 1
        return texture

    def _on_host(self, entry, inputs) -> bool:
        from .kernels import HOST_OPS  # noqa: PLC0415

        if entry.op_type not in HOST_OPS or entry.domain:
            return False
        tensors = [t for t in inputs if t is not None]
        return bool(tensors) and all(isinstance(t, GLTensor) and t.meta for t in tensors)

    def _evaluate_on_host(self, entry, ctx, inputs, attrs) -> list:
        reference = REGISTRY.lookup(entry.op_type, entry.domain, ctx.opset, "numpy")
        out = reference.fn(ctx, [None if t is None else np.asarray(t.host) for t in inputs], attrs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        self.counts["host_nodes"] += 1
        return [None if o is None else self.host_tensor(o) for o in outs]

    def _finish(self, outs) -> None:
        """Wait until the node's outputs are computed (profiling): read one texel."""
        for t in outs:
            if isinstance(t, GLTensor) and t.texture is not None and t.size:
                self.gl.read(self.framebuffer, t.texture.handle, 1, 1)


def strides(shape) -> list[int]:
    out = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        out[k] = out[k + 1] * int(shape[k + 1])
    return out


def _kind_of_value(graph, name: str):
    """The texture kind of a value's element type; None when unknown; False when a
    texture cannot hold it (float64, strings, bfloat16, float8, complex, sequences ...)."""
    if not name:
        return None
    vtype = graph.value_type(name)
    if vtype is None or (vtype.kind == "tensor" and not vtype.elem_type):
        return None
    if vtype.kind != "tensor":
        return False
    return ONNX_KINDS.get(vtype.elem_type, False)
