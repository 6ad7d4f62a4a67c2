"""The numpy backend: runs the reference kernels registered under backend "numpy".

It is the CPU path in CPython and in Pyodide, and the reference every other backend is
tested against.  Its tensors are plain numpy arrays, so it has nothing to upload,
download or free beyond dropping references.
"""
from __future__ import annotations

import numpy as np


class NumpyBackend:
    name = "numpy"
    needs_async = False

    def upload(self, value):
        return value

    def download(self, value):
        return value

    def run(self, entry, ctx, inputs, attrs):
        out = entry.fn(ctx, inputs, attrs)
        if isinstance(out, (list, tuple)):
            return [_as_value(o) for o in out]
        return [_as_value(out)]

    def close(self) -> None:
        pass


def _as_value(v):
    # kernels may hand back numpy scalars; values between nodes are always arrays
    if isinstance(v, np.generic):
        return np.asarray(v)
    return v
