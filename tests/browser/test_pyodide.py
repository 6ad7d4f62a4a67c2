"""pywebinfer inside Pyodide, loaded from the offline distribution, in Chromium and Node."""
from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
from conftest import MODEL, PYODIDE_MODELS, SAMPLES
from pytest_pyodide import run_in_pyodide

EGYPTIAN_CAT = 285


def test_load_package_brings_numpy(selenium_standalone):
    """What a page does: `await pyodide.loadPackage('pywebinfer')`, numpy comes with it."""
    loaded = selenium_standalone.run_js("""
        await pyodide.loadPackage("pywebinfer");
        pyodide.runPython("import pywebinfer, numpy");
        return Object.keys(pyodide.loadedPackages);
    """)
    assert {"pywebinfer", "numpy"} <= set(loaded)


@pytest.mark.driver_timeout(180)
def test_efficientnet_lite0_top1_in_pyodide(selenium_with_models):
    @run_in_pyodide(packages=["pywebinfer"])
    def classify(selenium, model_path, input_path):
        import numpy as np
        import pywebinfer

        assert pywebinfer.get_available_providers()[-1] == "numpy"
        session = pywebinfer.InferenceSession(model_path, providers=["numpy"])
        (logits,) = session.run(None, {"input": np.load(input_path)})
        return logits.ravel().tolist()

    logits = np.array(classify(selenium_with_models, f"{PYODIDE_MODELS}/{MODEL.name}",
                               f"{PYODIDE_MODELS}/chelsea.npy"), dtype=np.float32)
    expected = onnxruntime.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"]).run(
        None, {"input": np.load(SAMPLES / "chelsea.npy")})[0].ravel()
    assert int(np.argmax(logits)) == EGYPTIAN_CAT
    assert list(np.argsort(-logits)[:5]) == list(np.argsort(-expected)[:5])
    np.testing.assert_allclose(logits, expected, atol=2e-3, rtol=1e-3)


@run_in_pyodide(packages=["pywebinfer"])
def test_corrupt_model_bytes_raise_model_error(selenium):
    import pytest
    import pywebinfer

    with pytest.raises(pywebinfer.ModelError):
        pywebinfer.InferenceSession(b"\x08\x07\x12\x04garbage\xff\xff\xff", providers=["numpy"])
    with pytest.raises(pywebinfer.ModelError):
        pywebinfer.InferenceSession(b"", providers=["numpy"])


@pytest.mark.driver_timeout(60)
def test_truncated_model_raises_model_error(selenium_with_models):
    @run_in_pyodide(packages=["pywebinfer"])
    def load_truncated(selenium, model_path):
        import pywebinfer

        with open(model_path, "rb") as f:
            data = f.read()
        try:
            pywebinfer.InferenceSession(data[: len(data) // 2], providers=["numpy"])
        except pywebinfer.ModelError as error:
            return str(error)
        return None

    message = load_truncated(selenium_with_models, f"{PYODIDE_MODELS}/{MODEL.name}")
    assert message, "a truncated model must raise ModelError"


def test_micropip_installs_the_wheel(selenium_standalone, dist_dir):
    """The same wheel installs with micropip from a URL (numpy from the lock)."""
    (wheel,) = dist_dir.glob("pywebinfer-*.whl")
    url = f"{selenium_standalone.base_url}/{wheel.name}"
    selenium_standalone.load_package("micropip")
    version = selenium_standalone.run_async(f"""
        import micropip
        await micropip.install({url!r})
        import numpy, pywebinfer
        pywebinfer.__version__
    """)
    assert wheel.name.startswith(f"pywebinfer-{version}-")


@pytest.mark.xfail_browsers(node="Node has no WebGPU or WebGL")
@pytest.mark.driver_timeout(60)
@run_in_pyodide
async def test_webgpu_and_webgl2_available(selenium):
    """The GPU backends can count on a WebGPU device and a float-capable WebGL2 context."""
    from js import OffscreenCanvas, navigator

    assert hasattr(navigator, "gpu"), "navigator.gpu missing: is --enable-unsafe-webgpu set?"
    adapter = await navigator.gpu.requestAdapter()
    assert adapter is not None, "no WebGPU adapter"
    device = await adapter.requestDevice()
    assert device.limits.maxStorageBufferBindingSize >= 128 * 2**20
    assert device.limits.maxComputeInvocationsPerWorkgroup >= 256
    device.destroy()

    gl = OffscreenCanvas.new(1, 1).getContext("webgl2")
    assert gl is not None, "no WebGL2 context"
    assert gl.getExtension("EXT_color_buffer_float") is not None
    assert gl.getParameter(gl.MAX_TEXTURE_SIZE) >= 4096
