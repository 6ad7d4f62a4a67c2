// The wasm backend's worker pool, on the JavaScript side (threads.py drives it).
//
// threads.py evaluates this file with pyodide.code.run_js: its value is the function at
// the end, which makes one pool.  A pool owns a shared WebAssembly.Memory, instantiates
// pywebinfer_kernels_mt.wasm on it in the calling thread (part 0 of every job) and in
// threads-1 workers started from a Blob URL (pool_worker.js), each instance with a stack
// of its own (the module imports its __stack_pointer).  Python lays the memory out and
// allocates it; here are only the copies between Pyodide's memory and the shared one,
// and the hand-off of a job.
//
// A job is cut in `parts` chunks (more than threads) that threads claim one at a time,
// the calling thread too: a worker the OS has not scheduled yet (the machine may be busy)
// delays nothing but the chunks it took, and a late one finds none left.
// Control words (Int32 at `ctrl`): GEN counts jobs (a worker sleeps on it), FIN counts
// the chunks finished, JOB / PARTS describe the job, CLAIM is the job's 16-bit number
// (high half) and its next unclaimed chunk (low half), READY counts the workers started,
// QUIT ends them, FAILED is set by a worker whose kernel trapped, SLEEPING counts the
// workers in Atomics.wait (notify only then: waking a thread cost about 1 ms here).
(() => {
  const GEN = 0, FIN = 1, JOB = 2, PARTS = 3, READY = 4, QUIT = 5, FAILED = 6, CLAIM = 7, SLEEPING = 8;
  const STALL_MS = 30000; // a job this late means a worker died: fail instead of hanging

  function instantiate(module, memory, stackTop, memoryBase) {
    const i32 = (value, mutable) => new WebAssembly.Global({ value: "i32", mutable }, value);
    const provided = {
      memory, __stack_pointer: i32(stackTop, true), __memory_base: i32(memoryBase, false),
      __table_base: i32(0, false),
      __indirect_function_table: new WebAssembly.Table({ initial: 0, element: "anyfunc" }),
    };
    const env = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module !== "env" || !(imp.name in provided)) {
        throw new Error(`the pool's kernel module imports ${imp.module}.${imp.name}`);
      }
      env[imp.name] = provided[imp.name];
    }
    return new WebAssembly.Instance(module, { env });
  }

  class Pool {
    constructor(emscripten, bytes, workerSource, threads, memoryBase, ctrl, stackBase, stackBytes,
                pages, maxPages, pollMs, pollStepMs) {
      this.em = emscripten; // Pyodide's Emscripten module: HEAPU8 is Python's memory
      this.threads = threads;
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: maxPages, shared: true });
      this.module = new WebAssembly.Module(bytes);
      this.ctrl = new Int32Array(this.memory.buffer, ctrl, 16);
      if (threads > 0xffff) throw new Error("too many threads");
      const stackTop = (i) => stackBase + (i + 1) * stackBytes;
      this.job = instantiate(this.module, this.memory, stackTop(0), memoryBase).exports.pwi_job;
      this.u8 = new Uint8Array(this.memory.buffer);
      this.workers = [];
      this.failure = null;
      // where the time goes: chunks the calling thread ran, and how long it then waited
      this.stats = { jobs: 0, chunks: 0, callerChunks: 0, copyMs: 0, notifyMs: 0, computeMs: 0, waitMs: 0 };
      const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
      let started = 0;
      this.started = new Promise((resolve, reject) => {
        for (let i = 1; i < threads; i++) {
          const worker = new Worker(url);
          worker.onmessage = ({ data }) => {
            if (data.error) {
              this.failure = data.error;
              reject(new Error(`a pool worker failed to start: ${data.error}`));
            } else if (++started === threads - 1) {
              URL.revokeObjectURL(url);
              resolve(threads);
            }
          };
          worker.onerror = (e) => {
            this.failure = e.message || "worker error";
            reject(new Error(`a pool worker failed: ${this.failure}`));
          };
          worker.postMessage({ module: this.module, memory: this.memory, stackTop: stackTop(i), memoryBase,
                               ctrl, index: i, pollMs, pollStepMs });
          this.workers.push(worker);
        }
      });
      this.started.catch(() => {}); // a failure is reported through ready() / whenReady()
    }

    // Whether every worker has started (only then is a job handed out).
    ready() {
      return this.failure === null && this.ctrl !== null &&
        Atomics.load(this.ctrl, READY) === this.threads - 1;
    }

    whenReady() { return this.started; }

    grow(pages) {
      this.memory.grow(pages);
      this.u8 = new Uint8Array(this.memory.buffer);
      return this.u8.byteLength;
    }

    // bytes from Python's memory into the shared one (weights, once)
    copyIn(src, dst, n) {
      this.u8.set(this.em.HEAPU8.subarray(src, src + n), dst);
    }

    // One job.  `desc` (in Python's memory, int32): parts, job address, inputs, outputs,
    // then (source, destination, bytes) per input (Python -> shared; the job words are
    // the first) and per output (shared -> Python).
    run(desc) {
      const tIn = performance.now();
      const heap = this.em.HEAPU8;
      const d = new Int32Array(heap.buffer, desc, 4);
      const parts = d[0], job = d[1], ins = d[2], outs = d[3];
      const copies = new Int32Array(heap.buffer, desc + 16, 3 * (ins + outs));
      const shared = this.u8;
      for (let i = 0; i < 3 * ins; i += 3) {
        shared.set(heap.subarray(copies[i], copies[i] + copies[i + 2]), copies[i + 1]);
      }
      const c = this.ctrl;
      this.stats.copyMs += performance.now() - tIn;
      const gen = (Atomics.load(c, GEN) + 1) | 0;
      Atomics.store(c, FIN, 0);
      // the claim word first: a worker still looking at the last job sees it has changed
      Atomics.store(c, CLAIM, (gen & 0xffff) << 16);
      Atomics.store(c, JOB, job);
      Atomics.store(c, PARTS, parts);
      const tNotify = performance.now();
      Atomics.store(c, GEN, gen); // publishes the copies and the job words too
      if (Atomics.load(c, SLEEPING) > 0) Atomics.notify(c, GEN);
      const t0 = performance.now();
      this.stats.notifyMs += t0 - tNotify;
      let mine = 0;
      for (;;) {
        const k = Atomics.add(c, CLAIM, 1) & 0xffff;
        if (k >= parts) break;
        this.job(job, k, parts, 0); // thread 0: the first workspace
        Atomics.add(c, FIN, 1);
        mine++;
      }
      const t1 = performance.now();
      this.stats.jobs++;
      this.stats.chunks += parts;
      this.stats.callerChunks += mine;
      this.stats.computeMs += t1 - t0;
      // chunks still running on workers; the calling thread may be a page's main thread,
      // where Atomics.wait throws: spin
      if (Atomics.load(c, FIN) < parts) {
        const deadline = performance.now() + STALL_MS;
        for (let n = 1; Atomics.load(c, FIN) < parts; n++) {
          if ((n & 0xffff) === 0 && performance.now() > deadline) {
            throw new Error("the worker pool stalled: a worker did not finish its chunk");
          }
        }
      }
      this.stats.waitMs += performance.now() - t1;
      if (Atomics.load(c, FAILED)) {
        Atomics.store(c, FAILED, 0);
        throw new Error("a kernel trapped in a pool worker");
      }
      const tOut = performance.now();
      const out = this.em.HEAPU8; // the same memory: no Python code ran meanwhile
      for (let i = 3 * ins; i < 3 * (ins + outs); i += 3) {
        out.set(shared.subarray(copies[i], copies[i] + copies[i + 2]), copies[i + 1]);
      }
      this.stats.copyMs += performance.now() - tOut;
    }

    // Ends the workers and drops the shared memory (freed once the workers are gone).
    // Workers leave their loop at once (each takes 1 off READY as it goes); terminate()
    // is the backstop for one stuck in a kernel.
    close() {
      if (this.ctrl === null) return;
      Atomics.store(this.ctrl, QUIT, 1);
      Atomics.add(this.ctrl, GEN, 1);
      Atomics.notify(this.ctrl, GEN);
      const workers = this.workers;
      setTimeout(() => { for (const worker of workers) worker.terminate(); }, 1000);
      this.workers = [];
      this.ctrl = this.u8 = this.memory = this.module = this.job = null;
    }
  }

  return (...args) => new Pool(...args);
})()
