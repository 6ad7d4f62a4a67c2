"""The user's browser tests: their model, run by pywebinfer in Pyodide.

`selenium_pywebinfer` is a Pyodide with pywebinfer loaded; `pywebinfer_models` maps each
file of the model folder to a URL the browser can fetch.  Both come from pywebinfer's
pytest plugin.
"""
from pytest_pyodide import run_in_pyodide


@run_in_pyodide
def test_pywebinfer_is_there(selenium_pywebinfer):
    import numpy as np
    import pywebinfer

    assert pywebinfer.__version__
    assert "numpy" in pywebinfer.get_available_providers()
    assert np.__version__.startswith("2.")


@run_in_pyodide
async def test_the_model_agrees_with_onnxruntime(selenium_pywebinfer, pywebinfer_models):
    import io

    import numpy as np
    import pywebinfer
    from pyodide.http import pyfetch

    model = await (await pyfetch(pywebinfer_models["classifier.onnx"])).bytes()
    expected = np.load(io.BytesIO(await (await pyfetch(pywebinfer_models["expected.npz"])).bytes()))
    for provider in pywebinfer.get_available_providers():
        if provider in ("webgpu", "webgl"):
            continue  # GPU backends need a browser with a GPU; this suite checks the CPU ones
        session = pywebinfer.InferenceSession(model, providers=[provider, "numpy"])
        (probabilities,) = await session.run_async(None, {"features": expected["features"]})
        np.testing.assert_allclose(probabilities, expected["probabilities"], rtol=1e-5, atol=1e-6,
                                   err_msg=provider)
        assert probabilities.argmax(axis=1).tolist() == expected["probabilities"].argmax(axis=1).tolist()


@run_in_pyodide
async def test_the_model_loads_from_the_file_system(selenium_pywebinfer, pywebinfer_models):
    import numpy as np
    import pywebinfer
    from pyodide.http import pyfetch

    with open("/tmp/classifier.onnx", "wb") as f:
        f.write(await (await pyfetch(pywebinfer_models["classifier.onnx"])).bytes())
    session = pywebinfer.InferenceSession("/tmp/classifier.onnx", providers=["numpy"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    (probabilities,) = session.run(None, {"features": np.ones((2, 4), np.float32)})
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


@run_in_pyodide
async def test_a_wrong_input_is_named(selenium_pywebinfer, pywebinfer_models):
    import numpy as np
    import pytest
    import pywebinfer
    from pyodide.http import pyfetch

    model = await (await pyfetch(pywebinfer_models["classifier.onnx"])).bytes()
    session = pywebinfer.InferenceSession(model, providers=["numpy"])
    with pytest.raises(ValueError, match="features"):
        session.run(None, {"features": np.ones((2, 5), np.float32)})
