"""pywebinfer: run ONNX models from Python, in the browser (Pyodide) and in CPython.

The API mirrors onnxruntime's, so code written for it ports by changing the import::

    import pywebinfer as ort
    sess = ort.InferenceSession("model.onnx", providers=["numpy"])
    outputs = sess.run(None, {"input": x})
"""
from .backends import available_providers as get_available_providers
from .errors import ModelError, PywebinferError, UnsupportedOpError
from .session import GraphOptimizationLevel, InferenceSession, NodeArg, SessionOptions

__version__ = "0.1.0"

__all__ = [
    "InferenceSession", "SessionOptions", "GraphOptimizationLevel", "NodeArg",
    "ModelError", "UnsupportedOpError", "PywebinferError", "get_available_providers",
    "__version__",
]
