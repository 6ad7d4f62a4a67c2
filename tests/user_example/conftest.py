"""The user's conftest: builds the model under test and says where it is.

A real project would keep its .onnx files in the repository; this one makes a small
classifier (4 features -> 8 hidden -> 3 classes) with onnx and records onnxruntime's
outputs for it, so that the browser tests have a reference.  Overriding the plugin's
`pywebinfer_model_dir` fixture is all it takes to serve the folder to the browser.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from pytest_pyodide import get_global_config

# This machine has no network: selenium must use the system's chromedriver, and Chromium
# must not call home (it runs as root here, hence the sandbox flag).
os.environ.setdefault("SE_CHROMEDRIVER", "/usr/bin/chromedriver")
os.environ.setdefault("SE_OFFLINE", "true")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-extensions"]


def pytest_configure(config):
    pyodide = get_global_config()
    pyodide.set_flags("chrome", [*pyodide.get_flags("chrome"), *CHROMIUM_FLAGS])


def classifier_model() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    weights = {
        "w1": rng.normal(size=(4, 8)).astype(np.float32),
        "b1": rng.normal(size=8).astype(np.float32),
        "w2": rng.normal(size=(8, 3)).astype(np.float32),
        "b2": rng.normal(size=3).astype(np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["features", "w1"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["h_biased"]),
        helper.make_node("Relu", ["h_biased"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "w2"], ["z"]),
        helper.make_node("Add", ["z", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "iris_like_classifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(array, name) for name, array in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="session")
def pywebinfer_model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    model = classifier_model()
    onnx.save(model, folder / "classifier.onnx")
    features = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {"features": features})
    np.savez(folder / "expected.npz", features=features, probabilities=probabilities)
    return folder
