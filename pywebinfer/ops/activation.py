"""activation ops: numpy reference kernels."""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("Relu", since=6)
def relu(ctx, inputs, attrs):
    x = inputs[0]
    return np.maximum(x, np.zeros((), dtype=x.dtype))
