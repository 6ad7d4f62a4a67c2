"""Loss ops: numpy reference kernels (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss)."""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _nll(op, log_prob, target, weight, attrs):
    """Weighted negative log-likelihood of ``target`` under ``log_prob`` (N, C, d1...)."""
    if log_prob.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, d1, ...), got shape {log_prob.shape}")
    classes = log_prob.shape[1]
    expected = log_prob.shape[:1] + log_prob.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: target shape {target.shape} does not match {expected}")
    if weight is not None and weight.shape != (classes,):
        raise ValueError(f"{op}: weight shape {weight.shape} is not ({classes},)")
    target = target.astype(np.int64)
    ignore = attrs.get("ignore_index")
    kept = np.ones(target.shape, dtype=bool) if ignore is None else target != ignore
    if ((target[kept] < 0) | (target[kept] >= classes)).any():
        raise ValueError(f"{op}: target values must lie in [0, {classes}) or equal ignore_index")
    safe = np.where(kept, target, 0)
    picked = np.take_along_axis(log_prob, safe[:, None], axis=1)[:, 0]
    w = np.ones(classes) if weight is None else weight.astype(np.float64)
    sample_w = np.where(kept, w[safe], 0.0)
    loss = -picked.astype(np.float64) * sample_w
    reduction = attrs.get("reduction", "mean")
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = loss.sum()
    elif reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = loss.sum() / sample_w.sum()
    else:
        raise ValueError(f"{op}: reduction {reduction!r} is not none, sum or mean")
    return np.asarray(out).astype(log_prob.dtype)


@kernel("NegativeLogLikelihoodLoss", since=12)
def negative_log_likelihood_loss(ctx, inputs, attrs):
    """Opsets 12, 13 and 22 differ only in the types they allow."""
    weight = inputs[2] if len(inputs) > 2 else None
    return _nll("NegativeLogLikelihoodLoss", np.asarray(inputs[0]), np.asarray(inputs[1]),
                weight, attrs)


@kernel("SoftmaxCrossEntropyLoss", since=12)
def softmax_cross_entropy_loss(ctx, inputs, attrs):
    """Opsets 12 and 13 differ only in the types they allow."""
    op = "SoftmaxCrossEntropyLoss"
    scores = np.asarray(inputs[0])
    if scores.ndim < 2:
        raise ValueError(f"{op}: scores must be (N, C, d1, ...), got shape {scores.shape}")
    wide = scores.astype(np.float64)
    shifted = wide - wide.max(axis=1, keepdims=True)
    log_prob = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    weight = inputs[2] if len(inputs) > 2 else None
    loss = _nll(op, log_prob, np.asarray(inputs[1]), weight, attrs).astype(scores.dtype)
    if ctx.num_outputs > 1:
        return loss, log_prob.astype(scores.dtype)
    return loss
