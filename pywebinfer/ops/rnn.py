"""Recurrent ops (RNN, GRU, LSTM): numpy reference kernels.

All three share the same frame: inputs in ``[seq, batch, input]`` (or batch-first when
``layout=1``), one weight set per direction, optional per-batch ``sequence_lens``,
activation lists with their alpha/beta values, and the ``clip`` applied to every
activation's input.  Each op only supplies its cell update.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .registry import kernel


def _sigmoid(x, alpha, beta):
    # tanh form: no overflow for large |x|
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _elu(x, alpha, beta):
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


# name (lower case) -> (function, default alpha or None, default beta or None).
# A None default means the function takes no such parameter, so it consumes no entry
# of activation_alpha / activation_beta.  Defaults are those of the matching ONNX ops.
_ACTIVATIONS = {
    "relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (_sigmoid, None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x >= a, x, 0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (_elu, 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0, x), None, None),
}


def _activations(op, attrs, defaults, num_directions):
    """One list of ``num_directions * len(defaults)`` callables ``f(x)``.

    alpha/beta values are consumed in order by the activations that take them.
    """
    names = attrs.get("activations") or list(defaults) * num_directions
    names = list(names)
    per_direction = len(defaults)
    if len(names) == per_direction and num_directions == 2:
        names = names * 2  # one list given for both directions
    if len(names) != per_direction * num_directions:
        raise ValueError(
            f"{op}: expected {per_direction * num_directions} activations, got {len(names)}")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    funcs = []
    for name in names:
        key = name.lower() if isinstance(name, str) else name.decode().lower()
        if key not in _ACTIVATIONS:
            raise ValueError(f"{op}: unknown activation {name!r}")
        fn, alpha, beta = _ACTIVATIONS[key]
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)
        funcs.append(lambda x, fn=fn, a=alpha, b=beta: fn(x, a, b))
    return funcs


class _Frame:
    """The common inputs and attributes of RNN, GRU and LSTM, in time-major layout."""

    def __init__(self, op, inputs, attrs, num_gates, layout):
        x, w, r = inputs[0], inputs[1], inputs[2]
        if x is None or w is None or r is None:
            raise ValueError(f"{op}: X, W and R are required")
        if x.ndim != 3:
            raise ValueError(f"{op}: X must be 3-D, got shape {x.shape}")
        if layout not in (0, 1):
            raise ValueError(f"{op}: layout must be 0 or 1, got {layout}")
        self.op = op
        self.layout = layout
        self.out_type = dtypes.onnx_type_of(x)
        if self.out_type not in (dtypes.FLOAT, dtypes.FLOAT16, dtypes.DOUBLE, dtypes.BFLOAT16):
            raise ValueError(f"{op}: X must be a float tensor, got {dtypes.name(self.out_type)}")
        # float16 and bfloat16 are computed in float32, float64 stays float64
        self.dtype = np.float64 if x.dtype == np.float64 else np.float32
        if layout == 1:
            x = x.transpose(1, 0, 2)
        self.x = x.astype(self.dtype, copy=False)
        self.seq_length, self.batch, input_size = self.x.shape

        direction = attrs.get("direction", "forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction == "foward":  # the default spelled in the opset-1 GRU schema
            direction = "forward"
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ValueError(f"{op}: unknown direction {direction!r}")
        self.directions = ["forward", "reverse"] if direction == "bidirectional" else [direction]
        nd = len(self.directions)

        hidden = attrs.get("hidden_size", r.shape[-1])
        self.hidden = int(hidden)
        if w.shape != (nd, num_gates * self.hidden, input_size):
            raise ValueError(f"{op}: W has shape {w.shape}, expected "
                             f"{(nd, num_gates * self.hidden, input_size)}")
        if r.shape != (nd, num_gates * self.hidden, self.hidden):
            raise ValueError(f"{op}: R has shape {r.shape}, expected "
                             f"{(nd, num_gates * self.hidden, self.hidden)}")
        self.w = w.astype(self.dtype, copy=False)
        self.r = r.astype(self.dtype, copy=False)

        b = inputs[3] if len(inputs) > 3 else None
        if b is None:
            b = np.zeros((nd, 2 * num_gates * self.hidden), self.dtype)
        elif b.shape != (nd, 2 * num_gates * self.hidden):
            raise ValueError(f"{op}: B has shape {b.shape}, expected {(nd, 2 * num_gates * self.hidden)}")
        self.wb = b[:, : num_gates * self.hidden].astype(self.dtype, copy=False)
        self.rb = b[:, num_gates * self.hidden:].astype(self.dtype, copy=False)

        lens = inputs[4] if len(inputs) > 4 else None
        if lens is None:
            self.lens = np.full(self.batch, self.seq_length, np.int64)
        else:
            self.lens = np.asarray(lens).astype(np.int64).reshape(-1)
            if self.lens.shape != (self.batch,):
                raise ValueError(f"{op}: sequence_lens has shape {lens.shape}, expected ({self.batch},)")
            if (self.lens < 0).any() or (self.lens > self.seq_length).any():
                raise ValueError(f"{op}: sequence_lens must lie in [0, {self.seq_length}]")

        clip = attrs.get("clip")
        self.clip = None if clip is None else float(clip)

    def state(self, value, name):
        """initial_h / initial_c in [num_directions, batch, hidden] (zeros when omitted)."""
        shape = (len(self.directions), self.batch, self.hidden)
        if value is None:
            return np.zeros(shape, self.dtype)
        if self.layout == 1:
            value = value.transpose(1, 0, 2)
        if value.shape != shape:
            raise ValueError(f"{self.op}: {name} has shape {value.shape}, expected {shape}")
        return value.astype(self.dtype, copy=False)

    def clipped(self, x):
        return x if self.clip is None else np.clip(x, -self.clip, self.clip)

    def run(self, initial_states, step):
        """Run ``step(d, x_gates, states) -> new states`` over time for every direction.

        ``x_gates`` is X_t*W^T + Wb for the step; the first state is the hidden one.
        Returns Y [seq, dirs, batch, hidden] and the final states [dirs, batch, hidden].
        """
        nd = len(self.directions)
        y = np.zeros((self.seq_length, nd, self.batch, self.hidden), self.dtype)
        finals = [np.empty((nd, self.batch, self.hidden), self.dtype) for _ in initial_states]
        for d, direction in enumerate(self.directions):
            x_gates = self.x @ self.w[d].T + self.wb[d]
            states = [s[d] for s in initial_states]
            steps = range(self.seq_length) if direction == "forward" else range(self.seq_length - 1, -1, -1)
            for t in steps:
                # a batch entry whose sequence ended keeps its state and outputs zeros;
                # reverse runs start at each entry's own last valid step
                active = (t < self.lens)[:, None]
                new_states = step(d, x_gates[t], states)
                states = [np.where(active, n, s) for n, s in zip(new_states, states)]
                y[t, d] = np.where(active, new_states[0], 0)
            for f, s in zip(finals, states):
                f[d] = s
        # an empty sequence has no last state: zeros, as onnxruntime gives
        empty = self.lens == 0
        for f in finals:
            f[:, empty] = 0
        return y, finals

    def outputs(self, y, finals):
        if self.layout == 1:
            y = y.transpose(2, 0, 1, 3)
            finals = [f.transpose(1, 0, 2) for f in finals]
        return tuple(dtypes.round_to(v, self.out_type) for v in (y, *finals))


def _rnn(inputs, attrs, layout):
    fr = _Frame("RNN", inputs, attrs, 1, layout)
    acts = _activations("RNN", attrs, ["Tanh"], len(fr.directions))
    h0 = fr.state(inputs[5] if len(inputs) > 5 else None, "initial_h")

    def step(d, xg, states):
        (h,) = states
        return [acts[d](fr.clipped(xg + h @ fr.r[d].T + fr.rb[d]))]

    y, (yh,) = fr.run([h0], step)
    return fr.outputs(y, [yh])


def _gru(inputs, attrs, layout):
    fr = _Frame("GRU", inputs, attrs, 3, layout)
    acts = _activations("GRU", attrs, ["Sigmoid", "Tanh"], len(fr.directions))
    h0 = fr.state(inputs[5] if len(inputs) > 5 else None, "initial_h")
    linear_before_reset = attrs.get("linear_before_reset", 0)
    n = fr.hidden

    def step(d, xg, states):
        (h,) = states
        f, g = acts[2 * d], acts[2 * d + 1]
        r_w, r_b = fr.r[d], fr.rb[d]
        # update and reset gates, then the candidate hidden state
        zr = xg[:, : 2 * n] + h @ r_w[: 2 * n].T + r_b[: 2 * n]
        z = f(fr.clipped(zr[:, :n]))
        r = f(fr.clipped(zr[:, n:]))
        if linear_before_reset:
            hh = xg[:, 2 * n:] + r * (h @ r_w[2 * n:].T + r_b[2 * n:])
        else:
            hh = xg[:, 2 * n:] + (r * h) @ r_w[2 * n:].T + r_b[2 * n:]
        hh = g(fr.clipped(hh))
        return [(1 - z) * hh + z * h]

    y, (yh,) = fr.run([h0], step)
    return fr.outputs(y, [yh])


def _lstm(inputs, attrs, layout):
    fr = _Frame("LSTM", inputs, attrs, 4, layout)
    nd = len(fr.directions)
    acts = _activations("LSTM", attrs, ["Sigmoid", "Tanh", "Tanh"], nd)
    h0 = fr.state(inputs[5] if len(inputs) > 5 else None, "initial_h")
    c0 = fr.state(inputs[6] if len(inputs) > 6 else None, "initial_c")
    n = fr.hidden
    p = inputs[7] if len(inputs) > 7 else None
    if p is None:
        p = np.zeros((nd, 3 * n), fr.dtype)
    elif p.shape != (nd, 3 * n):
        raise ValueError(f"LSTM: P has shape {p.shape}, expected {(nd, 3 * n)}")
    p = p.astype(fr.dtype, copy=False)
    input_forget = attrs.get("input_forget", 0)

    def step(d, xg, states):
        h, c = states
        f, g, hf = acts[3 * d], acts[3 * d + 1], acts[3 * d + 2]
        gates = xg + h @ fr.r[d].T + fr.rb[d]  # gate order i, o, f, c
        p_i, p_o, p_f = p[d, :n], p[d, n: 2 * n], p[d, 2 * n:]
        i = f(fr.clipped(gates[:, :n] + p_i * c))
        if input_forget:
            forget = 1 - i
        else:
            forget = f(fr.clipped(gates[:, 2 * n: 3 * n] + p_f * c))
        cell = g(fr.clipped(gates[:, 3 * n:]))
        c_new = forget * c + i * cell
        o = f(fr.clipped(gates[:, n: 2 * n] + p_o * c_new))
        return [o * hf(c_new), c_new]

    y, (yh, yc) = fr.run([h0, c0], step)
    return fr.outputs(y, [yh, yc])


@kernel("RNN", since=1, until=13)
def rnn_v1(ctx, inputs, attrs):
    return _rnn(inputs, attrs, layout=0)


@kernel("RNN", since=14)
def rnn_v14(ctx, inputs, attrs):
    return _rnn(inputs, attrs, layout=attrs.get("layout", 0))


@kernel("GRU", since=1, until=13)
def gru_v1(ctx, inputs, attrs):
    return _gru(inputs, attrs, layout=0)


@kernel("GRU", since=14)
def gru_v14(ctx, inputs, attrs):
    return _gru(inputs, attrs, layout=attrs.get("layout", 0))


@kernel("LSTM", since=1, until=13)
def lstm_v1(ctx, inputs, attrs):
    return _lstm(inputs, attrs, layout=0)


@kernel("LSTM", since=14)
def lstm_v14(ctx, inputs, attrs):
    return _lstm(inputs, attrs, layout=attrs.get("layout", 0))
