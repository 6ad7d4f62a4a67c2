// Shared by the harness page and every benchmark worker: a plain script (not a module) so
// that a classic worker can importScripts() it, a module worker can import it for its side
// effect, and the pywebinfer worker can run it through pyodide.code.run_js.  It defines
// globalThis.bench:
//   meter      wasm memories and GPU allocations of this JS realm (installed on load)
//   serve      answer the harness's calls in a worker; connect: call a worker's methods
//   fetchTensor, maxAbsDiff, nhwcToNchw, errorText
(function () {
  "use strict";
  if (globalThis.bench) return;
  const bench = {};
  globalThis.bench = bench;

  // ------------------------------------------------------------ memory meter
  // WebAssembly memories: every Memory made here (threaded builds create a shared one
  // in JS) or exported by an instance made here.  GPU: WebGPU buffers (createBuffer /
  // destroy) and WebGL 2D textures (texImage2D / texStorage2D / deleteTexture), counted
  // from the sizes the runtime asked for.  Patching prototypes sees every runtime alike.
  const memories = new Set();
  const gpu = { live: 0, peak: 0, sizes: new Map() };

  function allocate(key, bytes) {
    release(key);
    gpu.sizes.set(key, bytes);
    gpu.live += bytes;
    gpu.peak = Math.max(gpu.peak, gpu.live);
  }
  function release(key) {
    const bytes = gpu.sizes.get(key);
    if (bytes !== undefined) {
      gpu.live -= bytes;
      gpu.sizes.delete(key);
    }
  }

  function collectExports(instance) {
    if (!instance || !instance.exports) return;
    for (const value of Object.values(instance.exports)) {
      if (value instanceof WebAssembly.Memory) memories.add(value);
    }
  }

  if (typeof WebAssembly !== "undefined" && !WebAssembly.Memory.__benchMeter) {
    const NativeMemory = WebAssembly.Memory;
    const MeteredMemory = function Memory(descriptor) {
      const memory = new NativeMemory(descriptor);
      memories.add(memory);
      return memory;
    };
    MeteredMemory.prototype = NativeMemory.prototype;
    MeteredMemory.__benchMeter = true;
    WebAssembly.Memory = MeteredMemory;
    for (const name of ["instantiate", "instantiateStreaming"]) {
      const native = WebAssembly[name];
      WebAssembly[name] = async function (...args) {
        const result = await native.apply(this, args);
        collectExports(result instanceof WebAssembly.Instance ? result : result.instance);
        return result;
      };
    }
    const NativeInstance = WebAssembly.Instance;
    const MeteredInstance = function Instance(module, imports) {
      const instance = new NativeInstance(module, imports);
      collectExports(instance);
      return instance;
    };
    MeteredInstance.prototype = NativeInstance.prototype;
    WebAssembly.Instance = MeteredInstance;
  }

  if (typeof GPUDevice !== "undefined") {
    const createBuffer = GPUDevice.prototype.createBuffer;
    GPUDevice.prototype.createBuffer = function (descriptor) {
      const buffer = createBuffer.call(this, descriptor);
      allocate(buffer, Number(descriptor.size));
      return buffer;
    };
    const destroy = GPUBuffer.prototype.destroy;
    GPUBuffer.prototype.destroy = function () {
      release(this);
      return destroy.call(this);
    };
  }

  if (typeof WebGL2RenderingContext !== "undefined") {
    const GL = WebGL2RenderingContext;
    // bytes per texel of the sized formats runtimes use; unsized RGBA depends on the type
    const SIZED = {
      [GL.R32F]: 4, [GL.RG32F]: 8, [GL.RGBA32F]: 16, [GL.R16F]: 2, [GL.RG16F]: 4,
      [GL.RGBA16F]: 8, [GL.RGBA8]: 4, [GL.R8]: 1, [GL.RG8]: 2, [GL.R32I]: 4, [GL.R32UI]: 4,
      [GL.RGBA32I]: 16, [GL.RGBA32UI]: 16,
    };
    const TYPE_BYTES = { [GL.FLOAT]: 4, [GL.HALF_FLOAT]: 2, [GL.UNSIGNED_BYTE]: 1 };
    const texelBytes = (internalFormat, type) =>
      SIZED[internalFormat] ?? (internalFormat === GL.RGBA ? 4 * (TYPE_BYTES[type] ?? 1) : 4);
    const proto = GL.prototype;
    const texImage2D = proto.texImage2D;
    proto.texImage2D = function (...args) {
      // (target, level, internalformat, width, height, border, format, type, ...)
      if (args.length >= 8 && args[0] === GL.TEXTURE_2D && args[1] === 0) {
        const texture = this.getParameter(GL.TEXTURE_BINDING_2D);
        if (texture) allocate(texture, args[3] * args[4] * texelBytes(args[2], args[7]));
      }
      return texImage2D.apply(this, args);
    };
    const texStorage2D = proto.texStorage2D;
    proto.texStorage2D = function (target, levels, internalFormat, width, height) {
      if (target === GL.TEXTURE_2D) {
        const texture = this.getParameter(GL.TEXTURE_BINDING_2D);
        if (texture) allocate(texture, width * height * texelBytes(internalFormat, GL.FLOAT));
      }
      return texStorage2D.call(this, target, levels, internalFormat, width, height);
    };
    const deleteTexture = proto.deleteTexture;
    proto.deleteTexture = function (texture) {
      release(texture);
      return deleteTexture.call(this, texture);
    };
  }

  bench.meter = {
    /** Start a new peak from what is allocated now (call before loading a model). */
    resetPeak() {
      gpu.peak = gpu.live;
    },
    /** {wasm_heap_bytes, gpu_bytes, gpu_peak_bytes}; null where nothing was seen. */
    snapshot() {
      let heap = 0;
      for (const memory of memories) heap += memory.buffer.byteLength;
      const sawGpu = gpu.peak > 0 || gpu.sizes.size > 0;
      return {
        wasm_heap_bytes: memories.size ? heap : null,
        gpu_bytes: sawGpu ? gpu.live : null,
        gpu_peak_bytes: sawGpu ? gpu.peak : null,
      };
    },
  };

  // ------------------------------------------------------------ worker calls
  bench.errorText = function (error) {
    // a worker's error arrives as an Error whose message already names its type
    if (error instanceof Error) return error.name === "Error" ? error.message : `${error.name}: ${error.message}`;
    if (typeof error === "number") return `error code ${error} (a C++ exception pointer)`;
    return String(error);
  };

  /** In a worker: answer {id, method, args} messages with api[method](...args). */
  bench.serve = function (api) {
    self.onmessage = async ({ data }) => {
      const { id, method, args } = data;
      try {
        if (!(method in api)) throw new Error(`unknown method ${method}`);
        self.postMessage({ id, result: await api[method](...args) });
      } catch (error) {
        self.postMessage({ id, error: bench.errorText(error) });
      }
    };
    self.postMessage({ ready: true });
  };

  /** On the page: start a worker serving bench.serve; resolves to {call, terminate}. */
  bench.connect = function (url, options) {
    const worker = new Worker(url, options);
    const pending = new Map();
    let nextId = 0;
    let failure = null;
    const failAll = (message) => {
      failure = message;
      for (const { reject } of pending.values()) reject(new Error(message));
      pending.clear();
    };
    return new Promise((resolve, reject) => {
      worker.onerror = (event) => {
        const message = `worker ${url} failed: ${event.message || "load error"}`;
        failAll(message);
        reject(new Error(message));
      };
      worker.onmessage = ({ data }) => {
        if (data.ready) {
          resolve({
            call(method, ...args) {
              if (failure) return Promise.reject(new Error(failure));
              const id = nextId++;
              return new Promise((res, rej) => {
                pending.set(id, { resolve: res, reject: rej });
                worker.postMessage({ id, method, args });
              });
            },
            terminate() {
              failAll("worker terminated");
              worker.terminate();
            },
          });
          return;
        }
        const entry = pending.get(data.id);
        if (!entry) return;
        pending.delete(data.id);
        if ("error" in data) entry.reject(new Error(data.error));
        else entry.resolve(data.result);
      };
    });
  };

  // ------------------------------------------------------------ tensors
  const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array };

  /** A tensor file of plan.json ({url, dtype, shape}) as a typed array. */
  bench.fetchTensor = async function (desc) {
    const response = await fetch(desc.url);
    if (!response.ok) throw new Error(`${desc.url}: HTTP ${response.status}`);
    const Type = ARRAYS[desc.dtype];
    if (!Type) throw new Error(`${desc.url}: unsupported dtype ${desc.dtype}`);
    return new Type(await response.arrayBuffer());
  };

  /** Largest |a - b| over two equally long float arrays; Infinity where either is not finite. */
  bench.maxAbsDiff = function (actual, expected) {
    if (actual.length !== expected.length) {
      throw new Error(`output has ${actual.length} values, the reference ${expected.length}`);
    }
    let worst = 0;
    for (let i = 0; i < actual.length; i++) {
      const d = Math.abs(actual[i] - expected[i]);
      if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
    }
    return worst;
  };

  /** NHWC data -> NCHW Float32Array, shape given as [n, c, h, w]. */
  bench.nhwcToNchw = function (data, [n, c, h, w]) {
    const out = new Float32Array(n * c * h * w);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const src = ((b * h + y) * w + x) * c;
          for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + x] = data[src + ch];
        }
      }
    }
    return out;
  };
})();
