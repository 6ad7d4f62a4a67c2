// TensorFlow.js in its own classic worker (its UMD bundles need importScripts), one
// backend per worker: the micro-benchmarks as TensorFlow.js users write them, NHWC.
// Operands are made once at load; a run is the op plus reading the result back
// (`await y.data()`), as onnxruntime-web's and pywebinfer's runs return host arrays.
importScripts("common.js", "/npm/tfjs/tf.min.js");

const { meter, fetchTensor, maxAbsDiff, nhwcToNchw } = globalThis.bench;
const BACKEND_SCRIPTS = {
  wasm: "/npm/tfjs-backend-wasm/tf-backend-wasm.min.js",
  webgpu: "/npm/tfjs-backend-webgpu/tf-backend-webgpu.min.js",
};

let operands = [];
let compute = null;
let reference = null;
let outputShape = null;

// ONNX OIHW weights -> TensorFlow's HWIO (dense) or HWC1 (depthwise, I = 1 per group).
function toHwio(weights, [o, i, h, w]) {
  const out = new Float32Array(weights.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) out[((y * w + x) * i + b) * o + a] = weights[((a * i + b) * h + y) * w + x];
      }
    }
  }
  return out;
}

function nchwToNhwc(data, [n, c, h, w]) {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x];
      }
    }
  }
  return out;
}

globalThis.bench.serve({
  async init(cfg) {
    if (cfg.backend in BACKEND_SCRIPTS) importScripts(BACKEND_SCRIPTS[cfg.backend]);
    if (cfg.backend === "wasm") {
      tf.wasm.setWasmPaths("/npm/tfjs-backend-wasm/");
      tf.wasm.setThreadsCount(cfg.threads);
    }
    if (!(await tf.setBackend(cfg.backend))) throw new Error(`tf.setBackend('${cfg.backend}') failed`);
    await tf.ready();
    const info = { version: tf.version.tfjs, backend: tf.getBackend() };
    if (cfg.backend === "wasm") info.threads = tf.wasm.getThreadsCount();
    return info;
  },

  async load(spec) {
    const op = spec.op;
    const inputs = await Promise.all(spec.inputs.map(fetchTensor));
    const constants = await Promise.all(spec.constants.map(fetchTensor));
    const [out] = spec.outputs;
    reference = await fetchTensor(out);
    outputShape = out.shape;
    meter.resetPeak();
    const start = performance.now();
    if (op.type === "matmul") {
      const a = tf.tensor2d(inputs[0], spec.inputs[0].shape);
      const b = tf.tensor2d(inputs[1], spec.inputs[1].shape);
      operands = [a, b];
      compute = () => tf.matMul(a, b);
    } else if (op.type === "conv") {
      const xShape = spec.inputs[0].shape;
      const wShape = spec.constants[0].shape;
      const [n, c, h, w] = xShape;
      const x = tf.tensor4d(nchwToNhwc(inputs[0], xShape), [n, h, w, c]);
      const [o, i, kh, kw] = wShape;
      const strides = [op.stride, op.stride];
      if (op.group === 1) {
        const filter = tf.tensor4d(toHwio(constants[0], wShape), [kh, kw, i, o]);
        compute = () => tf.conv2d(x, filter, strides, op.pad);
        operands = [x, filter];
      } else if (op.group === c && o === c) {
        // depthwise: ONNX [C, 1, kh, kw] -> TensorFlow [kh, kw, C, 1]
        const filter = tf.tensor4d(toHwio(constants[0], wShape), [kh, kw, o, i]);
        compute = () => tf.depthwiseConv2d(x, filter, strides, op.pad);
        operands = [x, filter];
      } else {
        throw new Error(`grouped convolution with group ${op.group} has no TensorFlow.js op`);
      }
    } else {
      throw new Error(`no TensorFlow.js op for ${op.type}`);
    }
    // make the backend hold the operands before the clock stops (uploads are lazy on GPUs)
    await Promise.all(operands.map((t) => t.data()));
    return { load_ms: performance.now() - start, providers: [tf.getBackend()] };
  },

  async run(check) {
    const start = performance.now();
    const y = compute();
    const data = await y.data();
    const ms = performance.now() - start;
    y.dispose();
    const result = { ms };
    if (check) {
      const values = outputShape.length === 4 ? nhwcToNchw(data, outputShape) : data;
      result.max_abs_diff = maxAbsDiff(values, reference);
    }
    return result;
  },

  memory() {
    return meter.snapshot();
  },

  async unload() {
    for (const tensor of operands) tensor.dispose();
    operands = [];
    compute = reference = null;
  },
});
