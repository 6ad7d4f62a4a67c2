"""What `make bench` measures: the workloads, the configurations, and their input files.

A workload is one model (or one single-operator model for the micro-benchmarks) with
fixed inputs and reference outputs.  prepare() writes, for every selected workload, a
directory that the browser harness and the native runner both read:

    <data>/<workload>/model.onnx        micro-benchmarks only (real models stay in models/)
    <data>/<workload>/input_<i>.bin     raw little-endian tensors, in the model's layout
    <data>/<workload>/const_<i>.bin     micro-benchmark weights (TensorFlow.js needs them)
    <data>/<workload>/ref_<i>.bin       outputs of native onnxruntime (CPU, 1 thread)
    <data>/plan.json                    workloads + configurations, read by the harness

Every tensor is described by {name, dtype, shape, url, file}; urls are what the harness
fetches from the bench server (/bench-data/...), files what the native runner opens.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = REPO_ROOT / "models"
SEED = 20251122


@dataclass
class Workload:
    name: str
    title: str
    kind: str                 # "model" | "micro"
    runs: int                 # the most timed runs per configuration
    budget_s: float           # timed-phase budget per configuration; fewer runs if exceeded
    flops: float = 0.0        # per run, for GFLOP/s in the report (micro-benchmarks)
    op: dict = field(default_factory=dict)


def _conv_flops(c_in, c_out, h_out, w_out, k, group=1):
    return 2.0 * (c_in // group) * c_out * h_out * w_out * k * k


# Convolutions at MobileNet-v1's 56x56 stage: the depthwise and pointwise pair of its
# 128-channel block, and a dense 3x3 (32 -> 64 channels) at the same resolution.
WORKLOADS = [
    Workload("efficientnet_lite0", "EfficientNet-Lite0 (dynamo), chelsea 1x3x224x224", "model",
             runs=30, budget_s=8.0),
    Workload("minilm_4x11", "all-MiniLM-L6-v2, 4 sentences x 11 tokens", "model",
             runs=30, budget_s=8.0),
    Workload("minilm_1x128", "all-MiniLM-L6-v2, 1 x 128 tokens", "model",
             runs=30, budget_s=8.0),
    *[Workload(f"sgemm_{n}", f"SGEMM {n}x{n}x{n} (MatMul, both operands inputs)", "micro",
               runs=30, budget_s=2.0, flops=2.0 * n ** 3, op={"type": "matmul", "m": n, "k": n, "n": n})
      for n in (256, 512, 1024)],
    Workload("conv3x3", "Conv 3x3, 1x32x56x56 -> 64, pad 1", "micro", runs=30, budget_s=2.0,
             flops=_conv_flops(32, 64, 56, 56, 3),
             op={"type": "conv", "n": 1, "c": 32, "h": 56, "w": 56, "m": 64, "k": 3, "pad": 1,
                 "stride": 1, "group": 1}),
    Workload("dwconv3x3", "Depthwise conv 3x3, 1x128x56x56, pad 1", "micro", runs=30,
             budget_s=2.0, flops=_conv_flops(128, 128, 56, 56, 3, group=128),
             op={"type": "conv", "n": 1, "c": 128, "h": 56, "w": 56, "m": 128, "k": 3, "pad": 1,
                 "stride": 1, "group": 128}),
    Workload("conv1x1", "Conv 1x1, 1x128x56x56 -> 128", "micro", runs=30, budget_s=2.0,
             flops=_conv_flops(128, 128, 56, 56, 1),
             op={"type": "conv", "n": 1, "c": 128, "h": 56, "w": 56, "m": 128, "k": 1, "pad": 0,
                 "stride": 1, "group": 1}),
]
WARMUP = Workload("warmup", "runtime warm-up, SGEMM 16 (not reported)", "micro", runs=1,
                  budget_s=0.1, op={"type": "matmul", "m": 16, "k": 16, "n": 16})

# Every configuration the harness knows.  pywebinfer's ratio column compares each of its
# configurations with the onnxruntime-web one named in `versus`.  On GPU configurations
# `threads` is the CPU side's (kernels a GPU backend lacks), kept at 1.
CONFIGS = [
    {"id": "pywebinfer/numpy", "runtime": "pywebinfer", "backend": "numpy", "threads": 1,
     "versus": "onnxruntime-web/wasm-1t"},
    {"id": "pywebinfer/wasm-1t", "runtime": "pywebinfer", "backend": "wasm", "threads": 1,
     "versus": "onnxruntime-web/wasm-1t"},
    {"id": "pywebinfer/wasm-2t", "runtime": "pywebinfer", "backend": "wasm", "threads": 2,
     "versus": "onnxruntime-web/wasm-2t"},
    {"id": "pywebinfer/webgpu", "runtime": "pywebinfer", "backend": "webgpu", "threads": 1,
     "versus": "onnxruntime-web/webgpu"},
    {"id": "pywebinfer/webgl", "runtime": "pywebinfer", "backend": "webgl", "threads": 1,
     "versus": "onnxruntime-web/webgl"},
    {"id": "onnxruntime-web/wasm-1t", "runtime": "onnxruntime-web", "backend": "wasm", "threads": 1},
    {"id": "onnxruntime-web/wasm-2t", "runtime": "onnxruntime-web", "backend": "wasm", "threads": 2},
    {"id": "onnxruntime-web/webgpu", "runtime": "onnxruntime-web", "backend": "webgpu", "threads": 1},
    {"id": "onnxruntime-web/webgl", "runtime": "onnxruntime-web", "backend": "webgl", "threads": 1},
    {"id": "tfjs/cpu", "runtime": "tfjs", "backend": "cpu", "threads": 1, "only": "micro"},
    {"id": "tfjs/wasm-1t", "runtime": "tfjs", "backend": "wasm", "threads": 1, "only": "micro"},
    {"id": "tfjs/wasm-2t", "runtime": "tfjs", "backend": "wasm", "threads": 2, "only": "micro"},
    {"id": "tfjs/webgl", "runtime": "tfjs", "backend": "webgl", "threads": 1, "only": "micro"},
    {"id": "tfjs/webgpu", "runtime": "tfjs", "backend": "webgpu", "threads": 1, "only": "micro"},
]

# The configurations of the native comparison (CPython, same command, same inputs).
NATIVE_CONFIGS = [
    {"id": "native/pywebinfer-numpy", "runtime": "pywebinfer", "backend": "numpy", "threads": 1,
     "versus": "native/onnxruntime-cpu"},
    {"id": "native/onnxruntime-cpu", "runtime": "onnxruntime-native", "backend": "cpu",
     "threads": 1},
]


# ---------------------------------------------------------------- tensors on disk

def _describe(name: str, array: np.ndarray, directory: Path, stem: str, url_base: str) -> dict:
    path = directory / f"{stem}.bin"
    np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tofile(path)
    return {"name": name, "dtype": str(array.dtype), "shape": list(array.shape),
            "url": f"{url_base}/{path.name}", "file": str(path)}


def read_tensor(desc: dict) -> np.ndarray:
    return np.fromfile(desc["file"], dtype=np.dtype(desc["dtype"]).newbyteorder("<")).reshape(
        desc["shape"])


# ---------------------------------------------------------------- micro-benchmark models

def _micro_model(op: dict, rng: np.random.Generator):
    """A one-node ONNX model, its feeds and its constant weights (name -> array)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if op["type"] == "matmul":
        m, k, n = op["m"], op["k"], op["n"]
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        inputs = [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k]),
                  helper.make_tensor_value_info("B", TensorProto.FLOAT, [k, n])]
        outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])]
        feeds = {"A": rng.uniform(-1, 1, (m, k)).astype(np.float32),
                 "B": rng.uniform(-1, 1, (k, n)).astype(np.float32)}
        constants, initializers = {}, []
    elif op["type"] == "conv":
        n, c, h, w, m, k = op["n"], op["c"], op["h"], op["w"], op["m"], op["k"]
        pad, stride, group = op["pad"], op["stride"], op["group"]
        h_out = (h + 2 * pad - k) // stride + 1
        w_out = (w + 2 * pad - k) // stride + 1
        weight = rng.uniform(-1, 1, (m, c // group, k, k)).astype(np.float32) / np.sqrt(
            c // group * k * k, dtype=np.float32)
        node = helper.make_node("Conv", ["X", "W"], ["Y"], kernel_shape=[k, k],
                                pads=[pad] * 4, strides=[stride] * 2, group=group)
        inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [n, c, h, w])]
        outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, m, h_out, w_out])]
        feeds = {"X": rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)}
        constants = {"W": weight}
        initializers = [numpy_helper.from_array(weight, "W")]
    else:
        raise ValueError(f"unknown micro-benchmark op {op['type']!r}")
    graph = helper.make_graph([node], op["type"], inputs, outputs, initializer=initializers)
    # IR 8 / opset 17: what every runtime compared here reads
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="pywebinfer-bench")
    onnx.checker.check_model(model)
    return model.SerializeToString(), feeds, constants


def _model_feeds(name: str) -> tuple[Path, dict]:
    if name == "efficientnet_lite0":
        return MODELS / "efficientnet_lite0_dynamo.onnx", {
            "input": np.load(MODELS / "samples" / "chelsea.npy")}
    if name.startswith("minilm_"):
        sample = np.load(MODELS / "samples" / f"{name}.npz")
        return MODELS / "minilm_l6_v2.onnx", {
            key: sample[key] for key in ("input_ids", "attention_mask", "token_type_ids")}
    raise ValueError(f"no model for workload {name!r}")


def reference_session(model, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _prepare_one(workload: Workload, micro, data_dir: Path) -> dict:
    directory = data_dir / workload.name
    directory.mkdir(parents=True, exist_ok=True)
    url_base = f"/bench-data/{workload.name}"
    if micro is not None:
        model_bytes, feeds, constants = micro
        model_path = directory / "model.onnx"
        model_path.write_bytes(model_bytes)
        model_url = f"{url_base}/model.onnx"
    else:
        model_path, feeds = _model_feeds(workload.name)
        constants = {}
        model_url = f"/models/{model_path.name}"
    session = reference_session(str(model_path))
    outputs = session.run(None, feeds)
    output_names = [o.name for o in session.get_outputs()]
    spec = asdict(workload)
    spec.update({
        "model_url": model_url,
        "model_file": str(model_path),
        "model_bytes": model_path.stat().st_size,
        "inputs": [_describe(k, v, directory, f"input_{i}", url_base)
                   for i, (k, v) in enumerate(feeds.items())],
        "constants": [_describe(k, v, directory, f"const_{i}", url_base)
                      for i, (k, v) in enumerate(constants.items())],
        "outputs": [_describe(k, v, directory, f"ref_{i}", url_base)
                    for i, (k, v) in enumerate(zip(output_names, outputs))],
    })
    return spec


def prepare(data_dir: Path, names: list[str]) -> list[dict]:
    """Write every selected workload's files; returns their specs (as in plan.json)."""
    rng = np.random.default_rng(SEED)
    specs = []
    for workload in WORKLOADS:
        # draw every micro-benchmark's data even when skipped: inputs never depend on --only
        micro = _micro_model(workload.op, rng) if workload.kind == "micro" else None
        if workload.name in names:
            specs.append(_prepare_one(workload, micro, data_dir))
    return specs


def prepare_warmup(data_dir: Path) -> dict:
    """The tiny model every ONNX runtime loads and runs once at start, so that one-time
    runtime set-up (wasm compile, kernel registry) is not billed to the first workload."""
    micro = _micro_model(WARMUP.op, np.random.default_rng(SEED + 1))
    return _prepare_one(WARMUP, micro, data_dir)


def write_plan(data_dir: Path, specs: list[dict], configs: list[dict], settings: dict) -> Path:
    path = data_dir / "plan.json"
    plan = {"workloads": specs, "warmup": prepare_warmup(data_dir), "configs": configs,
            "settings": settings}
    path.write_text(json.dumps(plan, indent=1))
    return path
