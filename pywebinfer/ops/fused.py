"""Fused ops, made by pywebinfer.passes.fusion: domain "pywebinfer", opset 1.

Every backend (numpy here; wasm, webgpu and webgl later) implements the same three ops.
Each equals the chain of standard ops it replaced, computed as those ops compute it:

FusedConv(X, W, B?, Z?) -> Y
    Y = act(Conv(X, W, B) + Z)
    X, W, B and the attributes (auto_pad, dilations, group, kernel_shape, pads, strides)
    are Conv's.  Z ("residual", optional) is added with Add's broadcasting; the pass
    only puts there a tensor computed before the Conv, in practice of Y's shape.

FusedGemm(A, B, C?) -> Y
    Y = act(Gemm(A, B, C)), Gemm's inputs and attributes (alpha, beta, transA, transB).

FusedMatMul(A, B, bias?) -> Y
    Y = act(MatMul(A, B) + bias), bias broadcast like Add; the pass only makes bias a
    1-D tensor of B's last dimension (or of one element).

An empty input name means the input is absent.  ``act`` is chosen by the attributes:

    activation            string; "" or absent: none.  One of
                            "Relu", "Sigmoid", "Tanh", "HardSwish"  (no parameters)
                            "LeakyRelu"    activation_alpha (default 0.01)
                            "HardSigmoid"  activation_alpha (0.2), activation_beta (0.5)
                            "Clip"         activation_min, activation_max (floats; an
                                           absent one is no bound); ReLU6 is 0 and 6
                            "Gelu"         activation_approximate: "none" (erf, default)
                                           or "tanh"
                            "Silu"         x * Sigmoid(x)
    activation_alpha      float
    activation_beta       float
    activation_min        float
    activation_max        float
    activation_approximate string

The numpy kernels below run the registry's own numpy kernels of Conv / Gemm / MatMul,
Add and the activation ops (at the newest ai.onnx opset), so a fused node gives exactly
what the unfused chain gives; the base op's prepare hook (weights packed at load), when
it has one, is run for the fused node too and its state handed to the base kernel.
"""
from __future__ import annotations

import numpy as np

from .registry import FUSED_DOMAIN, MAX_OPSET, REGISTRY, KernelContext, kernel

# the fused ops follow the newest semantics of the ops they stand for
REFERENCE_OPSET = MAX_OPSET[""]

# activation -> the standard ops its kernel runs
ACTIVATION_OPS = {
    "Relu": ("Relu",), "Sigmoid": ("Sigmoid",), "Tanh": ("Tanh",), "HardSwish": ("HardSwish",),
    "LeakyRelu": ("LeakyRelu",), "HardSigmoid": ("HardSigmoid",), "Clip": ("Clip",),
    "Gelu": ("Gelu",), "Silu": ("Sigmoid", "Mul"),
}


def activation_supported(kind: str, backend: str = "numpy") -> bool:
    """Whether ``backend`` has the kernels a fused op with this activation runs."""
    ops = ACTIVATION_OPS.get(kind)
    return ops is not None and all(
        REGISTRY.lookup(op, "", REFERENCE_OPSET, backend) is not None for op in ops)


def _entry(op_type: str, node_name: str):
    entry = REGISTRY.lookup(op_type, "", REFERENCE_OPSET, "numpy")
    if entry is None:
        raise ValueError(f"fused node {node_name!r} needs the numpy kernel of {op_type} "
                         f"(opset {REFERENCE_OPSET}), which is not registered")
    return entry


def _context(node_name: str, state=None) -> KernelContext:
    return KernelContext(opset=REFERENCE_OPSET, num_outputs=1, output_names=("Y",),
                         node_name=node_name, state=state)


def _call(op_type: str, inputs: list, attrs: dict, node_name: str, state=None):
    out = _entry(op_type, node_name).fn(_context(node_name, state), inputs, attrs)
    return out[0] if isinstance(out, (list, tuple)) else out


def _prepare_like(op_type: str, base_inputs: int):
    """A prepare hook that runs the base op's own (packed weights ...), if it has one."""

    def prepare(ctx, attrs, constants):
        entry = _entry(op_type, ctx.node_name)
        if entry.prepare is None:
            return None
        return entry.prepare(_context(ctx.node_name), _base_attrs(attrs), list(constants[:base_inputs]))

    return prepare


def _optional(inputs: list, i: int):
    return inputs[i] if len(inputs) > i else None


def _base_attrs(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if not k.startswith("activation")}


def _activate(op_type: str, y: np.ndarray, attrs: dict, node_name: str) -> np.ndarray:
    kind = attrs.get("activation", "")
    if not kind:
        return y
    if kind in ("Relu", "Sigmoid", "Tanh", "HardSwish"):
        return _call(kind, [y], {}, node_name)
    if kind == "LeakyRelu":
        return _call(kind, [y], {"alpha": float(attrs.get("activation_alpha", 0.01))}, node_name)
    if kind == "HardSigmoid":
        return _call(kind, [y], {"alpha": float(attrs.get("activation_alpha", 0.2)),
                                 "beta": float(attrs.get("activation_beta", 0.5))}, node_name)
    if kind == "Clip":
        bounds = [None if attrs.get(k) is None else np.asarray(attrs[k], dtype=y.dtype)
                  for k in ("activation_min", "activation_max")]
        return _call(kind, [y, *bounds], {}, node_name)
    if kind == "Gelu":
        return _call(kind, [y], {"approximate": attrs.get("activation_approximate", "none")}, node_name)
    if kind == "Silu":
        return _call("Mul", [y, _call("Sigmoid", [y], {}, node_name)], {}, node_name)
    raise ValueError(f"{op_type}: unknown activation {kind!r}; known: {sorted(ACTIVATION_OPS)}")


def _check_inputs(op_type: str, inputs: list, most: int) -> None:
    if len(inputs) < 2 or inputs[0] is None or inputs[1] is None:
        raise ValueError(f"{op_type}: needs its first two inputs, got {len(inputs)} input(s)")
    if len(inputs) > most:
        raise ValueError(f"{op_type}: takes at most {most} inputs, got {len(inputs)}")


@kernel("FusedConv", domain=FUSED_DOMAIN, since=1, prepare=_prepare_like("Conv", 3))
def fused_conv(ctx, inputs, attrs):
    _check_inputs("FusedConv", inputs, 4)
    bias = _optional(inputs, 2)
    residual = _optional(inputs, 3)
    conv_inputs = inputs[:2] if bias is None else [inputs[0], inputs[1], bias]
    y = _call("Conv", conv_inputs, _base_attrs(attrs), ctx.node_name, ctx.state)
    if residual is not None:
        y = _call("Add", [y, residual], {}, ctx.node_name)
    return _activate("FusedConv", y, attrs, ctx.node_name)


@kernel("FusedGemm", domain=FUSED_DOMAIN, since=1, prepare=_prepare_like("Gemm", 3))
def fused_gemm(ctx, inputs, attrs):
    _check_inputs("FusedGemm", inputs, 3)
    c = _optional(inputs, 2)
    gemm_inputs = inputs[:2] if c is None else [inputs[0], inputs[1], c]
    y = _call("Gemm", gemm_inputs, _base_attrs(attrs), ctx.node_name, ctx.state)
    return _activate("FusedGemm", y, attrs, ctx.node_name)


@kernel("FusedMatMul", domain=FUSED_DOMAIN, since=1, prepare=_prepare_like("MatMul", 2))
def fused_matmul(ctx, inputs, attrs):
    _check_inputs("FusedMatMul", inputs, 3)
    y = _call("MatMul", inputs[:2], {}, ctx.node_name, ctx.state)
    bias = _optional(inputs, 2)
    if bias is not None:
        y = _call("Add", [y, bias], {}, ctx.node_name)
    return _activate("FusedMatMul", y, attrs, ctx.node_name)
