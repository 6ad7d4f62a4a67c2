// The demo page: boots pywebinfer in a worker, classifies photos, files, drops and
// webcam frames, and times the backends.  All Python runs in the worker
// (pyodide/pywebinfer.js); this thread only draws.
//
// URL parameters: ?sample=chelsea classifies that sample as soon as the model is loaded,
// then runs the benchmark; ?runs=N sets how many predictions the benchmark averages;
// ?backend=NAME picks the backend to start on (default: wasm where the browser has wasm
// SIMD, else numpy).
// window.pywebinferDemo holds the state, and <html data-status> reads "loading", "ready",
// "busy", "done" (after ?sample's run) or "error", for scripts that drive the page.
import { loadPywebinfer } from "./pyodide/pywebinfer.js";

const MODEL_URL = "models/efficientnet_lite0_dynamo.onnx";
const LABELS_URL = "models/imagenet_labels.json";
const WORK_DIR = "/home/pyodide/demo";
const params = new URLSearchParams(location.search);
const RUNS = Math.max(1, Number(params.get("runs")) || 20);

const $ = (id) => document.getElementById(id);
const state = {
  status: "loading",
  provider: null,
  backends: [],
  features: null,
  startup: [],
  result: null,
  benchmark: null,
  timings: [],
  error: null,
};
window.pywebinferDemo = state;
let py = null;

function setStatus(status) {
  state.status = status;
  document.documentElement.dataset.status = status;
}

function setProgress(percent, text) {
  const clamped = Math.max(0, Math.min(100, percent));
  $("progress-fill").style.width = `${clamped}%`;
  document.querySelector(".progress").setAttribute("aria-valuenow", String(Math.round(clamped)));
  if (text) $("progress-text").textContent = text;
}

function showError(error) {
  const message = error && error.message ? error.message : String(error);
  state.error = message;
  $("error").textContent = message;
  $("error").hidden = false;
  setStatus("error");
  console.error(error);
}

const ms = (value) => (value == null ? "–" : value >= 1000 ? `${(value / 1000).toFixed(2)} s`
  : `${value.toFixed(value < 10 ? 1 : 0)} ms`);
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function addStartup(step, value, detail = "") {
  state.startup.push({ step, ms: value, detail });
  const row = $("startup").insertRow();
  row.insertCell().textContent = step;
  row.insertCell().textContent = ms(value);
  row.insertCell().textContent = detail;
}

// ---------------------------------------------------------------- start-up

async function start() {
  setStatus("loading");
  setProgress(2, "Starting the worker…");
  py = await loadPywebinfer({
    packages: ["pillow"],
    onProgress: ({ phase, message }) => {
      if (phase === "runtime") setProgress(5, `${message}…`);
      else if (phase === "packages") setProgress(40, message);
      else if (phase === "ready") setProgress(55, message);
    },
  });
  const info = py.info;
  addStartup("Pyodide runtime", info.bootMs, `Pyodide ${info.pyodideVersion}`);
  addStartup("Packages", info.packagesMs, info.loadedPackages.join(", "));

  state.features = await py.browserFeatures();
  // the fast CPU path every browser with wasm SIMD has, unless ?backend= names another
  state.provider = params.get("backend") || (state.features.wasm?.available ? "wasm" : "numpy");
  const source = await (await fetch("classifier.py")).arrayBuffer();
  await py.writeFile(`${WORK_DIR}/classifier.py`, source);

  const download = await py.fetchFile(MODEL_URL, `${WORK_DIR}/model.onnx`,
    ({ received, total }) => setProgress(55 + 40 * (total ? received / total : 0),
      `Downloading the model: ${mib(received)}${total ? ` of ${mib(total)}` : ""}`));
  addStartup("Model download", download.ms, `EfficientNet-Lite0, ${mib(download.bytes)}`);
  await py.fetchFile(LABELS_URL, `${WORK_DIR}/labels.json`);

  setProgress(96, "Loading the model into pywebinfer…");
  const setup = await py.runPython(`
import sys
sys.path.insert(0, ${JSON.stringify(WORK_DIR)})
import classifier
demo = classifier.Classifier(${JSON.stringify(`${WORK_DIR}/model.onnx`)},
                             ${JSON.stringify(`${WORK_DIR}/labels.json`)})
{"backends": demo.backends(), "load": await demo.load(${JSON.stringify(state.provider)})}
`);
  state.backends = setup.backends;
  renderBackends();
  setTimings([setup.load]);
  setProgress(100, `Ready: pywebinfer ${info.pywebinferVersion} on Pyodide ${info.pyodideVersion}`);
  $("loading").classList.add("done");
  enableInputs(true);
  setStatus("ready");
}

// ---------------------------------------------------------------- backends

function backendReason(backend) {
  const feature = state.features[backend.name] || { available: false, detail: "unknown" };
  if (!backend.built) {
    return { enabled: false, reason: `not built in this pywebinfer yet (browser: ${feature.detail})` };
  }
  if (!feature.available) return { enabled: false, reason: `this browser has ${feature.detail}` };
  return { enabled: true, reason: feature.detail };
}

function renderBackends() {
  const select = $("backend");
  const notes = $("backend-notes");
  select.replaceChildren();
  notes.replaceChildren();
  for (const backend of state.backends) {
    const { enabled, reason } = backendReason(backend);
    Object.assign(backend, { enabled, reason });
    const option = new Option(enabled ? backend.name : `${backend.name} (unavailable)`,
      backend.name, false, backend.name === state.provider);
    option.disabled = !enabled;
    option.title = reason;
    select.append(option);
    const note = document.createElement("li");
    note.className = enabled ? "enabled" : "disabled";
    note.textContent = `${backend.name}: ${enabled ? "available" : "unavailable"}: ${reason}`;
    notes.append(note);
  }
}

$("backend").addEventListener("change", async (event) => {
  state.provider = event.target.value;
  await busy(async () => {
    const row = await py.runPython(`await demo.load(provider)`, { provider: state.provider });
    mergeTiming(row);
    if (state.result) await rerunLast();
  });
});

// ---------------------------------------------------------------- classification

let lastRun = null;

async function busy(task) {
  enableInputs(false);
  setStatus("busy");
  try {
    await task();
    setStatus("ready");
  } catch (error) {
    showError(error);
  } finally {
    enableInputs(true);
  }
}

function enableInputs(enabled) {
  for (const el of document.querySelectorAll(".sample, #file-input, #backend, #webcam-start")) {
    el.disabled = !enabled;
  }
  $("file-label").classList.toggle("disabled", !enabled);
  $("benchmark").disabled = !enabled || !state.result;
  $("webcam-capture").disabled = !enabled || !webcam.stream;
  $("webcam-live").disabled = !webcam.stream;
}

function showPreview(blob, caption) {
  const image = $("preview-image");
  if (image.src) URL.revokeObjectURL(image.src);
  image.src = URL.createObjectURL(blob);
  image.hidden = false;
  $("preview-caption").textContent = caption;
}

// The browser decodes (its JPEG decoder matches CPython's Pillow pixel for pixel, and it
// reads every format it can show); the worker's Python does the rest.
async function classifyEncoded(blob, caption) {
  showPreview(blob, caption);
  lastRun = () => classifyEncoded(blob, caption);
  return classifyPixels(await createImageBitmap(blob), caption);
}

async function classifyPixels(source, caption) {
  const width = source.videoWidth || source.width;
  const height = source.videoHeight || source.height;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height).data.buffer;
  return showResult(await py.runPython(
    "await demo.classify_rgba(pixels.to_bytes(), width, height, provider)",
    { pixels, width, height, provider: state.provider }, [pixels]), caption);
}

function showResult(result, caption) {
  state.result = { ...result, caption };
  delete state.result.model_input_rgb;
  const list = $("top5");
  list.replaceChildren();
  for (const { label, probability } of result.top) {
    const item = document.createElement("li");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${(probability * 100).toFixed(1)}%`;
    const text = document.createElement("span");
    text.className = "label";
    text.textContent = label;
    const value = document.createElement("span");
    value.className = "probability";
    value.textContent = `${(probability * 100).toFixed(1)} %`;
    item.append(bar, text, value);
    list.append(item);
  }
  $("result-note").textContent = `${caption}: ${result.image_size.join("×")} px, ` +
    `preprocessing ${ms(result.preprocess_ms)}, prediction ${ms(result.predict_ms)} ` +
    `on ${result.provider}`;
  drawModelInput(result.model_input_rgb);
  setTimings(result.timings);
  return state.result;
}

function drawModelInput(rgb) {
  const image = new ImageData(224, 224);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    image.data[j] = rgb[i];
    image.data[j + 1] = rgb[i + 1];
    image.data[j + 2] = rgb[i + 2];
    image.data[j + 3] = 255;
  }
  $("model-input").getContext("2d").putImageData(image, 0, 0);
}

function mergeTiming(row) {
  const rows = state.timings.filter((r) => r.provider !== row.provider);
  rows.push(row);
  setTimings(rows);
}

// {"wasm": 51, "numpy": 1} -> "51 wasm, 1 numpy": where the session placed the nodes
const nodesText = (nodes) => Object.entries(nodes || {}).map(([b, n]) => `${n} ${b}`).join(", ");

function setTimings(rows) {
  state.timings = rows;
  const body = $("timings");
  body.replaceChildren();
  for (const row of rows) {
    const tr = body.insertRow();
    tr.insertCell().textContent = row.provider;
    tr.insertCell().textContent = ms(row.load_ms);
    tr.insertCell().textContent = ms(row.first_ms);
    tr.insertCell().textContent = row.average_ms == null ? "–"
      : `${ms(row.average_ms)}${row.runs !== RUNS ? ` (${row.runs} runs)` : ""}`;
    tr.insertCell().textContent = nodesText(row.nodes);
  }
}

async function rerunLast() {
  if (lastRun) await lastRun();
}

async function classifySample(name) {
  const response = await fetch(`models/samples/${name}.jpg`);
  if (!response.ok) throw new Error(`sample ${name}: HTTP ${response.status}`);
  return classifyEncoded(await response.blob(), `${name}.jpg`);
}

async function benchmark(runs = RUNS) {
  $("result-note").textContent = `Running ${runs} predictions on ${state.provider}…`;
  const result = await py.runPython("await demo.benchmark(provider, runs)",
    { provider: state.provider, runs });
  state.benchmark = result;
  setTimings(result.timings);
  $("result-note").textContent = `${runs} predictions on ${state.provider}: average ` +
    `${ms(result.times_ms.reduce((a, b) => a + b, 0) / runs)}`;
  return result;
}

for (const button of document.querySelectorAll(".sample")) {
  button.addEventListener("click", () => busy(() => classifySample(button.dataset.sample)));
}
$("benchmark").textContent = `Average of ${RUNS} predictions`;
$("average-header").textContent = `Average of ${RUNS} predictions`;
$("benchmark").addEventListener("click", () => busy(() => benchmark()));

$("file-input").addEventListener("change", (event) => {
  const [file] = event.target.files;
  if (file) busy(() => classifyEncoded(file, file.name));
  event.target.value = "";
});

const dropzone = $("input-panel");
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("dragging");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dragging"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("dragging");
  const file = [...event.dataTransfer.files].find((f) => f.type.startsWith("image/"));
  if (!file) return showError(new Error("drop an image file (JPEG, PNG, WebP, …)"));
  if (state.status !== "ready") return undefined;
  return busy(() => classifyEncoded(file, file.name));
});

// ---------------------------------------------------------------- webcam

const webcam = { stream: null, live: false };

$("webcam-start").addEventListener("click", async () => {
  const note = $("webcam-note");
  if (webcam.stream) {
    for (const track of webcam.stream.getTracks()) track.stop();
    webcam.stream = null;
    $("webcam-video").hidden = true;
    $("webcam-start").textContent = "Start webcam";
    $("webcam-live").checked = false;
    enableInputs(state.status !== "busy");
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    note.textContent = "this browser offers no camera here (needs https or localhost)";
    return;
  }
  try {
    webcam.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    note.textContent = `no camera: ${error.name}: ${error.message}`;
    return;
  }
  const video = $("webcam-video");
  video.srcObject = webcam.stream;
  video.hidden = false;
  await video.play();
  note.textContent = "";
  $("webcam-start").textContent = "Stop webcam";
  enableInputs(state.status !== "busy");
});

async function classifyFrame() {
  const video = $("webcam-video");
  const frame = new OffscreenCanvas(video.videoWidth, video.videoHeight);
  frame.getContext("2d").drawImage(video, 0, 0);
  const blob = await frame.convertToBlob({ type: "image/jpeg", quality: 0.9 });
  showPreview(blob, "webcam frame");
  lastRun = classifyFrame;
  return classifyPixels(video, "webcam frame");
}

$("webcam-capture").addEventListener("click", () => busy(classifyFrame));
$("webcam-live").addEventListener("change", async (event) => {
  while (event.target.checked && webcam.stream) {
    await busy(classifyFrame);
    if (state.status === "error") break;
  }
});

// ---------------------------------------------------------------- go

state.ready = start().then(async () => {
  const sample = params.get("sample");
  if (sample) {
    await busy(async () => {
      await classifySample(sample);
      await benchmark();
    });
    if (state.status !== "error") setStatus("done");
  }
}).catch(showError);
state.classifySample = (name) => busy(() => classifySample(name));
state.benchmarkRuns = (runs) => busy(() => benchmark(runs));
