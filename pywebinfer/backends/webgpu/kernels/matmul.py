"""MatMul, Gemm and the fused FusedMatMul / FusedGemm (pywebinfer/ops/fused.py): one
tiled shader (matmul.wgsl) with batch broadcasting, transposes as strides and the fused
bias + activation epilogue."""
from __future__ import annotations

import math

from ....ops.registry import FUSED_DOMAIN
from ..tensor import FLOATS
from . import claim, kinds_rule
from .common import F32, U32, Program, backend_of, broadcast_shape, broadcast_strides, coalesce, present

FLOAT_ONLY = kinds_rule(FLOATS, inputs=None)
TILE = 64
# fewer rows or a shorter inner dimension than this: one invocation per output
# (matmul_small.wgsl), where a 64x64 tile would hold mostly padding or barely be reused
SMALL_M = 16
SMALL_K = 64
MATMUL_PARAMS = (("count", U32, 1), ("m", U32, 1), ("n", U32, 1), ("k", U32, 1), ("alpha", F32, 1), ("beta", F32, 1),
                 ("sam", U32, 1), ("sak", U32, 1), ("sbk", U32, 1), ("sbn", U32, 1),
                 ("scm", U32, 1), ("scn", U32, 1), ("has_c", U32, 1), ("has_z", U32, 1),
                 ("act", U32, 1), ("act_alpha", F32, 1), ("act_beta", F32, 1),
                 ("batch_rank", U32, 1), ("batch_shape", U32, 8), ("batch_sa", U32, 8),
                 ("batch_sb", U32, 8))

# activations.wgsl's functions by the code its activate() switches on
ACT_CODES = {"act_none": 0, "act_relu": 1, "act_sigmoid": 2, "act_tanh": 3, "act_hard_swish": 4,
             "act_leaky_relu": 5, "act_hard_sigmoid": 6, "act_clip": 7, "act_gelu": 8,
             "act_gelu_tanh": 9, "act_silu": 10}
# the fused ops' activation attribute -> (activations.wgsl function, default alpha, beta)
ACTIVATIONS = {"": ("act_none", 0.0, 0.0), "Relu": ("act_relu", 0.0, 0.0),
               "Sigmoid": ("act_sigmoid", 0.0, 0.0), "Tanh": ("act_tanh", 0.0, 0.0),
               "HardSwish": ("act_hard_swish", 0.0, 0.0), "LeakyRelu": ("act_leaky_relu", 0.01, 0.0),
               "HardSigmoid": ("act_hard_sigmoid", 0.2, 0.5), "Clip": ("act_clip", -math.inf, math.inf),
               "Gelu": ("act_gelu", 0.0, 0.0), "Silu": ("act_silu", 0.0, 0.0)}


def activation(op: str, attrs: dict) -> tuple[str, float, float]:
    """(shader function, alpha, beta) of a fused node's activation attributes."""
    kind = attrs.get("activation", "") or ""
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {kind!r}; known: {sorted(k for k in ACTIVATIONS if k)}")
    fn, alpha, beta = ACTIVATIONS[kind]
    if kind == "Clip":
        low, high = attrs.get("activation_min"), attrs.get("activation_max")
        return fn, -math.inf if low is None else float(low), math.inf if high is None else float(high)
    if kind == "Gelu":
        approximate = attrs.get("activation_approximate", "none")
        if approximate not in ("none", "tanh"):
            raise ValueError(f"{op}: activation_approximate must be 'none' or 'tanh', not {approximate!r}")
        return ("act_gelu_tanh" if approximate == "tanh" else fn), 0.0, 0.0
    return fn, float(attrs.get("activation_alpha", alpha)), float(attrs.get("activation_beta", beta))


def gemm_dispatch(a, b, c, y, m, n, k, a_strides, b_strides, c_strides, batch, act,
                  alpha=1.0, beta=1.0, residual=None) -> None:
    """Y[batch] = act(alpha * A @ B + beta * C + Z).  a_strides = (m, k) strides,
    b_strides = (k, n); batch = (shape, A batch strides, B batch strides); c_strides =
    (m, n); Z (``residual``) has Y's layout."""
    be = backend_of([a, b])
    fn, act_alpha, act_beta = act
    c_tensor = c if c is not None else be.dummy()
    z_tensor = residual if residual is not None else be.dummy()
    small = m < SMALL_M or k < SMALL_K
    program = Program(
        "matmul_small.wgsl" if small else "matmul.wgsl",
        (("A", a.kind, False), ("B", b.kind, False), ("C", c_tensor.kind, False),
         ("Z", z_tensor.kind, False), ("Y", y.kind, True)), MATMUL_PARAMS,
        (), 64 if small else 256)
    batch_shape, batch_sa, batch_sb = batch
    count = math.prod(batch_shape)
    grid = None if small else (-(-n // TILE), -(-m // TILE), count)
    be.dispatch(program, [a, b, c_tensor, z_tensor, y], {
        "count": count, "m": m, "n": n, "k": k, "alpha": alpha, "beta": beta, "sam": a_strides[0],
        "sak": a_strides[1], "sbk": b_strides[0], "sbn": b_strides[1], "scm": c_strides[0],
        "scn": c_strides[1], "has_c": int(c is not None), "has_z": int(residual is not None),
        "act": ACT_CODES[fn], "act_alpha": act_alpha, "act_beta": act_beta,
        "batch_rank": len(batch_shape), "batch_shape": batch_shape, "batch_sa": batch_sa,
        "batch_sb": batch_sb,
    }, threads=count * m * n if small else None, grid=grid)


def matmul_into(op, a, b, bias, act, out=0):
    """numpy.matmul semantics (1-D operands, broadcast batches), then + bias and act."""
    be = backend_of([a, b])
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    if a.ndim == 0 or b.ndim == 0 or a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not multiply")
    m, k, n = a_shape[-2], a_shape[-1], b_shape[-1]
    batch = broadcast_shape(op, a_shape[:-2], b_shape[:-2])
    out_shape = list(batch) + ([m] if a.ndim > 1 else []) + ([n] if b.ndim > 1 else [])
    y = be.empty(out_shape, a.dtype, out)
    if y.size == 0:
        return y
    if k == 0:
        raise ValueError(f"{op}: an empty inner dimension is not supported on webgpu")
    sa = [s * m * k for s in broadcast_strides(a_shape[:-2], batch)]
    sb = [s * k * n for s in broadcast_strides(b_shape[:-2], batch)]
    if not any(sb) and all(s == m * k * math.prod(batch[i + 1:]) for i, s in enumerate(sa)):
        # B is shared by every batch and A is one contiguous run: one taller product
        m, sa, sb, batch = m * math.prod(batch), [], [], ()
    dims, (sa, sb) = coalesce(batch, sa, sb) if batch else ([1], ([0], [0]))
    c_strides = (0, 0)
    if bias is not None:
        if bias.size not in (1, n) or bias.size != math.prod(bias.shape):
            raise ValueError(f"{op}: bias of shape {bias.shape} does not broadcast over {n} columns")
        c_strides = (0, 0 if bias.size == 1 else 1)
    gemm_dispatch(a, b, bias, y, m, n, k, (k, 1), (n, 1), c_strides, (dims, sa, sb), act)
    return y


def matmul(ctx, inputs, attrs):
    return matmul_into("MatMul", inputs[0], inputs[1], None, ACTIVATIONS[""])


def fused_matmul(ctx, inputs, attrs):
    return matmul_into("FusedMatMul", inputs[0], inputs[1], present(inputs, 2),
                       activation("FusedMatMul", attrs))


def gemm_node(op, ctx, inputs, attrs, act):
    a, b = inputs[0], inputs[1]
    c = present(inputs, 2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{op}: A and B must be 2-D, got {a.shape} and {b.shape}")
    trans_a, trans_b = int(attrs.get("transA", 0)), int(attrs.get("transB", 0))
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k2:
        raise ValueError(f"{op}: A {a.shape} (transA={trans_a}) and B {b.shape} (transB={trans_b}) do not multiply")
    be = backend_of(inputs)
    y = be.empty((m, n), a.dtype, 0)
    if y.size == 0:
        return y
    if k == 0:
        raise ValueError(f"{op}: an empty inner dimension is not supported on webgpu")
    c_strides = (0, 0)
    if c is not None:
        if ctx.opset < 7 and op == "Gemm" and not attrs.get("broadcast", 0) and c.shape != (m, n):
            raise ValueError(f"Gemm: C {c.shape} must be ({m}, {n}) without the broadcast attribute")
        c_strides = tuple(broadcast_strides(c.shape, (m, n))) if c.ndim else (0, 0)
        broadcast_shape(op, c.shape, (m, n))
    a_strides = (1, m) if trans_a else (k, 1)
    b_strides = (1, k) if trans_b else (n, 1)
    gemm_dispatch(a, b, c, y, m, n, k, a_strides, b_strides, c_strides, ([1], [0], [0]), act,
                  float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0)))
    return y


def gemm(ctx, inputs, attrs):
    return gemm_node("Gemm", ctx, inputs, attrs, ACTIVATIONS[""])


def fused_gemm(ctx, inputs, attrs):
    return gemm_node("FusedGemm", ctx, inputs, attrs, activation("FusedGemm", attrs))


claim("MatMul", matmul, FLOAT_ONLY)
claim("Gemm", gemm, FLOAT_ONLY)
claim("FusedMatMul", fused_matmul, FLOAT_ONLY, domain=FUSED_DOMAIN)
claim("FusedGemm", fused_gemm, FLOAT_ONLY, domain=FUSED_DOMAIN)
