"""The conformance suite under pytest: one test per ONNX node test and light model.

A case listed in expected_failures.txt is an xfail (strict: it must fail) with its reason.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import SKIP, expected_reason, light_cases, load_expected_failures, node_cases, run_case  # noqa: E402

BACKEND = os.environ.get("BACKEND", "numpy")
EXPECTED = load_expected_failures(BACKEND)
CASES = node_cases() + light_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case):
    reason = expected_reason(case["name"], EXPECTED)
    msg = run_case(case, BACKEND)
    if msg == SKIP:
        pytest.skip(f"{BACKEND} does not claim every op of this case")
    if reason is not None:
        if msg is None:
            pytest.fail(f"listed as an expected failure ({reason}) but passed: remove it from the list")
        pytest.xfail(reason)
    assert msg is None, msg
