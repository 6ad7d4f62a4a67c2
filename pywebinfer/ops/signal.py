"""Signal processing ops: numpy reference kernels.

DFT, STFT, the Hann/Hamming/Blackman windows and MelWeightMatrix.  Transforms run through
``numpy.fft`` in the input's precision (complex64 for float32 and narrower, complex128 for
double) and are rounded back to the input type.
"""
from __future__ import annotations

import io

import numpy as np

from .. import dtypes
from .registry import kernel


def _scalar_int(x, op, name):
    arr = np.asarray(x)
    if arr.size != 1:
        raise ValueError(f"{op}: {name} must be a scalar, got shape {arr.shape}")
    return int(arr.reshape(()))


def _as_complex(x, op):
    """[..., 1] real or [..., 2] (real, imag) -> complex array without the last axis."""
    if x.ndim < 2 or x.shape[-1] not in (1, 2):
        raise ValueError(f"{op}: the last dimension must be 1 (real) or 2 (complex), "
                         f"got shape {x.shape}")
    real = np.float64 if x.dtype == np.float64 else np.float32
    cplx = np.complex128 if real is np.float64 else np.complex64
    wide = x.astype(real)
    z = wide[..., 0].astype(cplx)
    if x.shape[-1] == 2:
        z.imag = wide[..., 1]
    return z


def _as_pairs(z, dtype):
    """complex array -> [..., 2] (real, imag) in ``dtype``."""
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


def _fit_length(z, axis, length):
    """Truncate or zero-pad ``z`` along ``axis`` to ``length``."""
    have = z.shape[axis]
    if have >= length:
        return np.take(z, np.arange(length), axis=axis)
    pad = [(0, 0)] * z.ndim
    pad[axis] = (0, length - have)
    return np.pad(z, pad)


def _dft(x, axis, dft_length, inverse, onesided, op="DFT"):
    rank = x.ndim
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        raise ValueError(f"{op}: axis {axis} is out of range for an input of rank {rank} "
                         "(the last dimension holds the real/imaginary parts)")
    axis = axis + rank if axis < 0 else axis
    is_complex = x.shape[-1] == 2
    z = _as_complex(x, op)
    axis_dim = z.shape[axis]
    if onesided and inverse:  # IRFFT: half spectrum in, real signal out
        if not is_complex:
            raise ValueError(f"{op}: onesided inverse DFT needs complex input (last dim 2)")
        length = 2 * (axis_dim - 1) if dft_length is None else dft_length
        if length < 1:
            raise ValueError(f"{op}: dft_length {length} must be positive")
        real = np.fft.irfft(z, n=length, axis=axis)
        return real[..., None].astype(x.dtype)
    length = axis_dim if dft_length is None else dft_length
    if length < 1:
        raise ValueError(f"{op}: dft_length {length} must be positive")
    z = _fit_length(z, axis, length)
    if onesided:  # RFFT
        if is_complex:
            raise ValueError(f"{op}: onesided forward DFT needs real input (last dim 1)")
        return _as_pairs(np.fft.rfft(z.real, axis=axis), x.dtype)
    spectrum = np.fft.ifft(z, axis=axis) if inverse else np.fft.fft(z, axis=axis)
    return _as_pairs(spectrum, x.dtype)


def _dft_length(inputs, op):
    if len(inputs) > 1 and inputs[1] is not None:
        return _scalar_int(inputs[1], op, "dft_length")
    return None


@kernel("DFT", since=17, until=19)
def dft_17(ctx, inputs, attrs):
    """Opsets 17-19: the axis is an attribute (default 1)."""
    return _dft(inputs[0], attrs.get("axis", 1), _dft_length(inputs, "DFT"),
                attrs.get("inverse", 0), attrs.get("onesided", 0))


@kernel("DFT", since=20)
def dft_20(ctx, inputs, attrs):
    """Opset 20+: the axis is an optional input (default -2)."""
    axis = -2
    if len(inputs) > 2 and inputs[2] is not None:
        axis = _scalar_int(inputs[2], "DFT", "axis")
    return _dft(inputs[0], axis, _dft_length(inputs, "DFT"),
                attrs.get("inverse", 0), attrs.get("onesided", 0))


@kernel("STFT", since=17)
def stft(ctx, inputs, attrs):
    op = "STFT"
    signal = inputs[0]
    step = _scalar_int(inputs[1], op, "frame_step")
    window = inputs[2] if len(inputs) > 2 else None
    frame_length = inputs[3] if len(inputs) > 3 else None
    if signal.ndim != 3:
        raise ValueError(f"{op}: signal must be [batch, length, 1 or 2], got shape {signal.shape}")
    z = _as_complex(signal, op)  # (batch, length)
    length = z.shape[1]
    if frame_length is not None:
        frame_length = _scalar_int(frame_length, op, "frame_length")
    if window is not None:
        if window.ndim != 1:
            raise ValueError(f"{op}: window must be 1-D, got shape {window.shape}")
        if frame_length is None:
            frame_length = window.shape[0]
        elif window.shape[0] != frame_length:
            raise ValueError(f"{op}: window length {window.shape[0]} differs from "
                             f"frame_length {frame_length}")
    if frame_length is None:
        frame_length = length
    if step < 1 or not 1 <= frame_length <= length:
        raise ValueError(f"{op}: frame_step {step} must be positive and frame_length "
                         f"{frame_length} within [1, {length}]")
    frames = (length - frame_length) // step + 1
    starts = np.arange(frames) * step
    framed = z[:, starts[:, None] + np.arange(frame_length)]  # (batch, frames, frame_length)
    if window is not None:
        framed = framed * window.astype(framed.real.dtype)
    onesided = attrs.get("onesided", 1)
    if onesided:
        if signal.shape[-1] == 2:
            raise ValueError(f"{op}: onesided output needs a real signal; set onesided=0")
        spectrum = np.fft.rfft(framed.real, axis=-1)
    else:
        spectrum = np.fft.fft(framed, axis=-1)
    return _as_pairs(spectrum, signal.dtype)


def _window(inputs, attrs, op, coefficients):
    """sum_k c_k * cos(2 pi k n / N) with N = size (periodic) or size - 1 (symmetric)."""
    size = _scalar_int(inputs[0], op, "size")
    if size < 0:
        raise ValueError(f"{op}: size {size} must not be negative")
    out_type = attrs.get("output_datatype", dtypes.FLOAT)
    period = size if attrs.get("periodic", 1) else size - 1
    n = np.arange(size, dtype=np.float64)
    values = np.zeros(size, dtype=np.float64)
    for k, c in enumerate(coefficients):
        # a one-point symmetric window has period 0: every cosine term is cos(0) = 1
        values += c * (np.cos(2 * np.pi * k * n / period) if period else 1.0)
    return _cast_output(values, out_type, op)


def _cast_output(values, onnx_type, op):
    if onnx_type in (dtypes.STRING, dtypes.BOOL) or onnx_type not in dtypes.NAMES:
        raise ValueError(f"{op}: output_datatype {onnx_type} is not a numeric type")
    out = values.astype(dtypes.storage_dtype(onnx_type))
    return dtypes.round_to(out, onnx_type) if onnx_type in dtypes.WIDENED else out


@kernel("HannWindow", since=17)
def hann_window(ctx, inputs, attrs):
    return _window(inputs, attrs, "HannWindow", (0.5, -0.5))


@kernel("HammingWindow", since=17)
def hamming_window(ctx, inputs, attrs):
    # alpha = 25/46 (the exact zero-sidelobe value) as ONNX and onnxruntime use
    alpha = 25.0 / 46.0
    return _window(inputs, attrs, "HammingWindow", (alpha, -(1.0 - alpha)))


@kernel("BlackmanWindow", since=17)
def blackman_window(ctx, inputs, attrs):
    return _window(inputs, attrs, "BlackmanWindow", (0.42, -0.5, 0.08))


@kernel("MelWeightMatrix", since=17)
def mel_weight_matrix(ctx, inputs, attrs):
    op = "MelWeightMatrix"
    num_mel_bins = _scalar_int(inputs[0], op, "num_mel_bins")
    dft_length = _scalar_int(inputs[1], op, "dft_length")
    sample_rate = _scalar_int(inputs[2], op, "sample_rate")
    lower = float(np.asarray(inputs[3]).reshape(()))
    upper = float(np.asarray(inputs[4]).reshape(()))
    if num_mel_bins < 1 or dft_length < 1 or sample_rate < 1:
        raise ValueError(f"{op}: num_mel_bins, dft_length and sample_rate must be positive")
    if not 0 <= lower < upper:
        raise ValueError(f"{op}: need 0 <= lower_edge_hertz ({lower}) < upper_edge_hertz ({upper})")
    spectrogram_bins = dft_length // 2 + 1

    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    # num_mel_bins + 2 band edges evenly spaced in mel; the step divides by the
    # number of edges (not edges - 1) as onnxruntime and the ONNX reference do
    edges = num_mel_bins + 2
    low_mel, high_mel = to_mel(lower), to_mel(upper)
    mels = low_mel + np.arange(edges) * ((high_mel - low_mel) / edges)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    bins = np.floor((dft_length + 1) * hz / sample_rate).astype(np.int64)
    if bins[-1] >= spectrogram_bins:
        raise ValueError(f"{op}: upper_edge_hertz {upper} lies beyond the spectrogram "
                         f"({spectrogram_bins} bins)")
    out = np.zeros((spectrogram_bins, num_mel_bins), dtype=np.float64)
    for m in range(num_mel_bins):
        left, center, right = bins[m], bins[m + 1], bins[m + 2]
        if center == left:
            out[center, m] = 1.0
        else:
            j = np.arange(left, center + 1)
            out[j, m] = (j - left) / (center - left)
        if right > center:
            j = np.arange(center, right)
            out[j, m] = (right - j) / (right - center)
    return _cast_output(out, attrs.get("output_datatype", dtypes.FLOAT), op)


_PIXEL_FORMATS = {"RGB": ("RGB", 3), "BGR": ("RGB", 3), "Grayscale": ("L", 1)}


@kernel("ImageDecoder", since=20, note="needs Pillow at run time")
def image_decoder(ctx, inputs, attrs):
    """Decode an encoded image (BMP, JPEG, JPEG2000, TIFF, PNG, WebP, PNM) to HWC uint8.

    Decoding is Pillow's job; it is imported here, on first use, so that the rest of
    the runtime works without it (in Pyodide: ``await pyodide.loadPackage("pillow")``).
    Pillow's JPEG decoder uses libjpeg's "fancy" chroma upsampling, as the spec asks."""
    op = "ImageDecoder"
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{op} needs the Pillow package to decode images; install it "
                          "(pip install pillow, or pyodide.loadPackage('pillow'))") from None

    pixel_format = attrs.get("pixel_format", "RGB")
    if pixel_format not in _PIXEL_FORMATS:
        raise ValueError(f"{op}: pixel_format {pixel_format!r} is not RGB, BGR or Grayscale")
    mode, channels = _PIXEL_FORMATS[pixel_format]
    data = np.asarray(inputs[0])
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"{op}: encoded_stream must be a 1-D uint8 tensor, got "
                         f"{data.dtype} of shape {data.shape}")
    try:
        with Image.open(io.BytesIO(data.tobytes())) as img:
            pixels = np.asarray(img.convert(mode), dtype=np.uint8)
    except Exception:  # noqa: BLE001 - the spec returns an empty image for any decode failure
        return np.zeros((0, 0, channels), dtype=np.uint8)
    if channels == 1:
        pixels = pixels[:, :, None]
    elif pixel_format == "BGR":
        pixels = pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels)
