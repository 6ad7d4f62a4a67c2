"""Loads the kernel module and calls its functions on numpy arrays.

Two builds of the same C sources: ``pywebinfer_kernels_relaxed.wasm`` (multiply-adds as
relaxed SIMD's ``f32x4.relaxed_madd``: one FMA where the CPU has it) is loaded where the
engine validates relaxed SIMD, ``pywebinfer_kernels.wasm`` (SIMD128 only) elsewhere, or
when ``PYWEBINFER_WASM_KERNELS=plain`` is set; :func:`kernel_variant` says which.

The module is an Emscripten-style side module (wasm/README.md says why) that allocates
nothing: every function takes pointers and sizes.  Two routes behind one interface,
:class:`KernelLibrary`:

* in Pyodide (``sys.platform == "emscripten"``) the module is opened with
  ``ctypes.CDLL``: Emscripten's dynamic linker places it in Pyodide's own linear memory,
  so a numpy array's data pointer is a pointer the kernels use directly (zero copy);
* in CPython it runs under PyPI ``wasmtime`` (a test dependency): this file provides the
  imports a side module expects (memory, memory and table base, stack pointer), keeps
  the memory's allocations itself, and copies arrays in and out around each call.

A call takes ints, floats, ``None`` (a null pointer), numpy arrays (read by the
kernel), :class:`Out` arrays (written by it) and :class:`Resident` buffers (memory that
lives in the module's address space as long as the object does: packed weights).
The C-side signature of every function is read from the module itself.
"""
from __future__ import annotations

import bisect
import ctypes
import os
import sys
import threading
import weakref

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
WASM_PATH = os.path.join(_HERE, "pywebinfer_kernels.wasm")  # the plain build: every engine
RELAXED_WASM_PATH = os.path.join(_HERE, "pywebinfer_kernels_relaxed.wasm")
MT_RELAXED_WASM_PATH = os.path.join(_HERE, "pywebinfer_kernels_mt_relaxed.wasm")  # threads.py
VARIANTS = {"plain": WASM_PATH, "relaxed": RELAXED_WASM_PATH}
# "plain" or "relaxed" forces that build (comparisons, a suspect engine); unset or "auto":
# relaxed where the engine validates it
VARIANT_ENV = "PYWEBINFER_WASM_KERNELS"
# The smallest module that uses relaxed SIMD: one function returning
# f32x4.relaxed_madd of three v128 constants.  An engine without the feature (Chromium
# before 114, for one) rejects it in validate().
RELAXED_PROBE = bytes.fromhex(
    "0061736d010000000105016000017b030201000a3d013b00"
    + "fd0c" + "0000803f" * 4 + "fd0c" + "0000803f" * 4 + "fd0c" + "0000803f" * 4
    + "fd85020b")
ALIGN = 16  # bytes: a v128, and numpy's default alignment


class WasmUnavailableError(RuntimeError):
    """The kernel module cannot be loaded here (not built, or no wasm runtime)."""


class Out:
    """An array argument the kernel writes (its dtype and C order are checked)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


class Resident:
    """A buffer in the module's address space, freed when the object is collected."""

    __slots__ = ("address", "nbytes", "_keep", "__weakref__")

    def __init__(self, address: int, nbytes: int, keep=None):
        self.address = address
        self.nbytes = nbytes
        self._keep = keep  # the numpy array holding the memory (ctypes route)


# ---- the module's interface, read from its binary -----------------------------------

_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def name(self) -> str:
        n = self.uleb()
        self.pos += n
        return self.data[self.pos - n:self.pos].decode("utf-8")

    def limits(self) -> tuple[int, int | None, int]:
        flags = self.byte()
        low = self.uleb()
        return low, self.uleb() if flags & 1 else None, flags


def read_interface(data: bytes) -> dict:
    """Exports (name -> (param types, result types)), imports and the dylink.0 memory
    info of a side module."""
    if data[:8] != b"\0asm\1\0\0\0":
        raise WasmUnavailableError("not a WebAssembly binary (version 1)")
    r = _Reader(data, 8)
    types, func_types, imports, exports = [], [], [], {}
    dylink = None
    imported_funcs = 0
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        s = _Reader(data, r.pos, r.pos + size)
        r.pos += size
        if section == 0 and s.name() == "dylink.0":
            while s.pos < s.end:
                kind, length = s.byte(), s.uleb()
                if kind == 1:  # WASM_DYLINK_MEM_INFO
                    dylink = {"mem_size": s.uleb(), "mem_align": s.uleb(),
                              "table_size": s.uleb(), "table_align": s.uleb()}
                else:
                    s.pos += length
        elif section == 1:
            for _ in range(s.uleb()):
                if s.byte() != 0x60:
                    raise WasmUnavailableError("malformed type section")
                params = tuple(_VALTYPES[s.byte()] for _ in range(s.uleb()))
                results = tuple(_VALTYPES[s.byte()] for _ in range(s.uleb()))
                types.append((params, results))
        elif section == 2:
            for _ in range(s.uleb()):
                module, field, kind = s.name(), s.name(), s.byte()
                if kind == 0:
                    s.uleb()
                    imported_funcs += 1
                elif kind == 1:
                    s.byte()
                    s.limits()
                elif kind == 2:
                    s.limits()
                else:
                    s.byte()
                    s.byte()
                imports.append((module, field, kind))
        elif section == 3:
            func_types = [s.uleb() for _ in range(s.uleb())]
        elif section == 7:
            for _ in range(s.uleb()):
                name, kind, index = s.name(), s.byte(), s.uleb()
                if kind == 0 and index >= imported_funcs:
                    exports[name] = types[func_types[index - imported_funcs]]
    if dylink is None:
        raise WasmUnavailableError("the module has no dylink.0 section: it is not a side module")
    return {"exports": exports, "imports": imports, "dylink": dylink}


# ---- the interface both routes implement ----------------------------------------------

class KernelLibrary:
    """Calls into the kernel module; see the module docstring for the argument kinds."""

    route = ""
    variant = "plain"  # the build loaded: "plain" (SIMD128) or "relaxed" (FMA)

    def __init__(self, data: bytes):
        self.interface = read_interface(data)
        self.signatures = self.interface["exports"]
        self.workspace = self.empty(int(self.call("pwi_workspace_floats")) * 4)

    def call(self, name: str, *args):
        raise NotImplementedError

    def empty(self, nbytes: int) -> Resident:
        """An uninitialized resident buffer of nbytes."""
        raise NotImplementedError

    def resident(self, array: np.ndarray) -> Resident:
        """A resident copy of ``array``'s bytes (C order)."""
        raise NotImplementedError

    def _signature(self, name: str):
        try:
            return self.signatures[name]
        except KeyError:
            raise WasmUnavailableError(f"the kernel module exports no function {name!r}; "
                                       "rebuild it with `make wasm`") from None


def _check_array(name: str, array: np.ndarray) -> np.ndarray:
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise TypeError(f"{name}: array arguments must be C-contiguous numpy arrays")
    return array


_PLAIN = frozenset((int, float))


def _address(name: str, arg):
    """The ctypes route's value of a non-number argument: arrays by their data pointer"""
    if type(arg) is Out:
        arg = arg.array
    if isinstance(arg, np.ndarray):
        # the interface's strides are None exactly when the array is C-contiguous, and
        # reading it is cheaper than arg.flags plus arg.ctypes
        interface = arg.__array_interface__
        if interface["strides"] is not None:
            _check_array(name, arg)
        return interface["data"][0]
    if isinstance(arg, Resident):
        return arg.address
    if arg is None:
        return 0
    if isinstance(arg, Out):
        return _address(name, arg.array)
    return arg


class _CtypesLibrary(KernelLibrary):
    """Pyodide: the side module shares Python's memory; pointers pass straight through."""

    route = "ctypes"

    def __init__(self, path: str, data: bytes):
        self._dll = ctypes.CDLL(path)
        self._funcs: dict = {}
        super().__init__(data)

    def _function(self, name: str):
        fn = self._funcs.get(name)
        if fn is None:
            params, results = self._signature(name)
            fn = getattr(self._dll, name)
            # the exact wasm signature: a mismatch traps in Emscripten's indirect call
            fn.argtypes = [ctypes.c_float if t == "f32" else ctypes.c_uint32 for t in params]
            fn.restype = (ctypes.c_int32 if results[0] == "i32" else ctypes.c_float) if results else None
            self._funcs[name] = fn
        return fn

    def call(self, name: str, *args):
        # ints and floats, most arguments, pass as they are: in Pyodide every Python
        # operation counts (a node's kernel call is a few microseconds)
        fn = self._funcs.get(name) or self._function(name)
        return fn(*[arg if type(arg) in _PLAIN else _address(name, arg) for arg in args])

    def empty(self, nbytes: int) -> Resident:
        array = np.empty(max(nbytes, 1), np.uint8)
        return Resident(array.ctypes.data, nbytes, array)

    def resident(self, array: np.ndarray) -> Resident:
        copy = np.array(array, order="C", copy=True)
        return Resident(copy.ctypes.data, copy.nbytes, copy)


class _Heap:
    """First-fit allocator of [start, end) with coalescing frees; grows at the end."""

    def __init__(self, start: int, end: int):
        self.starts = [start]  # free blocks, sorted by start
        self.sizes = [end - start]
        self.end = end
        self.used: dict[int, int] = {}

    def alloc(self, nbytes: int) -> int | None:
        size = max(ALIGN, -(-nbytes // ALIGN) * ALIGN)
        for i, free in enumerate(self.sizes):
            if free >= size:
                address = self.starts[i]
                if free == size:
                    del self.starts[i], self.sizes[i]
                else:
                    self.starts[i] += size
                    self.sizes[i] -= size
                self.used[address] = size
                return address
        return None

    def free(self, address: int) -> None:
        size = self.used.pop(address)
        i = bisect.bisect(self.starts, address)
        if i < len(self.starts) and address + size == self.starts[i]:  # joins the next block
            self.starts[i] = address
            self.sizes[i] += size
        else:
            self.starts.insert(i, address)
            self.sizes.insert(i, size)
        if i > 0 and self.starts[i - 1] + self.sizes[i - 1] == address:  # and the previous
            self.sizes[i - 1] += self.sizes[i]
            del self.starts[i], self.sizes[i]

    def extend(self, new_end: int) -> None:
        if self.starts and self.starts[-1] + self.sizes[-1] == self.end:
            self.sizes[-1] += new_end - self.end
        else:
            self.starts.append(self.end)
            self.sizes.append(new_end - self.end)
        self.end = new_end


class _WasmtimeLibrary(KernelLibrary):
    """CPython: the module in wasmtime, on a memory this object owns and allocates."""

    route = "wasmtime"
    STACK_BYTES = 1 << 20
    PAGE = 65536

    def __init__(self, data: bytes):
        import wasmtime

        self._wt = wasmtime
        interface = read_interface(data)
        info = interface["dylink"]
        self.store = wasmtime.Store(wasmtime_engine())
        module = wasmtime.Module(self.store.engine, data)
        # layout: [0, 1024) unused (null stays an invalid pointer), the module's static
        # data at __memory_base, its stack, then the heap
        memory_base = _round_up(1024, 1 << info["mem_align"])
        stack_top = _round_up(memory_base + info["mem_size"] + self.STACK_BYTES, ALIGN)
        pages = -(-(stack_top + (1 << 22)) // self.PAGE)
        self.memory = wasmtime.Memory(self.store, wasmtime.MemoryType(wasmtime.Limits(pages, None)))
        i32 = wasmtime.ValType.i32()
        provided = {
            ("env", "memory"): self.memory,
            ("env", "__memory_base"): wasmtime.Global(self.store, wasmtime.GlobalType(i32, False), memory_base),
            ("env", "__table_base"): wasmtime.Global(self.store, wasmtime.GlobalType(i32, False), 0),
            ("env", "__stack_pointer"): wasmtime.Global(self.store, wasmtime.GlobalType(i32, True), stack_top),
            ("env", "__indirect_function_table"): wasmtime.Table(
                self.store, wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(info["table_size"], None)),
                None),
        }
        imports = []
        for imp in module.imports:
            key = (imp.module, imp.name)
            if key not in provided:
                raise WasmUnavailableError(f"the kernel module imports {imp.module}.{imp.name}, which no "
                                           "loader provides; rebuild it with `make wasm`")
            imports.append(provided[key])
        instance = wasmtime.Instance(self.store, module, imports)
        self._exports = instance.exports(self.store)
        for init in ("__wasm_apply_data_relocs", "__wasm_call_ctors"):
            if init in self._exports:
                self._exports[init](self.store)
        self.heap = _Heap(stack_top, pages * self.PAGE)
        # a finalizer may run inside an allocation (the garbage collector starts
        # anywhere): it only queues the address, and the next allocation frees it
        self._released: list[int] = []
        self._lock = threading.RLock()  # one store, one heap: one call at a time
        self._view = None
        super().__init__(data)

    # -- memory ------------------------------------------------------------------------

    def _bytes(self) -> np.ndarray:
        """The whole linear memory as a uint8 array (re-made after the memory grows)."""
        size = self.memory.data_len(self.store)
        if self._view is None or self._view.size != size:
            pointer = ctypes.cast(self.memory.data_ptr(self.store), ctypes.c_void_p).value
            self._view = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(pointer))
        return self._view

    def _free_released(self) -> None:
        while self._released:
            self.heap.free(self._released.pop())

    def in_use(self) -> int:
        """Bytes of the heap allocated now (resident buffers and the workspace)."""
        with self._lock:
            self._free_released()
            return sum(self.heap.used.values())

    def _alloc(self, nbytes: int) -> int:
        self._free_released()
        address = self.heap.alloc(nbytes)
        if address is None:
            grow = -(-max(nbytes + ALIGN, self.heap.end // 2) // self.PAGE)
            self.memory.grow(self.store, grow)
            self.heap.extend(self.heap.end + grow * self.PAGE)
            address = self.heap.alloc(nbytes)
        return address

    def _write(self, address: int, array: np.ndarray) -> None:
        if array.nbytes:
            self._bytes()[address:address + array.nbytes] = array.reshape(-1).view(np.uint8)

    def empty(self, nbytes: int) -> Resident:
        with self._lock:
            address = self._alloc(nbytes)
        resident = Resident(address, nbytes)
        weakref.finalize(resident, self._released.append, address)
        return resident

    def resident(self, array: np.ndarray) -> Resident:
        array = np.ascontiguousarray(array)
        resident = self.empty(array.nbytes)
        with self._lock:
            self._write(resident.address, array)
        return resident

    def read(self, resident: Resident, dtype, shape) -> np.ndarray:
        """A copy of a resident buffer's contents (tests look at packed weights)."""
        count = int(np.prod(shape, dtype=np.int64))
        raw = self._bytes()[resident.address:resident.address + count * np.dtype(dtype).itemsize]
        return raw.view(dtype).reshape(shape).copy()

    # -- calls -------------------------------------------------------------------------

    def call(self, name: str, *args):
        self._signature(name)
        with self._lock:
            return self._call(self._exports[name], name, args)

    def _call(self, fn, name: str, args):
        temporaries, outputs, converted = [], [], []
        try:
            for arg in args:
                if isinstance(arg, np.ndarray):
                    array = _check_array(name, arg)
                    address = self._alloc(array.nbytes)
                    temporaries.append(address)
                    self._write(address, array)
                    converted.append(address)
                elif isinstance(arg, Out):
                    array = _check_array(name, arg.array)
                    address = self._alloc(array.nbytes)
                    temporaries.append(address)
                    outputs.append((address, array))
                    converted.append(address)
                elif isinstance(arg, Resident):
                    converted.append(arg.address)
                elif arg is None:
                    converted.append(0)
                else:
                    converted.append(arg)
            result = fn(self.store, *converted)
            memory = self._bytes()
            for address, array in outputs:
                if array.nbytes:
                    array.reshape(-1).view(np.uint8)[:] = memory[address:address + array.nbytes]
            return result
        finally:
            for address in temporaries:
                self.heap.free(address)


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def wasmtime_engine():
    """A wasmtime engine with relaxed SIMD on: the relaxed build runs (and is tested)
    natively too, with FMA where the CPU has it, as in V8."""
    import wasmtime

    config = wasmtime.Config()
    config.wasm_simd = True
    config.wasm_relaxed_simd = True
    return wasmtime.Engine(config)


_RELAXED_SUPPORTED: bool | None = None


def relaxed_simd_supported() -> bool:
    """Whether the engine that will run the kernels validates relaxed SIMD (the probe)."""
    global _RELAXED_SUPPORTED
    if _RELAXED_SUPPORTED is None:
        try:
            if sys.platform == "emscripten":
                import js
                from pyodide.ffi import to_js

                _RELAXED_SUPPORTED = bool(js.WebAssembly.validate(to_js(RELAXED_PROBE)))
            else:
                import wasmtime

                wasmtime.Module.validate(wasmtime_engine(), RELAXED_PROBE)
                _RELAXED_SUPPORTED = True
        except Exception:  # wasmtime raises on an invalid module; no runtime: no relaxed
            _RELAXED_SUPPORTED = False
    return _RELAXED_SUPPORTED


def choose_variant() -> str:
    """"relaxed" or "plain": the build this engine should load (PYWEBINFER_WASM_KERNELS
    forces one).  The worker pool (threads.py) loads the _mt build of the same variant,
    so pooled results equal one thread's: auto takes relaxed only if both are there."""
    wanted = os.environ.get(VARIANT_ENV, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "plain", "relaxed"):
        raise WasmUnavailableError(f"{VARIANT_ENV}={wanted!r}: use plain, relaxed or auto")
    if wanted == "plain":
        return "plain"
    if wanted == "relaxed":
        if not relaxed_simd_supported():
            raise WasmUnavailableError(f"{VARIANT_ENV}=relaxed, but this engine has no relaxed SIMD")
        return "relaxed"
    built = os.path.exists(RELAXED_WASM_PATH) and os.path.exists(MT_RELAXED_WASM_PATH)
    return "relaxed" if built and relaxed_simd_supported() else "plain"


def load_library(variant: str) -> KernelLibrary:
    """A new library on the ``variant`` build ("plain" or "relaxed"); :func:`library`
    is the process-wide one.  Tests load both builds side by side with it."""
    path = VARIANTS[variant]
    if not os.path.exists(path):
        raise WasmUnavailableError(f"{path} is missing: build it with `make wasm`")
    with open(path, "rb") as f:
        data = f.read()
    if sys.platform == "emscripten":
        lib = _CtypesLibrary(path, data)
    else:
        try:
            import wasmtime  # noqa: F401
        except ImportError:
            raise WasmUnavailableError(
                "the wasm backend needs a WebAssembly runtime outside the browser: "
                "pip install wasmtime (see requirements-dev.txt)") from None
        lib = _WasmtimeLibrary(data)
    lib.variant = variant
    return lib


_LIBRARY: KernelLibrary | None = None


def library() -> KernelLibrary:
    """The process-wide kernel library (loaded on first use): the relaxed-SIMD build
    where the engine has relaxed SIMD, else the plain one (choose_variant)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = load_library(choose_variant())
    return _LIBRARY


def kernel_variant() -> str:
    """Which build the process-wide library runs: "relaxed" (FMA) or "plain"."""
    return library().variant
