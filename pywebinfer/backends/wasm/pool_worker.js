// One thread of the wasm backend's worker pool: pool.js starts it from a Blob URL and
// posts it the kernel module, the shared memory, its stack and the control words.
// It claims and computes chunks of every job until told to quit; the control words are
// described in pool.js.
const GEN = 0, FIN = 1, JOB = 2, PARTS = 3, READY = 4, QUIT = 5, FAILED = 6, CLAIM = 7, SLEEPING = 8;

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

onmessage = ({ data }) => {
  onmessage = null;
  const { module, memory, stackTop, memoryBase, ctrl, index, pollMs, pollStepMs } = data;
  let job;
  try {
    job = instantiate(module, memory, stackTop, memoryBase).exports.pwi_job;
  } catch (e) {
    postMessage({ error: String(e) });
    return;
  }
  const c = new Int32Array(memory.buffer, ctrl, 16);
  Atomics.add(c, READY, 1);
  postMessage({ ready: true });
  let seen = Atomics.load(c, GEN);
  for (;;) {
    // Idle: for pollMs after a job, sleep in short timed waits, uncounted, so that the
    // next job needs no notify (waking a sleeping thread cost the caller about 1 ms here);
    // then sleep for good, counted in SLEEPING, and the next job notifies.
    let gen;
    const until = performance.now() + pollMs;
    while ((gen = Atomics.load(c, GEN)) === seen) {
      if (performance.now() < until) {
        Atomics.wait(c, GEN, seen, pollStepMs);
      } else {
        Atomics.add(c, SLEEPING, 1); // before the last look at GEN: a later job notifies
        Atomics.wait(c, GEN, seen);
        Atomics.sub(c, SLEEPING, 1);
      }
    }
    seen = gen;
    if (Atomics.load(c, QUIT)) break;
    for (;;) {
      const w = Atomics.load(c, CLAIM);
      if (w >>> 16 !== (gen & 0xffff)) break; // a newer job: back to the top
      // read before the claim succeeds, so they are this job's (pool.js writes them after
      // the claim word of the next one)
      const address = Atomics.load(c, JOB), parts = Atomics.load(c, PARTS), k = w & 0xffff;
      if (k >= parts) break;
      if (Atomics.compareExchange(c, CLAIM, w, w + 1) !== w) continue;
      try {
        job(address, k, parts, index); // its own workspace
      } catch (e) {
        Atomics.store(c, FAILED, 1);
      }
      Atomics.add(c, FIN, 1);
    }
  }
  Atomics.sub(c, READY, 1); // what the pool's close() waits to see
  close();
};
