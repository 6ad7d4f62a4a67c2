// pywebinfer.js: boot Pyodide and pywebinfer in a Web Worker with one call, then run
// Python there while the page's main thread stays free.
//
//   import { loadPywebinfer } from "./pyodide/pywebinfer.js";   // served with the dist
//   const py = await loadPywebinfer({ packages: ["pillow"], onProgress: console.log });
//   await py.runPython("import pywebinfer; pywebinfer.get_available_providers()");
//
// The worker (pywebinfer-worker.js), pyodide.mjs and comlink.mjs sit beside this file in
// the Pyodide distribution that `make dist` builds; the worker loads every package from
// that directory, never from the network.
import * as Comlink from "./comlink.mjs";

export class PywebinferWorker {
  constructor(worker, remote, info) {
    this.worker = worker;
    this.remote = remote;
    /** pyodideVersion, pywebinferVersion, bootMs, packagesMs, loadedPackages */
    this.info = info;
  }

  /**
   * Run Python in the worker; resolves to its last expression as plain JS data.
   * `names` become Python globals for this call; pass `transfer` (a list of
   * ArrayBuffers inside `names`) to move large buffers instead of copying them.
   */
  runPython(code, names = {}, transfer = []) {
    const args = transfer.length ? Comlink.transfer(names, transfer) : names;
    return this.remote.runPython(code, args);
  }

  /** Load more packages of the distribution; onProgress gets {phase, message}. */
  loadPackage(packages, onProgress) {
    return this.remote.loadPackage([].concat(packages), onProgress && Comlink.proxy(onProgress));
  }

  /** Download a URL straight into the worker's file system; onProgress gets bytes. */
  fetchFile(url, path, onProgress) {
    // the worker resolves URLs against its own location: make them the page's
    const absolute = new URL(url, globalThis.document ? document.baseURI : location.href).href;
    return this.remote.fetchFile(absolute, path, onProgress && Comlink.proxy(onProgress));
  }

  /** Write an ArrayBuffer into the worker's file system (the buffer is transferred). */
  writeFile(path, buffer) {
    return this.remote.writeFile(path, Comlink.transfer(buffer, [buffer]));
  }

  /** {webgpu, webgl, wasm, numpy}: {available, detail} as the worker sees them. */
  browserFeatures() {
    return this.remote.browserFeatures();
  }

  terminate() {
    this.remote[Comlink.releaseProxy]();
    this.worker.terminate();
  }
}

/**
 * Start a worker, boot Pyodide from this file's directory and load pywebinfer (with
 * numpy) plus `packages`.  onProgress receives {phase: "runtime"|"packages"|"ready",
 * message}.  Resolves to a PywebinferWorker.
 */
export async function loadPywebinfer({ packages = [], onProgress } = {}) {
  const worker = new Worker(new URL("./pywebinfer-worker.js", import.meta.url), {
    type: "module",
    name: "pywebinfer",
  });
  // a worker script that fails to load reports only through this event
  let onError;
  const failed = new Promise((_, reject) => {
    onError = (event) =>
      reject(new Error(`pywebinfer worker failed to start: ${event.message || "load error"}`));
    worker.addEventListener("error", onError);
  });
  const remote = Comlink.wrap(worker);
  const wanted = ["pywebinfer", ...packages.filter((name) => name !== "pywebinfer")];
  try {
    const info = await Promise.race([
      remote.boot(wanted, onProgress && Comlink.proxy(onProgress)),
      failed,
    ]);
    return new PywebinferWorker(worker, remote, info);
  } catch (error) {
    worker.terminate();
    throw error;
  } finally {
    worker.removeEventListener("error", onError);
  }
}
