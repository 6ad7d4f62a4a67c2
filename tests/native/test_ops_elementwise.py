"""Edge cases of the elementwise, activation and cast kernels that the ONNX node tests
leave out, checked against onnxruntime (or numpy / the standard library where
onnxruntime lacks the op, opset or type)."""
from __future__ import annotations

import math
import warnings

import ml_dtypes  # test-only: an independent reference for the narrow float types
import numpy as np
import pytest

from nodeutil import run_kernel, run_onnxruntime
from pywebinfer import dtypes

RNG = np.random.default_rng(0)
F32 = np.float32


@pytest.fixture(autouse=True)
def numpy_warnings_are_errors():
    # the kernels must not leak numpy warnings, even on inf / nan / overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def rand(*shape, dtype=F32):
    return RNG.standard_normal(shape).astype(dtype)


def check(op, inputs, attrs=None, *, opset=21, rtol=1e-5, atol=1e-6):
    """Run ``op`` through pywebinfer and onnxruntime and compare the output."""
    got, = run_kernel(op, inputs, attrs, opset=opset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, = run_onnxruntime(op, inputs, attrs, opset=opset)
    assert isinstance(got, np.ndarray), f"output is {type(got).__name__}, not an ndarray"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)
    return got


# ---- arithmetic -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint32])
def test_integer_div_truncates_toward_zero(dtype):
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 1, info.max, info.min + 1, 0], dtype=np.int64)
    b = np.array([2, 2, -2, -2, 3, 3, 5, 4], dtype=np.int64)
    if info.min == 0:
        a, b = np.abs(a), np.abs(b)
    check("Div", [a.astype(dtype), b.astype(dtype)], opset=14)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_integer_overflow_wraps(op):
    a = np.array([127, -128, 100, -100], dtype=np.int8)
    b = np.array([1, 1, 3, 3], dtype=np.int8)
    check(op, [a, b], opset=14)


def test_float16_stays_float16():
    x = rand(3, 4, dtype=np.float16)
    for op in ["Exp", "Sqrt", "Tanh", "Erf", "Sigmoid", "Softplus", "Reciprocal"]:
        out, = run_kernel(op, [np.abs(x)], opset=21)
        assert out.dtype == np.float16, op
    check("Add", [x, x], opset=14, rtol=1e-3)


def test_zero_dimensional_results_are_arrays():
    for op in ["Neg", "Exp", "Erf", "Round"]:
        out, = run_kernel(op, [np.array(1.5, F32)])
        assert isinstance(out, np.ndarray) and out.shape == ()
    out, = run_kernel("Add", [np.array(1, np.int8), np.array(2, np.int8)])
    assert isinstance(out, np.ndarray) and out.dtype == np.int8


@pytest.mark.parametrize("base_dtype, exp_dtype", [
    (np.float32, np.int64), (np.float32, np.int32), (np.int64, np.float32),
    (np.int32, np.int32), (np.int64, np.int64), (np.float16, np.float16),
])
def test_pow_result_has_base_type(base_dtype, exp_dtype):
    base = np.array([1, 2, 3, -2, 0, 5], dtype=base_dtype)
    exponent = np.array([3, 0, 2, 3, 2, 1], dtype=exp_dtype)
    check("Pow", [base, exponent], opset=15, rtol=1e-3)


def test_pow_integer_negative_exponent():
    base = np.array([2, 1, -1, -1, 5], dtype=np.int64)
    exponent = np.array([-1, -3, -3, -2, -2], dtype=np.int64)
    out, = run_kernel("Pow", [base, exponent])
    np.testing.assert_array_equal(out, [0, 1, -1, 1, 0])


def test_pow_integers_wrap():
    base = np.array([3, 2, 7], np.int8)
    exponent = np.array([5, 7, 200], np.int64)
    out, = run_kernel("Pow", [base, exponent])
    np.testing.assert_array_equal(out, np.array([243, 128, pow(7, 200, 256)]).astype(np.int8))
    big, = run_kernel("Pow", [np.array([3], np.uint64), np.array([41], np.uint64)])
    assert big.dtype == np.uint64 and int(big[0]) == 3 ** 41 % 2 ** 64


def test_pow_special_values_do_not_warn():
    base = np.array([-2.0, 0.0, 1e30, np.nan], F32)
    exponent = np.array([0.5, -1.0, 3.0, 2.0], F32)
    check("Pow", [base, exponent], opset=15)


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_integer_mod(fmod, dtype):
    a = np.array([-4, 7, 5, 4, -7, 8, -9], dtype=dtype)
    b = np.array([2, -3, 8, -2, 3, 5, -4], dtype=dtype)
    check("Mod", [a, b], {"fmod": fmod}, opset=13)


def test_float_mod_fmod0_special_values():
    a = np.array([0.0, -0.0, np.inf, 3.0, 5.0, -5.0, np.nan, 5.5], np.float64)
    b = np.array([-3.0, 3.0, 2.0, 0.0, np.inf, np.inf, 1.0, -2.0], np.float64)
    out, = run_kernel("Mod", [a, b], {"fmod": 0})
    want = [-0.0, 0.0, np.nan, np.nan, 5.0, np.inf, np.nan, -0.5]
    np.testing.assert_array_equal(out, want)
    assert np.array_equal(np.signbit(out[:2]), [True, False])


def test_float_mod_fmod1():
    a, b = rand(20), rand(20)
    check("Mod", [a, b], {"fmod": 1}, opset=13)


def test_bitshift_out_of_range_shifts():
    x = np.array([-8, 8, -8, 8, -8, 1], dtype=np.int32)
    y = np.array([32, 32, -1, -1, 2, 31], dtype=np.int32)
    right, = run_kernel("BitShift", [x, y], {"direction": "RIGHT"})
    left, = run_kernel("BitShift", [x, y], {"direction": "LEFT"})
    np.testing.assert_array_equal(right, [-1, 0, -1, 0, -2, 0])
    np.testing.assert_array_equal(left, [0, 0, 0, 0, -32, np.iinfo(np.int32).min])


def test_bitshift_uint64_broadcast():
    x = np.array([[1], [2 ** 63]], dtype=np.uint64)
    y = np.array([0, 1, 63], dtype=np.uint64)
    check("BitShift", [x, y], {"direction": "LEFT"}, opset=11)
    check("BitShift", [x, y], {"direction": "RIGHT"}, opset=11)


def test_erf_accuracy():
    x = np.concatenate([np.linspace(-6, 6, 20001), [1e-30, -1e-8, 0.0, 30.0]])
    got, = run_kernel("Erf", [x])
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    got32, = run_kernel("Erf", [x.astype(F32)])
    assert got32.dtype == F32
    want32 = np.array([math.erf(v) for v in x.astype(F32).astype(np.float64)])
    np.testing.assert_allclose(got32, want32, rtol=1e-7, atol=0)
    special, = run_kernel("Erf", [np.array([np.inf, -np.inf, np.nan], F32)])
    np.testing.assert_array_equal(special, [1, -1, np.nan])


@pytest.mark.parametrize("op", ["Log", "Sqrt", "Reciprocal", "Acos", "Atanh", "Exp", "Cosh"])
def test_unary_special_values(op):
    x = np.array([-1.0, 0.0, -0.0, 2.0, np.inf, -np.inf, np.nan, 1e4], F32)
    check(op, [x], opset=13 if op not in ("Acos", "Atanh") else 9, rtol=1e-6)


def test_round_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998], F32)
    check("Round", [x], opset=11)


def test_isinf_detect_flags():
    x = np.array([np.inf, -np.inf, 1.0, np.nan], F32)
    for pos, neg in [(1, 0), (0, 1), (0, 0)]:
        check("IsInf", [x], {"detect_positive": pos, "detect_negative": neg}, opset=10)


def test_sign_and_abs_of_integers():
    x = np.array([-128, -3, 0, 5, 127], np.int8)
    check("Sign", [x], opset=13)
    check("Abs", [x], opset=13)
    check("Neg", [x], opset=13)


# ---- comparisons, logic, Where ----------------------------------------------------------

def test_equal_strings_broadcast():
    a = np.array([["a", "b"], ["c", "d"]], dtype=object)
    b = np.array(["a", "d"], dtype=object)
    out, = run_kernel("Equal", [a, b], opset=19)
    np.testing.assert_array_equal(out, [[True, False], [False, True]])


def test_where_strings_and_broadcast():
    cond = np.array([[True], [False]])
    x = np.array(["x1", "x2"], dtype=object)
    y = np.array("y", dtype=object)
    out, = run_kernel("Where", [cond, x, y], opset=16)
    np.testing.assert_array_equal(out, [["x1", "x2"], ["y", "y"]])
    check("Where", [cond, rand(3), rand(2, 1)], opset=16)


def test_bitwise_not_signed_and_unsigned():
    check("BitwiseNot", [np.array([0, 1, -1, 127], np.int8)], opset=18)
    check("BitwiseNot", [np.array([0, 1, 255], np.uint8)], opset=18)


# ---- legacy broadcasting ------------------------------------------------------------------

def test_legacy_broadcast_with_axis():
    a = rand(2, 3, 4, 5)
    b = rand(3, 4)
    out, = run_kernel("Add", [a, b], {"broadcast": 1, "axis": 1}, opset=6)
    np.testing.assert_array_equal(out, a + b.reshape(1, 3, 4, 1))
    out, = run_kernel("Mul", [a, rand(5)], {"broadcast": 1}, opset=1)
    assert out.shape == a.shape
    out, = run_kernel("Greater", [a, np.array(0.0, F32)], {"broadcast": 1}, opset=1)
    np.testing.assert_array_equal(out, a > 0)


def test_legacy_without_broadcast_needs_equal_shapes():
    with pytest.raises(ValueError, match="broadcast"):
        run_kernel("Sub", [rand(2, 3), rand(3)], opset=6)
    with pytest.raises(ValueError, match="axis"):
        run_kernel("Add", [rand(2, 3), rand(3)], {"broadcast": 1, "axis": 0}, opset=6)


# ---- variadic ops, Clip -------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_broadcasting(op):
    check(op, [rand(2, 1, 4), rand(3, 1), rand(4)], opset=13)


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_variadic_nan_and_ints(op):
    check(op, [np.array([1.0, np.nan, 3.0], F32), np.array([2.0, 0.0, np.nan], F32)], opset=13)
    check(op, [np.array([1, -5], np.int8), np.array([[2], [-7]], np.int8)], opset=13)


def test_variadic_before_opset_8_needs_one_shape():
    with pytest.raises(ValueError, match="one shape"):
        run_kernel("Sum", [rand(2, 3), rand(3)], opset=6)
    out, = run_kernel("Mean", [np.array([1.0, 2.0], F32)] * 3, opset=6)
    np.testing.assert_array_equal(out, [1.0, 2.0])


def test_clip_attributes_opset6():
    x = rand(10)
    out, = run_kernel("Clip", [x], {"min": -0.5, "max": 0.25}, opset=6)
    np.testing.assert_array_equal(out, np.clip(x, F32(-0.5), F32(0.25)))
    out, = run_kernel("Clip", [x], {"max": 0.0}, opset=6)
    np.testing.assert_array_equal(out, np.minimum(x, 0))
    half = x.astype(np.float16)
    out, = run_kernel("Clip", [half], {"min": -3.4028234e38, "max": 3.4028234e38}, opset=6)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, half)


def test_clip_inputs():
    x = rand(3, 4)
    check("Clip", [x, np.array(-0.2, F32), None], opset=13)
    check("Clip", [x, None, np.array(0.3, F32)], opset=13)
    check("Clip", [x, np.array(0.5, F32), np.array(-0.5, F32)], opset=13)  # min > max
    ints = np.array([-100, 0, 100], np.int8)
    check("Clip", [ints, np.array(-3, np.int8), np.array(5, np.int8)], opset=13)


def test_identity_passes_sequences_and_empty_optionals():
    seq = [rand(2), rand(3)]
    out, = run_kernel("Identity", [seq])
    assert isinstance(out, list) and len(out) == 2 and out[1] is seq[1]
    out, = run_kernel("Identity", [None])
    assert out is None


# ---- activations --------------------------------------------------------------------------

@pytest.mark.parametrize("op, attrs", [
    ("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
    ("Celu", {"alpha": 2.0}), ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", {}), ("Softplus", {}), ("Softsign", {}), ("Gelu", {}),
    ("Gelu", {"approximate": "tanh"}), ("Mish", {}), ("ThresholdedRelu", {"alpha": 0.5}),
    ("Shrink", {"lambd": 0.7, "bias": 0.2}),
])
def test_activations(op, attrs):
    x = np.concatenate([rand(40) * 5, np.array([0.0, -0.0, 80.0, -80.0, 1e4, -1e4], F32)])
    want = check(op, [x], attrs, opset=21, rtol=1e-5, atol=1e-6)
    # onnxruntime lacks most of these for double: the float64 kernel must agree with float
    got64, = run_kernel(op, [x.astype(np.float64)], attrs, opset=21)
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64, want, rtol=1e-6, atol=1e-6)


def test_swish():
    x = rand(30) * 4
    out, = run_kernel("Swish", [x], {"alpha": 1.5}, opset=24)
    np.testing.assert_allclose(out, x / (1 + np.exp(-1.5 * x.astype(np.float64))), rtol=1e-6)


def test_activation_float16_precision():
    x = (rand(200) * 4).astype(np.float16)
    for op in ["Gelu", "Mish", "Selu", "Sigmoid"]:
        got, = run_kernel(op, [x], opset=22)
        want, = run_kernel(op, [x.astype(np.float64)], opset=22)
        assert got.dtype == np.float16
        np.testing.assert_allclose(got, want.astype(np.float16), rtol=1e-3, atol=1e-3)


def test_shrink_integers():
    x = np.array([-5, -1, 0, 1, 5, 100], np.int32)
    check("Shrink", [x], {"lambd": 1.5, "bias": 1.0}, opset=9)


def test_prelu_unidirectional_broadcast():
    x = rand(2, 3, 4)
    check("PRelu", [x, rand(3, 1)], opset=16)
    check("PRelu", [x, rand(4)], opset=16)
    check("PRelu", [np.array([-3, 2, -1], np.int32), np.array([2], np.int32)], opset=16)
    with pytest.raises(ValueError, match="unidirectionally"):
        run_kernel("PRelu", [rand(3), rand(2, 3)], opset=16)


def test_prelu_legacy_per_channel_slope():
    x = rand(2, 3, 4)
    slope = np.array([0.1, 0.2, 0.3], F32)
    out, = run_kernel("PRelu", [x, slope], opset=6)
    np.testing.assert_allclose(out, np.where(x < 0, x * slope.reshape(3, 1), x))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset, axis", [
    (11, 0), (11, 1), (11, -1), (11, None), (13, 0), (13, None)])
def test_softmax_family_axes(op, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(op, [rand(2, 3, 4) * 10], attrs, opset=opset, rtol=1e-5, atol=1e-6)


def test_hardmax_picks_the_first_maximum():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], F32)
    check("Hardmax", [x], opset=13)


def test_softmax_extreme_inputs():
    x = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 1.0]], F32)
    check("Softmax", [x], opset=13)
    check("LogSoftmax", [np.array([[1000.0, 0.0, -1000.0]], F32)], opset=13)


# ---- Cast ---------------------------------------------------------------------------------

TO_NUMPY = {dtypes.FLOAT: F32, dtypes.DOUBLE: np.float64, dtypes.FLOAT16: np.float16,
            dtypes.INT8: np.int8, dtypes.UINT8: np.uint8, dtypes.INT32: np.int32,
            dtypes.UINT32: np.uint32, dtypes.INT64: np.int64, dtypes.UINT64: np.uint64,
            dtypes.BOOL: np.bool_, dtypes.INT16: np.int16}


@pytest.mark.parametrize("to", [dtypes.INT8, dtypes.UINT8, dtypes.INT32, dtypes.INT64,
                                dtypes.UINT64, dtypes.INT16, dtypes.BOOL])
def test_cast_float_to_integer_out_of_range(to):
    x = np.array([200.7, -200.5, 70000, 3e9, -1e20, np.nan, -0.9, 0.0, np.inf], F32)
    check("Cast", [x], {"to": to}, opset=21)


@pytest.mark.parametrize("to", [dtypes.INT8, dtypes.UINT16, dtypes.UINT32, dtypes.BOOL,
                                dtypes.FLOAT16, dtypes.FLOAT])
def test_cast_integers_wrap(to):
    x = np.array([200, -200, 70000, -1, 2 ** 40, 0], np.int64)
    check("Cast", [x], {"to": to}, opset=21)


def test_cast_numbers_to_strings():
    x = np.array([0.47892547, 1e-7, 1e20, -3.5, 100.0, 1 / 3, np.nan, np.inf, -np.inf, -0.0], F32)
    check("Cast", [x], {"to": dtypes.STRING}, opset=21)
    with np.errstate(over="ignore"):
        check("Cast", [x.astype(np.float16)], {"to": dtypes.STRING}, opset=21)
    check("Cast", [np.array([1, -5, 2 ** 40], np.int64)], {"to": dtypes.STRING}, opset=21)
    check("Cast", [np.array([True, False])], {"to": dtypes.STRING}, opset=21)


@pytest.mark.parametrize("to", [dtypes.FLOAT, dtypes.DOUBLE, dtypes.FLOAT16])
def test_cast_strings_to_floats(to):
    s = np.array(["1.5", "  2", "-INF", "inf", "NaN", "+INF", "1e-5", "-0", "1E3"], dtype=object)
    check("Cast", [s], {"to": to}, opset=21)


def test_cast_strings_to_integers_and_bool():
    check("Cast", [np.array(["200", "-200", "70000", " 7"], dtype=object)], {"to": dtypes.INT8})
    check("Cast", [np.array(["18446744073709551615", "-1"], dtype=object)], {"to": dtypes.UINT64})
    check("Cast", [np.array(["3.9", "-3.9"], dtype=object)], {"to": dtypes.INT32})
    check("Cast", [np.array(["0", "1", "2", "-1", "0.5"], dtype=object)], {"to": dtypes.BOOL})


def test_cast_bad_string_names_the_text():
    with pytest.raises(ValueError, match="Hello"):
        run_kernel("Cast", [np.array(["Hello"], dtype=object)], {"to": dtypes.FLOAT})


def test_cast_opset1_type_names():
    out, = run_kernel("Cast", [np.array([1.7, -2.2], F32)], {"to": "INT32"}, opset=1)
    np.testing.assert_array_equal(out, np.array([1, -2], np.int32))


SMALL_FLOATS = {
    dtypes.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn, dtypes.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
    dtypes.FLOAT8E5M2: ml_dtypes.float8_e5m2, dtypes.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
    dtypes.FLOAT4E2M1: ml_dtypes.float4_e2m1fn, dtypes.BFLOAT16: ml_dtypes.bfloat16,
}


@pytest.mark.parametrize("to", list(SMALL_FLOATS))
def test_round_to_matches_ml_dtypes(to):
    limit = dtypes.max_finite(to)
    x = RNG.standard_normal(5000) * np.exp2(RNG.uniform(-24, np.log2(limit), 5000))
    x = np.clip(x, -limit, limit).astype(F32)  # ml_dtypes does not saturate
    got, = run_kernel("Cast", [x], {"to": to})
    np.testing.assert_array_equal(got, x.astype(SMALL_FLOATS[to]).astype(F32))
    assert dtypes.onnx_type_of(got) == to


@pytest.mark.parametrize("to", list(SMALL_FLOATS))
def test_bit_patterns_round_trip(to):
    width = dtypes.BITS[to]
    bits = np.arange(1 << width).astype(np.uint16 if width == 16 else np.uint8)
    values = dtypes.from_bits(bits, to)
    np.testing.assert_array_equal(values, bits.view(SMALL_FLOATS[to]).astype(F32))
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(dtypes.to_bits(values, to)[finite], bits[finite])


def test_cast_float8_fnuz_infinity_before_opset_24():
    x = np.array([np.inf, -np.inf, 1e6], F32)
    old, = run_kernel("Cast", [x], {"to": dtypes.FLOAT8E4M3FNUZ}, opset=23)
    new, = run_kernel("Cast", [x], {"to": dtypes.FLOAT8E4M3FNUZ}, opset=25)
    np.testing.assert_array_equal(old, [np.nan, np.nan, 240.0])
    np.testing.assert_array_equal(new, [240.0, -240.0, 240.0])


def test_cast_e8m0_round_modes():
    x = np.array([0.0, 1.0, 1.4, 1.5, 3.0, 2.0 ** -130, 1e39, np.inf, np.nan], np.float64)
    expect = {
        ("up", 1): [2.0 ** -127, 1, 2, 2, 4, 2.0 ** -127, 2.0 ** 127, 2.0 ** 127, np.nan],
        ("down", 1): [2.0 ** -127, 1, 1, 1, 2, 2.0 ** -127, 2.0 ** 127, 2.0 ** 127, np.nan],
        ("nearest", 0): [np.nan, 1, 1, 2, 4, np.nan, np.nan, np.nan, np.nan],
    }
    for (mode, saturate), want in expect.items():
        out, = run_kernel("Cast", [x], {"to": dtypes.FLOAT8E8M0, "round_mode": mode,
                                        "saturate": saturate}, opset=24)
        np.testing.assert_array_equal(out, np.array(want, F32), err_msg=mode)


def test_castlike_targets_a_widened_type():
    like = dtypes.round_to(np.zeros(1, F32), dtypes.BFLOAT16)
    x = np.array([1.00390625, 3.14159265], np.float64)
    out, = run_kernel("CastLike", [x, like], opset=21)
    np.testing.assert_array_equal(out, x.astype(ml_dtypes.bfloat16).astype(F32))
    assert dtypes.onnx_type_of(out) == dtypes.BFLOAT16
    back, = run_kernel("CastLike", [out, np.zeros(1, np.float64)], opset=21)
    assert back.dtype == np.float64 and dtypes.widened_type(back) is None


def test_castlike_native_types():
    check("CastLike", [rand(5) * 100, np.zeros(1, np.int16)], opset=21)
    check("CastLike", [np.array(["1.5"], dtype=object), np.zeros(1, np.float64)], opset=21)


def test_bfloat16_arithmetic_rounds_back():
    a = dtypes.round_to(np.array([1.0, 3.0], F32), dtypes.BFLOAT16)
    b = dtypes.round_to(np.array([2.0 ** -9, 2.0 ** -7], F32), dtypes.BFLOAT16)
    out, = run_kernel("Add", [a, b])
    np.testing.assert_array_equal(out, [1.0, 3.0])  # 1 + 2**-9 and 3 + 2**-7 round to even
    assert dtypes.onnx_type_of(out) == dtypes.BFLOAT16


# ---- BitCast ------------------------------------------------------------------------------

def test_bitcast_native_types():
    x = np.array([1.0, -2.5, np.inf], F32)
    out, = run_kernel("BitCast", [x], {"to": dtypes.INT32}, opset=26)
    np.testing.assert_array_equal(out, x.view(np.int32))
    out, = run_kernel("BitCast", [np.array(3.0, np.float64)], {"to": dtypes.UINT64}, opset=26)
    assert out.shape == () and out == np.array(3.0).view(np.uint64)
    out, = run_kernel("BitCast", [np.array([1, 2], np.uint8)], {"to": dtypes.BOOL}, opset=26)
    np.testing.assert_array_equal(out, [True, True])


def test_bitcast_to_and_from_widened_types():
    bits = np.arange(256, dtype=np.uint8)
    out, = run_kernel("BitCast", [bits], {"to": dtypes.FLOAT8E4M3FN}, opset=26)
    np.testing.assert_array_equal(out, bits.view(ml_dtypes.float8_e4m3fn).astype(F32))
    assert dtypes.onnx_type_of(out) == dtypes.FLOAT8E4M3FN
    h = np.array([0x3F80, 0xC000, 0x7F80], np.uint16)
    bf, = run_kernel("BitCast", [h], {"to": dtypes.BFLOAT16}, opset=26)
    np.testing.assert_array_equal(bf, [1.0, -2.0, np.inf])
    i16, = run_kernel("BitCast", [bf], {"to": dtypes.INT16}, opset=26)
    np.testing.assert_array_equal(i16, h.view(np.int16))
    u4 = dtypes.round_to(np.array([0, 7, 8, 15]), dtypes.UINT4)
    i4, = run_kernel("BitCast", [u4], {"to": dtypes.INT4}, opset=26)
    np.testing.assert_array_equal(i4, [0, 7, -8, -1])


def test_bitcast_width_mismatch_is_an_error():
    with pytest.raises(ValueError, match="bits"):
        run_kernel("BitCast", [np.zeros(2, F32)], {"to": dtypes.INT64}, opset=26)
