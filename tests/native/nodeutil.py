"""Run one op through pywebinfer's registry and through onnxruntime, for kernel tests."""
from __future__ import annotations

import numpy as np

from pywebinfer.ops.registry import KernelContext, load_all_kernels, normalize_domain

REGISTRY = load_all_kernels()


def run_kernel(op_type, inputs, attrs=None, *, opset=25, domain="", num_outputs=1):
    """Call the numpy kernel of ``op_type`` directly; returns a list of outputs."""
    entry = REGISTRY.lookup(op_type, normalize_domain(domain), opset, "numpy")
    assert entry is not None, f"no numpy kernel for {op_type} at opset {opset}"
    ctx = KernelContext(opset=opset, num_outputs=num_outputs,
                        output_names=tuple(f"out{i}" for i in range(num_outputs)))
    outs = entry.fn(ctx, list(inputs), dict(attrs or {}))
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def run_onnxruntime(op_type, inputs, attrs=None, *, opset=21, domain="", num_outputs=1):
    """Run the same op as a one-node model in onnxruntime; returns a list of outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    in_names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    out_names = [f"out{i}" for i in range(num_outputs)]
    node = helper.make_node(op_type, in_names, out_names, domain=domain or None, **(attrs or {}))
    graph_inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
        for n, x in zip(in_names, inputs) if x is not None
    ]
    # an output without a type is left for onnxruntime to infer
    graph_outputs = [onnx.ValueInfoProto(name=n) for n in out_names]
    graph = helper.make_graph([node], "one_node", graph_inputs, graph_outputs)
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {n: x for n, x in zip(in_names, inputs) if x is not None}
    return sess.run(None, feeds)
