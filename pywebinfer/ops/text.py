"""String ops: numpy reference kernels.

String tensors are numpy object arrays of ``str``.
"""
from __future__ import annotations

import operator
import re

import numpy as np

from .registry import kernel


def _strings(x, op, name="X"):
    arr = np.asarray(x)
    if arr.dtype != object and arr.dtype.kind not in "US":
        raise ValueError(f"{op}: {name} must be a string tensor, got {arr.dtype}")
    return arr.astype(object)


_concat = np.frompyfunc(operator.add, 2, 1)


@kernel("StringConcat", since=20)
def string_concat(ctx, inputs, attrs):
    x, y = _strings(inputs[0], "StringConcat", "X"), _strings(inputs[1], "StringConcat", "Y")
    try:
        np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise ValueError(f"StringConcat: shapes {x.shape} and {y.shape} do not broadcast") from None
    return np.asarray(_concat(x, y), dtype=object)


@kernel("StringNormalizer", since=10)
def string_normalizer(ctx, inputs, attrs):
    """Stop-word removal then case change.

    The ``locale`` attribute is accepted but Python's locale-independent Unicode case
    mapping is used for every locale."""
    op = "StringNormalizer"
    x = _strings(inputs[0], op)
    if not (x.ndim == 1 or (x.ndim == 2 and x.shape[0] == 1)):
        raise ValueError(f"{op}: input must have shape [C] or [1, C], got {x.shape}")
    action = attrs.get("case_change_action", "NONE")
    changes = {"NONE": None, "LOWER": str.lower, "UPPER": str.upper}
    if action not in changes:
        raise ValueError(f"{op}: case_change_action {action!r} is not NONE, LOWER or UPPER")
    sensitive = bool(attrs.get("is_case_sensitive", 0))
    stopwords = attrs.get("stopwords", [])
    if sensitive:
        kept = [s for s in x.ravel() if s not in set(stopwords)]
    else:
        folded = {w.casefold() for w in stopwords}
        kept = [s for s in x.ravel() if s.casefold() not in folded]
    if changes[action] is not None:
        kept = [changes[action](s) for s in kept]
    if not kept:
        kept = [""]  # all words dropped: a single empty string, as the spec says
    out = np.array(kept, dtype=object)
    return out.reshape(1, -1) if x.ndim == 2 else out


@kernel("StringSplit", since=20)
def string_split(ctx, inputs, attrs):
    op = "StringSplit"
    x = _strings(inputs[0], op)
    delimiter = attrs.get("delimiter") or None  # unset or "": split on runs of whitespace
    maxsplit = attrs.get("maxsplit", -1)
    if maxsplit is None or maxsplit < 0:
        maxsplit = -1
    # an empty string has no substrings (Python's "".split(",") would give [""])
    parts = [s.split(delimiter, maxsplit) if s else [] for s in x.ravel()]
    counts = np.array([len(p) for p in parts], dtype=np.int64).reshape(x.shape)
    width = max((len(p) for p in parts), default=0)
    out = np.full((len(parts), width), "", dtype=object)
    for i, p in enumerate(parts):
        out[i, :len(p)] = p
    return out.reshape(x.shape + (width,)), counts


@kernel("RegexFullMatch", since=20)
def regex_full_match(ctx, inputs, attrs):
    """Full match with Python's ``re`` standing in for RE2.

    The spec names RE2 syntax.  re.ASCII makes \\d, \\w, \\s and \\b ASCII-only as in RE2.
    Differences that remain: Python also accepts backreferences and lookarounds (RE2
    rejects them), it lacks RE2's \\p{...} Unicode classes and \\C, and with re.ASCII
    (?i) folds ASCII letters only where RE2 folds Unicode case."""
    op = "RegexFullMatch"
    pattern = attrs.get("pattern")
    if pattern is None:
        raise ValueError(f"{op}: the pattern attribute is required")
    try:
        compiled = re.compile(pattern, re.ASCII)
    except re.error as err:
        raise ValueError(f"{op}: cannot compile pattern {pattern!r}: {err}") from None
    x = _strings(inputs[0], op)
    flat = [compiled.fullmatch(s) is not None for s in x.ravel()]
    return np.array(flat, dtype=np.bool_).reshape(x.shape)


@kernel("TfIdfVectorizer", since=9)
def tfidf_vectorizer(ctx, inputs, attrs):
    op = "TfIdfVectorizer"
    x = np.asarray(inputs[0])
    mode = attrs.get("mode")
    if mode not in ("TF", "IDF", "TFIDF"):
        raise ValueError(f"{op}: mode {mode!r} is not TF, IDF or TFIDF")
    min_n, max_n = attrs.get("min_gram_length"), attrs.get("max_gram_length")
    max_skip = attrs.get("max_skip_count", 0)
    if min_n is None or max_n is None or not 1 <= min_n <= max_n or max_skip < 0:
        raise ValueError(f"{op}: need 1 <= min_gram_length <= max_gram_length and "
                         f"max_skip_count >= 0, got {min_n}, {max_n}, {max_skip}")
    if ("pool_strings" in attrs) == ("pool_int64s" in attrs):
        raise ValueError(f"{op}: exactly one of pool_strings and pool_int64s must be set")
    if "pool_strings" in attrs:
        pool = list(attrs["pool_strings"])
        if x.dtype != object and x.dtype.kind not in "US":
            raise ValueError(f"{op}: pool_strings needs a string input, got {x.dtype}")
        rows_source = x.astype(object)
    else:
        pool = [int(v) for v in attrs["pool_int64s"]]
        if x.dtype.kind not in "iu":
            raise ValueError(f"{op}: pool_int64s needs an integer input, got {x.dtype}")
        rows_source = x.astype(np.int64)
    starts = list(attrs.get("ngram_counts", [])) + [len(pool)]
    indexes = list(attrs.get("ngram_indexes", []))

    # n-gram (as a tuple) -> its position in the pool's n-gram list
    lookup = {}
    ngram_id = 0
    for n, (begin, end) in enumerate(zip(starts[:-1], starts[1:]), start=1):
        if (end - begin) % n:
            raise ValueError(f"{op}: pool section of {n}-grams has {end - begin} items, "
                             f"not a multiple of {n}")
        for at in range(begin, end, n):
            lookup.setdefault((n, tuple(pool[at:at + n])), ngram_id)
            ngram_id += 1
    if len(indexes) != ngram_id:
        raise ValueError(f"{op}: ngram_indexes has {len(indexes)} entries for {ngram_id} n-grams")
    weights = np.asarray(attrs.get("weights", [1.0] * ngram_id), dtype=np.float32)
    if weights.shape[0] != ngram_id:
        raise ValueError(f"{op}: weights has {weights.shape[0]} entries for {ngram_id} n-grams")
    width = max(indexes) + 1 if indexes else 0

    if x.ndim == 1:
        rows = rows_source[None, :]
    elif x.ndim == 2:
        rows = rows_source
    else:
        raise ValueError(f"{op}: input must be 1-D or 2-D, got shape {x.shape}")
    counts = np.zeros((rows.shape[0], ngram_id), dtype=np.float32)
    for r, row in enumerate(rows.tolist()):
        for n in range(min_n, max_n + 1):
            # a 1-gram is the same for every skip, so it is counted once
            for skip in range(max_skip + 1 if n > 1 else 1):
                step = skip + 1
                for start in range(len(row) - (n - 1) * step):
                    found = lookup.get((n, tuple(row[start:start + (n - 1) * step + 1:step])))
                    if found is not None:
                        counts[r, found] += 1
    if mode == "IDF":
        counts = np.minimum(counts, 1) * weights
    elif mode == "TFIDF":
        counts = counts * weights
    out = np.zeros((rows.shape[0], width), dtype=np.float32)
    # several pool entries may share one output coordinate
    np.add.at(out, (slice(None), np.asarray(indexes, dtype=np.int64)), counts)
    return out[0] if x.ndim == 1 else out
