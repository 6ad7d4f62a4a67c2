"""Classic machine-learning ops (domain ai.onnx.ml): numpy reference kernels.

These are the ops scikit-learn exporters emit.  Where the spec leaves a detail open
(binary classifiers, the PROBIT approximation, 1-D inputs) the kernels follow what
onnxruntime does, since that is what exported models are validated against.
"""
from __future__ import annotations

import math

import numpy as np

from .registry import ML_DOMAIN, kernel


def _rows(x, op):
    """[N, F] view of an input; a 1-D input is one row."""
    x = np.asarray(x)
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim != 2:
        raise ValueError(f"{op}: input must be [N, F] or [F], got shape {x.shape}")
    return x


def _is_string(x):
    return x.dtype == object or x.dtype.kind in "US"


# ---- score transforms shared by the linear, SVM and tree models --------------------

def _erfinv(y):
    """Inverse error function, Winitzki's closed form (a = 0.147).

    onnxruntime and the ONNX reference both compute PROBIT with this approximation
    (relative error ~1e-3); using it keeps scores identical to theirs."""
    y = np.asarray(y, dtype=np.float64)
    a = 0.147
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.log((1.0 - y) * (1.0 + y))
        first = 2.0 / (np.pi * a) + 0.5 * log_term
        root = np.sqrt(np.sqrt(first * first - log_term / a) - first)
    return np.copysign(root, y)


def _softmax_zero(scores):
    """Softmax over each row that leaves (near-)zero scores at zero."""
    top = np.max(scores, axis=1, keepdims=True)
    nonzero = np.abs(scores) > 1e-7
    e = np.where(nonzero, np.exp(scores - top), scores * np.exp(-top))
    total = np.sum(np.where(nonzero, e, 0.0), axis=1, keepdims=True)
    return e / np.where(total == 0, 1.0, total)


def _post_transform(scores, name, op):
    """Apply a post_transform (NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT) row-wise."""
    if name == "NONE":
        return scores
    if name == "LOGISTIC":
        return 1.0 / (1.0 + np.exp(-scores))
    if name == "SOFTMAX":
        e = np.exp(scores - np.max(scores, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)
    if name == "SOFTMAX_ZERO":
        return _softmax_zero(scores)
    if name == "PROBIT":
        return math.sqrt(2.0) * _erfinv(2.0 * scores - 1.0)
    raise ValueError(f"{op}: post_transform {name!r} is not NONE, SOFTMAX, LOGISTIC, "
                     "SOFTMAX_ZERO or PROBIT")


_TRANSFORM_CODES = {0: "NONE", 1: "SOFTMAX", 2: "LOGISTIC", 3: "SOFTMAX_ZERO", 4: "PROBIT"}


def _class_labels(attrs, op, ints="classlabels_ints", strings="classlabels_strings"):
    if attrs.get(strings):
        return np.array(attrs[strings], dtype=object)
    if attrs.get(ints) is not None and len(attrs[ints]):
        return np.array(attrs[ints], dtype=np.int64)
    raise ValueError(f"{op}: one of {ints} or {strings} must be set")


# ---- simple element-wise and shape ops ---------------------------------------------

@kernel("ArrayFeatureExtractor", since=1, domain=ML_DOMAIN)
def array_feature_extractor(ctx, inputs, attrs):
    x, indices = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(np.int64).ravel()
    last = x.shape[-1] if x.ndim else 0
    if indices.size and (indices.min() < 0 or indices.max() >= last):
        raise ValueError(f"ArrayFeatureExtractor: indices {indices.tolist()} out of range "
                         f"for a last dimension of {last}")
    picked = x[..., indices]
    # a 1-D input gives one row, as onnxruntime does
    return picked.reshape(1, -1) if x.ndim == 1 else picked


@kernel("Binarizer", since=1, domain=ML_DOMAIN)
def binarizer(ctx, inputs, attrs):
    x = np.asarray(inputs[0])
    return (x > attrs.get("threshold", 0.0)).astype(x.dtype)


@kernel("Normalizer", since=1, domain=ML_DOMAIN)
def normalizer(ctx, inputs, attrs):
    """Row-wise MAX, L1 or L2 normalisation; a zero divisor leaves the row unchanged."""
    op = "Normalizer"
    x = np.asarray(inputs[0])
    rows = _rows(x, op).astype(np.float64)
    norm = attrs.get("norm", "MAX")
    if norm == "MAX":
        divisor = np.max(rows, axis=1, keepdims=True)
    elif norm == "L1":
        divisor = np.sum(np.abs(rows), axis=1, keepdims=True)
    elif norm == "L2":  # the sign is kept, as onnxruntime does
        divisor = np.sqrt(np.sum(rows * rows, axis=1, keepdims=True))
    else:
        raise ValueError(f"{op}: norm {norm!r} is not MAX, L1 or L2")
    out = rows / np.where(divisor == 0, 1.0, divisor)
    return out.astype(np.float32).reshape(x.shape)


@kernel("Scaler", since=1, domain=ML_DOMAIN)
def scaler(ctx, inputs, attrs):
    op = "Scaler"
    x = np.asarray(inputs[0])
    offset = np.asarray(attrs.get("offset", [0.0]), dtype=np.float32)
    scale = np.asarray(attrs.get("scale", [1.0]), dtype=np.float32)
    features = x.shape[-1] if x.ndim else 1
    if offset.size != scale.size or offset.size not in (1, features):
        raise ValueError(f"{op}: offset ({offset.size}) and scale ({scale.size}) must have "
                         f"the same length, 1 or the {features} features")
    return ((x.astype(np.float32) - offset) * scale).astype(np.float32)


@kernel("OneHotEncoder", since=1, domain=ML_DOMAIN)
def one_hot_encoder(ctx, inputs, attrs):
    op = "OneHotEncoder"
    x = np.asarray(inputs[0])
    if attrs.get("cats_strings"):
        if not _is_string(x):
            raise ValueError(f"{op}: cats_strings needs a string input, got {x.dtype}")
        categories = list(attrs["cats_strings"])
        keys = x.ravel().tolist()
    elif attrs.get("cats_int64s") is not None and len(attrs["cats_int64s"]):
        if _is_string(x):
            raise ValueError(f"{op}: cats_int64s needs a numeric input")
        categories = [int(c) for c in attrs["cats_int64s"]]
        keys = x.ravel().astype(np.int64).tolist()  # float inputs are truncated
    else:
        raise ValueError(f"{op}: one of cats_strings or cats_int64s must be set")
    position = {c: i for i, c in enumerate(categories)}
    found = np.array([position.get(k, -1) for k in keys], dtype=np.int64)
    if not attrs.get("zeros", 1) and (found < 0).any():
        missing = keys[int(np.argmax(found < 0))]
        raise ValueError(f"{op}: category {missing!r} is not in the list and zeros=0")
    out = np.zeros((found.size, len(categories)), dtype=np.float32)
    hit = found >= 0
    out[np.nonzero(hit)[0], found[hit]] = 1.0
    return out.reshape(x.shape + (len(categories),))


@kernel("Imputer", since=1, domain=ML_DOMAIN)
def imputer(ctx, inputs, attrs):
    op = "Imputer"
    x = np.asarray(inputs[0])
    if x.dtype.kind == "f":
        values = attrs.get("imputed_value_floats")
        replaced = attrs.get("replaced_value_float", 0.0)
    else:
        values = attrs.get("imputed_value_int64s")
        replaced = attrs.get("replaced_value_int64", 0)
    if values is None or not len(values):
        kind = "floats" if x.dtype.kind == "f" else "int64s"
        raise ValueError(f"{op}: imputed_value_{kind} must be set for a {x.dtype} input")
    values = np.asarray(values).astype(x.dtype)
    features = x.shape[-1] if x.ndim else 1
    if values.size not in (1, features):
        raise ValueError(f"{op}: {values.size} imputed values for {features} features")
    if x.dtype.kind == "f" and math.isnan(replaced):
        hit = np.isnan(x)
    else:
        hit = x == replaced
    return np.where(hit, values, x).astype(x.dtype)


@kernel("FeatureVectorizer", since=1, domain=ML_DOMAIN)
def feature_vectorizer(ctx, inputs, attrs):
    """Concatenate inputs along the feature axis, each cut or zero-padded to its size."""
    op = "FeatureVectorizer"
    sizes = list(attrs.get("inputdimensions", []))
    if len(sizes) != len(inputs):
        raise ValueError(f"{op}: inputdimensions has {len(sizes)} entries for {len(inputs)} inputs")
    parts = []
    batch = None
    for x, size in zip(inputs, sizes):
        x = np.asarray(x)
        rows = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)
        if batch is None:
            batch = rows.shape[0]
        elif rows.shape[0] != batch:
            raise ValueError(f"{op}: inputs have different batch sizes {batch} and {rows.shape[0]}")
        block = np.zeros((batch, size), dtype=np.float32)
        width = min(size, rows.shape[1])
        block[:, :width] = rows[:, :width]
        parts.append(block)
    return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0), np.float32)


# ---- LabelEncoder -------------------------------------------------------------------

class _Lookup:
    """A key -> value table where a NaN key matches any NaN input."""

    def __init__(self, keys, values):
        self.table = {}
        self.nan_value = None
        has_nan = False
        for k, v in zip(keys, values):
            if isinstance(k, float) and math.isnan(k):
                self.nan_value, has_nan = v, True
            else:
                self.table[k] = v
        self.has_nan = has_nan

    def get(self, key, default):
        if self.has_nan and isinstance(key, float) and math.isnan(key):
            return self.nan_value
        return self.table.get(key, default)


def _encode(x, keys, values, default, out_dtype):
    lookup = _Lookup(keys, values)
    flat = [lookup.get(k, default) for k in np.asarray(x).ravel().tolist()]
    out = np.empty(len(flat), dtype=out_dtype)
    out[:] = flat
    return out.reshape(np.shape(x))


@kernel("LabelEncoder", since=1, until=1, domain=ML_DOMAIN)
def label_encoder_1(ctx, inputs, attrs):
    """Opset 1: strings -> index in classes_strings, or int64 -> string by index."""
    x = np.asarray(inputs[0])
    classes = list(attrs.get("classes_strings", []))
    if _is_string(x):
        return _encode(x, classes, range(len(classes)), attrs.get("default_int64", -1), np.int64)
    return _encode(x.astype(np.int64), range(len(classes)), classes,
                   attrs.get("default_string", "_Unused"), object)


_KEY_ATTRS = ("keys_strings", "keys_int64s", "keys_floats")
_VALUE_ATTRS = {"values_strings": (object, "default_string", "_Unused"),
                "values_int64s": (np.int64, "default_int64", -1),
                "values_floats": (np.float32, "default_float", -0.0)}


@kernel("LabelEncoder", since=2, domain=ML_DOMAIN)
def label_encoder(ctx, inputs, attrs):
    """Opsets 2+: parallel keys_*/values_* lists; opset 4 adds the *_tensor forms."""
    op = "LabelEncoder"
    x = np.asarray(inputs[0])
    key_sources = [a for a in (*_KEY_ATTRS, "keys_tensor") if attrs.get(a) is not None]
    value_sources = [a for a in (*_VALUE_ATTRS, "values_tensor") if attrs.get(a) is not None]
    if len(key_sources) != 1 or len(value_sources) != 1:
        raise ValueError(f"{op}: exactly one keys_* and one values_* attribute must be set, "
                         f"got {key_sources} and {value_sources}")
    keys = attrs[key_sources[0]]
    keys = np.asarray(keys).ravel().tolist() if isinstance(keys, np.ndarray) else list(keys)
    values_attr = value_sources[0]
    if values_attr == "values_tensor":
        tensor = np.asarray(attrs["values_tensor"]).ravel()
        values, out_dtype = tensor.tolist(), tensor.dtype
        if out_dtype.kind in "US":
            out_dtype = np.dtype(object)
        kind = "string" if out_dtype == object else ("int" if out_dtype.kind in "iu" else "float")
        default_attr, fallback = {"string": ("default_string", "_Unused"),
                                  "int": ("default_int64", -1),
                                  "float": ("default_float", -0.0)}[kind]
    else:
        out_dtype, default_attr, fallback = _VALUE_ATTRS[values_attr]
        values = list(attrs[values_attr])
    if len(keys) != len(values):
        raise ValueError(f"{op}: {len(keys)} keys but {len(values)} values")
    if attrs.get("default_tensor") is not None:
        default = np.asarray(attrs["default_tensor"]).ravel()[0].item()
    else:
        default = attrs.get(default_attr, fallback)
    if not _is_string(x):
        # float inputs are looked up as Python floats; int keys as ints
        x = x.astype(np.float64) if x.dtype.kind == "f" else x.astype(np.int64)
    return _encode(x, keys, values, default, out_dtype)


@kernel("CategoryMapper", since=1, domain=ML_DOMAIN)
def category_mapper(ctx, inputs, attrs):
    """Strings -> int64 through cats_strings/cats_int64s, or int64 -> strings."""
    x = np.asarray(inputs[0])
    names = list(attrs.get("cats_strings", []))
    ids = [int(i) for i in attrs.get("cats_int64s", [])]
    if len(names) != len(ids):
        raise ValueError(f"CategoryMapper: cats_strings ({len(names)}) and cats_int64s "
                         f"({len(ids)}) must have the same length")
    if _is_string(x):
        return _encode(x, names, ids, attrs.get("default_int64", -1), np.int64)
    return _encode(x.astype(np.int64), ids, names, attrs.get("default_string", "_Unused"), object)


# ---- linear models -----------------------------------------------------------------

@kernel("LinearRegressor", since=1, domain=ML_DOMAIN)
def linear_regressor(ctx, inputs, attrs):
    op = "LinearRegressor"
    rows = _rows(inputs[0], op).astype(np.float32)
    targets = attrs.get("targets", 1)
    coefficients = np.asarray(attrs.get("coefficients", []), dtype=np.float32)
    if coefficients.size != targets * rows.shape[1]:
        raise ValueError(f"{op}: {coefficients.size} coefficients for {targets} targets "
                         f"x {rows.shape[1]} features")
    scores = rows @ coefficients.reshape(targets, -1).T
    intercepts = attrs.get("intercepts")
    if intercepts is not None and len(intercepts):
        scores = scores + np.asarray(intercepts, dtype=np.float32)
    return _post_transform(scores, attrs.get("post_transform", "NONE"), op).astype(np.float32)


@kernel("LinearClassifier", since=1, domain=ML_DOMAIN)
def linear_classifier(ctx, inputs, attrs):
    op = "LinearClassifier"
    rows = _rows(inputs[0], op).astype(np.float32)
    labels = _class_labels(attrs, op)
    coefficients = np.asarray(attrs.get("coefficients", []), dtype=np.float32)
    intercepts = np.asarray(attrs.get("intercepts", []), dtype=np.float32)
    classes = intercepts.size or (coefficients.size // max(rows.shape[1], 1))
    if classes == 0 or coefficients.size != classes * rows.shape[1]:
        raise ValueError(f"{op}: {coefficients.size} coefficients do not fit {classes} "
                         f"classes x {rows.shape[1]} features")
    scores = rows @ coefficients.reshape(classes, -1).T
    if intercepts.size:
        scores = scores + intercepts
    transform = attrs.get("post_transform", "NONE")
    if classes == 1:
        # one score column: positive when > 0; the label pair is classlabels when two
        # are given, else 1/0 ("1"/"0" for strings)
        if labels.size == 2:
            negative, positive = labels[0], labels[1]
        else:
            negative, positive = ("0", "1") if labels.dtype == object else (0, 1)
        chosen = np.where(scores[:, 0] > 0, positive, negative).astype(labels.dtype)
        if labels.size == 2 and transform != "PROBIT":
            # onnxruntime writes [1 - s, s] for a two-label, one-column model
            return chosen, np.concatenate([1 - scores, scores], axis=1).astype(np.float32)
        return chosen, _post_transform(scores, transform, op).astype(np.float32)
    chosen = labels[np.argmax(scores, axis=1)] if labels.size >= classes else None
    if chosen is None:
        raise ValueError(f"{op}: {labels.size} class labels for {classes} score columns")
    return chosen, _post_transform(scores, transform, op).astype(np.float32)


# ---- tree ensembles ----------------------------------------------------------------

_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER, _LEAF = range(8)
_LEGACY_MODES = {"BRANCH_LEQ": _LEQ, "BRANCH_LT": _LT, "BRANCH_GTE": _GTE, "BRANCH_GT": _GT,
                 "BRANCH_EQ": _EQ, "BRANCH_NEQ": _NEQ, "LEAF": _LEAF}


class _Forest:
    """Flat node arrays; leaves are nodes whose mode is _LEAF."""

    def __init__(self, op, feature, threshold, mode, true_next, false_next, missing_true,
                 members=None):
        self.op = op
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.mode = np.asarray(mode, dtype=np.int64)
        self.true_next = np.asarray(true_next, dtype=np.int64)
        self.false_next = np.asarray(false_next, dtype=np.int64)
        self.missing_true = np.asarray(missing_true, dtype=bool)
        self.members = members or {}  # node -> np.ndarray of member values
        self.is_leaf = self.mode == _LEAF

    def leaves(self, x, roots):
        """(N, trees) index of the leaf each row reaches in each tree."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if not self.is_leaf.all() and self.feature[~self.is_leaf].max() >= x.shape[1]:
            raise ValueError(f"{self.op}: a node reads feature "
                             f"{int(self.feature[~self.is_leaf].max())} of {x.shape[1]}")
        out = np.empty((n, len(roots)), dtype=np.int64)
        for t, root in enumerate(roots):
            at = np.full(n, root, dtype=np.int64)
            active = np.nonzero(~self.is_leaf[at])[0]
            for _ in range(len(self.mode) + 1):
                if active.size == 0:
                    break
                node = at[active]
                v = x[active, self.feature[node]]
                thr = self.threshold[node]
                mode = self.mode[node]
                with np.errstate(invalid="ignore"):
                    go_true = np.select(
                        [mode == _LEQ, mode == _LT, mode == _GTE, mode == _GT, mode == _EQ,
                         mode == _NEQ],
                        [v <= thr, v < thr, v >= thr, v > thr, v == thr, v != thr], False)
                for member_node in np.unique(node[mode == _MEMBER]):
                    sel = node == member_node
                    go_true[sel] = np.isin(v[sel], self.members[int(member_node)])
                go_true |= self.missing_true[node] & np.isnan(v)
                at[active] = np.where(go_true, self.true_next[node], self.false_next[node])
                active = active[~self.is_leaf[at[active]]]
            else:
                raise ValueError(f"{self.op}: tree {t} has a cycle")
            out[:, t] = at
        return out


def _float_attr(attrs, name):
    """A float list attribute or its *_as_tensor (double) form, or None."""
    tensor = attrs.get(name + "_as_tensor")
    if tensor is not None:
        return np.asarray(tensor, dtype=np.float64).ravel()
    value = attrs.get(name)
    return None if value is None else np.asarray(value, dtype=np.float64)


def _legacy_forest(attrs, op):
    """Parse the nodes_* attributes of TreeEnsembleRegressor/Classifier."""
    tree_ids = list(attrs.get("nodes_treeids", []))
    node_ids = list(attrs.get("nodes_nodeids", []))
    count = len(tree_ids)
    if not count or len(node_ids) != count:
        raise ValueError(f"{op}: nodes_treeids and nodes_nodeids must be non-empty and equal length")
    position = {(t, nid): i for i, (t, nid) in enumerate(zip(tree_ids, node_ids))}
    modes = [_LEGACY_MODES.get(m) for m in attrs.get("nodes_modes", [])]
    if len(modes) != count or None in modes:
        raise ValueError(f"{op}: nodes_modes must hold one valid mode per node")
    values = _float_attr(attrs, "nodes_values")
    values = np.zeros(count) if values is None else values

    def child(ids):
        ids = list(attrs.get(ids, [0] * count))
        return [position.get((t, c), -1) if m != _LEAF else i
                for i, (t, c, m) in enumerate(zip(tree_ids, ids, modes))]

    true_next, false_next = child("nodes_truenodeids"), child("nodes_falsenodeids")
    if -1 in true_next or -1 in false_next:
        raise ValueError(f"{op}: a node points to a child id that does not exist in its tree")
    missing = list(attrs.get("nodes_missing_value_tracks_true", [])) or [0] * count
    forest = _Forest(op, attrs.get("nodes_featureids", [0] * count), values, modes,
                     true_next, false_next, missing)
    # the root of a tree is its node that no other node points to
    children = {c for i, c in enumerate(true_next + false_next) if c != i % count}
    roots, seen = [], set()
    for i, t in enumerate(tree_ids):
        if t not in seen and i not in children:
            seen.add(t)
            roots.append(i)
    return forest, roots, position


def _leaf_votes(attrs, prefix, position, n_outputs, op):
    """(node, output, weight) votes from the <prefix>_treeids/_nodeids/_ids/_weights lists."""
    trees = list(attrs.get(f"{prefix}_treeids", []))
    nodes = list(attrs.get(f"{prefix}_nodeids", []))
    ids = list(attrs.get(f"{prefix}_ids", []))
    weights = _float_attr(attrs, f"{prefix}_weights")
    weights = np.zeros(len(ids)) if weights is None else weights
    if not len(trees) == len(nodes) == len(ids) == len(weights):
        raise ValueError(f"{op}: the {prefix}_* attributes have different lengths")
    votes = []
    for t, nid, target, w in zip(trees, nodes, ids, weights):
        if (t, nid) not in position:
            raise ValueError(f"{op}: {prefix} weight for unknown node ({t}, {nid})")
        if not 0 <= target < n_outputs:
            raise ValueError(f"{op}: {prefix}_ids value {target} is outside [0, {n_outputs})")
        votes.append((position[(t, nid)], target, w))
    return votes


def _aggregate(leaf_at, votes, n_outputs, n_nodes, how, base):
    """Combine leaf votes over trees with SUM, AVERAGE, MIN or MAX, then add base values."""
    n, trees = leaf_at.shape
    if how in ("SUM", "AVERAGE"):
        table = np.zeros((n_nodes, n_outputs))
        for node, target, w in votes:
            table[node, target] += w
        scores = table[leaf_at].sum(axis=1)
        if how == "AVERAGE":
            scores /= max(trees, 1)
    elif how in ("MIN", "MAX"):
        pick = np.minimum if how == "MIN" else np.maximum
        empty = np.inf if how == "MIN" else -np.inf
        table = np.full((n_nodes, n_outputs), empty)
        for node, target, w in votes:
            table[node, target] = pick(table[node, target], w)
        best = (np.min if how == "MIN" else np.max)(table[leaf_at], axis=1)
        scores = np.where(np.isinf(best), 0.0, best)  # a target no tree voted for is 0
    else:
        raise ValueError(f"tree ensemble: aggregate_function {how!r} is not SUM, AVERAGE, MIN or MAX")
    if base is not None and base.size:
        if base.size not in (1, n_outputs):
            raise ValueError(f"tree ensemble: {base.size} base values for {n_outputs} outputs")
        scores = scores + base
    return scores


@kernel("TreeEnsembleRegressor", since=1, domain=ML_DOMAIN)
def tree_ensemble_regressor(ctx, inputs, attrs):
    """Opsets 1-5 (3 adds the *_as_tensor attributes; 5 only deprecates the op)."""
    op = "TreeEnsembleRegressor"
    rows = _rows(inputs[0], op)
    forest, roots, position = _legacy_forest(attrs, op)
    n_targets = attrs.get("n_targets", 1)
    votes = _leaf_votes(attrs, "target", position, n_targets, op)
    scores = _aggregate(forest.leaves(rows, roots), votes, n_targets, len(forest.mode),
                        attrs.get("aggregate_function", "SUM"), _float_attr(attrs, "base_values"))
    return _post_transform(scores, attrs.get("post_transform", "NONE"), op).astype(np.float32)


@kernel("TreeEnsembleClassifier", since=1, domain=ML_DOMAIN)
def tree_ensemble_classifier(ctx, inputs, attrs):
    """Opsets 1-5 (3 adds the *_as_tensor attributes; 5 only deprecates the op)."""
    op = "TreeEnsembleClassifier"
    rows = _rows(inputs[0], op)
    labels = _class_labels(attrs, op, ints="classlabels_int64s")
    forest, roots, position = _legacy_forest(attrs, op)
    n_classes = labels.size
    votes = _leaf_votes(attrs, "class", position, n_classes, op)
    scores = _aggregate(forest.leaves(rows, roots), votes, n_classes, len(forest.mode), "SUM",
                        _float_attr(attrs, "base_values"))
    voted = sorted({target for _, target, _ in votes})
    if n_classes == 2 and len(voted) == 1:
        # binary model scoring one class only: that class wins when its score passes
        # 0.5 (all weights >= 0, i.e. probabilities) or 0 (signed margins)
        winner = voted[0]
        threshold = 0.5 if all(w >= 0 for _, _, w in votes) else 0.0
        chosen = np.where(scores[:, winner] > threshold, winner, 1 - winner)
    else:
        chosen = np.argmax(scores, axis=1)
    transformed = _post_transform(scores, attrs.get("post_transform", "NONE"), op)
    return labels[chosen], transformed.astype(np.float32)


@kernel("TreeEnsemble", since=5, domain=ML_DOMAIN)
def tree_ensemble(ctx, inputs, attrs):
    op = "TreeEnsemble"
    x = np.asarray(inputs[0])
    rows = _rows(x, op)
    split_modes = np.asarray(attrs.get("nodes_modes", []), dtype=np.int64).ravel()
    count = split_modes.size
    if split_modes.size and (split_modes.min() < 0 or split_modes.max() > _MEMBER):
        raise ValueError(f"{op}: nodes_modes values must be in [0, 6]")
    splits = np.asarray(attrs.get("nodes_splits", np.zeros(count)), dtype=np.float64).ravel()
    features = list(attrs.get("nodes_featureids", []))
    true_ids, false_ids = list(attrs.get("nodes_truenodeids", [])), list(attrs.get("nodes_falsenodeids", []))
    true_leaf = list(attrs.get("nodes_trueleafs", [])) or [0] * count
    false_leaf = list(attrs.get("nodes_falseleafs", [])) or [0] * count
    missing = list(attrs.get("nodes_missing_value_tracks_true", [])) or [0] * count
    if not (len(features) == len(true_ids) == len(false_ids) == len(true_leaf)
            == len(false_leaf) == len(missing) == splits.size == count):
        raise ValueError(f"{op}: the nodes_* attributes must all have {count} entries")
    leaf_targets = np.asarray(attrs.get("leaf_targetids", []), dtype=np.int64)
    leaf_weights = np.asarray(attrs.get("leaf_weights", np.zeros(0)), dtype=np.float64).ravel()
    if leaf_targets.size != leaf_weights.size:
        raise ValueError(f"{op}: leaf_targetids and leaf_weights differ in length")
    n_targets = attrs.get("n_targets")
    if n_targets is None or (leaf_targets.size and not 0 <= leaf_targets.min() <= leaf_targets.max() < n_targets):
        raise ValueError(f"{op}: n_targets {n_targets} must be set and cover every leaf_targetids value")

    # members of each BRANCH_MEMBER node, in order, separated by NaN
    members = {}
    if (split_modes == _MEMBER).any():
        flat = np.asarray(attrs.get("membership_values", np.zeros(0)), dtype=np.float64).ravel()
        cuts = np.nonzero(np.isnan(flat))[0]
        groups = np.split(flat, cuts)
        groups = [g[~np.isnan(g)] for g in groups]
        member_nodes = np.nonzero(split_modes == _MEMBER)[0]
        if len(groups) < member_nodes.size:
            raise ValueError(f"{op}: membership_values holds {len(groups)} sets for "
                             f"{member_nodes.size} BRANCH_MEMBER nodes")
        members = {int(n): groups[i] for i, n in enumerate(member_nodes)}

    # interior nodes come first, leaves after them (leaf i is node count + i)
    n_leaves = leaf_targets.size
    nxt = lambda ids, leafy: [count + c if is_leaf else c for c, is_leaf in zip(ids, leafy)]
    true_next, false_next = nxt(true_ids, true_leaf), nxt(false_ids, false_leaf)
    if any(not 0 <= c < count + n_leaves for c in true_next + false_next):
        raise ValueError(f"{op}: a node points outside the node or leaf lists")
    forest = _Forest(op, features + [0] * n_leaves, np.concatenate([splits, np.zeros(n_leaves)]),
                     list(split_modes) + [_LEAF] * n_leaves,
                     true_next + list(range(count, count + n_leaves)),
                     false_next + list(range(count, count + n_leaves)),
                     missing + [0] * n_leaves, members)
    roots = list(attrs.get("tree_roots", []))
    if any(not 0 <= r < count for r in roots):
        raise ValueError(f"{op}: tree_roots must index nodes_*")
    votes = [(count + i, int(t), w) for i, (t, w) in enumerate(zip(leaf_targets, leaf_weights))]
    how = {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}.get(attrs.get("aggregate_function", 1))
    transform = _TRANSFORM_CODES.get(attrs.get("post_transform", 0))
    if how is None or transform is None:
        raise ValueError(f"{op}: aggregate_function must be 0-3 and post_transform 0-4")
    scores = _aggregate(forest.leaves(rows, roots), votes, n_targets, count + n_leaves, how, None)
    return _post_transform(scores, transform, op).astype(x.dtype)
