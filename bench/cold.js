// Cold start: from navigation to the first EfficientNet-Lite0 result, split into stages.
// bench/run.py clears the browser's cache and opens
//   cold.html?runtime=pywebinfer|onnxruntime-web&model=URL&input=URL&name=NAME&shape=1,3,224,224
// Times are performance.now() on this page: milliseconds since navigation started.
//
// Stages, both runtimes:
//   page            navigation -> this script runs (HTML + module fetch)
//   runtime boot    pywebinfer: worker + Pyodide; onnxruntime-web: its JS module
//   package load    pywebinfer: pywebinfer + numpy wheels; onnxruntime-web: its .wasm binary
//   model fetch     the .onnx file and the input tensor
//   session create  pywebinfer: parse + optimize + prepare kernels;
//                   onnxruntime-web: wasm compile + runtime init + parse + optimize
//   first run       the first inference, result back on the page
const params = new URLSearchParams(location.search);
const runtime = params.get("runtime");
const modelUrl = params.get("model");
const inputUrl = params.get("input");
const inputName = params.get("name");
const shape = params.get("shape").split(",").map(Number);

const state = { status: "running", runtime, stages: [], total_ms: null, top1: null, detail: {}, error: null };
window.coldState = state;
let last = 0;
function stage(name, detail = "", ms = null) {
  const now = performance.now();
  state.stages.push({ stage: name, ms: ms ?? now - last, detail });
  last = now;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

async function pywebinfer() {
  const { loadPywebinfer } = await import("/pyodide/pywebinfer.js");
  const py = await loadPywebinfer({});
  const now = performance.now();
  // the worker measured its package load; the rest of this span is the runtime's boot
  stage("runtime boot", `worker + Pyodide ${py.info.pyodideVersion}`, now - last - py.info.packagesMs);
  stage("package load", py.info.loadedPackages.join(", "), py.info.packagesMs);
  last = now;
  await py.fetchFile(modelUrl, "/home/pyodide/cold/model.onnx");
  await py.fetchFile(inputUrl, "/home/pyodide/cold/input.bin");
  stage("model fetch");
  const providers = await py.runPython(`
import numpy as np, pywebinfer
providers = [p for p in ("wasm", "numpy") if p in pywebinfer.get_available_providers()]
session = pywebinfer.InferenceSession("/home/pyodide/cold/model.onnx", providers=providers)
providers`);
  stage("session create", `providers ${providers.join(", ")}`);
  state.top1 = await py.runPython(`
x = np.fromfile("/home/pyodide/cold/input.bin", dtype=np.float32).reshape(shape)
(logits,) = session.run(None, {name: x})
int(logits.argmax())`, { shape, name: inputName });
  stage("first run");
  state.detail = { providers, pyodide: py.info.pyodideVersion, pywebinfer: py.info.pywebinferVersion };
}

async function onnxruntimeWeb() {
  const base = new URL("/npm/onnxruntime-web/", location.origin).href;
  const ort = await import(base + "ort.wasm.min.mjs");
  stage("runtime boot", "ort.wasm.min.mjs");
  ort.env.wasm.wasmBinary = await fetchBytes(base + "ort-wasm-simd-threaded.wasm");
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = 1;
  stage("package load", "ort-wasm-simd-threaded.wasm");
  const [model, input] = await Promise.all([fetchBytes(modelUrl), fetchBytes(inputUrl)]);
  stage("model fetch");
  const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ["wasm"] });
  stage("session create", "wasm, 1 thread");
  const outputs = await session.run({ [inputName]: new ort.Tensor("float32", new Float32Array(input), shape) });
  const logits = outputs[session.outputNames[0]].data;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  state.top1 = best;
  stage("first run");
  state.detail = { providers: ["wasm"], onnxruntime_web: ort.env.versions.web };
}

async function main() {
  stage("page", "navigation -> script");
  if (runtime === "pywebinfer") await pywebinfer();
  else if (runtime === "onnxruntime-web") await onnxruntimeWeb();
  else throw new Error(`unknown runtime ${runtime}`);
  state.total_ms = performance.now();
  state.status = "done";
}

main().catch((error) => {
  state.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  state.status = "error";
});
