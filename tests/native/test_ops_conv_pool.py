"""Convolution and pooling kernels on the combinations the ONNX node tests leave out
(groups, dilations, strides, asymmetric pads, auto_pad, ceil_mode, 1-D / 3-D, float16 and
float64, every fast path of Conv), checked against onnxruntime, or against a plain numpy
loop where onnxruntime lacks the case or departs from the ONNX text (noted per test)."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import pywebinfer.ops.conv as conv_module
from nodeutil import run_kernel, run_onnxruntime

F32 = np.float32


@pytest.fixture(autouse=True)
def numpy_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def check(op, inputs, attrs=None, *, opset=21, num_outputs=1, rtol=1e-4, atol=1e-5):
    got = run_kernel(op, inputs, attrs, opset=opset, num_outputs=num_outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = run_onnxruntime(op, inputs, attrs, opset=opset, num_outputs=num_outputs)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray)
        assert g.dtype == w.dtype, f"dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(g, w)
    return got


def ints(rng, low, high, n):
    return [int(v) for v in rng.integers(low, high, n)]


def naive_conv(x, w, strides, pads, dilations, group):
    """Direct convolution, one output element at a time (float64)."""
    rank = x.ndim - 2
    begin, end = pads[:rank], pads[rank:]
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + list(zip(begin, end)))
    m, cg = w.shape[:2]
    kernel = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1 for i in range(rank)]
    y = np.zeros((x.shape[0], m, *out_sp))
    mg = m // group
    for o in itertools.product(*(range(s) for s in out_sp)):
        window = tuple(slice(o[i] * strides[i], o[i] * strides[i] + (kernel[i] - 1) * dilations[i] + 1,
                             dilations[i]) for i in range(rank))
        for g in range(group):
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg), *window)]
            y[(slice(None), slice(g * mg, (g + 1) * mg), *o)] = np.tensordot(
                patch, w[g * mg:(g + 1) * mg], axes=(list(range(1, rank + 2)), list(range(1, rank + 2))))
    return y


# ---- Conv ------------------------------------------------------------------------------

def random_conv(seed, rank):
    rng = np.random.default_rng(seed)
    group = int(rng.choice([1, 2, 3]))
    c, m = group * int(rng.integers(1, 4)), group * int(rng.integers(1, 4))
    kernel = ints(rng, 1, 4, rank)
    strides, dilations = ints(rng, 1, 3, rank), ints(rng, 1, 3, rank)
    sp = ints(rng, 5, 9, rank) if rank < 3 else [5, 6, 5]
    x = rng.standard_normal((2, c, *sp)).astype(F32)
    w = rng.standard_normal((m, c // group, *kernel)).astype(F32)
    b = rng.standard_normal(m).astype(F32)
    attrs = dict(group=group, strides=strides, kernel_shape=kernel)
    mode = rng.choice(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])
    if mode == "NOTSET":
        attrs.update(pads=ints(rng, 0, 3, 2 * rank), dilations=dilations)
    else:
        # onnxruntime rejects dilations together with SAME_*
        attrs.update(auto_pad=str(mode), dilations=dilations if mode == "VALID" else [1] * rank)
    return x, w, b, attrs


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("seed", range(12))
def test_conv_random(rank, seed):
    x, w, b, attrs = random_conv(seed * 7 + rank, rank)
    check("Conv", [x, w, b], attrs)


@pytest.mark.parametrize("blas", [True, False])
@pytest.mark.parametrize("case", [
    dict(c=4, mult=1, attrs=dict(pads=[1, 1, 1, 1], strides=[2, 1])),
    dict(c=3, mult=2, attrs=dict(dilations=[2, 2], pads=[2, 0, 1, 2])),
    dict(c=6, mult=1, attrs=dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    dict(c=5, mult=3, attrs=dict(auto_pad="VALID", strides=[1, 2])),
])
def test_conv_depthwise_and_layouts(monkeypatch, blas, case):
    # the depthwise path (with and without a channel multiplier), and the BLAS-less
    # matmul layout used in Pyodide, which must give the same numbers
    monkeypatch.setattr(conv_module, "_HAS_BLAS", blas)
    rng = np.random.default_rng(case["c"] * 10 + case["mult"])
    c = case["c"]
    x = rng.standard_normal((2, c, 9, 10)).astype(F32)
    w = rng.standard_normal((c * case["mult"], 1, 3, 3)).astype(F32)
    b = rng.standard_normal(c * case["mult"]).astype(F32)
    check("Conv", [x, w, b], dict(group=c, **case["attrs"]))
    # the same input through the general path (one group) and the 1x1 path
    w_full = rng.standard_normal((4, c, 3, 3)).astype(F32)
    check("Conv", [x, w_full], case["attrs"])
    w_point = rng.standard_normal((4, c, 1, 1)).astype(F32)
    check("Conv", [x, w_point], dict(strides=[2, 1]))


@pytest.mark.parametrize("group", [1, 2, 3])
def test_conv_pointwise(group):
    rng = np.random.default_rng(group)
    x = rng.standard_normal((2, 6, 7, 7)).astype(F32)
    w = rng.standard_normal((6, 6 // group, 1, 1)).astype(F32)
    for attrs in ({}, dict(strides=[2, 3]), dict(pads=[1, 0, 0, 1])):
        check("Conv", [x, w], dict(group=group, **attrs))


def test_conv_batch_split_into_slices(monkeypatch):
    # large im2col columns are processed a slice of the batch at a time
    monkeypatch.setattr(conv_module, "_IM2COL_BYTES", 1)
    x, w, b, attrs = random_conv(3, 2)
    check("Conv", [np.concatenate([x, x[::-1]]), w, b], attrs)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_conv_dtypes(dtype):
    # onnxruntime's CPU Conv is float32 only
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4, 6, 6)).astype(dtype)
    tol = 1e-2 if dtype == np.float16 else 1e-10
    for w, group, pads in ((rng.standard_normal((4, 4, 3, 3)), 1, [1, 1, 1, 1]),
                           (rng.standard_normal((4, 1, 3, 3)), 4, [0, 0, 0, 0]),
                           (rng.standard_normal((4, 4, 1, 1)), 1, [0, 0, 0, 0])):
        w = w.astype(dtype)
        got, = run_kernel("Conv", [x, w], dict(group=group, pads=pads))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, naive_conv(x, w, (1, 1), pads, (1, 1), group), rtol=tol, atol=tol)


def test_conv_4d_spatial_matches_naive():
    # onnxruntime has no 4-D convolution: compare with the direct loop
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 4, 4, 5, 3, 4)).astype(F32)
    w = rng.standard_normal((6, 2, 2, 3, 1, 2)).astype(F32)
    strides, pads, dilations = [1, 2, 1, 1], [1, 0, 0, 1, 0, 1, 1, 0], [1, 1, 2, 2]
    got, = run_kernel("Conv", [x, w], dict(group=2, strides=strides, pads=pads, dilations=dilations))
    np.testing.assert_allclose(got, naive_conv(x, w, strides, pads, dilations, 2), rtol=1e-4, atol=1e-4)


def test_conv_nchw_helper():
    x, w, b, _ = random_conv(11, 2)
    group = x.shape[1] // w.shape[1]
    got = conv_module.conv_nchw(x, w, b, (2, 1), (1, 0, 0, 2), (1, 2), group)
    want = naive_conv(x, w, (2, 1), (1, 0, 0, 2), (1, 2), group) + b.reshape(-1, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs, message", [
    (dict(group=3), "group"),
    (dict(kernel_shape=[2, 2]), "kernel_shape"),
    (dict(pads=[1, 1]), "pads"),
    (dict(auto_pad="SAME"), "auto_pad"),
    (dict(strides=[0, 1]), "strides"),
])
def test_conv_bad_attributes(attrs, message):
    x = np.zeros((1, 4, 5, 5), F32)
    w = np.zeros((4, 4, 3, 3), F32)
    with pytest.raises(ValueError, match=message):
        run_kernel("Conv", [x, w], attrs)


# ---- ConvTranspose ---------------------------------------------------------------------

@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose_random(rank, seed):
    rng = np.random.default_rng(100 + seed * 7 + rank)
    group = int(rng.choice([1, 2]))
    c, m = group * int(rng.integers(1, 3)), group * int(rng.integers(1, 3))
    kernel, strides, dilations = ints(rng, 1, 4, rank), ints(rng, 1, 4, rank), ints(rng, 1, 3, rank)
    sp = ints(rng, 2, 5, rank)
    x = rng.standard_normal((2, c, *sp)).astype(F32)
    w = rng.standard_normal((c, m // group, *kernel)).astype(F32)
    b = rng.standard_normal(m).astype(F32)
    attrs = dict(group=group, strides=strides, dilations=dilations)
    choice = seed % 4
    if seed % 3 == 0 and choice != 2:
        # onnxruntime wants output_padding below the stride
        attrs["output_padding"] = [int(rng.integers(0, s)) for s in strides]
    if choice == 0:
        attrs["pads"] = ints(rng, 0, 2, 2 * rank)
    elif choice == 1:
        attrs["auto_pad"] = str(rng.choice(["SAME_UPPER", "SAME_LOWER"]))
    elif choice == 2:
        # an output_shape within one element of the full result (onnxruntime refuses more)
        full = [s * (i - 1) + (k - 1) * d + 1 for s, i, k, d in zip(strides, sp, kernel, dilations)]
        attrs["output_shape"] = [f - int(rng.integers(0, 2)) for f in full]
    check("ConvTranspose", [x, w, b], attrs)


@pytest.mark.parametrize("opset", [1, 10, 11, 22])
@pytest.mark.parametrize("attrs", [
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 3], output_padding=[1, 1]),
    dict(output_shape=[8, 10], strides=[2, 2]),
    dict(output_shape=[9, 11], strides=[2, 2]),
    dict(auto_pad="VALID", strides=[2, 2], dilations=[2, 1]),
])
def test_conv_transpose_odd_padding_split(opset, attrs):
    # an odd total padding splits the same way at every opset (see _transpose_pads)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 4, 5)).astype(F32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(F32)
    got, = run_kernel("ConvTranspose", [x, w], attrs, opset=opset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, = run_onnxruntime("ConvTranspose", [x, w], attrs, opset=max(opset, 11))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_conv_transpose_without_blas(monkeypatch):
    monkeypatch.setattr(conv_module, "_HAS_BLAS", False)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 3, 5)).astype(F32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(F32)
    check("ConvTranspose", [x, w], dict(group=2, strides=[2, 3], pads=[1, 0, 0, 1]))


def test_conv_transpose_output_shape_with_batch_and_channels():
    # output_shape may also be given with the batch and channel dimensions
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 5)).astype(F32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(F32)
    short, = run_kernel("ConvTranspose", [x, w], dict(output_shape=[9, 11], strides=[2, 2]))
    full, = run_kernel("ConvTranspose", [x, w], dict(output_shape=[1, 3, 9, 11], strides=[2, 2]))
    np.testing.assert_array_equal(short, full)


def test_conv_transpose_float16():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float16)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float16)
    check("ConvTranspose", [x, w], dict(strides=[2, 2], pads=[1, 0, 0, 1]), opset=11, rtol=1e-2, atol=1e-2)


# ---- ConvInteger / QLinearConv ---------------------------------------------------------

def rand_int(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


@pytest.mark.parametrize("x_type, w_type", [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)])
def test_conv_integer(x_type, w_type):
    rng = np.random.default_rng(3)
    x, w = rand_int(rng, x_type, (1, 4, 6, 7)), rand_int(rng, w_type, (6, 2, 3, 3))
    x_zp, w_zp = rand_int(rng, x_type, ()), rand_int(rng, w_type, ())
    check("ConvInteger", [x, w, x_zp, w_zp], dict(group=2, pads=[1, 0, 1, 2], strides=[1, 2]), opset=10)
    check("ConvInteger", [x, w, x_zp, w_zp], dict(group=2, auto_pad="SAME_UPPER"), opset=10)
    check("ConvInteger", [x, w], dict(group=2, dilations=[2, 1]), opset=10)


def test_conv_integer_per_channel_weight_zero_point():
    # onnxruntime only takes a per-tensor w_zero_point: compare with the direct loop
    rng = np.random.default_rng(4)
    x, w = rand_int(rng, np.uint8, (2, 4, 5, 6)), rand_int(rng, np.int8, (6, 2, 2, 3))
    x_zp, w_zp = rand_int(rng, np.uint8, ()), rand_int(rng, np.int8, (6,))
    got, = run_kernel("ConvInteger", [x, w, x_zp, w_zp], dict(group=2, pads=[0, 1, 1, 0]), opset=10)
    want = naive_conv(x.astype(np.int64) - int(x_zp), w.astype(np.int64) - w_zp.reshape(6, 1, 1, 1),
                      (1, 1), (0, 1, 1, 0), (1, 1), 2)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want.astype(np.int32))


@pytest.mark.parametrize("x_type", [np.uint8, np.int8])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv(x_type, per_channel):
    rng = np.random.default_rng(5)
    w_type = np.int8 if x_type == np.int8 else np.uint8
    x, w = rand_int(rng, x_type, (1, 4, 6, 7)), rand_int(rng, w_type, (6, 2, 3, 3))
    w_scale = (rng.random(6) * 0.01 + 0.001).astype(F32) if per_channel else np.array(0.004, F32)
    w_zp = np.zeros(w_scale.shape, w.dtype) if w.dtype == np.int8 else rand_int(rng, w.dtype, w_scale.shape)
    bias = rng.integers(-5000, 5000, 6).astype(np.int32)
    inputs = [x, np.array(0.05, F32), rand_int(rng, x_type, ()), w, w_scale, w_zp,
              np.array(0.3, F32), rand_int(rng, x_type, ()), bias]
    check("QLinearConv", inputs, dict(group=2, pads=[1, 1, 1, 1]), opset=10)
    check("QLinearConv", inputs[:8], dict(group=2, strides=[2, 2]), opset=10)


def test_qlinear_conv_rounds_half_to_even_and_saturates():
    # 1x1 kernel of weight 1: y = round(x * 0.5) + zp, with exact halves and overflow
    x = np.array([1, 3, 5, 7, 250, 254], np.uint8).reshape(1, 1, 1, 6)
    w = np.ones((1, 1, 1, 1), np.uint8)
    one = np.array(1.0, F32)
    got, = run_kernel("QLinearConv", [x, one, np.uint8(0), w, one, np.uint8(0), np.array(2.0, F32),
                                      np.uint8(10), np.array([500], np.int32)], {}, opset=10)
    np.testing.assert_array_equal(got.reshape(-1), [255, 255, 255, 255, 255, 255])
    got, = run_kernel("QLinearConv", [x, one, np.uint8(0), w, one, np.uint8(0), np.array(2.0, F32),
                                      np.uint8(0)], {}, opset=10)
    np.testing.assert_array_equal(got.reshape(-1), [0, 2, 2, 4, 125, 127])


# ---- DeformConv and Col2Im -------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_deform_conv(seed):
    rng = np.random.default_rng(200 + seed)
    group, offset_group = int(rng.choice([1, 2])), int(rng.choice([1, 2]))
    c, m = 4, 2 * group
    kernel, strides, dilations = ints(rng, 1, 4, 2), ints(rng, 1, 3, 2), ints(rng, 1, 3, 2)
    pads = ints(rng, 0, 2, 4)
    x = rng.standard_normal((2, c, 7, 8)).astype(F32)
    w = rng.standard_normal((m, c // group, *kernel)).astype(F32)
    out = [(s + pads[i] + pads[i + 2] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1
           for i, s in enumerate((7, 8))]
    taps = kernel[0] * kernel[1]
    offset = (rng.standard_normal((2, offset_group * taps * 2, *out)) * 2).astype(F32)
    inputs = [x, w, offset]
    if seed % 2:
        inputs += [rng.standard_normal(m).astype(F32), rng.random((2, offset_group * taps, *out)).astype(F32)]
    check("DeformConv", inputs, dict(group=group, offset_group=offset_group, strides=strides,
                                     dilations=dilations, pads=pads, kernel_shape=kernel), opset=19)


def naive_col2im(cols, image, block, strides, dilations, pads):
    rank = len(image)
    padded = [i + pads[a] + pads[a + rank] for a, i in enumerate(image)]
    grid = [(p - (b - 1) * d - 1) // s + 1 for p, b, s, d in zip(padded, block, strides, dilations)]
    taps = int(np.prod(block))
    n, c = cols.shape[0], cols.shape[1] // taps
    out = np.zeros((n, c, *padded))
    blocks = cols.reshape(n, c, taps, *grid)
    for t, tap in enumerate(itertools.product(*(range(b) for b in block))):
        for g in itertools.product(*(range(v) for v in grid)):
            pos = tuple(gi * s + ti * d for gi, ti, s, d in zip(g, tap, strides, dilations))
            out[(slice(None), slice(None), *pos)] += blocks[(slice(None), slice(None), t, *g)]
    return out[(slice(None), slice(None), *(slice(pads[a], pads[a] + image[a]) for a in range(rank)))]


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_col2im(rank, seed):
    # onnxruntime's Col2Im is wrong on some 3-D cases: compare with the direct loop
    rng = np.random.default_rng(300 + seed * 3 + rank)
    image, block = ints(rng, 4, 8, rank), ints(rng, 1, 3, rank)
    strides, dilations, pads = ints(rng, 1, 3, rank), ints(rng, 1, 3, rank), ints(rng, 0, 2, 2 * rank)
    grid = [(i + pads[a] + pads[a + rank] - (b - 1) * d - 1) // s + 1
            for a, (i, b, s, d) in enumerate(zip(image, block, strides, dilations))]
    cols = rng.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(grid)))).astype(F32)
    got, = run_kernel("Col2Im", [cols, np.array(image), np.array(block)],
                      dict(strides=strides, dilations=dilations, pads=pads), opset=18)
    want = naive_col2im(cols, image, block, strides, dilations, pads)
    assert got.dtype == F32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if rank == 2:
        check("Col2Im", [cols, np.array(image), np.array(block)],
              dict(strides=strides, dilations=dilations, pads=pads), opset=18)


def test_col2im_integer_and_shape_errors():
    cols = np.arange(2 * 4 * 9, dtype=np.int32).reshape(2, 4, 9)
    got, = run_kernel("Col2Im", [cols, np.array([4, 4]), np.array([2, 2])], {}, opset=18)
    want = naive_col2im(cols, [4, 4], [2, 2], [1, 1], [1, 1], [0, 0, 0, 0])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="block positions"):
        run_kernel("Col2Im", [cols, np.array([5, 4]), np.array([2, 2])], {}, opset=18)


# ---- MaxPool / AveragePool / LpPool ----------------------------------------------------

def random_pool(seed, rank, op):
    """A random pooling node that avoids where onnxruntime departs from the ONNX text:
    VALID with ceil_mode (it lets windows run past the input), SAME_* with dilations
    (it ignores them in the padding) and SAME_* with a kernel shorter than the stride
    (it pads negatively, shifting the windows)."""
    rng = np.random.default_rng(seed)
    kernel, strides, dilations = ints(rng, 1, 4, rank), ints(rng, 1, 4, rank), ints(rng, 1, 3, rank)
    sp = ints(rng, 4, 9, rank)
    attrs = dict(kernel_shape=kernel, strides=strides)
    mode = str(rng.choice(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    ceil = bool(rng.integers(0, 2))
    if mode == "NOTSET":
        attrs.update(pads=[int(rng.integers(0, k)) for k in kernel + kernel], dilations=dilations)
        sp = [max(s, (k - 1) * d + 1) for s, k, d in zip(sp, kernel, dilations)]
    else:
        attrs["auto_pad"] = mode
        if mode == "VALID":
            attrs["dilations"] = dilations
            sp = [max(s, (k - 1) * d + 1) for s, k, d in zip(sp, kernel, dilations)]
            ceil = False
        else:
            attrs["strides"] = [min(s, k) for s, k in zip(strides, kernel)]
    if ceil:
        attrs["ceil_mode"] = 1
    if op == "AveragePool":
        attrs["count_include_pad"] = int(rng.integers(0, 2))
    if op == "LpPool":
        attrs["p"] = int(rng.choice([1, 2, 3]))
    x = rng.standard_normal((2, 3, *sp)).astype(F32)
    return x, attrs


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool"])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("seed", range(12))
def test_pool_random(op, rank, seed):
    x, attrs = random_pool(1000 + seed * 10 + rank, rank, op)
    outputs = 1
    if op == "MaxPool" and seed % 2:
        outputs = 2
        attrs["storage_order"] = seed % 4 // 2
    check(op, [x], attrs, opset=22, num_outputs=outputs)


@pytest.mark.parametrize("opset", [1, 7, 8, 10, 11, 12, 18, 19])
def test_pool_older_opsets(opset):
    x = np.random.default_rng(opset).standard_normal((1, 2, 7, 8)).astype(F32)
    attrs = dict(kernel_shape=[3, 2], pads=[1, 0, 1, 1], strides=[2, 2])
    ort_opset = max(opset, 7)  # onnxruntime starts AveragePool and LpPool at opset 7 / 2
    check("MaxPool", [x], attrs, opset=opset)
    for op in ("AveragePool", "LpPool"):
        got, = run_kernel(op, [x], attrs, opset=opset)
        want, = run_onnxruntime(op, [x], attrs, opset=ort_opset)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if opset >= 10:
        check("MaxPool", [x], dict(attrs, ceil_mode=1), opset=opset)
        check("AveragePool", [x], dict(attrs, ceil_mode=1, count_include_pad=1), opset=opset)


def test_lp_pool_float_p_of_opset_1():
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 5)).astype(F32)
    got, = run_kernel("LpPool", [x], dict(kernel_shape=[2, 2], p=3.0), opset=1)
    want, = run_onnxruntime("LpPool", [x], dict(kernel_shape=[2, 2], p=3), opset=11)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_max_pool_integers_with_indices(dtype):
    # int8 / uint8 windows whose maximum equals the type's minimum next to padding
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.min + 3, (1, 2, 7, 7)).astype(dtype)
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    check("MaxPool", [x], attrs, opset=12)
    check("MaxPool", [x], dict(attrs, ceil_mode=1), opset=12, num_outputs=2)


def test_max_pool_indices_ties_and_batches():
    # ties pick the first element in window order; indices count batch and channel
    x = np.zeros((2, 3, 4, 4), F32)
    x[1, 2] = 1.0
    for order in (0, 1):
        check("MaxPool", [x], dict(kernel_shape=[2, 2], strides=[2, 2], storage_order=order),
              opset=12, num_outputs=2)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_pool_float16_and_float64(dtype):
    # onnxruntime lacks some of these types: compare with the float32 kernels
    x = np.random.default_rng(8).standard_normal((1, 2, 7, 7)).astype(dtype)
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 1])
    for op, extra in (("MaxPool", {}), ("AveragePool", dict(count_include_pad=1)), ("LpPool", dict(p=3))):
        got, = run_kernel(op, [x], dict(attrs, **extra), opset=19)
        want, = run_kernel(op, [x.astype(F32)], dict(attrs, **extra), opset=19)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-2 if dtype == np.float16 else 1e-6, atol=1e-3)


def test_average_pool_count_include_pad_with_ceil_mode():
    # windows that run past the end padding count only up to it
    x = np.arange(2 * 25, dtype=F32).reshape(1, 2, 5, 5)
    for include in (0, 1):
        check("AveragePool", [x], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0],
                                       ceil_mode=1, count_include_pad=include), opset=19)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool"])
def test_pool_bad_attributes(op):
    x = np.zeros((1, 1, 4, 4), F32)
    with pytest.raises(ValueError, match="kernel_shape"):
        run_kernel(op, [x], {})
    with pytest.raises(ValueError, match="does not fit"):
        run_kernel(op, [x], dict(kernel_shape=[5, 5]))


# ---- global pools ----------------------------------------------------------------------

@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
def test_global_pools(op, shape):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(F32)
    check(op, [x], opset=21)
    if op == "GlobalLpPool":
        check(op, [x], dict(p=3), opset=21)
        check(op, [x], dict(p=1), opset=21)
    check(op, [x.astype(np.float16)], opset=21, rtol=1e-2, atol=1e-2)


def test_global_lp_pool_float_p_of_opset_1():
    x = np.random.default_rng(2).standard_normal((1, 2, 3, 3)).astype(F32)
    got, = run_kernel("GlobalLpPool", [x], dict(p=3.0), opset=1)
    np.testing.assert_allclose(got, (np.abs(x) ** 3).sum(axis=(2, 3), keepdims=True) ** (1 / 3), rtol=1e-5)


# ---- MaxUnpool -------------------------------------------------------------------------

@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 0, 0, 1]])
def test_max_unpool_inverts_max_pool(pads):
    rng = np.random.default_rng(9)
    x = (np.abs(rng.standard_normal((2, 3, 7, 8))) + 1).astype(F32)
    attrs = dict(kernel_shape=[2, 3], strides=[2, 2], pads=pads)
    y, indices = run_kernel("MaxPool", [x], attrs, opset=12, num_outputs=2)
    # indices address the MaxPool input, so the original shape goes in as output_shape
    check("MaxUnpool", [y, indices, np.array(x.shape, np.int64)], attrs, opset=11)
    got, = run_kernel("MaxUnpool", [y, indices, np.array(x.shape, np.int64)], attrs, opset=11)
    again, = run_kernel("MaxPool", [got], attrs, opset=12)
    np.testing.assert_array_equal(again, y)


def test_max_unpool_default_shape_and_bad_indices():
    x = np.array([[[[1, 2], [3, 4]]]], F32)
    indices = np.array([[[[0, 3], [9, 14]]]], np.int64)
    check("MaxUnpool", [x, indices], dict(kernel_shape=[2, 2], strides=[2, 2]), opset=11)
    with pytest.raises(ValueError, match="indices"):
        run_kernel("MaxUnpool", [x, indices + 10], dict(kernel_shape=[2, 2], strides=[2, 2]), opset=11)


# ---- RoiAlign / MaxRoiPool -------------------------------------------------------------

def random_rois(rng, count, height, width):
    x1, y1 = rng.uniform(-3, width + 2, count), rng.uniform(-3, height, count)
    return np.stack([x1, y1, x1 + rng.uniform(0, 8, count), y1 + rng.uniform(0, 8, count)], 1).astype(F32)


@pytest.mark.parametrize("opset", [10, 16])
@pytest.mark.parametrize("seed", range(8))
def test_roi_align(opset, seed):
    rng = np.random.default_rng(400 + seed)
    x = rng.standard_normal((2, 3, 10, 12)).astype(F32)
    rois = random_rois(rng, 5, 10, 12)
    batch = rng.integers(0, 2, 5).astype(np.int64)
    attrs = dict(output_height=int(rng.integers(1, 5)), output_width=int(rng.integers(1, 5)),
                 sampling_ratio=int(rng.integers(0, 3)), spatial_scale=float(rng.choice([1.0, 0.5, 0.25])),
                 mode=str(rng.choice(["avg", "max"])))
    if opset >= 16:
        attrs["coordinate_transformation_mode"] = str(rng.choice(["half_pixel", "output_half_pixel"]))
    check("RoiAlign", [x, rois, batch], attrs, opset=opset)


def test_roi_align_float64_and_bad_batch():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 6, 6))
    rois = np.array([[0, 0, 4, 4], [1, 1, 5, 3]], np.float64)
    check("RoiAlign", [x, rois, np.array([0, 1], np.int64)], dict(output_height=2, output_width=2), opset=16)
    with pytest.raises(ValueError, match="batch index"):
        run_kernel("RoiAlign", [x, rois, np.array([0, 2], np.int64)], {}, opset=16)


@pytest.mark.parametrize("seed", range(6))
def test_max_roi_pool(seed):
    rng = np.random.default_rng(500 + seed)
    x = rng.standard_normal((2, 3, 10, 12)).astype(F32)
    rois = np.concatenate([rng.integers(0, 2, (4, 1)).astype(F32), random_rois(rng, 4, 10, 12)], 1)
    attrs = dict(pooled_shape=[int(rng.integers(1, 4)), int(rng.integers(1, 4))],
                 spatial_scale=float(rng.choice([1.0, 0.5, 0.3])))
    check("MaxRoiPool", [x, rois], attrs, opset=21)
