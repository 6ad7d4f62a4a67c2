"""Normalization and image/spatial kernels against onnxruntime, on cases the ONNX node
tests do not cover (odd sizes, antialiasing, out-of-range grids, float16, legacy opsets)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from nodeutil import run_kernel, run_onnxruntime

RNG = np.random.default_rng(1234)


def _rand(shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _tol(dtype):
    return {np.float16: 1e-2, np.float64: 1e-6}.get(np.dtype(dtype).type, 1e-4)


def check(op, inputs, attrs=None, *, opset, num_outputs=1, tol=None, int_slack=0):
    """Run ``op`` through our kernel and onnxruntime and compare every output."""
    expected = run_onnxruntime(op, inputs, attrs, opset=opset, num_outputs=num_outputs)
    got = run_kernel(op, inputs, attrs, opset=opset, num_outputs=num_outputs)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        assert g.shape == e.shape, (g.shape, e.shape)
        if e.dtype.kind == "f":
            t = tol if tol is not None else _tol(e.dtype)
            np.testing.assert_allclose(g.astype(np.float64), e, rtol=t, atol=t)
        elif int_slack:
            assert np.max(np.abs(g.astype(np.int64) - e)) <= int_slack
        else:
            np.testing.assert_array_equal(g, e)


# ---------------------------------------------------------------------------- Resize

IMAGE = _rand((2, 3, 7, 9))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("size", [(5, 4), (13, 17), (1, 3), (3, 20)])
def test_resize_align_corners_odd_sizes(mode, size):
    sizes = np.array([2, 3, *size], np.int64)
    check("Resize", [IMAGE, None, None, sizes],
          {"mode": mode, "coordinate_transformation_mode": "align_corners"}, opset=19)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("size", [(3, 4), (2, 2), (5, 3), (1, 1)])
def test_resize_antialias_downscale_sizes(mode, size):
    check("Resize", [IMAGE, None, None, np.array([2, 3, *size], np.int64)],
          {"mode": mode, "antialias": 1}, opset=19)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("scales", [(0.5, 0.5), (0.3, 0.6), (0.45, 1.5)])
def test_resize_antialias_downscale_scales(mode, scales):
    check("Resize", [IMAGE, None, np.array([1, 1, *scales], np.float32)],
          {"mode": mode, "antialias": 1}, opset=19)


@pytest.mark.parametrize(
    "ctm", ["half_pixel", "pytorch_half_pixel", "asymmetric", "half_pixel_symmetric"]
)
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_coordinate_modes_with_scales(ctm, mode):
    for scales in [(0.5, 0.75), (1.7, 0.3), (2.5, 1.5)]:
        check("Resize", [IMAGE, None, np.array([1, 1, *scales], np.float32)],
              {"mode": mode, "coordinate_transformation_mode": ctm}, opset=19)


@pytest.mark.parametrize(
    "nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
)
@pytest.mark.parametrize("ctm", ["half_pixel", "asymmetric", "align_corners"])
def test_resize_nearest_modes(nearest_mode, ctm):
    for size in [(5, 4), (13, 17), (14, 18)]:
        check("Resize", [IMAGE, None, None, np.array([2, 3, *size], np.int64)],
              {"mode": "nearest", "nearest_mode": nearest_mode,
               "coordinate_transformation_mode": ctm}, opset=19)


@pytest.mark.parametrize("a,exclude", [(-0.5, 1), (-0.75, 1), (-0.5, 0)])
def test_resize_cubic_coefficients(a, exclude):
    for size in [(5, 4), (13, 17)]:
        check("Resize", [IMAGE, None, None, np.array([2, 3, *size], np.int64)],
              {"mode": "cubic", "cubic_coeff_a": a, "exclude_outside": exclude}, opset=19)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_tf_crop_and_resize(mode):
    roi = np.array([0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3], np.float32)
    check("Resize", [IMAGE, roi, None, np.array([2, 3, 6, 8], np.int64)],
          {"mode": mode, "coordinate_transformation_mode": "tf_crop_and_resize",
           "extrapolation_value": -3.0}, opset=19)
    check("Resize", [IMAGE, np.array([0.1, 0.2, 0.8, 0.7], np.float32), None,
                     np.array([1, 10], np.int64)],
          {"mode": mode, "axes": [2, 3], "coordinate_transformation_mode": "tf_crop_and_resize"},
          opset=19)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_resize_keep_aspect_ratio_linear(policy):
    x = _rand((1, 2, 3, 5))
    check("Resize", [x, None, None, np.array([4, 4], np.int64)],
          {"mode": "linear", "axes": [2, 3], "keep_aspect_ratio_policy": policy}, opset=19)


@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_older_opsets(opset, mode):
    empty = np.array([], np.float32)
    check("Resize", [IMAGE, empty, np.array([1, 1, 1.5, 0.7], np.float32)], {"mode": mode},
          opset=opset)
    # opset 11 needs the roi and scales inputs (empty); later opsets leave them out
    unused = empty if opset == 11 else None
    check("Resize", [IMAGE, unused, unused, np.array([2, 3, 4, 11], np.int64)], {"mode": mode},
          opset=opset)


def test_resize_tf_half_pixel_for_nn():
    check("Resize", [IMAGE, np.array([], np.float32), np.array([1, 1, 1.5, 0.7], np.float32)],
          {"mode": "nearest", "coordinate_transformation_mode": "tf_half_pixel_for_nn"}, opset=11)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [(2, 3), (1.5, 0.7), (0.5, 0.6), (2.5, 3.3)])
def test_resize_10(mode, scales):
    check("Resize", [IMAGE, np.array([1, 1, *scales], np.float32)], {"mode": mode}, opset=10)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [(2, 3), (2.5, 1.3)])
def test_upsample_7_and_9(mode, scales):
    full = [1.0, 1.0, *scales]
    check("Upsample", [IMAGE, np.array(full, np.float32)], {"mode": mode}, opset=9)
    check("Upsample", [IMAGE], {"mode": mode, "scales": full}, opset=7)


def test_upsample_1_repeats_pixels():
    x = _rand((1, 2, 3, 4))
    (y,) = run_kernel("Upsample", [x], {"height_scale": 2.0, "width_scale": 3.0}, opset=1)
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, 2, axis=2), 3, axis=3))


def test_resize_output_length_rounds_in_float32():
    # 10 * float32(0.7) is 6.99999988 in float64 but 7 in float32, like onnxruntime
    x = _rand((1, 1, 1, 10))
    check("Resize", [x, None, np.array([1, 1, 1, 0.7], np.float32)], {"mode": "nearest"}, opset=19)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.float16])
def test_resize_nearest_dtypes(dtype):
    x = (_rand((1, 2, 5, 6)) * 50).astype(dtype)
    check("Resize", [x, None, np.array([1, 1, 2, 1.5], np.float32)], {"mode": "nearest"},
          opset=19)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float16])
@pytest.mark.parametrize("scales", [(2, 1.5), (0.6, 0.5)])
def test_resize_linear_dtypes(dtype, scales):
    x = (_rand((1, 2, 5, 6)) * 50).astype(dtype)
    # integers truncate, so a float rounding difference can move a value by one
    check("Resize", [x, None, np.array([1, 1, *scales], np.float32)], {"mode": "linear"},
          opset=19, int_slack=1)


def test_resize_strings_nearest():
    x = np.array([["a", "b"], ["c", "d"]], dtype=object)
    (y,) = run_kernel("Resize", [x, None, np.array([2, 1], np.float32)], {"mode": "nearest"})
    assert y.tolist() == [["a", "b"], ["a", "b"], ["c", "d"], ["c", "d"]]


def test_resize_bad_inputs():
    scales = np.array([1, 1, 2, 2], np.float32)
    sizes = np.array([2, 3, 4, 4], np.int64)
    with pytest.raises(ValueError, match="Resize"):
        run_kernel("Resize", [IMAGE, None, scales, sizes], {})
    with pytest.raises(ValueError, match="Resize"):
        run_kernel("Resize", [IMAGE, None, None, None], {})
    with pytest.raises(ValueError, match="Resize"):
        run_kernel("Resize", [IMAGE, None, np.array([1, 2], np.float32)], {})
    with pytest.raises(ValueError, match="Resize"):
        run_kernel("Resize", [IMAGE, None, scales], {"mode": "bicubic"})
    with pytest.raises(ValueError, match="Upsample"):
        run_kernel("Upsample", [IMAGE, np.array([1, 1, 0.5, 2], np.float32)], {}, opset=9)


# ---------------------------------------------------------------------------- GridSample / AffineGrid


def _grid(shape):
    g = RNG.uniform(-1.6, 1.6, shape).astype(np.float32)
    flat = g.reshape(-1, shape[-1])
    flat[0], flat[1], flat[2] = 1.0, -1.0, 0.0  # the exact corners and centre
    return g


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_gridsample_2d(mode, padding, align):
    x = _rand((2, 3, 5, 6))
    attrs = {"mode": mode, "padding_mode": padding, "align_corners": align}
    check("GridSample", [x, _grid((2, 4, 3, 2))], attrs, opset=22)
    # a regular mesh puts many points exactly halfway between pixels
    mesh = np.stack(np.meshgrid(np.linspace(-1.2, 1.2, 13), np.linspace(-1.1, 1.1, 11)), -1)
    mesh = np.repeat(mesh[None], 2, axis=0).astype(np.float32)
    check("GridSample", [x, mesh], attrs, opset=22)
    old_names = {**attrs, "mode": {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)}
    check("GridSample", [x, mesh], old_names, opset=16)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_gridsample_3d(mode, padding, align):
    x = _rand((2, 3, 4, 5, 3))
    check("GridSample", [x, _grid((2, 4, 3, 2, 3))],
          {"mode": mode, "padding_mode": padding, "align_corners": align}, opset=22)


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
def test_gridsample_single_pixel_and_float64(mode):
    for padding, align in itertools.product(["zeros", "border", "reflection"], [0, 1]):
        attrs = {"mode": mode, "padding_mode": padding, "align_corners": align}
        check("GridSample", [_rand((1, 2, 1, 1)), _grid((1, 3, 3, 2))], attrs, opset=22)
    check("GridSample", [_rand((1, 2, 4, 5), np.float64), RNG.uniform(-1, 1, (1, 3, 3, 2))],
          {"mode": mode}, opset=22)


def test_gridsample_1d_matches_2d_with_one_row():
    x = _rand((1, 2, 7))
    grid = RNG.uniform(-1.2, 1.2, (1, 5, 1)).astype(np.float32)
    attrs = {"mode": "cubic", "padding_mode": "border", "align_corners": 1}
    (y1,) = run_kernel("GridSample", [x, grid], attrs)
    # with align_corners=1 a one-row image is sampled exactly at its row
    grid2 = np.stack([grid[..., 0], np.zeros_like(grid[..., 0])], -1)[:, None]
    (y2,) = run_kernel("GridSample", [x[:, :, None, :], grid2], attrs)
    assert y1.shape == (1, 2, 5)
    np.testing.assert_allclose(y1, y2[:, :, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 3, 1, 5), (1, 1, 3, 2), (2, 3, 4, 5, 3)])
@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid(size, align):
    if align and 1 in size[2:]:
        pytest.skip("a one-pixel axis with align_corners=1 is undefined (onnxruntime gives +1)")
    r = len(size) - 2
    theta = _rand((size[0], r, r + 1))
    check("AffineGrid", [theta, np.array(size, np.int64)], {"align_corners": align}, opset=20)


# ---------------------------------------------------------------------------- DepthToSpace / SpaceToDepth / CenterCropPad


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode):
    check("DepthToSpace", [_rand((2, 18, 3, 4))], {"blocksize": 3, "mode": mode}, opset=13)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_inverts_depth_to_space(mode):
    x = _rand((2, 3, 6, 4))
    (packed,) = run_kernel("SpaceToDepth", [x], {"blocksize": 2, "mode": mode})
    (back,) = run_kernel("DepthToSpace", [packed], {"blocksize": 2, "mode": mode})
    np.testing.assert_array_equal(back, x)
    check("SpaceToDepth", [x], {"blocksize": 2}, opset=13)


@pytest.mark.parametrize("shape,axes", [((2, 8), [0, 1]), ((7, 3, 4), None), ((1,), [-1]),
                                        ((4, 4), [2, 0]), ((6, 2), [-2, -1])])
def test_center_crop_pad(shape, axes):
    attrs = {} if axes is None else {"axes": axes}
    check("CenterCropPad", [_rand((3, 5, 4)), np.array(shape, np.int64)], attrs, opset=18)


# ---------------------------------------------------------------------------- normalization

FLOATS = [np.float32, np.float16, np.float64]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis", [-1, -2, 1, 0])
def test_layer_norm_axes_and_stats(dtype, axis):
    x = _rand((2, 3, 4, 5), dtype)
    scale, bias = _rand(x.shape[axis:], dtype), _rand(x.shape[axis:], dtype)
    check("LayerNormalization", [x, scale, bias], {"axis": axis, "epsilon": 1e-3}, opset=17,
          num_outputs=3)
    check("LayerNormalization", [x, scale], {"axis": axis}, opset=17)


def test_layer_norm_broadcast_scale():
    x = _rand((2, 3, 4, 5))
    check("LayerNormalization", [x, _rand((5,)), _rand((1, 5))], {"axis": -2}, opset=17)


@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm_inference_and_training(dtype):
    x = _rand((2, 3, 4, 5), dtype)
    params = [_rand(3, dtype), _rand(3, dtype), _rand(3, dtype),
              RNG.uniform(0.5, 2, 3).astype(dtype)]
    for opset in (7, 9, 14, 15):
        check("BatchNormalization", [x, *params], {"epsilon": 1e-3}, opset=opset)
    for opset in (14, 15):
        check("BatchNormalization", [x, *params], {"training_mode": 1, "momentum": 0.8},
              opset=opset, num_outputs=3)


def test_batch_norm_low_rank():
    check("BatchNormalization", [_rand(6), *[RNG.uniform(0.5, 1, 1).astype(np.float32)
                                             for _ in range(4)]], opset=15)
    check("BatchNormalization", [_rand((4, 3)), *[RNG.uniform(0.5, 1, 3).astype(np.float32)
                                                  for _ in range(4)]], opset=15)


def test_batch_norm_15_mixed_types():
    x = _rand((2, 3, 4), np.float16)
    scale, bias = np.full(3, 2, np.float32), np.ones(3, np.float32)
    mean, var = np.full(3, 0.5, np.float64), np.full(3, 4.0, np.float64)
    (y,) = run_kernel("BatchNormalization", [x, scale, bias, mean, var], {}, opset=15)
    assert y.dtype == np.float16
    expected = (x.astype(np.float64) - 0.5) / np.sqrt(4 + 1e-5) * 2 + 1
    np.testing.assert_allclose(y, expected, rtol=1e-2, atol=1e-2)
    y, running_mean, running_var = run_kernel(
        "BatchNormalization", [x, scale, bias, mean, var], {"training_mode": 1}, opset=15,
        num_outputs=3)
    assert (y.dtype, running_mean.dtype, running_var.dtype) == (np.float16, np.float64, np.float64)


def test_batch_norm_legacy_training_outputs():
    x = _rand((4, 3, 2, 2))
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    outs = run_kernel("BatchNormalization", [x, np.ones(3, np.float32), np.zeros(3, np.float32),
                                             mean, var], {"momentum": 0.5}, opset=9,
                      num_outputs=5)
    batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(outs[1], 0.5 * batch_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[2], 0.5 + 0.5 * batch_var, rtol=1e-5)
    np.testing.assert_allclose(outs[3], batch_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[4], batch_var, rtol=1e-5)
    normalized = (x - batch_mean[:, None, None]) / np.sqrt(batch_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(outs[0], normalized, rtol=1e-4, atol=1e-5)


def test_batch_norm_legacy_non_spatial():
    x = _rand((4, 3, 2))
    scale, bias = _rand((3, 2)), _rand((3, 2))
    mean, var = _rand((3, 2)), RNG.uniform(0.5, 2, (3, 2)).astype(np.float32)
    (y,) = run_kernel("BatchNormalization", [x, scale, bias, mean, var],
                      {"spatial": 0, "is_test": 1}, opset=6)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * scale + bias, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_instance_and_group_norm(dtype):
    x = _rand((2, 6, 4, 3), dtype)
    scale, bias = _rand(6, dtype), _rand(6, dtype)
    check("InstanceNormalization", [x, scale, bias], {"epsilon": 1e-2}, opset=22)
    check("InstanceNormalization", [x, scale, bias], {}, opset=6)
    for groups in (1, 2, 3, 6):
        check("GroupNormalization", [x, scale, bias], {"num_groups": groups}, opset=21)
        per_group = [_rand(groups, dtype), _rand(groups, dtype)]
        check("GroupNormalization", [x, *per_group], {"num_groups": groups}, opset=18)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_rms_norm(dtype, axis):
    x = _rand((2, 3, 4), dtype)
    check("RMSNormalization", [x, _rand(x.shape[axis:], dtype)], {"axis": axis, "epsilon": 1e-4},
          opset=23)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(dtype, size):
    check("LRN", [_rand((2, 7, 3, 2), dtype)], {"size": size, "alpha": 0.01, "beta": 0.6,
                                                  "bias": 1.5}, opset=13)


def test_lrn_even_size_window():
    x = _rand((1, 5, 2))
    (y,) = run_kernel("LRN", [x], {"size": 4, "alpha": 0.4})
    sq = np.pad(x ** 2, [(0, 0), (1, 2), (0, 0)])
    window = sum(sq[:, i:i + 5] for i in range(4))  # channels c-1 .. c+2
    np.testing.assert_allclose(y, x / (1 + 0.1 * window) ** 0.75, rtol=1e-5)


@pytest.mark.parametrize("axes", [None, [1, 3], [-1]])
def test_mean_variance_norm(axes):
    attrs = {} if axes is None else {"axes": axes}
    check("MeanVarianceNormalization", [_rand((2, 3, 4, 5))], attrs, opset=13)
    check("MeanVarianceNormalization", [_rand((2, 3, 4, 5))], attrs, opset=9)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_lp_norm_with_zero_vectors(p, axis):
    x = _rand((2, 3, 4))
    x[0, 0, :] = 0
    x[:, 1, 2] = 0
    check("LpNormalization", [x], {"p": p, "axis": axis}, opset=22)
    check("LpNormalization", [x.astype(np.float64)], {"p": p, "axis": axis}, opset=1)


def test_norm_bad_inputs():
    x = _rand((2, 6, 3))
    with pytest.raises(ValueError, match="GroupNormalization"):
        run_kernel("GroupNormalization", [x, _rand(6), _rand(6)], {"num_groups": 4})
    with pytest.raises(ValueError, match="GroupNormalization"):
        run_kernel("GroupNormalization", [x, _rand(3), _rand(3)], {"num_groups": 3})
    with pytest.raises(ValueError, match="LpNormalization"):
        run_kernel("LpNormalization", [x], {"p": 3})
    with pytest.raises(ValueError, match="LayerNormalization"):
        run_kernel("LayerNormalization", [x, _rand(3)], {"axis": 3})
    with pytest.raises(ValueError, match="BatchNormalization"):
        run_kernel("BatchNormalization", [x, *[_rand(4) for _ in range(4)]], {})
