"""MatMul (batched, numpy broadcasting of the batch dimensions, 1-D operands), Gemm,
and the fused FusedMatMul / FusedGemm with their bias and activation epilogue
(pywebinfer/ops/fused.py) - one shader, matmul.glsl.

The kernel picks the shader's inner loop from the layout: when K and N are multiples
of 4 the loop reads whole texels of A and of B (or of B's rows, for Gemm's transB), 4 or
8 rows at once into as many render targets (matmul_targets.glsl) where the batch folds
into the rows; otherwise it reads elements."""
from __future__ import annotations

import math

from ..tensor import FLOATS, NUMERIC
from . import claim, kinds_rule
from .common import (
    FLOAT, INT, Program, access_of, backend_of, broadcast_shape, broadcast_strides, present,
)

# FusedConv / FusedGemm / FusedMatMul "activation" attribute -> activations.glsl ACT
ACTIVATIONS = {"": 0, "Relu": 1, "Sigmoid": 2, "Tanh": 3, "HardSwish": 4, "LeakyRelu": 5,
               "HardSigmoid": 6, "Clip": 7, "Gelu": 8, "Silu": 10}
ACT_PARAMS = (("act_alpha", FLOAT, 1), ("act_beta", FLOAT, 1))


def activation(attrs) -> tuple[int, dict]:
    """(ACT code, parameter values) of a fused node's activation attributes."""
    kind = attrs.get("activation", "") or ""
    if kind not in ACTIVATIONS:
        raise ValueError(f"fused op: activation {kind!r} is not one of {sorted(ACTIVATIONS)}")
    code = ACTIVATIONS[kind]
    alpha, beta = 0.0, 0.0
    if kind == "LeakyRelu":
        alpha = float(attrs.get("activation_alpha", 0.01))
    elif kind == "HardSigmoid":
        alpha, beta = float(attrs.get("activation_alpha", 0.2)), float(attrs.get("activation_beta", 0.5))
    elif kind == "Clip":
        low, high = attrs.get("activation_min"), attrs.get("activation_max")
        alpha = -math.inf if low is None else float(low)
        beta = math.inf if high is None else float(high)
    elif kind == "Gelu":
        approximate = attrs.get("activation_approximate", "none")
        if approximate not in ("none", "tanh"):
            raise ValueError(f"fused op: Gelu approximate {approximate!r} is not 'none' or 'tanh'")
        code = 9 if approximate == "tanh" else 8
    return code, {"act_alpha": alpha, "act_beta": beta}


def activation_rule(node) -> str | None:
    kind = node.attrs.get("activation", "") or ""
    return None if kind in ACTIVATIONS else f"activation {kind!r} has no WebGL epilogue"


def matmul_draw(a, b, out, full_shape, layout: dict, c=None, alpha=1.0, beta=1.0, attrs=None) -> None:
    """out (viewed as ``full_shape`` = [batch..., M, N]) = act(alpha * A.B + beta * C).

    ``layout``: k, a_row, a_col, b_row, b_col and per-batch-dimension a_batch, b_batch."""
    rank = len(full_shape)
    m_len, n_len, k_len = full_shape[-2], full_shape[-1], layout["k"]
    mode = 0
    if n_len % 4 == 0:
        if layout["a_col"] == 1 and k_len % 4 == 0 and layout["b_col"] == 1 and layout["b_row"] % 4 == 0:
            mode = 1
        elif layout["a_col"] == 1 and k_len % 4 == 0 and layout["b_row"] == 1 and layout["b_col"] == k_len:
            mode = 2
        elif layout["b_col"] == 1 and layout["b_row"] % 4 == 0:
            mode = 3
        if mode and (any(s % 4 for s in layout["b_batch"]) or (mode != 3 and any(s % 4 for s in layout["a_batch"]))):
            mode = 0
    code, act = activation(attrs or {})
    inputs = [("A", "any"), ("B", "any")]
    operands = [a, b]
    rows = m_len * math.prod(full_shape[:-2])
    batch = full_shape[:-2]
    if mode in (1, 2) and rows >= 4 and layout["a_row"] == k_len \
            and all(s == 0 or d == 1 for s, d in zip(layout["b_batch"], batch)) \
            and all(s == t or d == 1 for s, t, d in zip(layout["a_batch"], _contiguous(batch, m_len * k_len), batch)):
        # several rows a fragment, one a render target (matmul_targets.glsl): each B
        # texel read serves that many times the products; the batch is more rows of A
        be = out.backend
        targets = 8 if be.gl.max_targets >= 8 and rows > 4 else 4
        quads = be.scratch_targets(targets, (-(-rows // targets), n_len), out.dtype)
        product = Program("matmul_targets.glsl", (("A", "any"), ("B", "any")), 0, TARGET_PARAMS,
                          (("B_T", int(mode == 2)), ("TARGETS", targets)), quads[0].kind, outs=targets)
        be.draw(product, quads, [a, b], {"m": rows, "n": n_len, "k": k_len, "a_row": layout["a_row"],
                                         "b_row": layout["b_row"], "b_col": layout["b_col"]})
        mode = 4
        inputs = [(f"Q{r}", "any") for r in range(targets)]
        operands = list(quads)
    values = dict(layout, oshape=list(full_shape), alpha=alpha, beta=beta, **act)
    batch = max(rank - 2, 1)
    values["a_batch"] = list(layout["a_batch"]) or [0]
    values["b_batch"] = list(layout["b_batch"]) or [0]
    if c is not None:
        access = access_of(c.shape, full_shape)
        if access == "same" and tuple(c.shape) != tuple(full_shape):
            access = "bcast"
        inputs.append(("C", access))
        if access == "bcast":
            values["C_bstride"] = broadcast_strides(c.shape, full_shape)
    program = Program("matmul.glsl", tuple(inputs), rank,
                      (("k", INT, 1), ("a_row", INT, 1), ("a_col", INT, 1), ("b_row", INT, 1),
                       ("b_col", INT, 1), ("a_batch", INT, batch), ("b_batch", INT, batch),
                       ("alpha", FLOAT, 1), ("beta", FLOAT, 1)) + ACT_PARAMS,
                      (("MODE", mode), ("QS", len(operands) if mode == 4 else 0),
                       ("HAS_C", int(c is not None)), ("ACT", code)), out.kind)
    out.backend.draw(program, out, operands + ([c] if c is not None else []), values)


TARGET_PARAMS = tuple((name, INT, 1) for name in ("m", "n", "k", "a_row", "b_row", "b_col"))


def _contiguous(batch_shape, matrix: int) -> list[int]:
    """The batch strides of an operand whose matrices lie one after another."""
    out = [0] * len(batch_shape)
    step = matrix
    for d in range(len(batch_shape) - 1, -1, -1):
        out[d] = step
        step *= batch_shape[d]
    return out


def _batch_strides(shape, batch_shape, matrix: int) -> list[int]:
    """Per output batch dimension, the stride of an operand's matrices (0 where it is
    broadcast); ``matrix`` elements each."""
    own = list(shape[:-2])
    full = [1] * (len(batch_shape) - len(own)) + own
    st = [0] * len(full)
    step = matrix
    for d in range(len(full) - 1, -1, -1):
        st[d] = 0 if full[d] == 1 and batch_shape[d] != 1 else step
        step *= full[d]
    return st


def matmul(op: str, a, b, out_index: int = 0, c=None, attrs=None, scratch: bool = False):
    """numpy's matmul of a and b (+ bias c, activation): node output ``out_index``, or a
    scratch tensor."""
    be = backend_of([a, b])
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: operands must have rank >= 1, got {list(a.shape)} and {list(b.shape)}")
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{op}: inner dimensions differ: {list(a.shape)} x {list(b.shape)}")
    m_len, k_len, n_len = a_shape[-2], a_shape[-1], b_shape[-1]
    batch = broadcast_shape(op, a_shape[:-2], b_shape[:-2])
    full = list(batch) + [m_len, n_len]
    shape = list(batch) + ([m_len] if a.ndim > 1 else []) + ([n_len] if b.ndim > 1 else [])
    if c is not None:
        broadcast_shape(op, full, c.shape)
    out = be.scratch(shape, a.dtype) if scratch else be.output(out_index, shape, a.dtype)
    if out.size == 0:
        return out
    if k_len == 0:
        raise ValueError(f"{op}: an inner dimension of 0 is not supported on webgl")
    layout = {"k": k_len, "a_row": k_len, "a_col": 1, "b_row": n_len, "b_col": 1,
              "a_batch": _batch_strides(a_shape, batch, m_len * k_len),
              "b_batch": _batch_strides(b_shape, batch, k_len * n_len)}
    matmul_draw(a, b, out, full, layout, c, attrs=attrs)
    return out


def _matmul(ctx, inputs, attrs):
    return matmul("MatMul", inputs[0], inputs[1])


def _fused_matmul(ctx, inputs, attrs):
    return matmul("FusedMatMul", inputs[0], inputs[1], c=present(inputs, 2), attrs=attrs)


def gemm(op: str, ctx, inputs, attrs):
    a, b = inputs[0], inputs[1]
    c = present(inputs, 2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{op}: A and B must be 2-D, got {list(a.shape)} and {list(b.shape)}")
    trans_a, trans_b = int(attrs.get("transA", 0)), int(attrs.get("transB", 0))
    m_len, k_len = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k_b, n_len = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k_len != k_b:
        raise ValueError(f"{op}: inner dimensions differ: A {list(a.shape)} (transA={trans_a}), "
                         f"B {list(b.shape)} (transB={trans_b})")
    if c is not None and broadcast_shape(op, (m_len, n_len), c.shape) != (m_len, n_len):
        raise ValueError(f"{op}: C {list(c.shape)} does not broadcast to [{m_len}, {n_len}]")
    out = backend_of(inputs).output(0, (m_len, n_len), a.dtype)
    if out.size == 0:
        return out
    if k_len == 0:
        raise ValueError(f"{op}: an inner dimension of 0 is not supported on webgl")
    layout = {"k": k_len, "a_row": 1 if trans_a else k_len, "a_col": m_len if trans_a else 1,
              "b_row": 1 if trans_b else n_len, "b_col": k_len if trans_b else 1,
              "a_batch": [], "b_batch": []}
    matmul_draw(a, b, out, (m_len, n_len), layout, c, float(attrs.get("alpha", 1.0)),
                float(attrs.get("beta", 1.0)), attrs)
    return out


def _gemm(ctx, inputs, attrs):
    return gemm("Gemm", ctx, inputs, attrs)


def _fused_gemm(ctx, inputs, attrs):
    return gemm("FusedGemm", ctx, inputs, attrs)


claim("MatMul", _matmul, kinds_rule(NUMERIC, inputs=(0, 1)))
claim("Gemm", _gemm, kinds_rule(NUMERIC, inputs=(0, 1)))
claim("FusedMatMul", _fused_matmul, kinds_rule(FLOATS, inputs=(0, 1), check=activation_rule),
      domain="pywebinfer")
claim("FusedGemm", _fused_gemm, kinds_rule(FLOATS, inputs=(0, 1), check=activation_rule),
      domain="pywebinfer")
