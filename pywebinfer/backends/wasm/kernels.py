"""Kernels of the wasm backend: ONNX semantics on top of the module's C functions.

Each kernel computes float32 tensors in wasm (wasm/src/*.c).  What the C functions do
not take - other element types, empty tensors, 3-D convolutions, MaxPool's indices - is
handed to the numpy kernel registered for the same op and opset, so a node placed on
wasm always gives the reference result (the support table's note says so).  Attribute
handling is the numpy kernels' own (ops/conv.py, ops/pool.py, ops/reduce.py).

Weights are packed once, at session load, by the ``prepare`` hooks: a MatMul/Gemm's
constant B into 8-column panels, a Conv's constant W into 4-row panels per group (raw
for depthwise convolutions, which read it directly).
"""
from __future__ import annotations

import math

import numpy as np

from ...ops.conv import _conv_attrs, _out_sizes
from ...ops.pool import _Windows
from ...ops.reduce import _axes
from ...ops.registry import FUSED_DOMAIN, REGISTRY, kernel
from . import threads
from .module import Out, library

F32 = np.dtype(np.float32)
NOTE = "float32 in wasm SIMD128; other element types run the numpy kernel"

# activation codes: the enum in wasm/src/pwi.h
ACT = {"": 0, "Relu": 1, "LeakyRelu": 2, "Clip": 3, "Sigmoid": 4, "HardSigmoid": 5, "HardSwish": 6,
       "Silu": 7, "Tanh": 8, "Gelu": 9, "GeluTanh": 10, "Elu": 11, "Softplus": 12, "Exp": 13, "Log": 14,
       "Erf": 15, "Sqrt": 16, "Abs": 17, "Neg": 18, "Reciprocal": 19, "Softsign": 20}
BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Max": 4, "Min": 5, "Pow": 6}
REDUCE = {"ReduceSum": 0, "ReduceMean": 1, "ReduceMax": 2, "ReduceMin": 3, "ReduceProd": 4,
          "ReduceSumSquare": 5, "ReduceL1": 6, "ReduceL2": 7, "ReduceLogSum": 8, "ReduceLogSumExp": 9}
BIAS_ROW, BIAS_COL = 1, 2
MR, NR = 4, 8  # the GEMM's register tile (wasm/src/pwi.h): packed panels are padded to it
INF = float("inf")


def _wasm(op_types, since=1, until=None, domain="", prepare=None):
    return kernel(op_types, since=since, until=until, domain=domain, backend="wasm", note=NOTE,
                  prepare=prepare)


def _reference(op_type: str, ctx, inputs, attrs, domain: str = ""):
    """The numpy kernel's answer, for what the wasm kernels do not compute."""
    entry = REGISTRY.lookup(op_type, domain, ctx.opset, "numpy")
    if entry is None:
        raise ValueError(f"{op_type}: the wasm kernel defers this case to the numpy kernel, "
                         f"which has no version for opset {ctx.opset}")
    return entry.fn(ctx, inputs, attrs)


def _floats(*arrays) -> bool:
    """Whether every array is a non-empty float32 tensor (what the C kernels take)."""
    return all(isinstance(a, np.ndarray) and a.dtype == F32 and a.size > 0 for a in arrays)


def _c(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x)


_ND = np.ndarray
_MEMO_LIMIT = 64  # shape plans kept per node (models with changing shapes keep the last ones)


def _memo(ctx) -> dict:
    """The node's plans worked out from its input shapes, kept between runs: in Pyodide
    the Python around a kernel call (broadcasting, attribute parsing) costs more than a
    small kernel.  They live in ctx.state beside the weights prepared at load (int keys)."""
    state = ctx.state
    if state is None:
        state = ctx.state = {}
    return state


def _remember(memo: dict, key, plan):
    if len(memo) >= _MEMO_LIMIT:
        for old in [k for k in memo if not isinstance(k, int)]:
            del memo[old]
    memo[key] = plan
    return plan


class _Constant:
    """A weight prepared at load: ``resident`` is used while the input is ``source``
    (a feed may override an initializer, and then the live value is used)."""

    __slots__ = ("source", "resident")

    def __init__(self, source, resident):
        self.source = source
        self.resident = resident


def _prepared(ctx, index: int, value):
    state = ctx.state
    if isinstance(state, dict):
        const = state.get(index)
        if const is not None and const.source is value:
            return const.resident
    return None


# ---- unary --------------------------------------------------------------------------

def _unary_call(code: int, x: np.ndarray, a: float = 0.0, b: float = 0.0) -> np.ndarray:
    y = np.empty(x.shape, F32)
    library().call("pwi_unary", code, float(a), float(b), _c(x), Out(y), x.size)
    return y


def _register_unary(op_type: str, since: int, params=None) -> None:
    """``params(attrs)`` -> (code, a, b), or None where the numpy kernel must answer"""

    def run(ctx, inputs, attrs):
        x = inputs[0]
        chosen = params(attrs) if params else (ACT[op_type], 0.0, 0.0)
        if chosen is None or not _floats(x):
            return _reference(op_type, ctx, inputs, attrs)
        code, a, b = chosen
        return _unary_call(code, x, a, b)

    run.__name__ = f"wasm_{op_type.lower()}"
    _wasm(op_type, since=since)(run)


def _gelu_params(attrs):
    approximate = attrs.get("approximate", "none")
    kind = {"none": "Gelu", "tanh": "GeluTanh"}.get(approximate)
    return None if kind is None else (ACT[kind], 0.0, 0.0)


for _op, _since in (("Relu", 1), ("Sigmoid", 1), ("Tanh", 1), ("Exp", 1), ("Log", 1), ("Sqrt", 1),
                    ("Abs", 1), ("Neg", 1), ("Reciprocal", 1), ("Softplus", 1), ("Softsign", 1),
                    ("Erf", 9), ("HardSwish", 14)):
    _register_unary(_op, _since)
_register_unary("LeakyRelu", 1, lambda attrs: (ACT["LeakyRelu"], attrs.get("alpha", 0.01), 0.0))
_register_unary("Elu", 1, lambda attrs: (ACT["Elu"], attrs.get("alpha", 1.0), 0.0))
_register_unary("HardSigmoid", 1, lambda attrs: (ACT["HardSigmoid"], attrs.get("alpha", 0.2),
                                                 attrs.get("beta", 0.5)))
_register_unary("Gelu", 20, _gelu_params)


@_wasm("Clip", since=1, until=10)
def clip_attributes(ctx, inputs, attrs):
    x = inputs[0]
    if not _floats(x):
        return _reference("Clip", ctx, inputs, attrs)
    return _unary_call(ACT["Clip"], x, attrs.get("min", -INF), attrs.get("max", INF))


@_wasm("Clip", since=11)
def clip(ctx, inputs, attrs):
    x = inputs[0]
    bounds = [inputs[i] if len(inputs) > i else None for i in (1, 2)]
    if not _floats(x) or any(b is not None and (b.size != 1 or b.dtype != F32) for b in bounds):
        return _reference("Clip", ctx, inputs, attrs)  # it also reports bad bounds
    low, high = (float(b.reshape(-1)[0]) if b is not None else default
                 for b, default in zip(bounds, (-INF, INF)))
    return _unary_call(ACT["Clip"], x, low, high)


# ---- broadcasting binary --------------------------------------------------------------

def _broadcast_plan(a_shape, b_shape):
    """(output shape, [d0..d3], a strides, b strides) with neighbouring dimensions merged
    where both operands allow it, or None beyond 4 dimensions."""
    out = np.broadcast_shapes(a_shape, b_shape)
    rank = len(out)

    def strides(shape):
        shape = (1,) * (rank - len(shape)) + tuple(shape)
        result, step = [0] * rank, 1
        for i in reversed(range(rank)):
            result[i] = step if shape[i] != 1 else 0
            step *= shape[i]
        return result

    sa, sb = strides(a_shape), strides(b_shape)
    dims, a_st, b_st = [], [], []
    for d, x, y in zip(out, sa, sb):
        if d == 1:
            continue
        if dims and a_st[-1] == x * d and b_st[-1] == y * d:
            dims[-1] *= d
            a_st[-1], b_st[-1] = x, y
        else:
            dims.append(d)
            a_st.append(x)
            b_st.append(y)
    if len(dims) > 4:
        return None
    pad = 4 - len(dims)
    return out, [1] * pad + dims, [0] * pad + a_st, [0] * pad + b_st


def _binary_call(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    plan = _broadcast_plan(a.shape, b.shape)
    if plan is None:
        return None
    out, dims, a_st, b_st = plan
    y = np.empty(out, F32)
    if y.size:
        library().call("pwi_binary", BINARY[op], Out(y), _c(a), _c(b), *dims, *a_st, *b_st)
    return y


def _binary_plan(op_type: str, a_shape, b_shape, square: bool):
    """(output shape, op code, the 12 dimension and stride arguments), or False where the
    numpy kernel answers (an empty operand, more than 4 merged dimensions)"""
    try:
        out = np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        raise ValueError(f"{op_type}: shapes {a_shape} and {b_shape} do not broadcast") from None
    if 0 in a_shape or 0 in b_shape:
        return False
    # x^2 is x * x exactly (the common Pow); b has one element, so the product has out's size
    plan = _broadcast_plan(a_shape, a_shape) if square else _broadcast_plan(a_shape, b_shape)
    if plan is None:
        return False
    _, dims, a_st, b_st = plan
    return out, BINARY["Mul" if square else op_type], (*dims, *a_st, *b_st)


def _register_binary(op_type: str, since: int) -> None:
    def run(ctx, inputs, attrs):
        a, b = inputs[0], inputs[1]
        if type(a) is _ND and type(b) is _ND and a.dtype == F32 and b.dtype == F32:
            square = op_type == "Pow" and b.size == 1 and float(b.reshape(-1)[0]) == 2.0
            memo = _memo(ctx)
            key = (a.shape, b.shape, square)
            plan = memo.get(key)
            if plan is None:
                plan = _remember(memo, key, _binary_plan(op_type, a.shape, b.shape, square))
            if plan:
                out, code, args = plan
                y = np.empty(out, F32)
                a = _c(a)
                library().call("pwi_binary", code, Out(y), a, a if square else _c(b), *args)
                return y
        return _reference(op_type, ctx, inputs, attrs)

    run.__name__ = f"wasm_{op_type.lower()}"
    _wasm(op_type, since=since)(run)


for _op in ("Add", "Sub", "Mul", "Div", "Pow"):
    _register_binary(_op, 7)


def _register_variadic(op_type: str, combine: str) -> None:
    def run(ctx, inputs, attrs):
        if not inputs or not _floats(*inputs):
            return _reference(op_type, ctx, inputs, attrs)
        try:
            np.broadcast_shapes(*(x.shape for x in inputs))
        except ValueError:
            raise ValueError(f"{op_type}: shapes {[x.shape for x in inputs]} do not broadcast") from None
        result = inputs[0]
        for x in inputs[1:]:
            result = _binary_call(combine, result, x)
            if result is None:
                return _reference(op_type, ctx, inputs, attrs)
        if op_type == "Mean" and len(inputs) > 1:
            result = _binary_call("Div", result, np.asarray(len(inputs), F32))
        return result if len(inputs) > 1 else result.copy()

    run.__name__ = f"wasm_{op_type.lower()}"
    _wasm(op_type, since=8)(run)


_register_variadic("Max", "Max")
_register_variadic("Min", "Min")
_register_variadic("Sum", "Add")
_register_variadic("Mean", "Add")


# ---- GEMM: MatMul, Gemm and their fused forms ----------------------------------------

def _fused_activation(attrs) -> tuple[int, float, float] | None:
    """(code, a, b) of a fused op's activation (ops/fused.py), None if unknown here"""
    kind = attrs.get("activation", "") or ""
    if kind in ("", "Relu", "Sigmoid", "Tanh", "HardSwish", "Silu"):
        return ACT[kind], 0.0, 0.0
    if kind == "LeakyRelu":
        return ACT[kind], float(attrs.get("activation_alpha", 0.01)), 0.0
    if kind == "HardSigmoid":
        return ACT[kind], float(attrs.get("activation_alpha", 0.2)), float(attrs.get("activation_beta", 0.5))
    if kind == "Clip":
        low, high = attrs.get("activation_min"), attrs.get("activation_max")
        return ACT[kind], -INF if low is None else float(low), INF if high is None else float(high)
    if kind == "Gelu":
        return _gelu_params({"approximate": attrs.get("activation_approximate", "none")})
    return None


def _gemm_call(batch, M, N, K, a, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, packed, c, c_bs,
               alpha=1.0, bias=None, bias_mode=0, z=None, z_bs=0, z_rs=0, z_cs=0, beta=1.0,
               act=(0, 0.0, 0.0)):
    lib = library()
    args = (batch, M, N, K, a, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, packed, Out(c), c_bs, N,
            float(alpha), bias, bias_mode, z, z_bs, z_rs, z_cs, float(beta), act[0], float(act[1]),
            float(act[2]), lib.workspace)
    if not threads.parallel("pwi_gemm", 2.0 * batch * M * N * K, *args):  # the worker pool, if big
        lib.call("pwi_gemm", *args)


def _pack_b(b: np.ndarray, transposed: bool = False):
    """B (K x N), or its transpose stored (N x K), packed into 8-column panels"""
    lib = library()
    K, N = (b.shape[1], b.shape[0]) if transposed else b.shape
    packed = lib.empty(-(-N // NR) * NR * K * 4)
    rs, cs = (1, K) if transposed else (N, 1)
    lib.call("pwi_pack_b", K, N, _c(b), rs, cs, packed)
    return packed


def _prepare_matmul(ctx, attrs, constants):
    b = constants[1] if len(constants) > 1 else None
    if isinstance(b, np.ndarray) and b.dtype == F32 and b.ndim == 2 and b.size:
        return {1: _Constant(b, _pack_b(b))}
    return None


def _matmul_plan(a_shape, b_shape):
    """(M, K, N, batch, output shape, rows when B is one matrix) of a @ b"""
    if not a_shape or not b_shape:
        raise ValueError(f"MatMul: operands must have rank >= 1, got shapes {a_shape} and {b_shape}")
    A = (1,) + a_shape if len(a_shape) == 1 else a_shape
    B = b_shape + (1,) if len(b_shape) == 1 else b_shape
    (M, K), (K2, N) = A[-2:], B[-2:]
    try:
        if K != K2:
            raise ValueError
        batch = np.broadcast_shapes(A[:-2], B[:-2])
    except ValueError:
        raise ValueError(f"MatMul: shapes {a_shape} and {b_shape} do not multiply") from None
    return M, K, N, batch, batch + (M, N), math.prod(A[:-1])


def _matmul(ctx, a, b, bias=None, act=(0, 0.0, 0.0)) -> np.ndarray:
    """act(a @ b + bias) with numpy's matmul rules (1-D operands, broadcast batches)"""
    memo = _memo(ctx)
    key = ("mm", a.shape, b.shape)
    plan = memo.get(key)
    if plan is None:
        plan = _remember(memo, key, _matmul_plan(a.shape, b.shape))
    M, K, N, batch, out_shape, rows = plan
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    y = np.empty(out_shape, F32)
    bias_mode = BIAS_COL if bias is not None else 0
    packed_b = _prepared(ctx, 1, b) if b.ndim == 2 else None
    if B.ndim == 2:  # one right operand: every row of every batch is one tall GEMM
        if packed_b is not None:
            _gemm_call(1, rows, N, K, _c(A), 0, K, 1, packed_b, 0, 0, 0, 2, y, 0, bias=bias,
                       bias_mode=bias_mode, act=act)
        else:
            _gemm_call(1, rows, N, K, _c(A), 0, K, 1, _c(B), 0, N, 1, 0, y, 0, bias=bias,
                       bias_mode=bias_mode, act=act)
    else:
        count = math.prod(batch)
        if A.ndim == 2:
            a_op, a_bs = _c(A), 0
        else:
            a_op, a_bs = _c(np.broadcast_to(A, batch + (M, K))), M * K
        b_op = _c(np.broadcast_to(B, batch + (K, N)))
        _gemm_call(count, M, N, K, a_op, a_bs, K, 1, b_op, K * N, N, 1, 0, y, M * N, bias=bias,
                   bias_mode=bias_mode, act=act)
    if a.ndim == 1:
        y = y.reshape(out_shape[:-2] + (N,))
    if b.ndim == 1:
        y = y.reshape(y.shape[:-1])
    return y


@_wasm("MatMul", since=1, prepare=_prepare_matmul)
def matmul(ctx, inputs, attrs):
    a, b = inputs[0], inputs[1]
    if not _floats(a, b):
        return _reference("MatMul", ctx, inputs, attrs)
    return _matmul(ctx, a, b)


@_wasm("FusedMatMul", domain=FUSED_DOMAIN, since=1, prepare=_prepare_matmul)
def fused_matmul(ctx, inputs, attrs):
    a, b = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    memo = _memo(ctx)
    act = memo.get("act", False)
    if act is False:  # the attributes are the node's: parsed once
        act = _remember(memo, "act", _fused_activation(attrs))
    if act is None or not _floats(a, b) or b.ndim < 2 or (
            bias is not None and (not _floats(bias) or bias.size not in (1, b.shape[-1]))):
        return _reference("FusedMatMul", ctx, inputs, attrs, FUSED_DOMAIN)
    if bias is not None:  # the pass makes it (N,) or one element: a per-column bias
        bias = _c(bias) if bias.shape == (b.shape[-1],) else _c(np.broadcast_to(bias.reshape(-1), (b.shape[-1],)))
    return _matmul(ctx, a, b, bias, act)


def _prepare_gemm(ctx, attrs, constants):
    b = constants[1] if len(constants) > 1 else None
    if isinstance(b, np.ndarray) and b.dtype == F32 and b.ndim == 2 and b.size:
        return {1: _Constant(b, _pack_b(b, transposed=bool(attrs.get("transB", 0))))}
    return None


def _gemm(ctx, inputs, attrs, act, op_type, domain=""):
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if act is None or not _floats(a, b) or (c is not None and not _floats(c)) or a.ndim != 2 or b.ndim != 2:
        return _reference(op_type, ctx, inputs, attrs, domain)
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    M, K = (a.shape[1], a.shape[0]) if trans_a else a.shape
    K2, N = (b.shape[1], b.shape[0]) if trans_b else b.shape
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if K != K2:
        raise ValueError(f"{op_type}: A' ({M}, {K}) and B' ({K2}, {N}) do not multiply")
    z = None
    z_rs = z_cs = 0
    if c is not None and beta != 0.0:
        legacy_exact = domain == "" and ctx.opset < 7 and not attrs.get("broadcast", 0)
        if c.ndim > 2 or (legacy_exact and c.shape != (M, N)):
            return _reference(op_type, ctx, inputs, attrs, domain)  # it reports the bad C
        c2 = c.reshape((1,) * (2 - c.ndim) + c.shape)
        if c2.shape[0] not in (1, M) or c2.shape[1] not in (1, N):
            raise ValueError(f"{op_type}: C shape {c.shape} does not broadcast to {(M, N)}")
        z = _c(c2)
        z_rs = c2.shape[1] if c2.shape[0] != 1 else 0
        z_cs = 1 if c2.shape[1] != 1 else 0
    y = np.empty((M, N), F32)
    a_rs, a_cs = (1, M) if trans_a else (K, 1)
    packed_b = _prepared(ctx, 1, b)
    if packed_b is not None:
        b_op, b_rs, b_cs, packed = packed_b, 0, 0, 2
    else:
        b_op, b_rs, b_cs, packed = _c(b), *((1, K) if trans_b else (N, 1)), 0
    _gemm_call(1, M, N, K, _c(a), 0, a_rs, a_cs, b_op, 0, b_rs, b_cs, packed, y, 0, alpha=alpha,
               z=z, z_rs=z_rs, z_cs=z_cs, beta=beta, act=act)
    return y


@_wasm("Gemm", since=1, prepare=_prepare_gemm)
def gemm(ctx, inputs, attrs):
    return _gemm(ctx, inputs, attrs, (0, 0.0, 0.0), "Gemm")


@_wasm("FusedGemm", domain=FUSED_DOMAIN, since=1, prepare=_prepare_gemm)
def fused_gemm(ctx, inputs, attrs):
    return _gemm(ctx, inputs, attrs, _fused_activation(attrs), "FusedGemm", FUSED_DOMAIN)


# ---- convolution ----------------------------------------------------------------------

def _prepare_conv(ctx, attrs, constants):
    w = constants[1] if len(constants) > 1 else None
    state = {}
    if isinstance(w, np.ndarray) and w.dtype == F32 and w.ndim in (3, 4) and w.size:
        group = int(attrs.get("group", 1))
        m = w.shape[0]
        if group >= 1 and m % group == 0:
            lib = library()
            if w.shape[1] == 1:  # depthwise: the kernel reads the filters as they are
                state[1] = _Constant(w, lib.resident(_c(w)))
            else:
                k = math.prod(w.shape[1:])
                packed = lib.empty(group * (-(-(m // group) // MR) * MR) * k * 4)
                lib.call("pwi_pack_conv_weights", _c(w), m, group, k, packed)
                state[1] = _Constant(w, packed)
    bias = constants[2] if len(constants) > 2 else None
    if isinstance(bias, np.ndarray) and bias.dtype == F32 and bias.size:
        state[2] = _Constant(bias, library().resident(_c(bias)))
    return state or None


def _conv_plan(op_type, attrs, x, w):
    """The geometry of a convolution (attributes checked), as pwi_conv2d takes it"""
    strides, pads, dilations, group = _conv_attrs(op_type, attrs, x, w)
    n, c = x.shape[:2]
    m = w.shape[0]
    if group < 1 or c % group or m % group or w.shape[1] * group != c:
        raise ValueError(f"{op_type}: {c} input channels, {m} output channels and weights {w.shape} "
                         f"do not fit group={group}")
    rank = x.ndim - 2
    begin, end = pads[:rank], pads[rank:]
    padded = tuple(s + b + e for s, b, e in zip(x.shape[2:], begin, end))
    out_sp = _out_sizes(op_type, padded, w.shape[2:], strides, dilations)
    # 1-D is 2-D with one row
    lift = (lambda t, one: (one,) + tuple(t)) if rank == 1 else (lambda t, one: tuple(t))
    return (n, c, m, group, *lift(x.shape[2:], 1), *lift(w.shape[2:], 1), *lift(strides, 1),
            *lift(dilations, 1), *lift(begin, 0), *lift(out_sp, 1), (n, m) + tuple(out_sp))


def _conv(ctx, inputs, attrs, act, op_type, domain=""):
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    z = inputs[3] if len(inputs) > 3 else None
    if (act is None or not _floats(x, w) or x.ndim not in (3, 4) or w.ndim != x.ndim
            or (bias is not None and not _floats(bias)) or (z is not None and not _floats(z))):
        return _reference(op_type, ctx, inputs, attrs, domain)
    memo = _memo(ctx)
    key = ("conv", x.shape, w.shape)
    plan = memo.get(key)
    if plan is None:
        plan = _remember(memo, key, _conv_plan(op_type, attrs, x, w))
    n, c, m, group, H, W, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, y_shape = plan
    if bias is not None and bias.shape != (m,):
        raise ValueError(f"{op_type}: bias of shape {bias.shape}, expected ({m},)")
    y = np.empty(y_shape, F32)
    if z is not None:
        try:
            z = _c(z) if z.shape == y_shape else _c(np.broadcast_to(z, y_shape))
        except ValueError:
            raise ValueError(f"{op_type}: residual of shape {z.shape} does not broadcast to {y.shape}") from None
    weights = _prepared(ctx, 1, w)
    packed = int(weights is not None and w.shape[1] != 1)
    if weights is None:
        weights = _c(w)
    if bias is not None:
        bias = _prepared(ctx, 2, bias) or _c(bias)
    lib = library()
    args = (_c(x), n, c, H, W, weights, packed, m, group, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, Out(y),
            bias, z, act[0], float(act[1]), float(act[2]), lib.workspace)
    if not threads.parallel("pwi_conv2d", 2.0 * y.size * (c // group) * KH * KW, *args):
        lib.call("pwi_conv2d", *args)
    return y


@_wasm("Conv", since=1, prepare=_prepare_conv)
def conv(ctx, inputs, attrs):
    return _conv(ctx, inputs, attrs, (0, 0.0, 0.0), "Conv")


@_wasm("FusedConv", domain=FUSED_DOMAIN, since=1, prepare=_prepare_conv)
def fused_conv(ctx, inputs, attrs):
    memo = _memo(ctx)
    act = memo.get("act", False)
    if act is False:  # the attributes are the node's: parsed once
        act = _remember(memo, "act", _fused_activation(attrs))
    return _conv(ctx, inputs, attrs, act, "FusedConv", FUSED_DOMAIN)


# ---- pooling ----------------------------------------------------------------------------

def _pool(inputs, attrs, op_type, average):
    x = inputs[0]
    if not _floats(x) or x.ndim not in (3, 4):
        return None
    win = _Windows(op_type, attrs, x)
    one = x.ndim == 3
    H, W = (1,) + x.shape[2:] if one else x.shape[2:]
    KH, KW = (1,) + win.kernel if one else win.kernel
    SH, SW = (1,) + win.strides if one else win.strides
    DH, DW = (1,) + win.dilations if one else win.dilations
    PT, PL = (0,) + win.begin if one else win.begin
    PB, PR = (0,) + win.end if one else win.end
    OH, OW = (1,) + win.out_sp if one else win.out_sp
    y = np.empty(x.shape[:2] + win.out_sp, F32)
    include_pad = int(bool(attrs.get("count_include_pad", 0))) if average else 0
    library().call("pwi_pool2d", int(average), include_pad, _c(x), x.shape[0] * x.shape[1], H, W, KH, KW,
                   SH, SW, PT, PL, PB, PR, DH, DW, OH, OW, Out(y))
    return y


@_wasm("MaxPool", since=1)
def max_pool(ctx, inputs, attrs):
    y = None if ctx.num_outputs > 1 and ctx.wants(1) else _pool(inputs, attrs, "MaxPool", False)
    if y is None:  # other types, 3-D, or the indices output
        return _reference("MaxPool", ctx, inputs, attrs)
    return (y, None) if ctx.num_outputs > 1 else y


@_wasm("AveragePool", since=1)
def average_pool(ctx, inputs, attrs):
    y = _pool(inputs, attrs, "AveragePool", True)
    return _reference("AveragePool", ctx, inputs, attrs) if y is None else y


def _register_global_pool(op_type: str, average: bool) -> None:
    def run(ctx, inputs, attrs):
        x = inputs[0]
        if not _floats(x) or x.ndim < 3:
            return _reference(op_type, ctx, inputs, attrs)
        planes = x.shape[0] * x.shape[1]
        y = np.empty(x.shape[:2] + (1,) * (x.ndim - 2), F32)
        library().call("pwi_global_pool", int(average), _c(x), planes, x.size // planes, Out(y))
        return y

    run.__name__ = f"wasm_{op_type.lower()}"
    _wasm(op_type, since=1)(run)


_register_global_pool("GlobalAveragePool", True)
_register_global_pool("GlobalMaxPool", False)


# ---- softmax, layer normalization ---------------------------------------------------------

def _axis(op_type: str, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op_type}: axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _register_softmax(op_type: str, log_form: int) -> None:
    def run(x, outer, n, inner):
        y = np.empty(x.shape, F32)
        library().call("pwi_softmax", log_form, _c(x), Out(y), outer, n, inner)
        return y

    def coerced_2d(ctx, inputs, attrs):
        x = inputs[0]
        if not _floats(x):
            return _reference(op_type, ctx, inputs, attrs)
        axis = _axis(op_type, attrs.get("axis", 1), x.ndim)
        return run(x, math.prod(x.shape[:axis]), math.prod(x.shape[axis:]), 1)

    def single_axis(ctx, inputs, attrs):
        x = inputs[0]
        if not _floats(x) or x.ndim == 0:
            return _reference(op_type, ctx, inputs, attrs)
        axis = _axis(op_type, attrs.get("axis", -1), x.ndim)
        return run(x, math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:]))

    coerced_2d.__name__ = f"wasm_{op_type.lower()}_2d"
    single_axis.__name__ = f"wasm_{op_type.lower()}"
    _wasm(op_type, since=1, until=12)(coerced_2d)
    _wasm(op_type, since=13)(single_axis)


_register_softmax("Softmax", 0)
_register_softmax("LogSoftmax", 1)


@_wasm("LayerNormalization", since=17)
def layer_norm(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    if (not _floats(x, scale) or (bias is not None and not _floats(bias))
            or int(attrs.get("stash_type", 1)) != 1):
        return _reference("LayerNormalization", ctx, inputs, attrs)
    axis = _axis("LayerNormalization", int(attrs.get("axis", -1)), x.ndim)
    normalized = x.shape[axis:]
    try:
        scale = _c(np.broadcast_to(scale, normalized))
        bias = None if bias is None else _c(np.broadcast_to(bias, normalized))
    except ValueError:
        raise ValueError(f"LayerNormalization: scale / bias do not broadcast to the normalized "
                         f"shape {normalized}") from None
    rows, n = math.prod(x.shape[:axis]), math.prod(normalized)
    y = np.empty(x.shape, F32)
    stats_shape = x.shape[:axis] + (1,) * len(normalized)
    mean = np.empty(stats_shape, F32) if ctx.num_outputs > 1 else None
    inv_std = np.empty(stats_shape, F32) if ctx.num_outputs > 2 else None
    library().call("pwi_layernorm", _c(x), scale, bias, Out(y), None if mean is None else Out(mean),
                   None if inv_std is None else Out(inv_std), rows, n, float(attrs.get("epsilon", 1e-5)))
    return tuple(v for v in (y, mean, inv_std) if v is not None)


# ---- reductions -------------------------------------------------------------------------

def _reduce_plan(shape, axes, keepdims):
    """(permutation moving the reduced axes last or None, outer, n, inner, output shape)"""
    ndim = len(shape)
    kept = [i for i in range(ndim) if i not in axes]
    between = range(axes[0], axes[-1] + 1)
    if all(i in axes or shape[i] == 1 for i in between):  # one block of reduced axes
        perm, outer = None, math.prod(shape[:axes[0]])
        inner = math.prod(shape[axes[-1] + 1:])
    else:  # the reduced axes moved last, together
        perm = kept + list(axes)
        outer, inner = math.prod(shape[i] for i in kept), 1
    n = math.prod(shape[i] for i in axes)
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keepdims else \
        tuple(shape[i] for i in kept)
    return perm, outer, n, inner, out


def _reduce(op_type, x, axes, keepdims, plan=None) -> np.ndarray:
    perm, outer, n, inner, shape = plan or _reduce_plan(x.shape, axes, keepdims)
    source = x
    if perm is not None:
        source = _transpose(x, perm)
        if source is None:
            source = np.transpose(x, perm)
    y = np.empty(shape, F32)
    library().call("pwi_reduce", REDUCE[op_type], _c(source), Out(y), outer, n, inner)
    return y


def _register_reduce(op_type: str, axes_input_since: int) -> None:
    def run(axes_from_input):
        def reduce_kernel(ctx, inputs, attrs):
            x = inputs[0]
            if _floats(x):
                if not axes_from_input:  # axes from attributes: one plan per input shape
                    memo = _memo(ctx)
                    key = ("R", x.shape)
                    plan = memo.get(key)
                    if plan is None:
                        axes = _axes(op_type, x, attrs, inputs, axes_from_input)
                        keepdims = bool(attrs.get("keepdims", 1))
                        plan = _remember(memo, key, axes and _reduce_plan(x.shape, axes, keepdims))
                    if plan:
                        return _reduce(op_type, x, None, None, plan)
                    return _reference(op_type, ctx, inputs, attrs)
                axes = _axes(op_type, x, attrs, inputs, axes_from_input)
                if axes:  # no axes: the numpy kernel's elementwise answer
                    return _reduce(op_type, x, axes, bool(attrs.get("keepdims", 1)))
            return _reference(op_type, ctx, inputs, attrs)

        reduce_kernel.__name__ = f"wasm_{op_type.lower()}"
        return reduce_kernel

    _wasm(op_type, since=1, until=axes_input_since - 1)(run(False))
    _wasm(op_type, since=axes_input_since)(run(True))


for _op in REDUCE:
    _register_reduce(_op, 13 if _op == "ReduceSum" else 18)


# ---- transpose ----------------------------------------------------------------------------

def _transpose(x: np.ndarray, perm) -> np.ndarray | None:
    """x transposed by perm (4-byte elements), or None beyond 6 merged dimensions"""
    plan = _transpose_plan(x.shape, perm)
    if plan is None:
        return None
    dims, args = plan
    y = np.empty(dims, x.dtype)
    if y.size:
        library().call("pwi_transpose", _c(x), Out(y), *args)
    return y


def _transpose_plan(shape, perm):
    """(output shape, pwi_transpose's 12 dimension and stride arguments), or None"""
    ndim = len(shape)
    dims = tuple(shape[p] for p in perm)
    step = [0] * ndim
    acc = 1
    for i in reversed(range(ndim)):
        step[i] = acc
        acc *= shape[i]
    merged_d, merged_s = [], []
    for d, s in zip(dims, (step[p] for p in perm)):
        if d == 1:
            continue
        if merged_d and merged_s[-1] == s * d:
            merged_d[-1] *= d
            merged_s[-1] = s
        else:
            merged_d.append(d)
            merged_s.append(s)
    if len(merged_d) > 6:
        return None
    pad = 6 - len(merged_d)
    return dims, (*([1] * pad + merged_d), *([0] * pad + merged_s))


@_wasm("Transpose", since=1)
def transpose(ctx, inputs, attrs):
    x = inputs[0]
    memo = _memo(ctx)
    key = ("T", x.shape)
    plan = memo.get(key)
    if plan is None:
        perm = attrs.get("perm")
        perm = list(reversed(range(x.ndim))) if perm is None else [int(p) for p in perm]
        if sorted(perm) != list(range(x.ndim)):
            raise ValueError(f"Transpose: perm {perm} is not a permutation of the {x.ndim} input axes")
        plan = _remember(memo, key, _transpose_plan(x.shape, perm) or False)
    if plan and type(x) is _ND and x.dtype.itemsize == 4 and x.dtype.kind in "fiu" and x.size:
        dims, args = plan
        y = np.empty(dims, x.dtype)
        library().call("pwi_transpose", _c(x), Out(y), *args)
        return y
    return _reference("Transpose", ctx, inputs, attrs)
