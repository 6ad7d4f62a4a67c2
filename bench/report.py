"""Tables and the chart of a `make bench` result (bench/results/latest.json).

    report.py [RESULTS_JSON] [--chart PNG]     print the tables of a saved run again

The headline is the ratio: pywebinfer's median time over the median time of the
matching onnxruntime-web configuration (workloads.CONFIGS' `versus`), both measured in
the same browser run on the same input.  Above 1 pywebinfer is that many times slower.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import CONFIGS, NATIVE_CONFIGS  # noqa: E402

VERSUS = {c["id"]: c["versus"] for c in CONFIGS + NATIVE_CONFIGS if "versus" in c}
PYWEBINFER_ROWS = [c["id"] for c in CONFIGS if c["runtime"] == "pywebinfer"] + ["native/pywebinfer-numpy"]
SHORT = {"onnxruntime-web": "ORT-web", "onnxruntime-native": "ORT", "pywebinfer": "pywebinfer",
         "tfjs": "TF.js"}


def fmt_ms(value) -> str:
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def fmt_bytes(value) -> str:
    return "–" if value is None else f"{value / 2 ** 20:.1f} MiB"


def fmt_diff(value) -> str:
    return "–" if value is None else f"{value:.1e}"


def label(record: dict) -> str:
    """e.g. "pywebinfer wasm 1t", "ORT-web webgpu", "ORT cpu 1t (CPython)"."""
    threads = f" {record['threads']}t" if record["backend"] == "wasm" or record["host"] == "cpython" \
        and record["backend"] != "numpy" else ""
    where = " (CPython)" if record["host"] == "cpython" else ""
    return f"{SHORT[record['runtime']]} {record['backend']}{threads}{where}"


def ratio_rows(results: dict) -> list[dict]:
    """One row per workload and pywebinfer configuration, with its ratio to its peer."""
    by_key = {(r["workload"], r["config"]): r for r in results["records"]}
    rows = []
    for workload in results["workloads"]:
        for config_id in PYWEBINFER_ROWS:
            mine = by_key.get((workload["name"], config_id))
            if mine is None:
                continue
            peer = by_key.get((workload["name"], VERSUS[config_id]))
            ratio = None
            if mine["median_ms"] and peer and peer["median_ms"]:
                ratio = mine["median_ms"] / peer["median_ms"]
            # TF.js on the same backend (numpy beside its plain-JS cpu backend)
            tfjs = by_key.get((workload["name"], "tfjs/" + config_id.split("/")[1].replace("numpy", "cpu")))
            if mine["host"] != "chromium" or (tfjs and not tfjs["median_ms"]):
                tfjs = None
            if mine["status"] != "ok":
                why = mine["error"]
            elif peer and peer["status"] != "ok":
                why = f"{label(peer)}: {peer['status']}: {peer['error']}"
            elif peer and peer["median_ms"] is None:
                why = f"{label(peer)}: {peer['note']}"
            else:
                why = ""
            rows.append({"workload": workload["name"], "mine": mine, "peer": peer, "ratio": ratio,
                         "tfjs": tfjs, "why": why or mine.get("note") or ""})
    return rows


def ratio_table(results: dict) -> str:
    lines = ["| workload | pywebinfer | **× ORT** | pywebinfer median | vs | their median | "
             "TF.js, same backend | max abs diff | runs | note |",
             "|---|---|---:|---:|---|---:|---|---:|---:|---|"]
    for row in ratio_rows(results):
        mine, peer, tfjs = row["mine"], row["peer"], row["tfjs"]
        ratio = f"**{row['ratio']:.2f}×**" if row["ratio"] else ("missing" if mine["status"] == "missing" else "–")
        lines.append("| " + " | ".join([
            row["workload"], label(mine), ratio, fmt_ms(mine["median_ms"]),
            label(peer) if peer else "–", fmt_ms(peer["median_ms"]) if peer else "–",
            (f"{fmt_ms(tfjs['median_ms'])}" + (f" ({mine['median_ms'] / tfjs['median_ms']:.2f}×)"
                                               if mine["median_ms"] else "")) if tfjs else "–",
            fmt_diff(mine["max_abs_diff"]), str(mine["runs"] or "–"),
            row["why"].replace("|", "/")[:160]]) + " |")
    return "\n".join(lines)


def detail_table(results: dict) -> str:
    flops = {w["name"]: w.get("flops") for w in results["workloads"]}
    lines = ["| workload | configuration | load | first | median | min | runs | GFLOP/s | "
             "max abs diff | wasm heap | GPU | status |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["records"]:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error']}"
        if r["status"] == "ok" and r["note"]:
            status = f"ok; {r['note']}"
        rate = flops.get(r["workload"])
        rate = f"{rate / r['median_ms'] / 1e6:.1f}" if rate and r["median_ms"] else "–"
        lines.append("| " + " | ".join([
            r["workload"], label(r), fmt_ms(r["load_ms"]), fmt_ms(r["first_ms"]),
            fmt_ms(r["median_ms"]), fmt_ms(r["min_ms"]), str(r["runs"] or "–"), rate,
            fmt_diff(r["max_abs_diff"]), fmt_bytes(r["wasm_heap_bytes"]), fmt_bytes(r["gpu_bytes"]),
            status.replace("|", "/")[:140]]) + " |")
    return "\n".join(lines)


def cold_table(results: dict) -> str:
    runs = results.get("cold_start", [])
    if not runs:
        return "(cold start not measured)"
    names = []
    for run in runs:
        for stage in run.get("stages", []):
            if stage["stage"] not in names:
                names.append(stage["stage"])
    lines = ["| runtime | run | " + " | ".join(names) + " | first result | top-1 |",
             "|---|---:|" + "---:|" * len(names) + "---:|---:|"]
    for run in runs:
        stages = {s["stage"]: s["ms"] for s in run.get("stages", [])}
        if run["status"] != "done":
            lines.append(f"| {run['runtime']} | {run['run']} | " + " | ".join("–" for _ in names)
                         + f" | {run['status']}: {run.get('error')} | – |")
            continue
        lines.append(f"| {run['runtime']} | {run['run']} | "
                     + " | ".join(fmt_ms(stages.get(n)) for n in names)
                     + f" | **{fmt_ms(run['total_ms'])}** | {run['top1']} |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    env = results["environment"]
    browser = env.get("browser") or {}
    adapter = browser.get("gpu_adapter") or {}
    head = [
        f"pywebinfer benchmark, {results['started']} ({results['duration_s']:.0f} s)"
        + ("" if results.get("complete", True) else " INCOMPLETE: the harness did not finish"),
        f"browser: {browser.get('user_agent', '?')}; {browser.get('hardware_concurrency', '?')} cores; "
        f"crossOriginIsolated={browser.get('cross_origin_isolated')}; "
        f"WebGPU adapter: {adapter.get('vendor') or '-'} {adapter.get('architecture') or ''} "
        f"{adapter.get('description') or ''} (fallback={adapter.get('is_fallback_adapter')}); "
        f"WebGL: {(browser.get('webgl') or {}).get('renderer', '-')}",
        "",
        "Ratio = pywebinfer median / matching onnxruntime-web median, same browser run, same "
        "input (> 1: pywebinfer is slower). Native rows: CPython, vs onnxruntime CPU, 1 thread.",
        "",
        ratio_table(results),
        "",
        "Every configuration:",
        "",
        detail_table(results),
        "",
        "Cold start (navigation to first EfficientNet-Lite0 result, browser cache cleared):",
        "",
        cold_table(results),
    ]
    return "\n".join(head)


def chart(results: dict, path: Path) -> None:
    """Horizontal bars of the ratios, one group per workload, log scale around 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ratio_rows(results)
    configs = [c for c in PYWEBINFER_ROWS if any(r["mine"]["config"] == c for r in rows)]
    workloads = [w["name"] for w in results["workloads"]]
    colors = plt.get_cmap("tab10")
    height = 0.8 / max(len(configs), 1)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.9 * len(workloads)))
    for i, config_id in enumerate(configs):
        for j, workload in enumerate(workloads):
            row = next((r for r in rows if r["workload"] == workload and r["mine"]["config"] == config_id), None)
            y = j + (i - (len(configs) - 1) / 2) * height
            if row and row["ratio"]:
                # from the 1x line: faster than onnxruntime to the left, slower to the right
                ax.barh(y, row["ratio"] - 1.0, left=1.0, height=height, color=colors(i),
                        label=label(row["mine"]) if j == 0 else None)
                ax.text(row["ratio"], y, f" {row['ratio']:.2f}×", va="center", fontsize=7)
            elif row:
                ax.text(1.0, y, f" {row['mine']['status'] if row['mine']['status'] != 'ok' else 'no peer median'}",
                        va="center", fontsize=7, color="grey")
                ax.barh(y, 0, height=height, color=colors(i), label=label(row["mine"]) if j == 0 else None)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(workloads)))
    ax.set_yticklabels(workloads)
    ax.invert_yaxis()
    ax.set_xlabel("pywebinfer median / onnxruntime median (same run; > 1 = pywebinfer slower)")
    ax.set_title(f"pywebinfer vs onnxruntime-web, {results['started']}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="?",
                        default=Path(__file__).resolve().parent / "results" / "latest.json")
    parser.add_argument("--chart", type=Path, help="also draw the chart to this PNG")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    print(markdown(results))
    if args.chart:
        chart(results, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
