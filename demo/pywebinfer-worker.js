// The Web Worker side of pywebinfer.js: Pyodide and pywebinfer live here, so Python's
// work never blocks the page.  The page reaches this API through Comlink (see
// pywebinfer.js); every method may be awaited from the main thread.
//
// This file is copied into the Pyodide distribution (dist/pyodide/) by `make dist`, next
// to pyodide.mjs and comlink.mjs, which it loads from its own directory.
import * as Comlink from "./comlink.mjs";
import { loadPyodide } from "./pyodide.mjs";

const indexURL = new URL("./", import.meta.url).href;
let pyodide = null;

// (module (func (result v128) v128.const i32x4 0 0 0 0)): validates only with SIMD128.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

function requirePyodide() {
  if (pyodide === null) throw new Error("pywebinfer worker: call boot() first");
  return pyodide;
}

// Python results come back as plain JS data: dicts become objects, lists arrays.
function toPlain(value) {
  if (value && typeof value === "object" && typeof value.toJs === "function") {
    try {
      return value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    } finally {
      value.destroy();
    }
  }
  return value;
}

async function loadPackages(names, report) {
  const errors = [];
  await pyodide.loadPackage(names, {
    messageCallback: (message) => report({ phase: "packages", message }),
    errorCallback: (message) => {
      errors.push(message);
      report({ phase: "packages", message, error: true });
    },
  });
  if (errors.length) throw new Error(`loading ${names.join(", ")} failed: ${errors.join("; ")}`);
}

const api = {
  /** Start Pyodide from this directory and load `packages` (pywebinfer and its numpy). */
  async boot(packages, onProgress) {
    const report = (event) => onProgress && onProgress(event);
    if (pyodide !== null) throw new Error("pywebinfer worker: already booted");
    const start = performance.now();
    report({ phase: "runtime", message: "Starting the Python runtime (Pyodide)" });
    pyodide = await loadPyodide({ indexURL });
    const booted = performance.now();
    report({ phase: "packages", message: `Loading ${packages.join(", ")}` });
    await loadPackages(packages, report);
    const loaded = performance.now();
    const version = pyodide.runPython("import pywebinfer\npywebinfer.__version__");
    report({ phase: "ready", message: `pywebinfer ${version} ready` });
    return {
      pyodideVersion: pyodide.version,
      pywebinferVersion: version,
      bootMs: booted - start,
      packagesMs: loaded - booted,
      loadedPackages: Object.keys(pyodide.loadedPackages).sort(),
    };
  },

  /** Load more packages of the distribution (by name, as in pyodide-lock.json). */
  async loadPackage(packages, onProgress) {
    requirePyodide();
    const start = performance.now();
    await loadPackages(packages, (event) => onProgress && onProgress(event));
    return { ms: performance.now() - start };
  },

  /**
   * Run Python code in the worker's __main__ and return its last expression as plain JS
   * data.  `names` become global variables for this call only; binary data (ArrayBuffer,
   * typed arrays) arrives as a JsProxy: call .to_bytes() or .to_py() on it.
   */
  async runPython(code, names = {}) {
    const py = requirePyodide();
    const keys = Object.keys(names);
    for (const key of keys) py.globals.set(key, names[key]);
    try {
      return toPlain(await py.runPythonAsync(code));
    } finally {
      for (const key of keys) py.globals.delete(key);
    }
  },

  /** Write bytes (ArrayBuffer or typed array) to a path in Pyodide's file system. */
  writeFile(path, data) {
    const py = requirePyodide();
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) py.FS.mkdirTree(dir);
    py.FS.writeFile(path, data instanceof Uint8Array ? data : new Uint8Array(data));
  },

  /** Download `url` into Pyodide's file system at `path`, reporting bytes as they come. */
  async fetchFile(url, path, onProgress) {
    const py = requirePyodide();
    const start = performance.now();
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
    const total = Number(response.headers.get("Content-Length")) || 0;
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      if (onProgress) onProgress({ phase: "download", url, received, total });
    }
    const bytes = new Uint8Array(received);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    api.writeFile(path, bytes);
    return { bytes: received, ms: performance.now() - start };
  },

  /** What this browser offers the backends: WebGPU adapter, WebGL2 context, wasm SIMD. */
  async browserFeatures() {
    const features = {};
    if (!("gpu" in navigator)) {
      features.webgpu = { available: false, detail: "navigator.gpu is missing" };
    } else {
      const adapter = await navigator.gpu.requestAdapter();
      if (adapter === null) {
        features.webgpu = { available: false, detail: "no WebGPU adapter" };
      } else {
        const info = adapter.info || {};
        const name = [info.vendor, info.architecture, info.description].filter(Boolean);
        features.webgpu = {
          available: true,
          detail: `adapter ${name.join(" ") || "(unnamed)"}` +
            (info.isFallbackAdapter ? " (software fallback)" : ""),
          features: [...adapter.features].sort(),
        };
      }
    }
    const canvas = typeof OffscreenCanvas === "undefined" ? null : new OffscreenCanvas(1, 1);
    const gl = canvas && canvas.getContext("webgl2");
    if (gl) {
      const debug = gl.getExtension("WEBGL_debug_renderer_info");
      const renderer = gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
      features.webgl = {
        available: true,
        detail: `WebGL2 on ${renderer}`,
        colorBufferFloat: gl.getExtension("EXT_color_buffer_float") !== null,
      };
    } else {
      features.webgl = { available: false, detail: "no WebGL2 context" };
    }
    features.wasm = WebAssembly.validate(SIMD_PROBE)
      ? { available: true, detail: "WebAssembly SIMD128" }
      : { available: false, detail: "no WebAssembly SIMD128" };
    features.numpy = { available: true, detail: "numpy in Pyodide" };
    return features;
  },
};

Comlink.expose(api);
