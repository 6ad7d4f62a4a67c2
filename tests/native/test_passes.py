"""The graph optimization passes: each alone (node counts before/after) and through the
session, where every optimized model must give what onnxruntime gives and what
pywebinfer gives with the passes off (ORT_DISABLE_ALL)."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pywebinfer
from pywebinfer.onnx.importer import load_model
from pywebinfer.passes import (batchnorm_folding, constant_folding, dead_node_elimination, fusion,
                               memory_plan, optimize)

RNG = np.random.default_rng(7)
F = TensorProto.FLOAT
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


# ---- helpers ---------------------------------------------------------------------------

def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def make_model(nodes, inputs, outputs, initializers=(), opset=17, value_info=()):
    """inputs/outputs: (name, shape) pairs (float) or ValueInfoProtos; initializers: name -> array."""
    def info(v):
        return v if isinstance(v, onnx.ValueInfoProto) else helper.make_tensor_value_info(v[0], F, v[1])
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in dict(initializers).items()]
    graph = helper.make_graph(nodes, "g", [info(v) for v in inputs], [info(v) for v in outputs], inits,
                              value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model.SerializeToString()


def session(model: bytes, level=pywebinfer.GraphOptimizationLevel.ORT_ENABLE_ALL):
    opts = pywebinfer.SessionOptions()
    opts.graph_optimization_level = level
    return pywebinfer.InferenceSession(model, sess_options=opts, providers=["numpy"])


def run_ort(model: bytes, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def check(model: bytes, feeds, rtol=1e-5, atol=1e-5):
    """Optimized == unoptimized == onnxruntime; returns the optimized session."""
    optimized = session(model)
    got = optimized.run(None, feeds)
    plain = session(model, pywebinfer.GraphOptimizationLevel.ORT_DISABLE_ALL).run(None, feeds)
    expected = run_ort(model, feeds)
    for g, p, e in zip(got, plain, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, p, rtol=rtol, atol=atol)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
    return optimized


def graph_of(model: bytes):
    return load_model(model).graph


def ops(graph):
    return [n.op_type for n in graph.nodes]


def fused_node(sess):
    found = [n for n in sess.graph.nodes if n.domain == "pywebinfer"]
    assert len(found) == 1, ops(sess.graph)
    return found[0]


# ---- constant folding ------------------------------------------------------------------

def test_constant_folding_alone():
    nodes = [
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.float32([2.0]))),
        helper.make_node("Add", ["w", "two"], ["w2"]),
        helper.make_node("Sqrt", ["w2"], ["w3"]),
        helper.make_node("Mul", ["x", "w3"], ["y"]),
    ]
    model = make_model(nodes, [("x", [3])], [("y", [3])], {"w": np.float32([1, 2, 7])})
    g = graph_of(model)
    assert len(g.nodes) == 4
    constant_folding.constant_folding(g)
    assert ops(g) == ["Mul"]
    np.testing.assert_allclose(g.initializers["w3"], np.sqrt([3, 4, 9]))
    check(model, {"x": rand(3)})


def test_folded_output_is_not_handed_out_as_the_initializer():
    nodes = [helper.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0]),
             helper.make_node("Neg", ["c"], ["y"])]
    sess = session(make_model(nodes, [], [("y", [2])]))
    assert sess.graph.nodes == []
    first = sess.run(None, {})[0]
    first[:] = 100
    np.testing.assert_array_equal(sess.run(None, {})[0], [-1, -2])


def test_random_and_huge_results_are_not_folded():
    nodes = [
        helper.make_node("RandomUniform", [], ["r"], shape=[2], seed=1.0),
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"],
                         value=numpy_helper.from_array(np.float32([1.0]))),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
        helper.make_node("Add", ["r", "total"], ["y"]),
    ]
    model = make_model(nodes, [], [("y", [2])], {"big_shape": np.int64([10_000_000])}, opset=13)
    g = constant_folding.constant_folding(graph_of(model))
    assert ops(g) == ["RandomUniform", "ConstantOfShape", "ReduceSum", "Add"]
    y = session(model).run(None, {})[0]
    assert np.all((y >= 1e7) & (y <= 1e7 + 1))


def test_size_limit_spares_results_no_larger_than_their_inputs(monkeypatch):
    monkeypatch.setattr(constant_folding, "MAX_FOLDED_BYTES", 1024)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"]),  # 4 KiB from 4 KiB: folded
             helper.make_node("Tile", ["w", "reps"], ["big"]),  # 8 KiB from 4 KiB: stays
             helper.make_node("MatMul", ["x", "wt"], ["a"]),
             helper.make_node("ReduceSum", ["big", "ax"], ["s"], keepdims=0),
             helper.make_node("Add", ["a", "s"], ["y"])]
    inits = {"w": rand(32, 32), "reps": np.int64([2, 1]), "ax": np.int64([0])}
    model = make_model(nodes, [("x", [2, 32])], [("y", [2, 32])], inits)
    g = dead_node_elimination.dead_node_elimination(constant_folding.constant_folding(graph_of(model)))
    assert ops(g) == ["Tile", "MatMul", "ReduceSum", "Add"] and "wt" in g.initializers


def test_torchscript_shape_chain_folds_to_a_constant_reshape():
    # x.view(x.size(0), -1) as TorchScript exports it
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = {"zero": np.int64(0), "axes0": np.int64([0]), "minus_one": np.int64([-1])}
    model = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 12])], inits)
    g = graph_of(model)
    constant_folding.constant_folding(g)
    dead_node_elimination.dead_node_elimination(g)
    assert ops(g) == ["Reshape"]
    np.testing.assert_array_equal(g.initializers[g.nodes[0].inputs[1]], [2, -1])
    assert set(g.initializers) == {g.nodes[0].inputs[1]}
    check(model, {"x": rand(2, 3, 4)})


def test_shape_chain_with_symbolic_batch_folds_the_static_dimensions():
    # x.view(-1, x.size(1), x.size(2) * x.size(3)) with a dynamic batch: Gather/Slice pick
    # static dimensions out of a shape that is only partly known
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "one"], ["c"], axis=0),
        helper.make_node("Slice", ["s", "two", "four"], ["hw"]),
        helper.make_node("ReduceProd", ["hw"], ["hw1"], keepdims=1),
        helper.make_node("Unsqueeze", ["c", "axes0"], ["c1"]),
        helper.make_node("Concat", ["minus_one", "c1", "hw1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
        helper.make_node("Shape", ["x"], ["tail"], start=-2),
        helper.make_node("Size", ["y"], ["count"]),
    ]
    inits = {"one": np.int64(1), "two": np.int64([2]), "four": np.int64([4]),
             "axes0": np.int64([0]), "minus_one": np.int64([-1])}
    x_info = helper.make_tensor_value_info("x", F, ["N", 3, 4, 5])
    model = make_model(nodes, [x_info], [("y", ["N", 3, 20]),
                                         helper.make_tensor_value_info("tail", TensorProto.INT64, [2]),
                                         helper.make_tensor_value_info("count", TensorProto.INT64, [])],
                       inits, opset=17)
    g = dead_node_elimination.dead_node_elimination(constant_folding.constant_folding(graph_of(model)))
    assert ops(g) == ["Reshape", "Size"]  # Size needs the batch
    np.testing.assert_array_equal(g.initializers["tail"], [4, 5])
    check(model, {"x": rand(2, 3, 4, 5)})


def test_inferred_shapes_let_shape_of_an_undeclared_value_fold():
    # nothing declares h's shape: pywebinfer.graph.shapes infers it
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Shape", ["h"], ["s"], end=1),
             helper.make_node("Concat", ["s", "minus_one"], ["shape"], axis=0),
             helper.make_node("Reshape", ["h", "shape"], ["y"])]
    model = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 12])], {"minus_one": np.int64([-1])})
    g = constant_folding.constant_folding(graph_of(model))
    assert ops(g) == ["Relu", "Reshape"]
    plan = memory_plan.plan_memory(g)
    assert plan.values["h"].nbytes == 96 and plan.unknown_size_values == 0
    check(model, {"x": rand(2, 3, 4)})


def test_contradictory_declared_shapes_do_not_stop_the_passes():
    # the model declares h wrongly: inference fails, no declared shape is trusted (Shape
    # of h stays, nothing is planned), the plan says why and the passes go on
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Neg", ["h"], ["y"]),
             helper.make_node("Shape", ["h"], ["s"])]
    wrong = helper.make_tensor_value_info("h", F, [5])
    g = graph_of(make_model(nodes, [("x", [2, 3])], [("y", [2, 3]), helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
                            value_info=[wrong]))
    g = optimize(g, 99)
    assert ops(g) == ["Relu", "Neg", "Shape"]
    plan = memory_plan.plan_memory(g)
    assert plan.shape_inference_error and "inference failed" in plan.summary()
    assert plan.unknown_size_values == 1 and plan.num_buffers == 0


def test_constants_in_subgraphs_fold_with_outer_constants_visible():
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value_float=3.0),
         helper.make_node("Mul", ["k", "outer_w"], ["kw"]),
         helper.make_node("Add", ["x", "kw"], ["then_y"])],
        "then", [], [helper.make_tensor_value_info("then_y", F, [2])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["else_y"])], "else", [],
                              [helper.make_tensor_value_info("else_y", F, [2])])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=other)]
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    model = make_model(nodes, [("x", [2]), cond], [("y", [2])], {"outer_w": np.float32([1, 2])})
    g = dead_node_elimination.dead_node_elimination(constant_folding.constant_folding(graph_of(model)))
    then_branch = g.nodes[0].attrs["then_branch"]
    assert ops(then_branch) == ["Add"]
    assert "outer_w" not in g.initializers  # nothing reads it any more
    for flag in (True, False):
        check(model, {"x": rand(2), "cond": np.array(flag)})


# ---- dead-node elimination ---------------------------------------------------------------

def test_dead_nodes_and_unused_initializers_are_removed():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Sigmoid", ["x"], ["unused"]),
        helper.make_node("Mul", ["unused", "w_unused"], ["unused2"]),
        helper.make_node("Add", ["a", "w"], ["y"]),
    ]
    model = make_model(nodes, [("x", [4])], [("y", [4])], {"w": rand(4), "w_unused": rand(4)})
    g = dead_node_elimination.dead_node_elimination(graph_of(model))
    assert ops(g) == ["Relu", "Add"]
    assert set(g.initializers) == {"w"}
    check(model, {"x": rand(4)})


def test_identity_elimination_keeps_graph_input_and_output_names():
    nodes = [
        helper.make_node("Identity", ["x"], ["x1"]),
        helper.make_node("Relu", ["x1"], ["r"]),
        helper.make_node("Identity", ["r"], ["r1"]),
        helper.make_node("Identity", ["r1"], ["y"]),  # a graph output: r is renamed to y
        helper.make_node("Identity", ["x"], ["passthrough"]),  # input to output: stays
        helper.make_node("Identity", ["r1"], ["y2"]),  # second output of the same value: stays
    ]
    model = make_model(nodes, [("x", [3])], [("y", [3]), ("passthrough", [3]), ("y2", [3])])
    g = dead_node_elimination.dead_node_elimination(graph_of(model))
    assert ops(g) == ["Relu", "Identity", "Identity"]
    assert g.nodes[0].inputs == ["x"] and g.nodes[0].outputs == ["y"]
    sess = check(model, {"x": rand(3)})
    assert [o.name for o in sess.get_outputs()] == ["y", "passthrough", "y2"]


def test_identity_read_by_a_subgraph_is_bypassed():
    body = helper.make_graph([helper.make_node("Neg", ["x1"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", F, [2])])
    other = helper.make_graph([helper.make_node("Abs", ["x1"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, [2])])
    nodes = [helper.make_node("Identity", ["x"], ["x1"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=other)]
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    model = make_model(nodes, [("x", [2]), cond], [("y", [2])])
    g = dead_node_elimination.dead_node_elimination(graph_of(model))
    assert ops(g) == ["If"]
    assert g.nodes[0].attrs["then_branch"].nodes[0].inputs == ["x"]
    for flag in (True, False):
        check(model, {"x": rand(2), "cond": np.array(flag)})


def test_inference_dropout_is_removed_but_a_read_mask_keeps_it():
    nodes = [helper.make_node("Dropout", ["x", "ratio"], ["d"]),
             helper.make_node("Relu", ["d"], ["y"]),
             helper.make_node("Dropout", ["x"], ["d2", "mask"]),
             helper.make_node("Cast", ["mask"], ["m"], to=F)]
    model = make_model(nodes, [("x", [5])], [("y", [5]), ("m", [5])], {"ratio": np.float32(0.5)}, opset=13)
    g = dead_node_elimination.dead_node_elimination(graph_of(model))
    assert ops(g) == ["Relu", "Dropout", "Cast"]
    check(model, {"x": rand(5)})


# ---- BatchNormalization folding ------------------------------------------------------------

def bn_params(c, prefix="bn"):
    return {f"{prefix}_s": rand(c), f"{prefix}_b": rand(c), f"{prefix}_m": rand(c),
            f"{prefix}_v": (np.abs(rand(c)) + 0.1).astype(np.float32)}


def bn_node(x, y, prefix="bn", **attrs):
    return helper.make_node("BatchNormalization", [x] + [f"{prefix}_{k}" for k in "sbmv"], [y],
                            epsilon=1e-3, **attrs)


@pytest.mark.parametrize("with_bias", [False, True])
def test_conv_batchnorm_folding_is_exact(with_bias):
    inits = {"w": rand(4, 3, 3, 3), **bn_params(4)}
    conv_in = ["x", "w"]
    if with_bias:
        inits["cb"] = rand(4)
        conv_in.append("cb")
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1]), bn_node("c", "y")]
    model = make_model(nodes, [("x", [2, 3, 5, 5])], [("y", [2, 4, 5, 5])], inits)
    g = batchnorm_folding.batchnorm_folding(graph_of(model))
    assert ops(g) == ["Conv"] and len(g.nodes[0].inputs) == 3 and g.nodes[0].outputs == ["y"]
    check(model, {"x": rand(2, 3, 5, 5)}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("with_c", [False, True])
def test_gemm_batchnorm_folding_is_exact(trans_b, with_c):
    inits = {"w": rand(6, 5) if trans_b else rand(5, 6), **bn_params(6)}
    gemm_in = ["x", "w"] + (["c"] if with_c else [])
    if with_c:
        inits["c"] = rand(6)
    nodes = [helper.make_node("Gemm", gemm_in, ["g"], transB=trans_b, alpha=0.5, beta=2.0),
             bn_node("g", "y")]
    model = make_model(nodes, [("x", [3, 5])], [("y", [3, 6])], inits)
    g = batchnorm_folding.batchnorm_folding(graph_of(model))
    assert ops(g) == ["Gemm"]
    check(model, {"x": rand(3, 5)})


@pytest.mark.parametrize("with_add", [False, True])
def test_matmul_batchnorm_folding_is_exact(with_add):
    inits = {"w": rand(5, 6), "b": rand(6), **bn_params(6)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"])]
    if with_add:
        nodes.append(helper.make_node("Add", ["mm", "b"], ["z"]))
    nodes.append(bn_node("z" if with_add else "mm", "y"))
    model = make_model(nodes, [("x", [3, 5])], [("y", [3, 6])], inits)
    g = batchnorm_folding.batchnorm_folding(graph_of(model))
    assert ops(g) == ["MatMul", "Add"]
    check(model, {"x": rand(3, 5)})


def test_per_channel_scale_after_conv_folds_like_batchnorm():
    inits = {"w": rand(4, 3, 1, 1), "scale": rand(4, 1, 1), **bn_params(4)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("c", "b"),
             helper.make_node("Mul", ["b", "scale"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 4, 4, 4])], inits)
    g = batchnorm_folding.batchnorm_folding(graph_of(model))
    assert ops(g) == ["Conv"]
    check(model, {"x": rand(1, 3, 4, 4)})


def test_batchnorm_not_folded_when_conv_output_has_another_reader():
    inits = {"w": rand(4, 3, 1, 1), **bn_params(4)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("c", "y"),
             helper.make_node("Relu", ["c"], ["z"])]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 4, 4, 4]), ("z", [1, 4, 4, 4])], inits)
    g = batchnorm_folding.batchnorm_folding(graph_of(model))
    assert ops(g) == ["Conv", "BatchNormalization", "Relu"]
    check(model, {"x": rand(1, 3, 4, 4)})


def test_training_mode_batchnorm_is_not_folded():
    inits = {"w": rand(4, 3, 1, 1), **bn_params(4)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("c", "y", training_mode=1)]
    model = make_model(nodes, [("x", [2, 3, 4, 4])], [("y", [2, 4, 4, 4])], inits, opset=15)
    g = batchnorm_folding.batchnorm_folding(graph_of(model))
    assert ops(g) == ["Conv", "BatchNormalization"]


# ---- fusion -------------------------------------------------------------------------------

def activation_nodes(kind, x, y):
    """(nodes, initializers, opset) computing y = act(x)."""
    if kind in ("Relu", "Sigmoid", "Tanh", "HardSwish"):
        return [helper.make_node(kind, [x], [y])], {}, 17
    if kind == "LeakyRelu":
        return [helper.make_node(kind, [x], [y], alpha=0.2)], {}, 17
    if kind == "HardSigmoid":
        return [helper.make_node(kind, [x], [y], alpha=0.3, beta=0.4)], {}, 17
    if kind == "Relu6":
        return [helper.make_node("Clip", [x, "lo", "hi"], [y])], {"lo": np.float32(0), "hi": np.float32(6)}, 17
    if kind == "ClipMaxOnly":
        return [helper.make_node("Clip", [x, "", "hi"], [y])], {"hi": np.float32(0.5)}, 17
    if kind == "ClipAttrs":
        return [helper.make_node("Clip", [x], [y], min=-0.5, max=0.7)], {}, 10
    if kind == "Silu":
        return [helper.make_node("Sigmoid", [x], ["sg"]), helper.make_node("Mul", ["sg", x], [y])], {}, 17
    if kind == "Gelu":
        return [helper.make_node("Gelu", [x], [y])], {}, 20
    if kind == "GeluTanh":
        return [helper.make_node("Gelu", [x], [y], approximate="tanh")], {}, 20
    consts = {"sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    head = [helper.make_node("Div", [x, "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["u"])]
    if kind == "ErfGelu":  # (x * u) * 0.5, as torch.onnx exports nn.GELU
        tail = [helper.make_node("Mul", [x, "u"], ["xu"]), helper.make_node("Mul", ["xu", "half"], [y])]
    elif kind == "ErfGeluHalfFirst":  # (x * 0.5) * u
        tail = [helper.make_node("Mul", ["half", x], ["xh"]), helper.make_node("Mul", ["xh", "u"], [y])]
    else:  # x * (u * 0.5), with x * (1/sqrt 2) instead of x / sqrt 2
        consts["inv"] = np.float32(np.sqrt(0.5))
        head[0] = helper.make_node("Mul", [x, "inv"], ["d"])
        tail = [helper.make_node("Mul", ["u", "half"], ["uh"]), helper.make_node("Mul", [x, "uh"], [y])]
    return head + tail, consts, 17


ACTIVATIONS = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "HardSwish": "HardSwish",
               "LeakyRelu": "LeakyRelu", "HardSigmoid": "HardSigmoid", "Relu6": "Clip",
               "ClipMaxOnly": "Clip", "ClipAttrs": "Clip", "Silu": "Silu", "Gelu": "Gelu",
               "GeluTanh": "Gelu", "ErfGelu": "Gelu", "ErfGeluHalfFirst": "Gelu",
               "ErfGeluMulInverse": "Gelu"}


@pytest.mark.parametrize("kind", sorted(ACTIVATIONS))
def test_conv_activation_fusion(kind):
    act, consts, opset = activation_nodes(kind, "c", "y")
    inits = {"w": rand(4, 3, 3, 3, scale=0.5), "cb": rand(4), **consts}
    nodes = [helper.make_node("Conv", ["x", "w", "cb"], ["c"], strides=[2, 2])] + act
    model = make_model(nodes, [("x", [1, 3, 7, 7])], [("y", [1, 4, 3, 3])], inits, opset=opset)
    alone = fusion.fusion(graph_of(model))
    assert len(nodes) > 1 and ops(alone) == ["FusedConv"]
    sess = check(model, {"x": rand(1, 3, 7, 7, scale=2.0)})
    node = fused_node(sess)
    assert ops(sess.graph) == ["FusedConv"]
    assert node.attrs["activation"] == ACTIVATIONS[kind] and node.attrs["strides"] == [2, 2]
    assert sess.graph.initializers.keys() == {"w", "cb"}


@pytest.mark.parametrize("kind", ["Relu", "Relu6", "LeakyRelu", "Silu", "ErfGelu", "HardSigmoid"])
def test_gemm_activation_fusion(kind):
    act, consts, opset = activation_nodes(kind, "g", "y")
    inits = {"w": rand(6, 5), "c": rand(6), **consts}
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["g"], transB=1, alpha=0.7)] + act
    model = make_model(nodes, [("x", [3, 5])], [("y", [3, 6])], inits, opset=opset)
    sess = check(model, {"x": rand(3, 5)})
    node = fused_node(sess)
    assert node.op_type == "FusedGemm" and node.attrs["activation"] == ACTIVATIONS[kind]
    assert node.attrs["transB"] == 1 and node.attrs["alpha"] == pytest.approx(0.7)


@pytest.mark.parametrize("kind", ["Relu", "Sigmoid", "Silu", "ErfGelu", "ErfGeluHalfFirst", "Gelu"])
def test_matmul_bias_activation_fusion(kind):
    # a transformer feed-forward layer: MatMul + bias + activation on a 3-D input
    act, consts, opset = activation_nodes(kind, "z", "y")
    inits = {"w": rand(8, 6), "b": rand(6), **consts}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
             helper.make_node("Add", ["b", "mm"], ["z"])] + act
    model = make_model(nodes, [("x", [2, 3, 8])], [("y", [2, 3, 6])], inits, opset=opset)
    sess = check(model, {"x": rand(2, 3, 8)})
    node = fused_node(sess)
    assert node.op_type == "FusedMatMul" and node.attrs["activation"] == ACTIVATIONS[kind]
    assert len(node.inputs) == 3


def test_conv_bias_add_is_merged_into_conv():
    inits = {"w": rand(4, 3, 1, 1), "cb": rand(4), "shift": rand(1, 4, 1, 1)}
    nodes = [helper.make_node("Conv", ["x", "w", "cb"], ["c"]),
             helper.make_node("Add", ["c", "shift"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 4, 4, 4])], inits)
    sess = check(model, {"x": rand(1, 3, 4, 4)})
    assert ops(sess.graph) == ["Conv"]
    b = sess.graph.initializers[sess.graph.nodes[0].inputs[2]]
    np.testing.assert_allclose(b, inits["cb"] + inits["shift"].reshape(-1), rtol=1e-6)


def test_add_that_is_not_a_channel_bias_is_not_merged():
    # (4,) would broadcast over the last (width) axis, not over the channels
    inits = {"w": rand(4, 3, 1, 1), "row": rand(4)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "row"], ["a"]),
             helper.make_node("Relu", ["a"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 4, 4, 4])], inits)
    sess = check(model, {"x": rand(1, 3, 4, 4)})
    node = fused_node(sess)  # taken as a residual of constant value instead
    assert node.inputs[3] == "row" and node.inputs[2] == ""


def test_gemm_bias_add_becomes_c():
    inits = {"w": rand(5, 6), "b": rand(1, 6)}
    nodes = [helper.make_node("Gemm", ["x", "w"], ["g"]), helper.make_node("Add", ["g", "b"], ["y"])]
    model = make_model(nodes, [("x", [3, 5])], [("y", [3, 6])], inits)
    sess = check(model, {"x": rand(3, 5)})
    assert ops(sess.graph) == ["Gemm"] and len(sess.graph.nodes[0].inputs) == 3


def test_residual_add_then_relu_is_one_fused_conv():
    # ResNet's block end: conv -> BN -> Add(shortcut) -> Relu, the shortcut computed first
    inits = {"w0": rand(4, 4, 1, 1), "w": rand(4, 4, 3, 3, scale=0.3), **bn_params(4)}
    nodes = [helper.make_node("Conv", ["x", "w0"], ["shortcut"]),
             helper.make_node("Conv", ["shortcut", "w"], ["c"], pads=[1, 1, 1, 1]),
             bn_node("c", "b"),
             helper.make_node("Sum", ["b", "shortcut"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    model = make_model(nodes, [("x", [1, 4, 5, 5])], [("y", [1, 4, 5, 5])], inits, opset=9)
    sess = check(model, {"x": rand(1, 4, 5, 5)})
    assert ops(sess.graph) == ["Conv", "FusedConv"]
    node = fused_node(sess)
    assert node.inputs[3] == "shortcut" and node.attrs["activation"] == "Relu"


def test_residual_computed_after_the_conv_is_not_fused_into_it():
    inits = {"w1": rand(4, 4, 1, 1), "w2": rand(4, 4, 1, 1)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]),
             helper.make_node("Conv", ["x", "w2"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    model = make_model(nodes, [("x", [1, 4, 3, 3])], [("y", [1, 4, 3, 3])], inits)
    sess = check(model, {"x": rand(1, 4, 3, 3)})
    # the first Conv's Add reads b, made after it; the second Conv takes the Add with a
    assert ops(sess.graph) == ["Conv", "FusedConv"]
    assert fused_node(sess).inputs == ["x", "w2", "", "a"]


def test_no_fusion_through_a_graph_output_or_a_shared_value():
    inits = {"w": rand(4, 3, 1, 1)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"]),
             helper.make_node("Conv", ["x", "w"], ["c2"]), helper.make_node("Relu", ["c2"], ["y2"]),
             helper.make_node("Sigmoid", ["c2"], ["y3"])]
    model = make_model(nodes, [("x", [1, 3, 2, 2])],
                       [("c", [1, 4, 2, 2]), ("y", [1, 4, 2, 2]), ("y2", [1, 4, 2, 2]), ("y3", [1, 4, 2, 2])],
                       inits)
    sess = check(model, {"x": rand(1, 3, 2, 2)})
    assert ops(sess.graph) == ops(graph_of(model))


@pytest.mark.parametrize("opset", [10, 13])
def test_zero_pad_before_conv_joins_its_pads(opset):
    inits = {"w": rand(4, 3, 3, 3)}
    if opset >= 11:
        inits.update(pads=np.int64([0, 0, 1, 0, 0, 0, 2, 1]), zero=np.float32(0))
        pad = helper.make_node("Pad", ["x", "pads", "zero"], ["p"], mode="constant")
    else:
        pad = helper.make_node("Pad", ["x"], ["p"], pads=[0, 0, 1, 0, 0, 0, 2, 1])
    nodes = [pad, helper.make_node("Conv", ["p", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 4, 5, 4])], inits, opset=opset)
    sess = check(model, {"x": rand(1, 3, 6, 6)})
    assert ops(sess.graph) == ["FusedConv"]
    assert fused_node(sess).attrs["pads"] == [2, 1, 3, 2] and fused_node(sess).inputs[0] == "x"


@pytest.mark.parametrize("pads,value", [([0, 1, 1, 1, 0, 0, 1, 1], 0.0), ([0, 0, 1, 1, 0, 0, 1, 1], 0.5),
                                        ([0, 0, -1, 0, 0, 0, 0, 0], 0.0)])
def test_pad_that_is_not_zero_spatial_padding_stays(pads, value):
    inits = {"w": rand(4, 3 + pads[1], 3, 3), "pads": np.int64(pads), "v": np.float32(value)}
    nodes = [helper.make_node("Pad", ["x", "pads", "v"], ["p"]), helper.make_node("Conv", ["p", "w"], ["y"])]
    out = [1, 4, 4 + pads[2] + pads[6], 4 + pads[3] + pads[7]]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", out)], inits, opset=13)
    sess = check(model, {"x": rand(1, 3, 6, 6)})
    assert ops(sess.graph) == ["Pad", "Conv"]


def test_fused_kernel_rejects_an_unknown_activation():
    from nodeutil import run_kernel

    with pytest.raises(ValueError, match="unknown activation 'Softplus'"):
        run_kernel("FusedMatMul", [rand(2, 3), rand(3, 2)], {"activation": "Softplus"},
                   opset=1, domain="pywebinfer")


def test_fused_node_runs_the_base_ops_prepare_hook(monkeypatch):
    import dataclasses

    from pywebinfer.ops.registry import REGISTRY

    seen = []
    real_lookup = REGISTRY.lookup
    conv = real_lookup("Conv", "", 28, "numpy")

    def prepare(ctx, attrs, constants):
        seen.append(("prepare", attrs.get("strides"), constants[1] is not None))
        return "packed"

    def run(ctx, inputs, attrs):
        seen.append(("run", ctx.state))
        return conv.fn(ctx, inputs, attrs)

    patched = dataclasses.replace(conv, fn=run, prepare=prepare)
    monkeypatch.setattr(REGISTRY, "lookup", lambda op, *a: patched if op == "Conv" else real_lookup(op, *a))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 2, 4, 4])], {"w": rand(2, 3, 1, 1)})
    sess = session(model)
    assert ops(sess.graph) == ["FusedConv"] and seen == [("prepare", [1, 1], True)]
    sess.run(None, {"x": rand(1, 3, 4, 4)})
    assert seen[-1] == ("run", "packed")


def test_fusion_inside_a_loop_body():
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w"], ["m"]), helper.make_node("Relu", ["m"], ["h2"]),
         helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h", F, [2, 3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h2", F, [2, 3])])
    nodes = [helper.make_node("Loop", ["trips", "", "x"], ["y"], body=body)]
    model = make_model(nodes, [("x", [2, 3])], [("y", [2, 3])], {"w": rand(3, 3), "trips": np.int64(3)})
    sess = check(model, {"x": rand(2, 3)})
    assert ops(sess.graph.nodes[0].attrs["body"]) == ["FusedMatMul", "Identity"]


# ---- optimize(): levels -----------------------------------------------------------------------

def small_cnn():
    inits = {"w": rand(4, 3, 3, 3), "two": np.float32(2), **bn_params(4)}
    nodes = [helper.make_node("Mul", ["two", "two"], ["four"]),
             helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("c", "b"),
             helper.make_node("Relu", ["b"], ["r"]), helper.make_node("Mul", ["r", "four"], ["y"])]
    return make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 4, 4, 4])], inits)


@pytest.mark.parametrize("level,expected", [
    (0, ["Mul", "Conv", "BatchNormalization", "Relu", "Mul"]),
    (1, ["Conv", "BatchNormalization", "Relu", "Mul"]),
    (2, ["FusedConv", "Mul"]),
    (99, ["FusedConv", "Mul"]),
])
def test_optimization_levels(level, expected):
    model = small_cnn()
    assert ops(optimize(graph_of(model), level)) == expected
    x = rand(1, 3, 6, 6)
    np.testing.assert_allclose(session(model, level).run(None, {"x": x})[0], run_ort(model, {"x": x})[0],
                               rtol=1e-5, atol=1e-5)


# ---- memory plan --------------------------------------------------------------------------------

def assert_plan_valid(plan):
    by_buffer: dict[int, list] = {}
    for v in plan.values.values():
        assert v.first <= v.last
        if v.buffer is not None:
            assert plan.buffer_sizes[v.buffer] >= v.nbytes
            by_buffer.setdefault(v.buffer, []).append(v)
    for values in by_buffer.values():
        values.sort(key=lambda v: v.first)
        for earlier, later in zip(values, values[1:]):
            assert later.first > earlier.last, f"{earlier.name} and {later.name} overlap in one buffer"
    assert plan.planned_bytes == sum(plan.buffer_sizes) <= plan.naive_bytes
    assert plan.peak_live_bytes <= plan.planned_bytes
    assert plan.num_buffers == len(plan.buffer_sizes)


def test_memory_plan_of_a_chain_reuses_buffers():
    # x -> a -> b -> c -> d -> y: two buffers suffice (a value cannot share with its reader's output)
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Abs", ["b"], ["c"]), helper.make_node("Exp", ["c"], ["d"]),
             helper.make_node("Add", ["d", "a"], ["y"])]  # a lives to the end
    infos = [helper.make_tensor_value_info(n, F, [8, 8]) for n in "abcd"]
    g = graph_of(make_model(nodes, [("x", [8, 8])], [("y", [8, 8])], value_info=infos))
    plan = memory_plan.plan_memory(g)
    assert_plan_valid(plan)
    assert plan.naive_bytes == 4 * 256 and plan.num_buffers == 3 and plan.planned_bytes == 3 * 256
    assert plan.values["a"].first == 0 and plan.values["a"].last == 4
    assert plan.buffer_of("b") != plan.buffer_of("a") and plan.buffer_of("d") == plan.buffer_of("b")
    assert plan.peak_live_bytes == 3 * 256
    assert "naive" in plan.summary()
    assert plan.to_dict()["values"]["c"]["nbytes"] == 256


def test_memory_plan_leaves_unknown_sizes_unplanned():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["y"])]
    g = graph_of(make_model(nodes, [helper.make_tensor_value_info("x", F, ["N", 4])], [("y", None)]))
    plan = memory_plan.plan_memory(g)
    assert plan.unknown_size_values == 1 and plan.values["a"].buffer is None
    assert_plan_valid(plan)


def test_memory_plan_of_light_resnet50():
    # the model declares no intermediate shape: they all come from shape inference
    plan = session(os.path.join(LIGHT, "light_resnet50.onnx")).memory_plan
    assert_plan_valid(plan)
    assert plan.unknown_size_values == 0
    assert plan.planned_bytes < plan.naive_bytes / 4
