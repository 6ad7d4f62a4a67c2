"""Detection ops (NonMaxSuppression): numpy reference kernels."""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _optional_scalar(op, name, value, default, kind):
    if value is None:
        return default
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"{op}: {name} must be a scalar, got shape {value.shape}")
    return kind(value.reshape(-1)[0])


def _corners(boxes, center_point_box):
    """(y1, x1, y2, x2) with y1 <= y2 and x1 <= x2, from either box format."""
    if center_point_box == 1:
        xc, yc, w, h = (boxes[..., i] for i in range(4))
        half_w, half_h = w / 2, h / 2
        return yc - half_h, xc - half_w, yc + half_h, xc + half_w
    if center_point_box != 0:
        raise ValueError(f"NonMaxSuppression: center_point_box must be 0 or 1, got {center_point_box}")
    # any diagonal pair of corners is allowed
    a_y, a_x, b_y, b_x = (boxes[..., i] for i in range(4))
    return (np.minimum(a_y, b_y), np.minimum(a_x, b_x), np.maximum(a_y, b_y), np.maximum(a_x, b_x))


def _iou(corners, areas, i, others):
    """IoU of box ``i`` with each box in ``others`` (0 where a box has no area)."""
    y1, x1, y2, x2 = corners
    height = np.maximum(np.minimum(y2[i], y2[others]) - np.maximum(y1[i], y1[others]), 0)
    width = np.maximum(np.minimum(x2[i], x2[others]) - np.maximum(x1[i], x1[others]), 0)
    inter = height * width
    union = areas[i] + areas[others] - inter
    valid = (areas[i] > 0) & (areas[others] > 0) & (union > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(valid, inter / np.where(valid, union, 1), 0)


@kernel("NonMaxSuppression", since=10)
def non_max_suppression(ctx, inputs, attrs):
    op = "NonMaxSuppression"
    boxes, scores = inputs[0], inputs[1]
    extra = list(inputs[2:]) + [None] * (5 - len(inputs))
    max_per_class = _optional_scalar(op, "max_output_boxes_per_class", extra[0], 0, int)
    iou_threshold = _optional_scalar(op, "iou_threshold", extra[1], 0.0, float)
    score_threshold = _optional_scalar(op, "score_threshold", extra[2], None, float)
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError(f"{op}: boxes must be [batches, boxes, 4], got shape {boxes.shape}")
    if scores.ndim != 3 or scores.shape[0] != boxes.shape[0] or scores.shape[2] != boxes.shape[1]:
        raise ValueError(f"{op}: scores shape {scores.shape} does not fit boxes shape {boxes.shape}")
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"{op}: iou_threshold must lie in [0, 1], got {iou_threshold}")

    selected = []
    if max_per_class > 0:
        # float32 throughout, as the inputs (and other runtimes' IoU arithmetic) are
        corners = _corners(boxes.astype(np.float32), int(attrs.get("center_point_box", 0)))
        y1, x1, y2, x2 = corners
        areas = (y2 - y1) * (x2 - x1)
        iou_limit = np.float32(iou_threshold)
        for b in range(scores.shape[0]):
            batch_corners = tuple(c[b] for c in corners)
            for c in range(scores.shape[1]):
                s = scores[b, c]
                candidates = np.arange(s.shape[0])
                if score_threshold is not None:
                    # strictly above the threshold, as onnxruntime and onnx's reference do
                    candidates = candidates[s > np.float32(score_threshold)]
                # highest score first; equal scores keep the lower box index first
                order = candidates[np.argsort(-s[candidates], kind="stable")]
                kept = 0
                while order.size and kept < max_per_class:
                    best, rest = order[0], order[1:]
                    selected.append((b, c, best))
                    kept += 1
                    # boxes overlapping the chosen one more than the threshold are dropped
                    order = rest[_iou(batch_corners, areas[b], best, rest) <= iou_limit]
    return np.array(selected, np.int64).reshape(-1, 3)
