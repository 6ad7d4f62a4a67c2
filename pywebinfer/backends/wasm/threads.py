"""Threads for the wasm backend: a worker pool on a shared memory of its own.

Pyodide's memory is never shared, so the kernels cannot run on Python's arrays from
other threads.  When the page is cross-origin isolated (SharedArrayBuffer exists) and a
session asks for more than one thread, its wasm backend makes a :class:`BrowserPool`:
pool.js creates a shared ``WebAssembly.Memory``, instantiates the threaded variant of the
kernels (pywebinfer_kernels_mt.wasm, same C sources) on it in this thread and in
``threads - 1`` workers (pool_worker.js), each instance with its own stack.  Weights a
big op reads (packed at load, in Python's memory) are copied there once, on first use;
per op the activations are copied in, every thread computes its share (wasm/src/
parallel.c splits the output), and the outputs are copied out.  Only GEMMs and
convolutions of at least ``MIN_FLOPS`` and ``MIN_INTENSITY`` flops per byte copied go to
the pool: below that the copies and the hand-off cost more than the second thread saves
(measured: wasm/README.md, Threads).

Shared memory layout, made here (pool.js only creates it):

    [0, 1024)            unused: null stays an invalid pointer
    static data          the module's (none today), at __memory_base
    control words        64 bytes (pool.js describes them)
    stacks               STACK_BYTES per thread, the caller's first
    workspaces           the kernels' scratch (pwi_workspace_floats), one per thread
    heap                 weights (kept) and one scratch block for each op's activations;
                         the memory grows when it runs out (up to 2 GiB)

Workers start only once this thread returns to its event loop; until then the session
runs on one thread (``mode`` says "starting").  ``InferenceSession.create_async`` and
``run_async`` await them.  :class:`SequentialPool` runs the same jobs part after part on
the wasmtime library, so the job encoding and the work split are tested natively.
"""
from __future__ import annotations

import math
import os
import sys
import weakref

import numpy as np

from .module import (ALIGN, MT_RELAXED_WASM_PATH, Out, Resident, WasmUnavailableError, _Heap, _round_up,
                     read_interface)

MT_WASM_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pywebinfer_kernels_mt.wasm")
# the relaxed-SIMD (FMA) build of the same (MT_RELAXED_WASM_PATH, from module.py) is used
# when the one-thread library is relaxed: the pool runs the build the library runs, so
# pooled results equal one thread's


def mt_path(library) -> str:
    """The worker pool's module for ``library``'s build (module.py chose it)."""
    return MT_RELAXED_WASM_PATH if getattr(library, "variant", "plain") == "relaxed" else MT_WASM_PATH
JOBS = {"pwi_gemm": 1, "pwi_conv2d": 2}  # opcodes of wasm/src/parallel.c
# the parameter counts parallel.c reads a job's words by: a kernel whose signature
# changed without parallel.c makes no pool (a wrong job would compute garbage)
ARITY = {"pwi_gemm": 28, "pwi_conv2d": 26}
# An op goes to the pool from this many flops on, and only if it does this many flops per
# byte copied in and out: a hand-off costs about 0.1 ms and copies run at 2-4 GB/s, so a
# depthwise convolution (about 2 flops a byte) is faster on one thread (wasm/README.md,
# Threads, has the measurements).
MIN_FLOPS = 4_000_000
MIN_INTENSITY = 8.0
# Chunks per thread of a job, claimed one at a time (pool.js): a worker the OS runs late
# leaves its share to the others.  Each chunk repacks its share of the unpacked operand.
CHUNKS_PER_THREAD = 4
STACK_BYTES = 256 << 10
PAGE = 65536
MAX_PAGES = 32768  # 2 GiB: the maximum the module declares (wasm/Makefile)
# An idle worker sleeps in timed waits of POLL_STEP_MS for POLL_MS after a job (a job then
# needs no notify), then until notified (README: Threads)
POLL_MS = 10.0
POLL_STEP_MS = 0.1

ACTIVE = None  # the pool of the session whose node runs now (WasmBackend.run sets it)


def cross_origin_isolated() -> bool:
    """Whether this is a browser context where SharedArrayBuffer (wasm threads) exists."""
    if sys.platform != "emscripten":
        return False
    import js

    return bool(getattr(js, "crossOriginIsolated", False))


def default_threads() -> int:
    """onnxruntime-web's default: min(4, ceil(hardwareConcurrency / 2)) when cross-origin
    isolated, else 1."""
    if not cross_origin_isolated():
        return 1
    import js

    cores = int(getattr(js.navigator, "hardwareConcurrency", 1) or 1)
    return max(1, min(4, math.ceil(cores / 2)))


def parallel(name: str, flops: float, *args) -> bool:
    """Runs a kernel call on the active pool if it is big enough; False if it did not
    (the caller then calls the library itself)."""
    pool = ACTIVE
    if pool is None or flops < pool.min_flops or not pool.ready():
        return False
    copied = sum(a.nbytes if isinstance(a, np.ndarray) else a.array.nbytes
                 for a in args if isinstance(a, (np.ndarray, Out)))
    if flops < pool.min_intensity * copied:
        return False
    pool.call(name, *args)
    return True


class Pool:
    """Encodes kernel calls as jobs (wasm/src/parallel.c) over a memory this pool lays
    out; subclasses move the bytes and run the parts."""

    mode = "worker-pool"

    def __init__(self, library, threads: int, interface: dict):
        self.library = library
        self.threads = threads
        self.parts = threads * CHUNKS_PER_THREAD  # what parallel.c splits a job in
        self.signatures = interface["exports"]
        for name, count in ARITY.items():
            params = self.signatures.get(name, ((),))[0]
            if len(params) != count or "pwi_job" not in self.signatures:
                raise WasmUnavailableError(f"{name} takes {len(params)} arguments, wasm/src/parallel.c "
                                           f"reads {count}: rebuild with `make wasm` after updating it")
        self.ws_floats = int(library.call("pwi_workspace_floats"))
        self.min_flops = MIN_FLOPS
        self.min_intensity = MIN_INTENSITY
        self._mirrors: dict[int, int] = {}  # id(Resident) -> its copy's address
        self._released: list[int] = []
        self._scratch = (0, 0)  # (address, bytes) of the per-op block
        self.jobs = 0  # jobs run (tests and reports)
        self.closed = False

    # -- what subclasses provide --------------------------------------------------------

    def ready(self) -> bool:
        raise NotImplementedError

    def _alloc(self, nbytes: int) -> int:
        raise NotImplementedError

    def _free(self, address: int) -> None:
        raise NotImplementedError

    def _copy_resident(self, resident: Resident) -> int:
        raise NotImplementedError

    def _execute(self, parts: int, job: int, ins: list, outs: list) -> None:
        """Copy ``ins`` ((array, address)) in, run every part of the job, copy ``outs``
        ((address, array)) out."""
        raise NotImplementedError

    # -- jobs ---------------------------------------------------------------------------

    def mirror(self, resident: Resident) -> int:
        """The address of ``resident``'s copy in the pool's memory (made on first use;
        freed when the resident is)."""
        key = id(resident)
        address = self._mirrors.get(key)
        if address is None:
            self._free_released()
            address = self._copy_resident(resident)
            self._mirrors[key] = address
            weakref.finalize(resident, self._release, key)
        return address

    def _release(self, key: int) -> None:
        self._released.append(key)  # a finalizer may run anywhere: free at the next call

    def _free_released(self) -> None:
        while self._released:
            address = self._mirrors.pop(self._released.pop(), None)
            if address is not None and not self.closed:
                self._free(address)

    def _scratch_block(self, nbytes: int) -> int:
        address, size = self._scratch
        if size < nbytes:
            if size:
                self._free(address)
            size = _round_up(max(nbytes, size * 3 // 2), PAGE)
            address = self._alloc(size)
            self._scratch = (address, size)
        return address

    def call(self, name: str, *args) -> None:
        """``library.call(name, *args)`` computed by every thread: the same arguments
        (numpy arrays, Out, Resident, None, numbers; the library's workspace last)."""
        if self.closed:
            raise RuntimeError("the worker pool was closed")
        params = self.signatures[name][0]
        if len(args) != len(params):
            raise TypeError(f"{name}: {len(args)} arguments for {len(params)} parameters")
        self._free_released()
        words = np.zeros(len(params) + 2, np.int32)
        floats = words.view(np.float32)
        words[0] = JOBS[name]
        # the activations share one scratch block: offsets first, the block after
        sizes, arrays = [], []
        for arg in args:
            if isinstance(arg, (np.ndarray, Out)):
                array = arg if isinstance(arg, np.ndarray) else arg.array
                if not array.flags.c_contiguous:
                    raise TypeError(f"{name}: array arguments must be C-contiguous numpy arrays")
                arrays.append(array)
                sizes.append(_round_up(max(array.nbytes, 1), ALIGN))
        base = self._scratch_block(sum(sizes) + words.nbytes)
        job = base + sum(sizes)
        ins, outs, offset = [], [], base
        for i, (arg, kind) in enumerate(zip(args, params)):
            if arg is self.library.workspace:
                value = self.workspaces
            elif isinstance(arg, np.ndarray):
                ins.append((arg, offset))
                value, offset = offset, offset + _round_up(max(arg.nbytes, 1), ALIGN)
            elif isinstance(arg, Out):
                outs.append((offset, arg.array))
                value, offset = offset, offset + _round_up(max(arg.array.nbytes, 1), ALIGN)
            elif isinstance(arg, Resident):
                value = self.mirror(arg)
            elif arg is None:
                value = 0
            else:
                value = arg
            if kind == "f32":
                floats[i + 1] = value
            else:
                words[i + 1] = int(value)
        words[-1] = self.ws_floats  # workspace of thread t: the first + t * this (floats)
        ins.insert(0, (words, job))
        self._execute(self.parts, job, ins, outs)
        self.jobs += 1

    failure = None  # why the workers did not start, if they did not

    def info(self) -> dict:
        if self.failure is not None:
            return {"mode": "single", "threads": 1, "reason": f"the worker pool failed: {self.failure}"}
        if self.closed:
            return {"mode": "single", "threads": 1, "reason": "the session was closed"}
        ready = self.ready()
        return {"mode": self.mode if ready else "starting", "threads": self.threads if ready else 1}

    async def wait_ready(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self._mirrors.clear()


class BrowserPool(Pool):
    """The pool of workers in a cross-origin-isolated page (pool.js)."""

    def __init__(self, library, threads: int):
        from pyodide.code import run_js
        from pyodide.ffi import to_js
        import pyodide_js

        with open(mt_path(library), "rb") as f:
            data = f.read()
        interface = read_interface(data)
        super().__init__(library, threads, interface)
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "pool.js")) as f:
            factory = run_js(f.read())
        with open(os.path.join(here, "pool_worker.js")) as f:
            worker_source = f.read()
        info = interface["dylink"]
        memory_base = _round_up(1024, 1 << info["mem_align"])
        ctrl = _round_up(memory_base + info["mem_size"], 64)
        stack_base = ctrl + 64  # 16 control words (pool.js)
        self.workspaces = stack_base + threads * STACK_BYTES
        heap_start = _round_up(self.workspaces + threads * self.ws_floats * 4, PAGE)
        pages = heap_start // PAGE + 256  # and 16 MiB of heap to start with
        self.heap = _Heap(heap_start, pages * PAGE)
        self._js = factory(pyodide_js._module, to_js(data), worker_source, threads, memory_base, ctrl,
                           stack_base, STACK_BYTES, pages, MAX_PAGES, POLL_MS, POLL_STEP_MS)
        # a session dropped without close() still ends its workers
        self._end = weakref.finalize(self, self._js.close)
        self._ready = False

    def ready(self) -> bool:
        if not self._ready and not self.closed and self.failure is None:
            self._ready = bool(self._js.ready())
        return self._ready and not self.closed

    async def wait_ready(self) -> None:
        if self.closed or self.failure is not None or self.ready():
            return
        try:
            await self._js.whenReady()
        except Exception as e:  # a worker that cannot start: the session runs on one thread
            self.failure = str(e)
        self._ready = self.failure is None and bool(self._js.ready())

    def _alloc(self, nbytes: int) -> int:
        address = self.heap.alloc(nbytes)
        if address is None:
            grow = -(-max(nbytes + ALIGN, self.heap.end // 2) // PAGE)
            grow = min(grow, MAX_PAGES - self.heap.end // PAGE)
            if grow <= 0:
                raise MemoryError("the worker pool's shared memory is full (2 GiB)")
            self._js.grow(grow)
            self.heap.extend(self.heap.end + grow * PAGE)
            address = self.heap.alloc(nbytes)
            if address is None:
                raise MemoryError("the worker pool's shared memory is full (2 GiB)")
        return address

    def _free(self, address: int) -> None:
        self.heap.free(address)

    def _copy_resident(self, resident: Resident) -> int:
        address = self._alloc(resident.nbytes)
        self._js.copyIn(resident.address, address, resident.nbytes)
        return address

    def _execute(self, parts: int, job: int, ins: list, outs: list) -> None:
        desc = np.empty(4 + 3 * (len(ins) + len(outs)), np.int32)
        desc[:4] = parts, job, len(ins), len(outs)
        i = 4
        for array, address in ins:
            desc[i:i + 3] = array.__array_interface__["data"][0], address, array.nbytes
            i += 3
        for address, array in outs:
            desc[i:i + 3] = address, array.__array_interface__["data"][0], array.nbytes
            i += 3
        self._js.run(desc.__array_interface__["data"][0])

    def close(self) -> None:
        if not self.closed:
            self._end()
        super().close()


class SequentialPool(Pool):
    """The same jobs on the wasmtime library (CPython), parts run one after the other:
    tests check the job encoding and the work split (wasm/src/parallel.c) with it."""

    def __init__(self, library, threads: int):
        super().__init__(library, threads, library.interface)
        self._workspaces = library.empty(threads * self.ws_floats * 4)
        self.workspaces = self._workspaces.address
        self._blocks: dict[int, Resident] = {}

    def ready(self) -> bool:
        return not self.closed

    def _alloc(self, nbytes: int) -> int:
        block = self.library.empty(nbytes)
        self._blocks[block.address] = block
        return block.address

    def _free(self, address: int) -> None:
        self._blocks.pop(address, None)  # a mirrored resident is the library's own

    def _copy_resident(self, resident: Resident) -> int:
        return resident.address  # already in this memory

    def _execute(self, parts: int, job: int, ins: list, outs: list) -> None:
        lib = self.library
        with lib._lock:
            for array, address in ins:
                lib._write(address, np.ascontiguousarray(array))
        for part in range(parts):  # as if the threads took turns
            lib.call("pwi_job", job, part, parts, part % self.threads)
        with lib._lock:
            memory = lib._bytes()
            for address, array in outs:
                if array.nbytes:
                    array.reshape(-1).view(np.uint8)[:] = memory[address:address + array.nbytes]


def start(library, requested: int):
    """(pool or None, report) for a session asking for ``requested`` threads (0: the
    default).  The report says why there is no pool, when there is none."""
    requested = int(requested or 0)
    if requested < 0:
        raise ValueError(f"intra_op_num_threads must be >= 0, got {requested}")
    threads = requested or default_threads()
    report = {"mode": "single", "threads": 1, "requested": requested}
    if requested == 1:
        reason = "one thread requested"
    elif sys.platform != "emscripten":
        reason = "no threads outside the browser (wasmtime runs the kernels on one thread)"
    elif not cross_origin_isolated():
        reason = ("the page is not cross-origin isolated (COOP/COEP headers), so there is no "
                  "SharedArrayBuffer: running on one thread")
    elif threads <= 1:
        reason = "the default, min(4, ceil(cores / 2)) as in onnxruntime-web, is 1 here"
    elif not os.path.exists(mt_path(library)):
        reason = f"{os.path.basename(mt_path(library))} is missing: build it with `make wasm`"
    else:
        try:
            return BrowserPool(library, threads), report
        except Exception as e:  # e.g. workers forbidden by the page's policy: one thread
            reason = f"the worker pool could not be made: {e}"
    report["reason"] = reason
    return None, report
