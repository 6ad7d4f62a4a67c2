"""The conformance suite: ONNX node tests and the onnx wheel's "light" CNN graphs, run
through pywebinfer.InferenceSession on one backend and compared with their reference
outputs.  Used by `make conformance` (run.py) and by pytest (test_conformance.py).

A case a backend cannot pass is listed in expected_failures.txt with its reason; such a
case still runs, and passing it unexpectedly is reported too, so the list stays true.
"""
from __future__ import annotations

import fnmatch
import glob
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GENERATED = os.path.join(HERE, "generated")
EXPECTED_FAILURES = os.path.join(HERE, "expected_failures.txt")
sys.path.insert(0, ROOT)

import pywebinfer  # noqa: E402
from pywebinfer.onnx.importer import load_value  # noqa: E402

# Tolerances per output dtype where a backend computes in lower precision than numpy;
# the node tests' own rtol/atol apply otherwise.  One place, for every backend.
BACKEND_TOLERANCE = {
    "numpy": {},
    "wasm": {"float32": (1e-4, 1e-5)},
    "webgpu": {"float32": (1e-3, 1e-4), "float16": (1e-2, 1e-3)},
    "webgl": {"float32": (1e-3, 1e-4), "float16": (1e-2, 1e-3)},
}


def ensure_generated() -> None:
    if not os.path.exists(os.path.join(GENERATED, "cases.json")):
        from generate import generate  # noqa: PLC0415

        generate(GENERATED)


def node_cases(include_expanded: bool = False) -> list[dict]:
    ensure_generated()
    with open(os.path.join(GENERATED, "cases.json")) as f:
        cases = json.load(f)["cases"]
    return [c for c in cases if include_expanded or not c["expanded"]]


def light_cases() -> list[dict]:
    import onnx

    data = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    out = []
    for path in sorted(glob.glob(os.path.join(data, "light_*.onnx"))):
        name = os.path.basename(path)[len("light_"):-len(".onnx")]
        # densenet121's reference was produced with a looser tolerance upstream
        out.append({"name": f"test_light_{name}", "op_type": "(model)", "path": path,
                    "rtol": 2e-3 if name == "densenet121" else 1e-3, "atol": 1e-7})
    return out


def load_expected_failures(backend: str) -> dict[str, str]:
    """Case-name patterns (fnmatch) -> reason, for one backend."""
    out: dict[str, str] = {}
    with open(EXPECTED_FAILURES) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise ValueError(f"{EXPECTED_FAILURES}:{lineno}: expected 'BACKEND CASE REASON'")
            if parts[0] in (backend, "*"):
                out[parts[1]] = parts[2]
    return out


def expected_reason(name: str, expected: dict[str, str]) -> str | None:
    for pattern, reason in expected.items():
        if fnmatch.fnmatchcase(name, pattern):
            return reason
    return None


def compare(expected, got, rtol: float, atol: float, where: str = "output") -> str | None:
    """None when ``got`` matches ``expected``, else what differs."""
    if isinstance(expected, list):
        if not isinstance(got, list):
            return f"{where}: expected a sequence, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{where}: sequence of {len(got)} items, expected {len(expected)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            msg = compare(e, g, rtol, atol, f"{where}[{i}]")
            if msg:
                return msg
        return None
    if expected is None:
        return None if got is None else f"{where}: expected an empty optional"
    if got is None or isinstance(got, list):
        return f"{where}: expected a tensor, got {type(got).__name__}"
    got = np.asarray(got)
    if got.dtype != expected.dtype:
        return f"{where}: dtype {got.dtype}, expected {expected.dtype}"
    if got.shape != expected.shape:
        return f"{where}: shape {got.shape}, expected {expected.shape}"
    if expected.dtype == object:
        return None if np.array_equal(got, expected) else f"{where}: strings differ"
    if expected.dtype.kind in "fc":
        if np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):
            return None
        with np.errstate(invalid="ignore"):
            diff = np.abs(got.astype(np.complex128 if expected.dtype.kind == "c" else np.float64) - expected)
        return f"{where}: values differ (max abs diff {np.nanmax(diff) if diff.size else 0:.3g})"
    if np.array_equal(got, expected):
        return None
    return f"{where}: values differ ({int(np.sum(got != expected))} of {expected.size} elements)"


def _tolerance(case: dict, backend: str, dtype) -> tuple[float, float]:
    rtol, atol = case.get("rtol", 1e-3), case.get("atol", 1e-7)
    loose = BACKEND_TOLERANCE.get(backend, {}).get(str(dtype))
    if loose:
        rtol, atol = max(rtol, loose[0]), max(atol, loose[1])
    return rtol, atol


def run_node_case(case: dict, backend: str) -> str | None:
    """Run one generated node test; None if it passed, else why not."""
    case_dir = os.path.join(GENERATED, case["name"])
    sess = pywebinfer.InferenceSession(os.path.join(case_dir, "model.onnx"), providers=[backend])
    graph = sess.model.graph
    in_types = {v.name: v.type for v in graph.inputs}
    in_types.update({n: graph.value_type(n) for n in graph.initializers})
    declared_inputs = sess.graph.inputs  # positional order of the test data files
    try:
        for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))):
            n_in = len(glob.glob(os.path.join(ds, "input_*.pb")))
            n_out = len(glob.glob(os.path.join(ds, "output_*.pb")))
            # test data lists inputs in the order of the model's graph.input, which may
            # include initializers' names in old models
            names = [v.name for v in declared_inputs][:n_in]
            feeds = {name: load_value(os.path.join(ds, f"input_{j}.pb"), in_types.get(name))
                     for j, name in enumerate(names)}
            outputs = sess.run(None, feeds)
            for j in range(n_out):
                vtype = graph.outputs[j].type
                expected = load_value(os.path.join(ds, f"output_{j}.pb"), vtype)
                dtype = getattr(expected, "dtype", None)
                rtol, atol = _tolerance(case, backend, dtype)
                msg = compare(expected, outputs[j], rtol, atol, f"output {j} ({graph.outputs[j].name})")
                if msg:
                    return msg
    finally:
        sess.close()
    return None


def light_case_feeds(inputs) -> dict:
    """The onnx backend runner feeds the light graphs a ramp 0, 1/n, 2/n, ... with
    unknown dimensions taken as 1; their stored outputs were made from it."""
    feeds = {}
    for arg in inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in arg.shape)
        n = int(np.prod(shape))
        feeds[arg.name] = (np.arange(n).reshape(shape) / n).astype(np.float32)
    return feeds


def run_light_case(case: dict, backend: str) -> str | None:
    sess = pywebinfer.InferenceSession(case["path"], providers=[backend])
    try:
        outputs = sess.run(None, light_case_feeds(sess.get_inputs()))
        prefix = case["path"][:-len(".onnx")]
        for j, out in enumerate(outputs):
            expected = load_value(f"{prefix}_output_{j}.pb")
            rtol, atol = _tolerance(case, backend, expected.dtype)
            msg = compare(expected, out, rtol, atol, f"output {j}")
            if msg:
                return msg
    finally:
        sess.close()
    return None


SKIP = "skip"  # run_case's answer for a case using ops the backend does not claim


def run_case(case: dict, backend: str) -> str | None:
    """None if the case passed, SKIP if the backend does not claim all its ops (never for
    numpy, the reference, which must run everything), else why it failed."""
    try:
        if "path" in case:
            return run_light_case(case, backend)
        return run_node_case(case, backend)
    except pywebinfer.UnsupportedOpError as e:
        if backend == "numpy":
            return f"UnsupportedOpError: {str(e).splitlines()[1].strip()}"
        return SKIP
    except Exception as e:  # the failure is the result; the table shows why
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return f"{type(e).__name__}: {first}"[:300]


def run_suite(backend: str = "numpy", pattern: str | None = None, light: bool = True,
              table_path: str | None = None, verbose: bool = False, out=sys.stdout) -> dict:
    import re

    expected = load_expected_failures(backend)
    cases = node_cases() + (light_cases() if light else [])
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c["name"])]
    results = []
    t0 = time.perf_counter()
    for case in cases:
        t = time.perf_counter()
        msg = run_case(case, backend)
        reason = expected_reason(case["name"], expected)
        status = "pass" if msg is None else "skip" if msg == SKIP else "fail"
        results.append({"name": case["name"], "op_type": case["op_type"], "status": status,
                        "message": msg, "expected_failure": reason,
                        "seconds": round(time.perf_counter() - t, 4)})
        if status == "skip":
            continue
        if verbose or (msg is not None and reason is None):
            print(f"{status.upper():4} {case['name']}: {msg or ''}", file=out)
        elif msg is None and reason is not None:
            print(f"XPASS {case['name']}: listed as an expected failure ({reason}) but passed", file=out)
    summary = summarize(results, backend, time.perf_counter() - t0)
    if table_path:
        write_table(results, summary, table_path)
    return summary


def summarize(results, backend, seconds) -> dict:
    passed = sum(r["status"] == "pass" for r in results)
    failed = sum(r["status"] == "fail" for r in results)
    unexpected = [r["name"] for r in results if r["status"] == "fail" and not r["expected_failure"]]
    stale = [r["name"] for r in results if r["status"] == "pass" and r["expected_failure"]]
    skipped = sum(r["status"] == "skip" for r in results)
    return {"backend": backend, "passed": passed, "failed": failed, "skipped": skipped,
            "unexpected_failures": unexpected, "unexpected_passes": stale,
            "seconds": round(seconds, 1), "results": results}


def write_table(results, summary, path) -> None:
    per_op: dict[str, list] = {}
    for r in results:
        per_op.setdefault(r["op_type"], []).append(r)
    lines = [f"# Conformance on the {summary['backend']} backend", "",
             f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped "
             f"(ops the backend does not claim) in {summary['seconds']} s.", "",
             "| op | passed | failed | skipped | failing cases (reason) |", "|---|---:|---:|---:|---|"]
    for op in sorted(per_op):
        rs = per_op[op]
        bad = [f"{r['name']} ({r['expected_failure'] or r['message']})" for r in rs if r["status"] == "fail"]
        lines.append(f"| {op} | {sum(r['status'] == 'pass' for r in rs)} | {len(bad)} | "
                     f"{sum(r['status'] == 'skip' for r in rs)} | {'; '.join(bad).replace('|', '/')} |")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(path[:-3] + ".json" if path.endswith(".md") else path + ".json", "w") as f:
        json.dump(summary, f, indent=1)
