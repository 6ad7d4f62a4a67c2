// onnxruntime-web in its own module worker: one configuration (backend + thread count)
// per worker, because onnxruntime-web reads env.wasm.numThreads once per JS realm.
// The harness calls init, load, run (repeatedly), memory and unload (see harness.js).
import "./common.js";

const { meter, fetchTensor, maxAbsDiff } = globalThis.bench;
const ORT_BASE = new URL("/npm/onnxruntime-web/", location.origin).href;
// What a user of each backend loads: the wasm-only build, the default build (wasm +
// WebGPU through JSEP) and the build that still carries the WebGL backend.
const BUNDLES = { wasm: "ort.wasm.min.mjs", webgpu: "ort.min.mjs", webgl: "ort.all.min.mjs" };

let ort = null;
let config = null;
let session = null;
let feeds = null;
let references = null;

globalThis.bench.serve({
  async init(cfg) {
    config = cfg;
    if (!(cfg.backend in BUNDLES)) throw new Error(`no onnxruntime-web bundle for ${cfg.backend}`);
    ort = await import(ORT_BASE + BUNDLES[cfg.backend]);
    ort.env.wasm.wasmPaths = ORT_BASE;
    ort.env.wasm.numThreads = cfg.threads;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    return { version: ort.env.versions.web, bundle: BUNDLES[cfg.backend] };
  },

  async load(spec) {
    const response = await fetch(spec.model_url);
    if (!response.ok) throw new Error(`${spec.model_url}: HTTP ${response.status}`);
    const model = new Uint8Array(await response.arrayBuffer());
    feeds = {};
    for (const desc of spec.inputs) {
      feeds[desc.name] = new ort.Tensor(desc.dtype, await fetchTensor(desc), desc.shape);
    }
    references = {};
    for (const desc of spec.outputs) references[desc.name] = await fetchTensor(desc);
    meter.resetPeak();
    const start = performance.now();
    session = await ort.InferenceSession.create(model, {
      executionProviders: [config.backend],
      graphOptimizationLevel: "all",
    });
    return { load_ms: performance.now() - start, providers: [config.backend] };
  },

  async run(check) {
    const start = performance.now();
    const outputs = await session.run(feeds);
    const ms = performance.now() - start;
    const result = { ms };
    if (check) {
      result.max_abs_diff = Math.max(...Object.entries(references).map(
        ([name, expected]) => maxAbsDiff(outputs[name].data, expected)));
    }
    for (const tensor of Object.values(outputs)) tensor.dispose();
    return result;
  },

  memory() {
    return meter.snapshot();
  },

  async unload() {
    if (session) await session.release();
    session = feeds = references = null;
  },
});
