"""Transformer attention ops: numpy reference kernels.

Attention, RotaryEmbedding, LinearAttention, FlexAttention (ai.onnx.preview), SwiGLU and
CausalConvWithState.  Attention computes in the precision of its inputs as its spec says;
the others compute half-precision inputs in float32 and round back to the input type at
the end.  bfloat16 arrives widened to float32 and is computed as float32.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .registry import kernel

PREVIEW_DOMAIN = "ai.onnx.preview"


def _optional(inputs, i):
    return inputs[i] if i < len(inputs) else None


def _work_dtype(*arrays):
    """float64 when any input is double, float32 otherwise (float16 is widened)."""
    return np.float64 if any(a.dtype == np.float64 for a in arrays) else np.float32


def _matmul(a, b):
    """Matrix product in the inputs' precision, accumulated in at least float32."""
    if a.dtype == np.float16:
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
    return np.matmul(a, b)


def _precision_dtype(op, onnx_type):
    """The numpy dtype a ``softmax_precision`` value asks for (bfloat16 is widened)."""
    if onnx_type not in (dtypes.FLOAT, dtypes.FLOAT16, dtypes.DOUBLE, dtypes.BFLOAT16):
        raise ValueError(f"{op}: softmax_precision {onnx_type} is not a float type "
                         "(expected 1, 10, 11 or 16)")
    return dtypes.storage_dtype(onnx_type)


def _to_precision(x, onnx_type, op):
    """``x`` rounded to the float type a ``softmax_precision`` value names."""
    x = x.astype(_precision_dtype(op, onnx_type))
    return dtypes.round_to(x, onnx_type) if onnx_type == dtypes.BFLOAT16 else x


def _split_heads(x, num_heads, op, name):
    """(batch, seq, heads * size) -> (batch, heads, seq, size)."""
    batch, seq, hidden = x.shape
    if num_heads <= 0 or hidden % num_heads:
        raise ValueError(f"{op}: {name} hidden size {hidden} is not a multiple of "
                         f"the head count {num_heads}")
    return x.reshape(batch, seq, num_heads, hidden // num_heads).transpose(0, 2, 1, 3)


def _merge_heads(x):
    """(batch, heads, seq, size) -> (batch, seq, heads * size)."""
    batch, heads, seq, size = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, seq, heads * size)


def _repeat_kv_heads(x, q_heads, op):
    """Share each key/value head with a contiguous group of query heads (GQA/MQA)."""
    kv_heads = x.shape[1]
    if kv_heads == q_heads:
        return x
    if kv_heads == 0 or q_heads % kv_heads:
        raise ValueError(f"{op}: {q_heads} query heads are not a multiple of "
                         f"{kv_heads} key/value heads")
    return np.repeat(x, q_heads // kv_heads, axis=1)


def _guarded_softmax(scores, masked_rows=None):
    """Softmax over the last axis; rows with no attendable key become all zeros.

    ``masked_rows`` (broadcastable to ``scores[..., :1]``) marks rows to zero even
    when their scores are not all -inf (e.g. +inf logits meeting a -inf bias)."""
    row_max = np.max(scores, axis=-1, keepdims=True)
    empty = np.isneginf(row_max)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(scores - np.where(empty, 0, row_max).astype(scores.dtype))
        total = np.sum(e, axis=-1, keepdims=True)
        probs = e / np.where(total == 0, 1, total).astype(scores.dtype)
    if masked_rows is not None:
        empty = empty | masked_rows
    return np.where(empty, scores.dtype.type(0), probs)


def _attention_bias(mask, q_len, total_len, batch, *, is_causal, offset, nonpad,
                    left_window, right_window, work, op):
    """Additive bias (0 or -inf, plus a float mask) broadcastable to (B, Hq, Lq, Lk)."""
    bias = np.zeros((1, 1, q_len, total_len), dtype=work)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == 0 or mask.ndim > 4:
            raise ValueError(f"{op}: attn_mask of rank {mask.ndim} cannot broadcast to "
                             "(batch, heads, q_len, kv_len)")
        short = total_len - mask.shape[-1]
        if short < 0:
            raise ValueError(f"{op}: attn_mask last dimension {mask.shape[-1]} exceeds "
                             f"the total key length {total_len}")
        if short:  # a short mask is padded with "not attended"
            fill = False if mask.dtype == np.bool_ else -np.inf
            mask = np.pad(mask.astype(work) if mask.dtype != np.bool_ else mask,
                          [(0, 0)] * (mask.ndim - 1) + [(0, short)], constant_values=fill)
        if mask.dtype == np.bool_:
            mask = np.where(mask, work(0), work(-np.inf))
        bias = bias + mask.astype(work)
    q_pos = np.arange(q_len).reshape(q_len, 1) + offset  # absolute query positions
    k_pos = np.arange(total_len)
    allowed = np.ones(np.broadcast_shapes(np.shape(q_pos), (total_len,)), dtype=bool)
    if is_causal:
        allowed = allowed & (k_pos <= q_pos)
    if left_window >= 0:
        allowed = allowed & (k_pos >= q_pos - left_window)
    if right_window >= 0:
        allowed = allowed & (k_pos <= q_pos + right_window)
    if nonpad is not None:
        allowed = allowed & (k_pos < nonpad.reshape(batch, 1, 1, 1))
    return bias + np.where(allowed, work(0), work(-np.inf))


@kernel("Attention", since=23)
def attention(ctx, inputs, attrs):
    """Scaled dot-product attention (opsets 23-25).

    Opset 24 adds the ``nonpad_kv_seqlen`` input and opset 25 the window attributes;
    both are simply absent from older models, so one kernel serves every version."""
    op = "Attention"
    q, k, v = inputs[0], inputs[1], inputs[2]
    mask = _optional(inputs, 3)
    past_key, past_value = _optional(inputs, 4), _optional(inputs, 5)
    nonpad = _optional(inputs, 6)
    if (past_key is None) != (past_value is None):
        raise ValueError(f"{op}: past_key and past_value must be given together")
    if nonpad is not None and past_key is not None:
        raise ValueError(f"{op}: nonpad_kv_seqlen cannot be combined with past_key/past_value")
    if not q.ndim == k.ndim == v.ndim or q.ndim not in (3, 4):
        raise ValueError(f"{op}: Q, K and V must all be 3D or all 4D, got ranks "
                         f"{q.ndim}, {k.ndim}, {v.ndim}")
    is_3d = q.ndim == 3
    if is_3d:
        if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
            raise ValueError(f"{op}: 3D inputs need the q_num_heads and kv_num_heads attributes")
        q = _split_heads(q, attrs["q_num_heads"], op, "Q")
        k = _split_heads(k, attrs["kv_num_heads"], op, "K")
        v = _split_heads(v, attrs["kv_num_heads"], op, "V")
    batch, q_heads, q_len, head_size = q.shape
    if k.shape[1] != v.shape[1] or k.shape[3] != head_size:
        raise ValueError(f"{op}: incompatible shapes Q {q.shape}, K {k.shape}, V {v.shape}")

    present_key = k if past_key is None else np.concatenate([past_key, k], axis=2)
    present_value = v if past_value is None else np.concatenate([past_value, v], axis=2)
    total_len = present_key.shape[2]
    # the spec computes in the precision of Q (softmax_precision may change the softmax)
    work = q.dtype.type

    if past_key is not None:
        offset = past_key.shape[2]
    elif nonpad is not None:
        nonpad = np.asarray(nonpad, dtype=np.int64).reshape(-1)
        if nonpad.shape[0] != batch:
            raise ValueError(f"{op}: nonpad_kv_seqlen has {nonpad.shape[0]} entries for "
                             f"batch size {batch}")
        offset = (nonpad - q_len).reshape(batch, 1, 1, 1)
    else:
        offset = 0
    bias = _attention_bias(
        mask, q_len, total_len, batch, is_causal=bool(attrs.get("is_causal", 0)),
        offset=offset, nonpad=nonpad, left_window=attrs.get("left_window_size", -1),
        right_window=attrs.get("right_window_size", -1), work=work, op=op)

    scale = attrs.get("scale")
    scale = 1.0 / np.sqrt(head_size) if scale is None else scale
    # Q and K are each scaled by sqrt(scale) before the product, as the spec asks,
    # which keeps large products from overflowing in half precision.
    root = work(np.sqrt(scale))
    keys = _repeat_kv_heads(present_key.astype(work), q_heads, op)
    values = _repeat_kv_heads(present_value.astype(work), q_heads, op)
    raw = _matmul(q * root, np.swapaxes(keys * root, -1, -2))
    softcap = attrs.get("softcap", 0.0)
    capped = softcap * np.tanh(raw / work(softcap)) if softcap > 0 else raw
    biased = capped + bias

    precision = attrs.get("softmax_precision")
    logits = biased if precision is None else _to_precision(biased, precision, op)
    fully_masked = np.isneginf(np.max(bias, axis=-1, keepdims=True))
    probs = _guarded_softmax(logits, fully_masked)
    # the weights return to the output type before the product with V
    probs = probs.astype(q.dtype)
    y = _matmul(probs, values)
    if is_3d:
        y = _merge_heads(y)

    outputs = [y, present_key, present_value]
    if ctx.num_outputs > 3:
        mode = attrs.get("qk_matmul_output_mode", 0)
        chosen = {0: raw, 1: capped, 2: biased, 3: probs}.get(mode)
        if chosen is None:
            raise ValueError(f"{op}: qk_matmul_output_mode {mode} is not 0, 1, 2 or 3")
        outputs.append(np.broadcast_to(chosen, (batch, q_heads, q_len, total_len))
                       .astype(q.dtype))
    return tuple(outputs[: max(ctx.num_outputs, 1)])


@kernel("RotaryEmbedding", since=23)
def rotary_embedding(ctx, inputs, attrs):
    op = "RotaryEmbedding"
    x, cos_cache, sin_cache = inputs[0], inputs[1], inputs[2]
    position_ids = _optional(inputs, 3)
    if x.ndim == 4:  # (B, H, S, D) -> (B, S, H, D)
        heads_last = x.transpose(0, 2, 1, 3)
    elif x.ndim == 3:
        num_heads = attrs.get("num_heads", 0)
        if not num_heads:
            raise ValueError(f"{op}: a 3D input needs the num_heads attribute")
        batch, seq, hidden = x.shape
        if hidden % num_heads:
            raise ValueError(f"{op}: hidden size {hidden} is not a multiple of num_heads {num_heads}")
        heads_last = x.reshape(batch, seq, num_heads, hidden // num_heads)
    else:
        raise ValueError(f"{op}: input must be 3D or 4D, got shape {x.shape}")
    head_size = heads_last.shape[-1]
    rot_dim = attrs.get("rotary_embedding_dim", 0) or head_size
    if rot_dim % 2 or rot_dim > head_size:
        raise ValueError(f"{op}: rotary_embedding_dim {rot_dim} must be even and at most "
                         f"the head size {head_size}")
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids], sin_cache[position_ids]
    half = rot_dim // 2
    if cos_cache.shape[-1] != half or sin_cache.shape[-1] != half:
        raise ValueError(f"{op}: cos/sin caches end in {cos_cache.shape[-1]}/"
                         f"{sin_cache.shape[-1]}, expected rotary_embedding_dim/2 = {half}")
    work = _work_dtype(x)
    cos = cos_cache.astype(work)[:, :, None, :]  # (B, S, 1, half)
    sin = sin_cache.astype(work)[:, :, None, :]
    out = heads_last.astype(work)  # astype copies, so the rotation can be written in place
    rotated = out[..., :rot_dim]
    if attrs.get("interleaved", 0):
        first, second = rotated[..., 0::2].copy(), rotated[..., 1::2].copy()
        rotated[..., 0::2] = cos * first - sin * second
        rotated[..., 1::2] = sin * first + cos * second
    else:
        first, second = rotated[..., :half].copy(), rotated[..., half:].copy()
        rotated[..., :half] = cos * first - sin * second
        rotated[..., half:] = sin * first + cos * second
    out = out.astype(x.dtype)
    return out.transpose(0, 2, 1, 3) if x.ndim == 4 else out.reshape(x.shape)


_LINEAR_RULES = {"linear": (False, False), "gated": (True, False),
                 "delta": (False, True), "gated_delta": (True, True)}


@kernel("LinearAttention", since=27)
def linear_attention(ctx, inputs, attrs):
    """Recurrent linear attention, run token by token (equal to the chunked form)."""
    op = "LinearAttention"
    query, key, value = inputs[0], inputs[1], inputs[2]
    past_state, decay, beta = _optional(inputs, 3), _optional(inputs, 4), _optional(inputs, 5)
    rule = attrs.get("update_rule", "gated_delta")
    if rule not in _LINEAR_RULES:
        raise ValueError(f"{op}: update_rule {rule!r} is not one of {sorted(_LINEAR_RULES)}")
    gated, delta = _LINEAR_RULES[rule]
    if gated != (decay is not None):
        raise ValueError(f"{op}: update_rule {rule!r} {'needs' if gated else 'takes no'} decay input")
    if delta != (beta is not None):
        raise ValueError(f"{op}: update_rule {rule!r} {'needs' if delta else 'takes no'} beta input")
    if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
        raise ValueError(f"{op}: q_num_heads and kv_num_heads are required")
    q_heads, kv_heads = attrs["q_num_heads"], attrs["kv_num_heads"]
    if kv_heads <= 0 or q_heads <= 0 or q_heads % kv_heads:
        raise ValueError(f"{op}: q_num_heads {q_heads} must be a positive multiple of "
                         f"kv_num_heads {kv_heads}")
    for name, arr in (("query", query), ("key", key), ("value", value)):
        if arr.ndim != 3:
            raise ValueError(f"{op}: {name} must be 3D (B, T, H*D), got shape {arr.shape}")
    batch, steps, _ = query.shape
    work = np.float32
    q = _split_heads(query.astype(work), q_heads, op, "query")  # (B, Hq, T, dk)
    k = _split_heads(key.astype(work), kv_heads, op, "key")  # (B, Hkv, T, dk)
    v = _split_heads(value.astype(work), kv_heads, op, "value")  # (B, Hkv, T, dv)
    d_k, d_v = q.shape[-1], v.shape[-1]
    if k.shape[-1] != d_k:
        raise ValueError(f"{op}: query head size {d_k} differs from key head size {k.shape[-1]}")

    if gated:
        if decay.ndim != 3 or decay.shape[-1] not in (kv_heads, kv_heads * d_k):
            raise ValueError(f"{op}: decay shape {decay.shape} must be (B, T, {kv_heads}) "
                             f"or (B, T, {kv_heads * d_k})")
        # per-head decay keeps a trailing axis of 1 so it broadcasts over d_k
        gate = np.exp(_split_heads(decay.astype(work), kv_heads, op, "decay"))
    if delta:
        if beta.ndim != 3 or beta.shape[-1] not in (kv_heads, 1):
            raise ValueError(f"{op}: beta shape {beta.shape} must be (B, T, {kv_heads}) or (B, T, 1)")
        rate = beta.astype(work).transpose(0, 2, 1)[..., None]  # (B, Hkv or 1, T, 1)

    if past_state is not None:
        if past_state.shape != (batch, kv_heads, d_k, d_v):
            raise ValueError(f"{op}: past_state shape {past_state.shape} is not "
                             f"{(batch, kv_heads, d_k, d_v)}")
        state = past_state.astype(work)
        state_dtype = past_state.dtype
    else:
        state = np.zeros((batch, kv_heads, d_k, d_v), dtype=work)
        state_dtype = query.dtype
    scale = attrs.get("scale", 0.0) or 1.0 / np.sqrt(d_k)
    group = q_heads // kv_heads
    out = np.empty((batch, q_heads, steps, d_v), dtype=work)
    for t in range(steps):
        k_t, v_t = k[:, :, t, :], v[:, :, t, :]
        if gated:
            state = state * gate[:, :, t, :, None]
        if delta:  # write only the part of v_t the state does not already predict
            predicted = np.einsum("bhkv,bhk->bhv", state, k_t)
            v_t = rate[:, :, t, :] * (v_t - predicted)
        state = state + k_t[..., :, None] * v_t[..., None, :]
        shared = np.repeat(state, group, axis=1) if group > 1 else state
        out[:, :, t, :] = np.einsum("bhk,bhkv->bhv", q[:, :, t, :], shared)
    out *= work(scale)
    return _merge_heads(out).astype(query.dtype), state.astype(state_dtype)


@kernel("FlexAttention", since=1, domain=PREVIEW_DOMAIN)
def flex_attention(ctx, inputs, attrs):
    op = "FlexAttention"
    q, k, v = inputs[0], inputs[1], inputs[2]
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"{op}: Q, K, V must be rank 4, got {q.shape}, {k.shape}, {v.shape}")
    if k.shape[1] != v.shape[1] or k.shape[2] != v.shape[2] or k.shape[3] != q.shape[3]:
        raise ValueError(f"{op}: incompatible shapes Q {q.shape}, K {k.shape}, V {v.shape}")
    precision = attrs.get("softmax_precision")
    if precision is None:  # float32 unless the inputs are double
        precision = dtypes.DOUBLE if q.dtype == np.float64 else dtypes.FLOAT
    compute = _precision_dtype(op, precision)
    scale = attrs.get("scale")
    scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else scale
    work = _work_dtype(q, k, v)
    root = work(np.sqrt(scale))
    keys = _repeat_kv_heads(k.astype(work), q.shape[1], op)
    values = _repeat_kv_heads(v, q.shape[1], op)
    scores = _to_precision(np.matmul(q.astype(work) * root, np.swapaxes(keys * root, -1, -2)),
                           precision, op)

    def modify(graph, x):
        outs = ctx.run_graph(graph, [x], ctx.outer_scope)
        if len(outs) != 1 or np.shape(outs[0]) != x.shape:
            raise ValueError(f"{op}: a modifier subgraph must return one tensor of shape {x.shape}")
        return _to_precision(np.asarray(outs[0]), precision, op)

    if attrs.get("score_mod") is not None:
        scores = modify(attrs["score_mod"], scores)
    # a row masked entirely by score_mod gives zeros (as Attention does), not NaN
    probs = _guarded_softmax(scores)
    if attrs.get("prob_mod") is not None:
        probs = modify(attrs["prob_mod"], probs)
    return np.matmul(probs, values.astype(compute)).astype(v.dtype)


@kernel("SwiGLU", since=28)
def swiglu(ctx, inputs, attrs):
    a, b = inputs[0], inputs[1]
    if a.shape != b.shape:
        raise ValueError(f"SwiGLU: A {a.shape} and B {b.shape} must have the same shape")
    work = _work_dtype(a, b)
    gate = a.astype(work)
    alpha = work(attrs.get("alpha", 1.0))
    swish = gate / (work(1) + np.exp(-alpha * gate))
    return (swish * b.astype(work)).astype(a.dtype)


@kernel("CausalConvWithState", since=27)
def causal_conv_with_state(ctx, inputs, attrs):
    op = "CausalConvWithState"
    x, weight = inputs[0], inputs[1]
    bias, past_state = _optional(inputs, 2), _optional(inputs, 3)
    activation = attrs.get("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise ValueError(f"{op}: activation {activation!r} is not 'none', 'silu' or 'swish'")
    if x.ndim != 3:
        raise ValueError(f"{op}: input must be (batch, channels, length), got shape {x.shape}")
    batch, channels, length = x.shape
    if weight.ndim != 3 or weight.shape[:2] != (channels, 1):
        raise ValueError(f"{op}: weight shape {weight.shape} must be ({channels}, 1, k)")
    width = weight.shape[2]
    if past_state is None:
        past_state = np.zeros((batch, channels, width - 1), dtype=x.dtype)
    elif past_state.shape != (batch, channels, width - 1):
        raise ValueError(f"{op}: past_state shape {past_state.shape} is not "
                         f"{(batch, channels, width - 1)}")
    padded = np.concatenate([past_state.astype(x.dtype), x], axis=2)
    work = _work_dtype(x)
    taps = weight[:, 0, :].astype(work)
    wide = padded.astype(work)
    out = np.zeros((batch, channels, length), dtype=work)
    for i in range(width):
        out += taps[:, i, None] * wide[:, :, i:i + length]
    if bias is not None:
        out += bias.astype(work)[:, None]
    out = out.astype(x.dtype)
    if activation != "none":  # silu and swish are the same function
        wide_out = out.astype(work)
        out = (wide_out / (work(1) + np.exp(-wide_out))).astype(x.dtype)
    return out, padded[:, :, padded.shape[2] - (width - 1):]
