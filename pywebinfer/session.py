"""InferenceSession: an onnxruntime-compatible API over the graph executor.

Load -> optimize (passes) -> place each node on a backend -> plan value lifetimes ->
run.  Everything that can be wrong with a model (a bad file, an op with no kernel on the
requested providers) is found in the constructor, before the first run.

Host backends (numpy, wasm) hold values as numpy arrays and run in ``run()``.  Device
backends (``backend.device`` is True: webgpu, webgl) hold values in their own memory
and run only through ``run_async()``, because reading GPU memory back in the browser
needs an event-loop turn.  Besides ``run(entry, ctx, inputs, attrs)`` and ``close()`` a
device backend has these hooks, which the session calls in this order:

    unsupported(node, graph) -> str | None   at load: why it cannot run this node (e.g. an
                                             element type it lacks), None if it can
    bind_plan(memory_plan, graph)            at load: the core's memory plan of the graph
    begin_run()                              a run starts (one command stream per run)
    upload(array, constant) -> tensor        a host value that a node on it reads; a
                                             constant (a weight) stays resident
    adopt(tensor) -> tensor | None           (optional) another session's device tensor
                                             it can read in place (same GPU device)
    async download(tensors) -> [arrays]      values a host node or the caller reads
    release(tensor)                          the run no longer needs this tensor
    keep(tensor) -> tensor                   an output handed to the caller on the device
    async end_run()                          the run ends (submit pending work, timings)
    memory() -> dict, profile() -> dict      live buffers and bytes; compile and GPU times

The session moves values between backends (a backend never imports another): a host
value read by a device node is uploaded once per run, a device value read by a host node
is downloaded once, and every device value is released at its last reader.
"""
from __future__ import annotations

import collections
import enum
import statistics
import time

import numpy as np

from . import backends as backend_registry
from . import dtypes
from .errors import UnsupportedOpError
from .graph.ir import Graph, Node, ValueType, all_inputs
from .onnx.importer import Model, load_model
from .ops.registry import MAX_OPSET, KernelContext, load_all_kernels


class GraphOptimizationLevel(enum.IntEnum):
    """Same names and values as onnxruntime.GraphOptimizationLevel."""

    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1  # constant folding, dead-node elimination
    ORT_ENABLE_EXTENDED = 2  # + BatchNormalization folding and op fusion
    ORT_ENABLE_ALL = 99  # + everything above (memory planning always runs)


class SessionOptions:
    def __init__(self) -> None:
        self.graph_optimization_level = GraphOptimizationLevel.ORT_ENABLE_ALL
        self.enable_mem_pattern = True  # free each intermediate after its last use
        self.log_severity_level = 2
        # per-node device times (timestamp queries where the adapter has them): profile()
        self.enable_profiling = False
        # where run_async leaves outputs: "cpu" (numpy arrays) or "gpu-buffer" (device
        # tensors, to feed a next model without a round trip), or a dict name -> either,
        # like onnxruntime-web's preferredOutputLocation
        self.preferred_output_location: str | dict = "cpu"
        # threads of the wasm backend's kernels (0: onnxruntime-web's default, min(4,
        # ceil(cores / 2)) in a cross-origin-isolated page, else 1); see wasm_threads
        self.intra_op_num_threads = 0


class NodeArg:
    """Name, shape and type of a model input or output (like onnxruntime.NodeArg)."""

    def __init__(self, name: str, vtype: ValueType):
        self.name = name
        self.type = vtype.describe()
        self.shape = list(vtype.shape) if vtype.shape is not None else None
        self._vtype = vtype

    def __repr__(self) -> str:
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape})"


class _Step:
    __slots__ = ("node", "backend", "entry", "ctx", "free_after")

    def __init__(self, node, backend, entry, ctx, free_after):
        self.node = node
        self.backend = backend
        self.entry = entry
        self.ctx = ctx
        self.free_after = free_after


class InferenceSession:
    """Runs an ONNX model.

    ``model``: a path, bytes or a binary file object.  ``providers``: backends to place
    nodes on, in order of preference ("webgpu", "webgl", "wasm", "numpy", or the
    onnxruntime names).  A node runs on the first listed provider that has its op; if
    none has it, the constructor raises UnsupportedOpError listing every such node.
    """

    def __init__(self, model, sess_options: SessionOptions | None = None,
                 providers=None, provider_options=None, **kwargs):
        t0 = time.perf_counter()
        self._options = sess_options or SessionOptions()
        self._closed = False
        self._registry = load_all_kernels()
        self._providers = _normalize_providers(providers, provider_options)
        self._backends = {name: backend_registry.create(name, opts) for name, opts in self._providers}
        self._run_seconds: list[float] = []
        try:
            for b in self._backends.values():
                if hasattr(b, "set_threads"):  # the wasm backend's worker pool
                    b.set_threads(int(getattr(self._options, "intra_op_num_threads", 0) or 0))
            self.model: Model = model if isinstance(model, Model) else load_model(model)
            _check_opsets(self.model.opsets)
            graph = self.model.graph
            graph.topological_sort()
            _check_defined(graph, set())
            self._original_inputs = [v for v in graph.inputs if v.name not in graph.input_defaults]
            self._original_outputs = list(graph.outputs)
            from .passes import optimize
            from .passes._util import infer_shapes_quietly

            self.graph: Graph = optimize(graph, int(self._options.graph_optimization_level))
            if self._device_backends():
                infer_shapes_quietly(self.graph)  # element types, for backend.unsupported()
            self._plans: dict[int, list[_Step]] = {}
            missing: list[dict] = []
            self._compile(self.graph, missing, top=True)
            if missing:
                raise UnsupportedOpError(missing, [p for p, _ in self._providers])
            from .passes.memory_plan import plan_memory

            self.memory_plan = plan_memory(self.graph)
            for b in self._device_backends():
                b.bind_plan(self.memory_plan, self.graph)
                b.profiling = bool(getattr(self._options, "enable_profiling", False))
        except BaseException:
            for b in self._backends.values():  # a failed load leaves no GPU memory behind
                b.close()
            raise
        self.load_seconds = time.perf_counter() - t0

    @classmethod
    async def create_async(cls, model, sess_options: SessionOptions | None = None,
                           providers=None, provider_options=None, **kwargs) -> "InferenceSession":
        """Like the constructor, after awaiting what the providers need first (a WebGPU
        device is requested asynchronously in the browser), like onnxruntime-web's
        ``InferenceSession.create``."""
        names = [name for name, _ in _normalize_providers(providers, provider_options)]
        await backend_registry.prepare_async(names)
        session = cls(model, sess_options, providers, provider_options, **kwargs)
        await session._wait_ready()
        return session

    # ---- onnxruntime API ----------------------------------------------------------

    def get_inputs(self) -> list[NodeArg]:
        return [NodeArg(v.name, v.type) for v in self._original_inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [NodeArg(v.name, v.type) for v in self._original_outputs]

    def get_overridable_initializers(self) -> list[NodeArg]:
        g = self.graph
        return [NodeArg(v.name, v.type) for v in g.inputs if v.name in g.input_defaults]

    def get_providers(self) -> list[str]:
        return [p for p, _ in self._providers]

    def get_modelmeta(self):
        m = self.model
        return collections.namedtuple("ModelMetadata", "producer_name version description custom_metadata_map graph_name")(
            m.producer, m.producer_version, m.doc, dict(m.metadata), m.graph.name)

    def run(self, output_names, input_feed: dict, run_options=None) -> list:
        """Run the model; returns the requested outputs (all when None) as numpy arrays."""
        self._check_open()
        if any(b.needs_async for b in self._backends.values()):
            raise RuntimeError(
                f"providers {self.get_providers()} run asynchronously in the browser: "
                "use `await session.run_async(...)`")
        names = self._output_names(output_names)
        feeds = self._validate_feeds(input_feed)
        t0 = time.perf_counter()
        env = self._execute(self.graph, feeds, None, keep=set(names))
        out = [_to_numpy(env[n]) for n in names]
        self._run_seconds.append(time.perf_counter() - t0)
        return out

    async def run_async(self, output_names, input_feed: dict, run_options=None) -> list:
        """Like run(), for every provider; device backends (webgpu, webgl) need it in
        the browser, where reading GPU memory back takes an event-loop turn.  Outputs
        are numpy arrays, or device tensors where preferred_output_location says
        "gpu-buffer" (call ``tensor.dispose()`` when done; close() frees them too)."""
        self._check_open()
        names = self._output_names(output_names)
        feeds = self._validate_feeds(input_feed)
        await self._wait_ready()
        t0 = time.perf_counter()
        out = await self._execute_async(feeds, names)
        self._run_seconds.append(time.perf_counter() - t0)
        return out

    def close(self) -> None:
        """Release everything the session holds (GPU buffers, textures, wasm memory);
        the device itself stays usable by other and later sessions."""
        if self._closed:
            return
        for b in self._backends.values():
            b.close()
        self._plans.clear()
        self._closed = True

    def memory(self) -> dict:
        """Live device memory per device backend: {backend: {"buffers": n, "bytes": n, ...}}."""
        return {b.name: b.memory() for b in self._device_backends()}

    def profile(self) -> dict:
        """Run times (the first run apart: it compiles the GPU pipelines) and, per device
        backend, pipelines compiled and per-node device times of the last profiled run
        (SessionOptions.enable_profiling)."""
        times = [t * 1000 for t in self._run_seconds]
        return {
            "runs": len(times),
            "load_ms": round(self.load_seconds * 1000, 3),
            "first_run_ms": round(times[0], 3) if times else None,
            "steady_run_ms": round(statistics.median(times[1:]), 3) if len(times) > 1 else None,
            "backends": {b.name: b.profile() for b in self._device_backends()},
        }

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- pywebinfer extras ----------------------------------------------------------

    @property
    def wasm_threads(self) -> dict | None:
        """How the wasm backend's kernels run: {"mode": "worker-pool" | "starting" |
        "single", "threads": n, "requested": n, "reason": why one thread}; "starting"
        means the workers are not up yet and ops run on one thread (create_async and
        run_async wait for them).  None without the wasm provider."""
        backend = self._backends.get("wasm")
        return backend.threads_info() if backend is not None else None

    @property
    def placement(self) -> list[tuple[str, str, str]]:
        """(node name, op type, backend) for every node of the main graph, in run order."""
        return [(s.node.name, s.node.op_type, s.backend.name) for s in self._plans[id(self.graph)]]

    # ---- internals ------------------------------------------------------------------

    async def _wait_ready(self) -> None:
        for b in self._backends.values():
            if hasattr(b, "wait_ready"):  # the wasm backend's workers start asynchronously
                await b.wait_ready()

    def _check_open(self):
        if self._closed:
            raise RuntimeError("this InferenceSession was closed")

    def _output_names(self, output_names) -> list[str]:
        known = [v.name for v in self._original_outputs]
        if output_names is None or len(output_names) == 0:
            return known
        if isinstance(output_names, str):
            raise TypeError("output_names must be a list of names (or None), not a string")
        bad = [n for n in output_names if n not in known]
        if bad:
            raise ValueError(f"unknown output name(s) {bad}; the model's outputs are {known}")
        return list(output_names)

    def _validate_feeds(self, feed) -> dict:
        if not isinstance(feed, dict):
            raise TypeError(f"input_feed must be a dict of name -> array, not {type(feed).__name__}")
        expected = {v.name: v for v in self._original_inputs}
        overridable = {v.name: v for v in self.graph.inputs if v.name in self.graph.input_defaults}
        unknown = [n for n in feed if n not in expected and n not in overridable]
        if unknown:
            raise ValueError(f"unknown input name(s) {unknown}; the model's inputs are {list(expected)}")
        missing = [n for n in expected if n not in feed]
        if missing:
            desc = ", ".join(f"{n!r} ({_describe(expected[n].type)})" for n in missing)
            raise ValueError(f"missing input(s): {desc}")
        out = {}
        symbols: dict[str, tuple[int, str]] = {}
        for name, value in feed.items():
            vtype = (expected.get(name) or overridable[name]).type
            out[name] = _check_feed(name, value, vtype, symbols)
        for name, default in self.graph.input_defaults.items():
            out.setdefault(name, default)
        return out

    def _device_backends(self) -> list:
        return [b for b in self._backends.values() if getattr(b, "device", False)]

    def _compile(self, graph: Graph, missing: list, top: bool = False) -> None:
        """Place every node (subgraphs too) and work out when each value dies.

        A node goes to the first provider with a kernel for it that does not decline
        it (a device backend declines, e.g., element types it cannot hold).  Nodes of
        subgraphs run through the synchronous executor, so only on host backends."""
        steps = []
        keep = {v.name for v in graph.outputs}
        last_use: dict[str, int] = {}
        for i, node in enumerate(graph.nodes):
            for name in all_inputs(node):
                last_use[name] = i
        local = set(graph.initializers) | {v.name for v in graph.inputs} | {
            o for n in graph.nodes for o in n.outputs}
        dying: dict[int, list[str]] = {}
        if self._options.enable_mem_pattern:
            for name, i in last_use.items():
                if name in local and name not in keep and name not in graph.initializers:
                    dying.setdefault(i, []).append(name)
        for i, node in enumerate(graph.nodes):
            opset = graph.opset(node.domain)
            placed = None
            declined = []
            for pname, _ in self._providers:
                backend = self._backends[pname]
                if not top and getattr(backend, "device", False):
                    continue
                entry = self._registry.lookup(node.op_type, node.domain, opset, pname)
                if entry is None:
                    continue
                why = backend.unsupported(node, graph) if hasattr(backend, "unsupported") else None
                if why:
                    declined.append(f"{pname}: {why}")
                    continue
                placed = (backend, entry)
                break
            if placed is None:
                missing.append({"op_type": node.op_type, "domain": node.domain, "opset": opset,
                                "node": node.name, "declined": declined})
            for g in node.subgraphs():
                self._compile(g, missing)
            if placed is None:
                continue
            ctx = KernelContext(opset=opset, num_outputs=len(node.outputs),
                                output_names=tuple(node.outputs), node_name=node.name,
                                run_graph=self._run_subgraph)
            if placed[1].prepare is not None:
                constants = [graph.initializers.get(name) if name else None for name in node.inputs]
                ctx.state = placed[1].prepare(ctx, node.attrs, constants)
            steps.append(_Step(node, placed[0], placed[1], ctx, dying.get(i, ())))
        self._plans[id(graph)] = steps

    def _run_subgraph(self, graph: Graph, inputs: list, outer_env=None) -> list:
        if len(inputs) > len(graph.inputs):
            raise ValueError(f"subgraph {graph.name!r} takes {len(graph.inputs)} inputs, got {len(inputs)}")
        feeds = {v.name: x for v, x in zip(graph.inputs, inputs)}
        env = self._execute(graph, feeds, outer_env, keep=set())
        return [env[v.name] for v in graph.outputs]

    def _execute(self, graph: Graph, feeds: dict, outer, keep: set):
        env = collections.ChainMap({}, outer) if outer is not None else {}
        for name, arr in graph.initializers.items():
            env[name] = arr
        env.update(feeds)
        for step in self._plans[id(graph)]:
            node = step.node
            try:
                inputs = [env[n] if n else None for n in node.inputs]
            except KeyError as e:
                raise RuntimeError(f"node {node.name!r} ({node.op_type}) reads {e.args[0]!r}, "
                                   "which no earlier node produced") from None
            ctx = step.ctx
            ctx.outer_scope = env
            try:
                outs = step.backend.run(step.entry, ctx, inputs, node.attrs)
            except Exception as e:
                _annotate(e, node)
                raise
            for name, value in zip(node.outputs, outs):
                if name:
                    env[name] = value
            for name in step.free_after:
                if name not in keep:
                    env.pop(name, None)
        return env

    async def _execute_async(self, feeds: dict, names: list[str]) -> list:
        """The main graph with device backends: values move between backends where a
        node reads a value held elsewhere, and die (device memory released) at their
        last reader, so a run's device memory is the same from one run to the next."""
        graph = self.graph
        devices = self._device_backends()
        env: dict = dict(graph.initializers)
        env.update(feeds)
        moved: dict[tuple[str, str], object] = {}  # (value, backend name) -> its copy there
        keep = set(names)
        # device tensors the caller fed (an earlier run's kept outputs) stay the caller's
        callers = {n for n, v in feeds.items() if getattr(v, "backend", None) is not None}
        for b in devices:
            b.begin_run()
        try:
            for step in self._plans[id(graph)]:
                node = step.node
                inputs = []
                for n in node.inputs:
                    if not n:
                        inputs.append(None)
                    elif n not in env:
                        raise RuntimeError(f"node {node.name!r} ({node.op_type}) reads {n!r}, "
                                           "which no earlier node produced")
                    else:
                        inputs.append(await self._value_on(step.backend, n, env, moved))
                ctx = step.ctx
                ctx.outer_scope = env
                try:
                    outs = step.backend.run(step.entry, ctx, inputs, node.attrs)
                except Exception as e:
                    _annotate(e, node)
                    raise
                for name, value in zip(node.outputs, outs):
                    if name:
                        env[name] = value
                for name in step.free_after:
                    if name not in keep:
                        self._release(name, env, moved, callers)
            out = await self._fetch_outputs(names, env, moved)
        finally:
            # what is left (outputs read back, unrequested outputs, optional outputs no
            # node reads) is released now, not left to the garbage collector
            for name in list(env):
                self._release(name, env, moved, callers)
            for value in moved.values():
                _release_value(value)
            for b in devices:
                await b.end_run()
        return out

    async def _value_on(self, backend, name: str, env: dict, moved: dict):
        """``env[name]`` where ``backend`` can read it: uploaded or downloaded once per run."""
        value = env[name]
        home = getattr(value, "backend", None)
        wants_device = getattr(backend, "device", False)
        if home is backend or (home is None and not wants_device):
            return value
        key = (name, backend.name)
        if key not in moved and home is not None and hasattr(backend, "adopt"):
            # a tensor of another session on the same device is read where it is
            shared = backend.adopt(value)
            if shared is not None:
                moved[key] = shared
        if key not in moved:
            host = (await home.download([value]))[0] if home is not None else value
            if wants_device:
                # weights (and unchanged overridable defaults) stay resident between runs
                graph = self.graph
                constant = value is graph.initializers.get(name, graph.input_defaults.get(name))
                moved[key] = backend.upload(host, constant=constant)
            else:
                moved[key] = host
        return moved[key]

    def _release(self, name: str, env: dict, moved: dict, callers: set) -> None:
        value = env.pop(name, None)
        if name not in callers:
            _release_value(value)
        for b in self._backends.values():
            _release_value(moved.pop((name, b.name), None))

    async def _fetch_outputs(self, names: list[str], env: dict, moved: dict) -> list:
        """Outputs where the caller wants them; device outputs read back together, one
        readback per output, after one submission of the run's work."""
        location = self._options.preferred_output_location
        out: dict[str, object] = {}
        to_read: dict[object, list[str]] = {}
        for n in names:
            value = env[n]
            home = getattr(value, "backend", None)
            where = location.get(n, "cpu") if isinstance(location, dict) else location
            if where not in ("cpu", "gpu-buffer"):
                raise ValueError(f"preferred_output_location for {n!r} is {where!r}; "
                                 "use 'cpu' or 'gpu-buffer'")
            if home is None:
                out[n] = _to_numpy(value)
            elif where == "gpu-buffer":
                out[n] = home.keep(value)
                env.pop(n)
            else:
                to_read.setdefault(home, []).append(n)
        for home, group in to_read.items():
            arrays = await home.download([env[n] for n in group])
            out.update(zip(group, arrays))
        return [out[n] for n in names]


def _annotate(e: Exception, node: Node) -> None:
    note = f"while running node {node.name!r} ({node.op_type})"
    if hasattr(e, "add_note") and note not in getattr(e, "__notes__", ()):
        e.add_note(note)


def _release_value(value) -> None:
    backend = getattr(value, "backend", None)
    if backend is not None:
        backend.release(value)


def _to_numpy(v):
    # a view may alias a weight or another output: the caller gets memory of its own
    if isinstance(v, np.ndarray) and not (v.flags.writeable and v.flags.owndata):
        return v.copy()
    return v


def _describe(vtype: ValueType) -> str:
    shape = "unknown shape" if vtype.shape is None else f"shape {list(vtype.shape)}"
    return f"{vtype.describe()} with {shape}"


def _check_feed(name: str, value, vtype: ValueType | None, symbols: dict):
    if vtype is None or vtype.kind != "tensor":
        return value  # sequences / optionals are passed as given
    if isinstance(value, (list, tuple)) or np.isscalar(value):
        value = np.asarray(value)
    # a device tensor (an earlier run's output kept on the GPU) has dtype and shape too
    on_device = getattr(value, "backend", None) is not None
    if not isinstance(value, np.ndarray) and not on_device:
        raise ValueError(f"input {name!r}: expected a numpy array ({_describe(vtype)}), "
                         f"got {type(value).__name__}")
    if vtype.elem_type:
        want = dtypes.storage_dtype(vtype.elem_type)
        if vtype.elem_type == dtypes.STRING:
            if value.dtype.kind not in "OUS":
                raise ValueError(f"input {name!r}: expected {_describe(vtype)}, got a {value.dtype} array")
            value = value.astype(object)
        elif value.dtype != want:
            raise ValueError(f"input {name!r}: expected {_describe(vtype)}, "
                             f"got a {value.dtype} array of shape {list(value.shape)}")
    if vtype.shape is not None:
        if value.ndim != len(vtype.shape):
            raise ValueError(f"input {name!r}: expected {_describe(vtype)} (rank {len(vtype.shape)}), "
                             f"got shape {list(value.shape)} (rank {value.ndim})")
        for axis, (want_dim, got) in enumerate(zip(vtype.shape, value.shape)):
            if isinstance(want_dim, int) and want_dim != got:
                raise ValueError(f"input {name!r}: expected {_describe(vtype)}, got shape "
                                 f"{list(value.shape)} (dimension {axis} is {got}, not {want_dim})")
            if isinstance(want_dim, str):
                seen = symbols.setdefault(want_dim, (got, name))
                if seen[0] != got:
                    raise ValueError(f"input {name!r}: dimension {axis} ({want_dim!r}) is {got}, but "
                                     f"input {seen[1]!r} set {want_dim!r} to {seen[0]}")
    return value


def _normalize_providers(providers, provider_options) -> list[tuple[str, dict]]:
    if providers is None:
        providers = ["numpy"]
    if isinstance(providers, str):
        providers = [providers]
    out = []
    for i, p in enumerate(providers):
        opts = {}
        if isinstance(p, (tuple, list)):
            p, opts = p[0], dict(p[1])
        if provider_options is not None and i < len(provider_options):
            opts.update(provider_options[i])
        name = backend_registry.ALIASES.get(p, p)
        if name not in [n for n, _ in out]:
            out.append((name, opts))
    if not out:
        raise ValueError("providers is empty: name at least one of " + str(list(backend_registry.PROVIDERS)))
    return out


def _check_defined(graph: Graph, outer: set) -> None:
    """Every value a node reads must come from somewhere: fail at load, not mid-run."""
    from .errors import ModelError

    defined = set(outer) | set(graph.initializers) | {v.name for v in graph.inputs}
    for node in graph.nodes:
        for name in node.inputs:
            if name and name not in defined:
                raise ModelError(f"node {node.name!r} ({node.op_type}) reads {name!r}, which is not a "
                                 f"graph input, an initializer or an output of an earlier node")
        for g in node.subgraphs():
            _check_defined(g, defined)
        defined.update(o for o in node.outputs if o)
    for v in graph.outputs:
        if v.name not in defined:
            raise ModelError(f"graph output {v.name!r} is not produced by any node")


def _check_opsets(opsets: dict) -> None:
    from .errors import ModelError

    for domain, version in opsets.items():
        limit = MAX_OPSET.get(domain)
        if limit is not None and version > limit:
            raise ModelError(f"the model imports {domain or 'ai.onnx'} opset {version}; "
                             f"pywebinfer supports up to opset {limit}")
