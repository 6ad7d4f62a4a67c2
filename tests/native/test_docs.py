"""docs/operators.md is generated from the registry: it must match what `make docs` writes."""
import os

from pywebinfer.cli import ops_markdown
from pywebinfer.ops.registry import load_all_kernels

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_operator_table_is_current():
    with open(os.path.join(ROOT, "docs", "operators.md")) as f:
        committed = f.read()
    assert committed == ops_markdown(load_all_kernels()), "docs/operators.md is stale: run `make docs`"


def test_registry_has_the_required_coverage():
    ops = load_all_kernels().op_types("numpy")
    assert len(ops) >= 160
    for op in ["If", "Loop", "Scan", "LSTM", "GRU", "RNN", "QuantizeLinear", "DequantizeLinear",
               "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
               "Resize", "Einsum", "TopK", "NonMaxSuppression", "GatherND", "ScatterND",
               "ScatterElements", "CumSum", "Conv", "ConvTranspose"]:
        assert (op, "") in ops, op
