"""Liveness-based memory plan of the main graph, for buffer pools.

Nodes run in the order of ``graph.nodes`` (step 0, 1, ...).  Every intermediate value
(a node output that is not a graph output; graph inputs and initializers are not
intermediates) lives from the step that produces it (``first``) to the last step that
reads it (``last``; a node owning a subgraph reads what the subgraph reads from
outside; a value nothing reads dies at its own step).  Values whose size is statically
known (element type and every dimension, from the model and from
pywebinfer.graph.shapes.infer_shapes) are assigned to shared buffers:

* at each step the node's outputs get buffers first, then the buffers of the values
  whose last reader is this step are released, so a buffer is reused only by a value
  produced after the last reader of the previous one ran (no node writes over its own
  inputs);
* a value takes the smallest free buffer at least its size (best fit); when none is
  large enough it takes the largest free buffer and grows it, or opens a new buffer when
  none is free.  A buffer's size is that of the largest value it ever holds.

Values of unknown size (symbolic or unknown dimensions, sequences, strings) get no
buffer: a pool allocates them as they come.  When shape inference fails (a model whose
declared shapes contradict its nodes) no declared size is trusted: nothing is planned
and ``shape_inference_error`` says why.  Sizes are those of the numpy storage type
(bfloat16 and float8 are held as float32 here).

The plan is plain data (ints, strings, lists, dicts; ``to_dict()`` gives JSON) so that
the GPU backends can size their buffer pools from it.
"""
from __future__ import annotations

import dataclasses

from ..graph.ir import Graph, all_inputs
from ..graph.shapes import static_size_bytes
from ._util import infer_shapes_quietly


@dataclasses.dataclass
class ValuePlan:
    name: str
    first: int  # step (index in graph.nodes) that produces the value
    last: int  # last step that reads it (== first when nothing reads it)
    nbytes: int | None  # None: size not known statically
    buffer: int | None  # index into MemoryPlan.buffer_sizes; None: unplanned


@dataclasses.dataclass
class MemoryPlan:
    values: dict[str, ValuePlan]  # every intermediate value, in production order
    buffer_sizes: list[int]  # bytes of each shared buffer
    naive_bytes: int  # one buffer per intermediate of known size
    planned_bytes: int  # sum of buffer_sizes
    peak_live_bytes: int  # most bytes of known-size intermediates alive at one step
    unknown_size_values: int  # intermediates left unplanned
    num_steps: int
    shape_inference_error: str | None = None  # why inference failed, if it did

    @property
    def num_buffers(self) -> int:
        return len(self.buffer_sizes)

    def buffer_of(self, name: str) -> int | None:
        v = self.values.get(name)
        return v.buffer if v is not None else None

    def assignment(self) -> dict[str, int]:
        """value name -> buffer index, for the planned values."""
        return {n: v.buffer for n, v in self.values.items() if v.buffer is not None}

    def summary(self) -> str:
        mib = 1024 * 1024
        saved = 1 - self.planned_bytes / self.naive_bytes if self.naive_bytes else 0.0
        lines = [
            f"memory plan: {len(self.values)} intermediate values over {self.num_steps} steps",
            f"  naive (one buffer each): {self.naive_bytes / mib:.2f} MiB",
            f"  planned: {self.num_buffers} shared buffers, {self.planned_bytes / mib:.2f} MiB "
            f"({saved:.0%} less)",
            f"  peak live: {self.peak_live_bytes / mib:.2f} MiB",
            f"  unknown size (unplanned): {self.unknown_size_values}",
        ]
        if self.shape_inference_error:
            lines.append(f"  shape inference failed: {self.shape_inference_error}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "values": {n: dataclasses.asdict(v) for n, v in self.values.items()},
            "buffer_sizes": list(self.buffer_sizes),
            "naive_bytes": self.naive_bytes,
            "planned_bytes": self.planned_bytes,
            "peak_live_bytes": self.peak_live_bytes,
            "unknown_size_values": self.unknown_size_values,
            "num_steps": self.num_steps,
            "shape_inference_error": self.shape_inference_error,
        }


def plan_memory(graph: Graph) -> MemoryPlan:
    inference_error = infer_shapes_quietly(graph)
    sized = inference_error is None
    outputs = {v.name for v in graph.outputs}
    external = set(graph.initializers) | {v.name for v in graph.inputs} | outputs
    values: dict[str, ValuePlan] = {}
    for step, node in enumerate(graph.nodes):
        for name in all_inputs(node):
            if name in values:
                values[name].last = step
        for name in node.outputs:
            if name and name not in external and name not in values:
                nbytes = static_size_bytes(graph.value_type(name)) if sized else None
                values[name] = ValuePlan(name, step, step, nbytes, None)

    produced: dict[int, list[ValuePlan]] = {}
    dying: dict[int, list[ValuePlan]] = {}
    for v in values.values():
        if v.nbytes is not None:
            produced.setdefault(v.first, []).append(v)
            dying.setdefault(v.last, []).append(v)
    sizes: list[int] = []
    free: list[int] = []  # buffer indices not holding a live value
    live_bytes = peak = 0
    for step in range(len(graph.nodes)):
        for v in produced.get(step, ()):
            v.buffer = _take_buffer(v.nbytes, sizes, free)
            live_bytes += v.nbytes
        peak = max(peak, live_bytes)
        for v in dying.get(step, ()):
            free.append(v.buffer)
            live_bytes -= v.nbytes

    known = [v.nbytes for v in values.values() if v.nbytes is not None]
    return MemoryPlan(values=values, buffer_sizes=sizes, naive_bytes=sum(known),
                      planned_bytes=sum(sizes), peak_live_bytes=peak,
                      unknown_size_values=len(values) - len(known), num_steps=len(graph.nodes),
                      shape_inference_error=inference_error)


def _take_buffer(nbytes: int, sizes: list[int], free: list[int]) -> int:
    fitting = [b for b in free if sizes[b] >= nbytes]
    if fitting:
        best = min(fitting, key=lambda b: (sizes[b], b))
    elif free:
        best = max(free, key=lambda b: (sizes[b], -b))
        sizes[best] = nbytes  # grow the largest free buffer: costs the least extra
    else:
        sizes.append(nbytes)
        return len(sizes) - 1
    free.remove(best)
    return best
