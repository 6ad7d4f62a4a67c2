"""Regenerate the ONNX node tests from the pinned ``onnx`` package's own generators.

The onnx wheel ships the generators but not their output.  This writes, per case,
``<out>/<case>/model.onnx`` and ``test_data_set_N/{input,output}_K.pb`` (the layout of
onnx's backend test data) and a ``cases.json`` index.  Takes about 25 s.

    python tests/conformance/generate.py [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "generated")


def _serialize(value, type_proto, name):
    from onnx import TensorProto, numpy_helper

    if type_proto.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if type_proto.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if type_proto.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def generate(out: str = DEFAULT_OUT) -> list[dict]:
    import onnx
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases(None)
    os.makedirs(out, exist_ok=True)
    index = []
    for case in cases:
        case_dir = os.path.join(out, case.name)
        os.makedirs(case_dir, exist_ok=True)
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        graph = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(ds, exist_ok=True)
            for j, value in enumerate(inputs):
                with open(os.path.join(ds, f"input_{j}.pb"), "wb") as f:
                    f.write(_serialize(value, graph.input[j].type, graph.input[j].name))
            for j, value in enumerate(outputs):
                with open(os.path.join(ds, f"output_{j}.pb"), "wb") as f:
                    f.write(_serialize(value, graph.output[j].type, graph.output[j].name))
        index.append({
            "name": case.name,
            "op_type": graph.node[0].op_type if graph.node else "",
            "domain": graph.node[0].domain if graph.node else "",
            "expanded": "_expanded" in case.name,
            "rtol": case.rtol,
            "atol": case.atol,
            "data_sets": len(case.data_sets),
        })
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"onnx_version": onnx.__version__, "cases": index}, f, indent=1)
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    index = generate(args.out)
    plain = sum(1 for c in index if not c["expanded"])
    print(f"generated {len(index)} node test cases ({plain} plain) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
