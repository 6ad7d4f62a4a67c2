"""WebGPU kernels on the shapes the ONNX node tests do not reach: long reductions and
rows (one workgroup per output), the tiled matrix product and implicit-GEMM convolution
(64x64 tiles in workgroup memory), batch broadcasting, high ranks, float16.  Every case
is one small model; all run in one page and are compared with the numpy backend.

The host test at the end checks, without a GPU, that a kernel's pipeline (its
shaders.Program) does not depend on the shapes it runs: sizes travel as uniforms."""
from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from pytest_pyodide import run_in_pyodide

import pywebinfer

F32, F16, I64 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT64
RNG = np.random.default_rng(7)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def one_node(op, inputs: dict, out_count=1, opset=18, consts=None, **attrs):
    """(model bytes, feeds): one node of ``op`` over named inputs (arrays) and constants."""
    consts = consts or {}
    names = list(inputs) + list(consts)
    outs = [f"y{i}" for i in range(out_count)]
    node = helper.make_node(op, names, outs, **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs.items()],
        [helper.make_tensor_value_info(o, 0, None) for o in outs],
        [numpy_helper.from_array(v, n) for n, v in consts.items()])
    buf = io.BytesIO()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), buf)
    return buf.getvalue(), inputs


CASES = {
    "matmul_tiled_batch_broadcast": one_node("MatMul", {"a": rand(2, 3, 40, 70), "b": rand(3, 70, 50)}),
    "matmul_shared_weights_folded": one_node("MatMul", {"a": rand(4, 11, 96)}, consts={"b": rand(96, 80)}),
    "matmul_vector_matrix": one_node("MatMul", {"a": rand(70), "b": rand(3, 70, 5)}),
    "matmul_matrix_vector": one_node("MatMul", {"a": rand(2, 20, 70), "b": rand(70)}),
    "gemm_transposed_tiled": one_node("Gemm", {"a": rand(96, 80), "b": rand(70, 96), "c": rand(80, 1)},
                                      transA=1, transB=1, alpha=0.5, beta=2.0),
    "conv_implicit_gemm": one_node("Conv", {"x": rand(2, 16, 20, 20), "w": rand(32, 16, 3, 3), "b": rand(32)},
                                   strides=[2, 1], pads=[1, 2, 0, 1], dilations=[2, 1]),
    "conv_grouped": one_node("Conv", {"x": rand(1, 16, 12, 12), "w": rand(16, 4, 3, 3)}, group=4,
                             auto_pad="SAME_UPPER"),
    "conv_1d": one_node("Conv", {"x": rand(2, 8, 30), "w": rand(24, 8, 5)}, pads=[2, 2], strides=[3]),
    "conv_3d": one_node("Conv", {"x": rand(1, 4, 6, 7, 8), "w": rand(16, 4, 3, 3, 3)}, pads=[1] * 6),
    "conv_pointwise_batch": one_node("Conv", {"x": rand(3, 70, 9, 9), "w": rand(24, 70, 1, 1)}),
    "conv_transpose_strided": one_node("ConvTranspose", {"x": rand(1, 8, 7, 7), "w": rand(8, 3, 3, 3),
                                                         "b": rand(6)}, strides=[2, 2], group=2,
                                       output_padding=[1, 0], pads=[1, 0, 1, 1]),
    "reduce_mean_long": one_node("ReduceMean", {"x": rand(4, 1000)}, consts={"axes": np.array([1])}),
    "reduce_logsumexp_long": one_node("ReduceLogSumExp", {"x": rand(300, 5) * 20},
                                      consts={"axes": np.array([0])}),
    "reduce_sum_two_axes": one_node("ReduceSum", {"x": rand(70, 3, 10)}, consts={"axes": np.array([0, 2])},
                                    keepdims=0),
    "reduce_max_all": one_node("ReduceMax", {"x": rand(17, 19, 3)}),
    "argmax_middle_axis": one_node("ArgMax", {"x": rand(5, 300, 4)}, axis=1, keepdims=0),
    "softmax_long_rows": one_node("Softmax", {"x": rand(3, 500) * 10}, axis=-1),
    "log_softmax_strided_rows": one_node("LogSoftmax", {"x": rand(200, 3)}, axis=0),
    "layer_norm_long_rows": one_node("LayerNormalization", {"x": rand(8, 300), "s": rand(300), "b": rand(300)},
                                     epsilon=1e-3),
    "layer_norm_stats": one_node("LayerNormalization", {"x": rand(2, 3, 40), "s": rand(3, 40)}, out_count=3,
                                 axis=1),
    "instance_norm": one_node("InstanceNormalization", {"x": rand(2, 3, 10, 10), "s": rand(3), "b": rand(3)}),
    "group_norm_21": one_node("GroupNormalization", {"x": rand(2, 6, 5, 5), "s": rand(6), "b": rand(6)},
                              opset=21, num_groups=3),
    "resize_linear_align_corners": one_node("Resize", {"x": rand(1, 2, 17, 23)},
                                            consts={"roi": np.array([], np.float32),
                                                    "scales": np.array([], np.float32),
                                                    "sizes": np.array([1, 2, 40, 9])},
                                            mode="linear", coordinate_transformation_mode="align_corners"),
    "resize_cubic_scales": one_node("Resize", {"x": rand(1, 1, 12, 12)},
                                    consts={"roi": np.array([], np.float32),
                                            "scales": np.array([1, 1, 1.5, 0.75], np.float32)},
                                    mode="cubic"),
    "topk_largest": one_node("TopK", {"x": rand(3, 200)}, out_count=2, consts={"k": np.array([7])}),
    "topk_smallest_axis0": one_node("TopK", {"x": rand(50, 4)}, out_count=2, consts={"k": np.array([5])},
                                    axis=0, largest=0),
    "pad_reflect": one_node("Pad", {"x": rand(2, 3, 5, 6)}, consts={"pads": np.array([0, 1, 2, 3, 0, 1, 4, 2])},
                            mode="reflect"),
    "transpose_rank6": one_node("Transpose", {"x": rand(2, 3, 4, 2, 3, 2)}, perm=[5, 0, 4, 2, 1, 3]),
    "concat_rank5": one_node("Concat", {"a": rand(2, 1, 3, 2, 2), "b": rand(2, 4, 3, 2, 2)}, axis=1),
    "slice_negative_steps": one_node("Slice", {"x": rand(10, 12)},
                                     consts={"starts": np.array([-2, 10]), "ends": np.array([-11, 1]),
                                             "axes": np.array([0, 1]), "steps": np.array([-3, -4])}),
    "maxpool_indices_ceil": one_node("MaxPool", {"x": rand(2, 3, 11, 11)}, out_count=2, kernel_shape=[3, 3],
                                     strides=[2, 2], ceil_mode=1),
    "avgpool_count_pad": one_node("AveragePool", {"x": rand(1, 2, 9, 9)}, kernel_shape=[4, 4], pads=[1, 2, 2, 1],
                                  count_include_pad=1),
    "where_three_way": one_node("Where", {"c": RNG.random((4, 1, 6)) > 0.5, "x": rand(1, 5, 6), "z": rand(4, 5, 1)}),
    "gather_negative_indices": one_node("Gather", {"x": rand(3, 7, 4)}, consts={"i": np.array([[-1, 0], [3, -7]])},
                                        axis=1),
    "expand_and_tile": one_node("Tile", {"x": rand(2, 1, 3)}, consts={"r": np.array([2, 3, 1])}),
    "float16_conv": one_node("Conv", {"x": rand(1, 4, 8, 8, dtype=np.float16), "w": rand(8, 4, 3, 3, dtype=np.float16)}),
    "float16_add_broadcast": one_node("Add", {"a": rand(3, 1, 5, dtype=np.float16), "b": rand(4, 1, dtype=np.float16)}),
    "int64_arithmetic": one_node("Mul", {"a": np.arange(-6, 6).reshape(3, 4), "b": np.array([3, -2, 1, 0])}),
}


@pytest.mark.driver_timeout(600)
def test_kernels_match_numpy(selenium):
    if selenium.browser == "node":
        pytest.skip("Node has no WebGPU")

    @run_in_pyodide(packages=["pywebinfer"])
    async def run_all(selenium, cases):
        import pywebinfer

        outputs, errors = {}, {}
        for name, (model, feeds) in cases.items():
            try:
                sess = await pywebinfer.InferenceSession.create_async(model, providers=["webgpu"])
                placed = {b for _, _, b in sess.placement}
                outs = await sess.run_async(None, feeds)
                sess.close()
                outputs[name] = (placed, outs)
            except Exception as e:  # noqa: BLE001  (reported per case on the host)
                errors[name] = f"{type(e).__name__}: {e}"
        return outputs, errors

    outputs, errors = run_all(selenium, CASES)
    assert not errors, errors
    for name, (model, feeds) in CASES.items():
        placed, got = outputs[name]
        assert placed == {"webgpu"}, name
        expected = pywebinfer.InferenceSession(model, providers=["numpy"]).run(None, feeds)
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype and g.shape == e.shape, (name, g.dtype, g.shape, e.dtype, e.shape)
            tol = 2e-2 if e.dtype == np.float16 else 1e-3
            np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), rtol=tol, atol=tol * 0.1,
                                       err_msg=name)


# ---- without a GPU: pipelines do not depend on shapes ---------------------------------------

class _Recorder:
    """Stands in for WebGPUBackend: records the programs kernels dispatch."""

    def __init__(self):
        from pywebinfer.backends.webgpu.tensor import GPUTensor

        self._tensor = GPUTensor
        self.programs = []

    def empty(self, shape, dtype, out=None):
        return self._tensor(self, shape, dtype, None)

    def view(self, x, shape):
        return self._tensor(self, shape, x.dtype, None)

    def dummy(self):
        return self._tensor(self, (1,), np.float32, None)

    def scratch(self, array):
        return self._tensor(self, array.shape, array.dtype, None)

    def dispatch(self, program, tensors, params, threads=None, grid=None):
        program.pack(params)  # every parameter has a value of the right count
        self.programs.append(program)

    def copy(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("op,shapes_a,shapes_b,attrs", [
    ("Add", [(3, 4), (3, 4)], [(7, 1, 9), (5, 1)], {}),
    ("MatMul", [(40, 70), (70, 50)], [(2, 90, 64), (64, 33)], {}),
    ("Conv", [(1, 8, 20, 20), (16, 8, 3, 3)], [(2, 8, 33, 17), (16, 8, 3, 3)], {"pads": [1, 1, 1, 1]}),
    ("Softmax", [(3, 500)], [(7, 900)], {"axis": -1}),
    ("Transpose", [(2, 3, 4)], [(5, 6, 7)], {"perm": [2, 0, 1]}),
])
def test_pipelines_are_independent_of_shapes(op, shapes_a, shapes_b, attrs):
    from pywebinfer.backends import load_backend_kernels
    from pywebinfer.backends.webgpu.tensor import GPUTensor
    from pywebinfer.ops.registry import KernelContext, load_all_kernels

    load_backend_kernels("webgpu")
    entry = load_all_kernels().lookup(op, "", 18, "webgpu")
    programs = []
    for shapes in (shapes_a, shapes_b):
        recorder = _Recorder()
        inputs = [GPUTensor(recorder, s, np.float32, None) for s in shapes]
        entry.fn(KernelContext(opset=18, num_outputs=1, output_names=("y",)), inputs, attrs)
        programs.append(recorder.programs)
    assert programs[0] == programs[1]
