"""Control-flow ops (If, Loop, Scan): numpy reference kernels.

Subgraphs run through ``ctx.run_graph(graph, inputs, ctx.outer_scope)``, which returns
the subgraph's outputs as a list; the kernels never look inside the graph object, so
every count comes from the node's inputs, outputs and attributes.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _scalar_bool(op, name, value):
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"{op}: {name} must hold a single element, got shape {value.shape}")
    return bool(value.reshape(-1)[0])


def _stack(values, axis=0):
    """np.stack that keeps a widened type's tag (np.stack drops dtype metadata)."""
    out = np.stack(values, axis=axis)
    first = np.asarray(values[0]).dtype
    return out.view(first) if out.dtype == first else out


def _run_body(ctx, op, graph, args, expected):
    outs = list(ctx.run_graph(graph, args, ctx.outer_scope))
    if len(outs) != expected:
        raise ValueError(f"{op}: body returned {len(outs)} outputs, expected {expected}")
    return outs


def _empty_scan_output():
    # A scan output of a loop that never ran: ONNX means a [0, *element_shape] tensor of
    # the body output's type, which only the body graph's declared outputs can tell.
    # Without a look into the graph, the best stand-in is an empty float32 tensor.
    return np.zeros((0,), np.float32)


@kernel("If", since=1)
def if_(ctx, inputs, attrs):
    cond = _scalar_bool("If", "cond", inputs[0])
    branch = attrs["then_branch"] if cond else attrs["else_branch"]
    return _run_body(ctx, "If", branch, [], ctx.num_outputs)


@kernel("Loop", since=1)
def loop(ctx, inputs, attrs):
    trip_count, cond, carried = inputs[0], inputs[1], list(inputs[2:])
    n_carried = len(carried)
    n_scan = ctx.num_outputs - n_carried
    if n_scan < 0:
        raise ValueError(f"Loop: {ctx.num_outputs} outputs for {n_carried} loop-carried values")
    max_trips = None if trip_count is None else int(np.asarray(trip_count).reshape(-1)[0])
    keep_going = True if cond is None else _scalar_bool("Loop", "cond", cond)
    scans = [[] for _ in range(n_scan)]
    i = 0
    while keep_going and (max_trips is None or i < max_trips):
        args = [np.array(i, np.int64), np.array(keep_going), *carried]
        outs = _run_body(ctx, "Loop", attrs["body"], args, 1 + n_carried + n_scan)
        # The body's condition is honoured even when the cond input is omitted (the
        # spec's table says it is then ignored; onnxruntime honours it, and ignoring it
        # makes a loop without trip count endless).
        keep_going = _scalar_bool("Loop", "body condition", outs[0])
        carried = outs[1: 1 + n_carried]
        for acc, value in zip(scans, outs[1 + n_carried:]):
            acc.append(value)
        i += 1
    stacked = []
    for k, acc in enumerate(scans):
        if not acc:
            stacked.append(_empty_scan_output())
            continue
        if any(v is None or isinstance(v, list) for v in acc):
            raise ValueError(f"Loop: scan output {k} must be a tensor")
        try:
            stacked.append(_stack(acc))
        except ValueError:
            raise ValueError(f"Loop: scan output {k} changes shape across iterations") from None
    return [*carried, *stacked]


def _axis(op, what, axis, rank):
    if not -rank <= axis < rank:
        raise ValueError(f"{op}: {what} {axis} is out of range for rank {rank}")
    return axis % rank


def _flags(op, attrs, name, count):
    values = list(attrs.get(name) or [0] * count)
    if len(values) != count:
        raise ValueError(f"{op}: {name} has {len(values)} entries, expected {count}")
    return [int(v) for v in values]


@kernel("Scan", since=8, until=8)
def scan_v8(ctx, inputs, attrs):
    """Scan-8: batch axis 0, sequence axis 1, optional per-batch sequence_lens."""
    lens, rest = inputs[0], list(inputs[1:])
    n_scan_in = int(attrs["num_scan_inputs"])
    n_state = len(rest) - n_scan_in
    n_scan_out = ctx.num_outputs - n_state
    if n_state < 0 or n_scan_out < 0:
        raise ValueError("Scan: num_scan_inputs does not fit the node's inputs/outputs")
    states0, scan_inputs = rest[:n_state], rest[n_state:]
    directions = _flags("Scan", attrs, "directions", n_scan_in)
    if not scan_inputs:
        raise ValueError("Scan: needs at least one scan input")
    batch, max_len = scan_inputs[0].shape[:2]
    for x in scan_inputs:
        if x.shape[:2] != (batch, max_len):
            raise ValueError("Scan: scan inputs differ in batch size or sequence length")
    lens = (np.full(batch, max_len, np.int64) if lens is None
            else np.asarray(lens).astype(np.int64).reshape(-1))
    if lens.shape != (batch,) or (lens < 0).any() or (lens > max_len).any():
        raise ValueError(f"Scan: sequence_lens must be {batch} values in [0, {max_len}]")

    final_states = [[] for _ in range(n_state)]
    batch_scans = [[] for _ in range(n_scan_out)]
    for b in range(batch):
        states = [s[b, ...] for s in states0]
        steps = [[] for _ in range(n_scan_out)]
        n = int(lens[b])
        for t in range(n):
            elems = [x[b, t if d == 0 else n - 1 - t, ...] for x, d in zip(scan_inputs, directions)]
            outs = _run_body(ctx, "Scan", attrs["body"], [*states, *elems], n_state + n_scan_out)
            states = outs[:n_state]
            for acc, v in zip(steps, outs[n_state:]):
                acc.append(np.asarray(v))
        for acc, s in zip(final_states, states):
            acc.append(s)
        for acc, s in zip(batch_scans, steps):
            acc.append(s)

    results = [_stack(acc) for acc in final_states]
    for k, per_batch in enumerate(batch_scans):
        sample = next((s[0] for s in per_batch if s), None)
        if sample is None:
            results.append(_empty_scan_output())
            continue
        out = np.zeros((batch, max_len, *sample.shape), sample.dtype)
        # steps past a batch entry's length are left as zeros (the spec leaves them undefined)
        for b, s in enumerate(per_batch):
            if s:
                out[b, : len(s)] = s
        results.append(out)
    return results


@kernel("Scan", since=9)
def scan_v9(ctx, inputs, attrs):
    """Scan-9+: no batch axis; per-input/output axes and directions."""
    n_scan_in = int(attrs["num_scan_inputs"])
    n_state = len(inputs) - n_scan_in
    n_scan_out = ctx.num_outputs - n_state
    if n_state < 0 or n_scan_out < 0:
        raise ValueError("Scan: num_scan_inputs does not fit the node's inputs/outputs")
    states, scan_inputs = list(inputs[:n_state]), inputs[n_state:]
    in_axes = _flags("Scan", attrs, "scan_input_axes", n_scan_in)
    in_dirs = _flags("Scan", attrs, "scan_input_directions", n_scan_in)
    out_axes = _flags("Scan", attrs, "scan_output_axes", n_scan_out)
    out_dirs = _flags("Scan", attrs, "scan_output_directions", n_scan_out)
    in_axes = [_axis("Scan", "scan_input_axes entry", a, x.ndim) for a, x in zip(in_axes, scan_inputs)]
    lengths = {x.shape[a] for x, a in zip(scan_inputs, in_axes)}
    if len(lengths) > 1:
        raise ValueError(f"Scan: scan inputs have different sequence lengths {sorted(lengths)}")
    seq_len = lengths.pop() if lengths else 0

    steps = [[] for _ in range(n_scan_out)]
    for t in range(seq_len):
        # basic indexing keeps a widened type's tag (np.take would not); the Ellipsis
        # makes a 0-d array rather than a numpy scalar
        elems = [x[(slice(None),) * a + (t if d == 0 else seq_len - 1 - t, Ellipsis)]
                 for x, a, d in zip(scan_inputs, in_axes, in_dirs)]
        outs = _run_body(ctx, "Scan", attrs["body"], [*states, *elems], n_state + n_scan_out)
        states = outs[:n_state]
        for acc, v in zip(steps, outs[n_state:]):
            acc.append(np.asarray(v))

    results = list(states)
    for acc, axis, direction in zip(steps, out_axes, out_dirs):
        if not acc:
            results.append(_empty_scan_output())
            continue
        if direction == 1:  # prepending each step's value = reversed order
            acc = acc[::-1]
        axis = _axis("Scan", "scan_output_axes entry", axis, acc[0].ndim + 1)
        results.append(_stack(acc, axis=axis))
    return results
