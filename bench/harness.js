// The benchmark harness: every configuration of plan.json (written by bench/run.py) in
// its own worker, all driven from this page in one browser session.
//
// For each workload: load it in every configuration, one first run each, warm-up rounds,
// then timed rounds.  Within a round every configuration runs once, in an order rotated
// by one each round (A B C, B C A, ...), so slow drift of a shared, noisy machine falls
// on all of them alike.  A configuration that cannot run gets a record saying why.
//
// window.benchState: {status: "running"|"done"|"error", log: [...], environment,
// runtimes, records}; bench/run.py polls it.
import { loadPywebinfer } from "/pyodide/pywebinfer.js";

const { connect, errorText } = globalThis.bench;
const WORK_DIR = "/home/pyodide/bench";

const state = { status: "running", log: [], environment: null, runtimes: {}, records: [], error: null };
window.benchState = state;

function log(message) {
  state.log.push(`[${(performance.now() / 1000).toFixed(1)} s] ${message}`);
}

class Missing extends Error {}
class TimedOut extends Error {}

function withTimeout(promise, seconds, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`${what}: no answer after ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const rotate = (list, k) => list.slice(k % list.length).concat(list.slice(0, k % list.length));
const applies = (config, workload) => !config.only || config.only === workload.kind;

// ---------------------------------------------------------------- runners

/** onnxruntime-web or TensorFlow.js in a worker of their own (runner-*.js). */
class WorkerRunner {
  constructor(config) {
    this.config = config;
    this.script = config.runtime === "tfjs" ? "runner-tfjs.js" : "runner-ort.js";
  }

  async start() {
    const options = this.script === "runner-ort.js" ? { type: "module" } : {};
    this.rpc = await connect(new URL(this.script, location.href), options);
    this.info = await this.rpc.call("init", this.config);
  }

  load(spec) { return this.rpc.call("load", spec); }
  run(check) { return this.rpc.call("run", check); }
  memory() { return this.rpc.call("memory"); }
  unload() { return this.rpc.call("unload"); }
  stop() { if (this.rpc) this.rpc.terminate(); }
}

/** pywebinfer in Pyodide, in the worker that pywebinfer.js starts; runs pyrunner.py. */
class PywebinferRunner {
  constructor(config) {
    this.config = config;
    this.files = new Set();
  }

  async start() {
    this.py = await loadPywebinfer({});
    const [commonJs, runnerPy] = await Promise.all([
      fetch("common.js").then((r) => r.text()),
      fetch("pyrunner.py").then((r) => r.arrayBuffer()),
    ]);
    await this.py.writeFile(`${WORK_DIR}/pyrunner.py`, runnerPy);
    const described = await this.py.runPython(`
import json, sys
from pyodide.code import run_js
run_js(common_js)  # the memory meter, before any GPU device or wasm module is made
sys.path.insert(0, ${JSON.stringify(WORK_DIR)})
import pyrunner
runner = pyrunner.Runner(backend, threads)
runner.describe()
`, { common_js: commonJs, backend: this.config.backend, threads: this.config.threads });
    this.info = { ...described, pyodide: this.py.info.pyodideVersion,
      boot_ms: this.py.info.bootMs, packages_ms: this.py.info.packagesMs };
    if (!described.available.includes(this.config.backend)) {
      throw new Missing(`not built yet: pywebinfer.get_available_providers() is ` +
        `[${described.available.join(", ")}]`);
    }
  }

  async load(spec) {
    const urls = [spec.model_url, ...spec.inputs.map((d) => d.url), ...spec.outputs.map((d) => d.url)];
    for (const url of urls) {
      if (!this.files.has(url)) {
        await this.py.fetchFile(url, WORK_DIR + url);
        this.files.add(url);
      }
    }
    const local = (d) => ({ ...d, path: WORK_DIR + d.url });
    const localSpec = { ...spec, model_path: WORK_DIR + spec.model_url,
      inputs: spec.inputs.map(local), outputs: spec.outputs.map(local) };
    return this.py.runPython("await runner.load(json.loads(spec_json))",
      { spec_json: JSON.stringify(localSpec) });
  }

  run(check) { return this.py.runPython("await runner.run(check)", { check }); }
  memory() { return this.py.runPython("runner.memory()"); }
  unload() { return this.py.runPython("runner.unload()"); }
  stop() { if (this.py) this.py.terminate(); }
}

// ---------------------------------------------------------------- environment

function timerResolution() {
  let finest = Infinity;
  for (let i = 0; i < 2000; i++) {
    const a = performance.now();
    let b = performance.now();
    while (b === a) b = performance.now();
    finest = Math.min(finest, b - a);
  }
  return finest;
}

async function environment() {
  const env = {
    user_agent: navigator.userAgent,
    hardware_concurrency: navigator.hardwareConcurrency,
    cross_origin_isolated: globalThis.crossOriginIsolated,
    device_memory_gib: navigator.deviceMemory ?? null,
    timer_resolution_ms: timerResolution(),
    gpu_adapter: null,
    webgl: null,
  };
  if (navigator.gpu) {
    const adapter = await navigator.gpu.requestAdapter();
    if (adapter) {
      const info = adapter.info || {};
      env.gpu_adapter = {
        vendor: info.vendor, architecture: info.architecture, device: info.device,
        description: info.description,
        is_fallback_adapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
        features: [...adapter.features].sort(),
        max_buffer_size: adapter.limits.maxBufferSize,
        max_storage_buffer_binding_size: adapter.limits.maxStorageBufferBindingSize,
        max_compute_invocations_per_workgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
      };
    }
  }
  const gl = new OffscreenCanvas(1, 1).getContext("webgl2");
  if (gl) {
    const debug = gl.getExtension("WEBGL_debug_renderer_info");
    env.webgl = {
      version: gl.getParameter(gl.VERSION),
      renderer: gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER),
      vendor: gl.getParameter(debug ? debug.UNMASKED_VENDOR_WEBGL : gl.VENDOR),
      max_texture_size: gl.getParameter(gl.MAX_TEXTURE_SIZE),
      color_buffer_float: gl.getExtension("EXT_color_buffer_float") !== null,
    };
  }
  return env;
}

// ---------------------------------------------------------------- one workload

function newRecord(spec, config) {
  return {
    workload: spec.name, kind: spec.kind, runtime: config.runtime, backend: config.backend,
    threads: config.threads, config: config.id, host: "chromium", status: "ok",
    load_ms: null, first_ms: null, median_ms: null, min_ms: null, mean_ms: null, runs: 0,
    times_ms: [], max_abs_diff: null, wasm_heap_bytes: null, gpu_bytes: null,
    gpu_peak_bytes: null, providers: null, placement: null, error: null, note: null,
  };
}

async function runWorkload(spec, plan, runners, failures) {
  const settings = plan.settings;
  const configs = plan.configs.filter((c) => applies(c, spec));
  const records = new Map(configs.map((c) => [c.id, newRecord(spec, c)]));
  let active = [];

  // a failure ends this configuration's part in the workload; a timeout ends the
  // configuration (its worker is stopped: it may still be busy)
  const fail = (id, error, during) => {
    const record = records.get(id);
    record.status = "error";
    record.error = `${during}: ${errorText(error)}`;
    active = active.filter((other) => other !== id);
    log(`${spec.name} ${id}: ${record.error}`);
    if (error instanceof TimedOut) {
      runners.get(id).stop();
      runners.delete(id);
      failures.set(id, { status: "error", error: `stopped after a timeout in ${spec.name}` });
    }
  };
  const call = (id, method, arg, seconds) =>
    withTimeout(runners.get(id)[method](arg), seconds, `${method} ${spec.name}`);
  const addNote = (record, note) => {
    record.note = [record.note, note].filter(Boolean).join("; ");
  };
  const addDiff = (record, diff) => {
    if (diff === undefined) return;
    if (!Number.isFinite(diff) && Number.isFinite(record.max_abs_diff ?? 0)) {
      addNote(record, "output has NaN or Inf values");
    }
    record.max_abs_diff = Math.max(record.max_abs_diff ?? 0, Number.isFinite(diff) ? diff : Infinity);
  };

  for (const config of configs) {
    const record = records.get(config.id);
    const failure = failures.get(config.id);
    if (failure) {
      Object.assign(record, failure);
      continue;
    }
    try {
      const loaded = await call(config.id, "load", spec, settings.load_timeout_s);
      record.load_ms = loaded.load_ms;
      record.providers = loaded.providers ?? null;
      record.placement = loaded.placement ?? null;
      record.wasm_threads = loaded.wasm_threads ?? null;
      active.push(config.id);
    } catch (error) {
      fail(config.id, error, "load");
    }
  }
  log(`${spec.name}: loaded in ${active.length} of ${configs.length} configurations`);

  for (const id of [...active]) {
    try {
      const result = await call(id, "run", true, settings.run_timeout_s);
      records.get(id).first_ms = result.ms;
      addDiff(records.get(id), result.max_abs_diff);
    } catch (error) {
      fail(id, error, "first run");
    }
  }

  // warm-up rounds: fewer where one run takes seconds (software GPUs), none where it
  // takes so long that the first run's compile is the only thing worth discarding
  const warmups = (id) => {
    const first = records.get(id).first_ms;
    return first > settings.very_slow_run_ms ? 0 : first > settings.slow_run_ms ? 1 : settings.warmup;
  };
  const warm = new Map(active.map((id) => [id, []]));
  for (let round = 0; round < settings.warmup; round++) {
    for (const id of rotate(active, round)) {
      if (round >= warmups(id)) continue;
      try {
        warm.get(id).push((await call(id, "run", false, settings.run_timeout_s)).ms);
      } catch (error) {
        fail(id, error, "warm-up");
      }
    }
  }

  // as many timed runs as the budget allows (between settings.min_runs and spec.runs),
  // and never more than fit in what is left of settings.max_config_s
  const target = new Map();
  for (const id of active) {
    const times = warm.get(id);
    const estimate = Math.max(times.length ? median(times) : records.get(id).first_ms, 1e-3);
    const spent = records.get(id).first_ms + times.reduce((a, b) => a + b, 0);
    const budget = Math.max(settings.min_runs, Math.floor((spec.budget_s * 1000) / estimate));
    const room = Math.floor((settings.max_config_s * 1000 - spent) / estimate);
    target.set(id, Math.max(0, Math.min(spec.runs, budget, room)));
    if (target.get(id) === 0) {
      addNote(records.get(id), `not timed: the first run took ${(records.get(id).first_ms / 1000).toFixed(1)} ` +
        `s and a timed run would pass the cap of ${settings.max_config_s} s per configuration and workload`);
    }
  }
  const rounds = Math.max(0, ...target.values());
  for (let round = 0; round < rounds; round++) {
    for (const id of rotate(active, round)) {
      const record = records.get(id);
      if (record.times_ms.length >= target.get(id)) continue;
      const last = record.times_ms.length === target.get(id) - 1;
      try {
        const result = await call(id, "run", last, settings.run_timeout_s);
        record.times_ms.push(result.ms);
        addDiff(record, result.max_abs_diff);
      } catch (error) {
        fail(id, error, `timed run ${record.times_ms.length + 1}`);
      }
    }
  }

  for (const id of active) {
    const record = records.get(id);
    const times = record.times_ms;
    record.runs = times.length;
    if (times.length) {
      record.median_ms = median(times);
      record.min_ms = Math.min(...times);
      record.mean_ms = times.reduce((a, b) => a + b, 0) / times.length;
    }
    if (times.length && times.length < settings.wanted_runs) {
      addNote(record, `only ${times.length} timed run${times.length === 1 ? "" : "s"} (a run takes ` +
        `~${Math.round(record.median_ms)} ms; budget ${spec.budget_s} s per configuration)`);
    }
    try {
      const memory = await call(id, "memory", undefined, settings.run_timeout_s);
      for (const key of ["wasm_heap_bytes", "gpu_bytes", "gpu_peak_bytes"]) record[key] = memory[key] ?? null;
    } catch (error) {
      addNote(record, `memory not measured: ${errorText(error)}`);
    }
  }
  for (const id of configs.map((c) => c.id)) {
    if (!runners.has(id)) continue;
    try {
      await call(id, "unload", undefined, settings.load_timeout_s);
    } catch (error) {
      fail(id, error, "unload");
    }
  }
  for (const record of records.values()) {
    state.records.push(record);
    const summary = record.status !== "ok" ? `${record.status}: ${record.error}`
      : record.median_ms === null ? `first run ${record.first_ms.toFixed(0)} ms, ${record.note}`
        : `median ${record.median_ms.toFixed(2)} ms, ${record.runs} runs, max diff ${record.max_abs_diff}`;
    log(`${spec.name} ${record.config}: ${summary}`);
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const plan = await (await fetch("/bench-data/plan.json", { cache: "no-store" })).json();
  state.environment = await environment();
  log(`crossOriginIsolated=${state.environment.cross_origin_isolated}, ` +
    `${state.environment.hardware_concurrency} cores`);

  // start every configuration at once (boot times are not compared; a Pyodide boot
  // takes seconds and there are several), each warmed up on a tiny model so that
  // one-time set-up (wasm compile, kernel registry) is not billed to the first workload
  const runners = new Map();
  const failures = new Map();
  const startOne = async (config) => {
    const runner = config.runtime === "pywebinfer" ? new PywebinferRunner(config) : new WorkerRunner(config);
    const start = performance.now();
    try {
      await withTimeout(runner.start(), plan.settings.start_timeout_s, `starting ${config.id}`);
      await withTimeout((async () => {
        await runner.load(plan.warmup);
        await runner.run(true);
        await runner.unload();
      })(), plan.settings.load_timeout_s, `warming up ${config.id}`);
      runners.set(config.id, runner);
      state.runtimes[config.id] = { ...runner.info, start_ms: performance.now() - start };
      log(`started ${config.id} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    } catch (error) {
      runner.stop();
      const status = error instanceof Missing ? "missing" : "error";
      const text = error instanceof Missing ? error.message : errorText(error);
      failures.set(config.id, { status, error: text });
      state.runtimes[config.id] = { status, error: text };
      log(`${config.id}: ${status}: ${text}`);
    }
  };
  const starting = [];
  for (const config of plan.configs) {
    if (config.missing) failures.set(config.id, { status: "missing", error: config.missing });
    else if (plan.workloads.some((w) => applies(config, w))) starting.push(startOne(config));
  }
  await Promise.all(starting);

  for (const spec of plan.workloads) {
    log(`workload ${spec.name}: ${spec.title}`);
    await runWorkload(spec, plan, runners, failures);
  }
  for (const runner of runners.values()) runner.stop();
  state.status = "done";
  log("done");
}

main().catch((error) => {
  state.error = errorText(error);
  state.status = "error";
  log(`harness failed: ${state.error}`);
});
