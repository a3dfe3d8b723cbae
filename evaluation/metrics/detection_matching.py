"""Greedy per-case matching of detections to reference lesions (metrics.md E.4).

Contracts:
- Geometry: a point is ``[r, c]`` or ``[z, r, c]``, a box ``[r0, c0, r1, c1]`` or
  ``[z0, r0, c0, z1, r1, c1]`` (lo <= hi per axis), in continuous voxel coordinates; a box's
  extent is ``hi - lo`` per axis (no +1). ``spacing`` is mm per axis, in the same axis order.
- Hit criteria (``hit``): ``"point_in_radius"`` (LUNA16): the predicted point lies within the
  lesion's ``radius_mm`` (else the ``radius_mm`` parameter) of the lesion point, Euclidean in mm,
  boundary included; needs ``spacing``. ``"point_in_box"``: the predicted point lies inside the
  lesion box, faces included. ``"iou"``: predicted box with IoU >= ``iou_threshold`` (0.5).
- Greedy matching: predictions by descending score (ties: input order); each takes the best
  still-free lesion it hits (highest IoU, else smallest mm distance to the lesion point or box
  centre; ties: lowest index) and is a TP. A prediction that hits only lesions already taken is
  a *duplicate*: ignored, neither TP nor FP, with ``duplicates="ignore"`` (CAMELYON16, LUNA16,
  MONAI FROC; the default), a FP with ``"false_positive"`` (COCO). Any other prediction is a FP.
  The predictions kept at any score threshold are a prefix of that order, so this one matching
  is the greedy matching at every threshold, and set metrics can sweep thresholds over it.
- Bad inputs raise ``ValueError``; messages quote no value from the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.weighted import ratio

Floats = NDArray[np.float64]
Indices = NDArray[np.intp]
HITS = ("point_in_radius", "point_in_box", "iou")
GEOMETRY = {"point_in_radius": ("point", "point"), "point_in_box": ("point", "box"),
            "iou": ("box", "box")}  # (prediction, lesion) geometry per hit criterion
DUPLICATES = ("ignore", "false_positive")
MATCH_PARAMS = ("hit", "radius_mm", "iou_threshold", "duplicates")


@dataclass(frozen=True)
class CaseMatch:
    """One case's matching, per prediction in input order.

    ``lesion`` is the lesion a TP took or a duplicate hit again, -1 otherwise.
    """

    scores: Floats
    is_tp: NDArray[np.bool_]
    is_fp: NDArray[np.bool_]
    lesion: Indices
    n_lesions: int


# --- geometry -------------------------------------------------------------------------------


def _coords(items: Sequence[Mapping[str, Any]], key: str, width: int, who: str) -> Floats:
    if any(key not in item for item in items):
        raise ValueError(f"every {who} needs a {key!r} for this hit criterion")
    rows = [item[key] for item in items]
    array = np.array(rows, dtype=np.float64) if rows else np.zeros((0, width))
    if array.shape != (len(items), width) or not np.isfinite(array).all():
        raise ValueError(f"{who} {key}s must hold {width} finite numbers")
    if key == "box" and (array[:, width // 2:] < array[:, : width // 2]).any():
        raise ValueError(f"{who} boxes need lo <= hi on every axis")
    return array


def _ndim(reference: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]) -> int:
    sizes = {len(item["point"]) if "point" in item else len(item.get("box", ())) // 2
             for item in [*reference, *predictions]}
    if len(sizes) != 1 or not sizes <= {2, 3}:
        raise ValueError("points and boxes of a case must all be 2-D or all 3-D")
    return sizes.pop()


def _spacing(spacing: ArrayLike | None, ndim: int, required: bool) -> Floats:
    if spacing is None:
        if required:
            raise ValueError("point_in_radius needs the case's pixel spacing in mm")
        return np.ones(ndim)
    array = np.asarray(spacing, dtype=np.float64).ravel()
    if array.size != ndim or not np.isfinite(array).all() or (array <= 0).any():
        raise ValueError(f"spacing must hold {ndim} positive numbers")
    return array


def _radii(reference: Sequence[Mapping[str, Any]], default: float | None) -> Floats:
    radii = [item.get("radius_mm", default) for item in reference]
    if any(r is None for r in radii):
        raise ValueError("point_in_radius needs radius_mm on each lesion or as a parameter")
    array = np.array(radii, dtype=np.float64)
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError("radius_mm must be a non-negative number")
    return array


def box_iou(boxes_a: Floats, boxes_b: Floats) -> Floats:
    """(m, k) IoU of continuous boxes (lo..., hi...); 0 where the union is empty."""
    ndim = boxes_a.shape[1] // 2
    lo = np.maximum(boxes_a[:, None, :ndim], boxes_b[None, :, :ndim])
    hi = np.minimum(boxes_a[:, None, ndim:], boxes_b[None, :, ndim:])
    inter = np.clip(hi - lo, 0, None).prod(axis=2)
    vol_a = (boxes_a[:, ndim:] - boxes_a[:, :ndim]).prod(axis=1)
    vol_b = (boxes_b[:, ndim:] - boxes_b[:, :ndim]).prod(axis=1)
    return np.nan_to_num(ratio(inter, vol_a[:, None] + vol_b[None, :] - inter), nan=0.0)


def _mm_distance(points: Floats, targets: Floats, spacing: Floats) -> Floats:
    return np.sqrt((((points[:, None, :] - targets[None, :, :]) * spacing) ** 2).sum(axis=2))


def hit_matrix(
    reference: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    *,
    hit: str,
    spacing: ArrayLike | None = None,
    radius_mm: float | None = None,
    iou_threshold: float = 0.5,
) -> tuple[NDArray[np.bool_], Floats]:
    """(m, k) hits of prediction i on lesion j, and a preference (higher = better match)."""
    if hit not in HITS:
        raise ValueError(f"hit must be one of {HITS}")
    if hit == "iou" and not 0 < iou_threshold <= 1:
        raise ValueError("iou_threshold must be in (0, 1]")
    m, k = len(predictions), len(reference)
    if m == 0 and k == 0:
        return np.zeros((0, 0), dtype=bool), np.zeros((0, 0))
    ndim = _ndim(reference, predictions)
    pred_key, ref_key = GEOMETRY[hit]
    width = {"point": ndim, "box": 2 * ndim}
    points = _coords(predictions, pred_key, width[pred_key], "prediction")
    targets = _coords(reference, ref_key, width[ref_key], "lesion")
    if m == 0 or k == 0:
        return np.zeros((m, k), dtype=bool), np.zeros((m, k))
    if hit == "iou":
        iou = box_iou(points, targets)
        return iou >= iou_threshold, iou
    mm = _spacing(spacing, ndim, required=hit == "point_in_radius")
    if hit == "point_in_radius":
        distance = _mm_distance(points, targets, mm)
        return distance <= _radii(reference, radius_mm)[None, :], -distance
    inside = np.all((points[:, None, :] >= targets[None, :, :ndim])
                    & (points[:, None, :] <= targets[None, :, ndim:]), axis=2)
    centres = (targets[:, :ndim] + targets[:, ndim:]) / 2
    return inside, -_mm_distance(points, centres, mm)


# --- matching -------------------------------------------------------------------------------


def _scores(predictions: Sequence[Mapping[str, Any]]) -> Floats:
    if any("score" not in item for item in predictions):
        raise ValueError("every prediction needs a score")
    scores = np.array([item["score"] for item in predictions], dtype=np.float64).reshape(-1)
    if not np.isfinite(scores).all():
        raise ValueError("prediction scores must be finite")
    return scores


def match_case(
    reference: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    *,
    hit: str,
    spacing: ArrayLike | None = None,
    radius_mm: float | None = None,
    iou_threshold: float = 0.5,
    duplicates: str = "ignore",
) -> CaseMatch:
    """Greedy matching of one case's predictions to its lesions (see the module contracts)."""
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}")
    scores = _scores(predictions)
    hits, preference = hit_matrix(reference, predictions, hit=hit, spacing=spacing,
                                  radius_mm=radius_mm, iou_threshold=iou_threshold)
    taken = np.zeros(len(reference), dtype=bool)
    is_tp = np.zeros(len(predictions), dtype=bool)
    is_duplicate = np.zeros(len(predictions), dtype=bool)
    lesion = np.full(len(predictions), -1, dtype=np.intp)
    for p in np.argsort(-scores, kind="stable"):
        if not hits[p].any():
            continue
        free = hits[p] & ~taken
        is_tp[p] = free.any()
        is_duplicate[p] = not is_tp[p]
        lesion[p] = int(np.argmax(np.where(free if is_tp[p] else hits[p], preference[p], -np.inf)))
        taken[lesion[p]] |= is_tp[p]
    is_fp = ~is_tp & (~is_duplicate | (duplicates == "false_positive"))
    return CaseMatch(scores, is_tp, is_fp, lesion, len(reference))


def match_cases(
    references: Sequence[Sequence[Mapping[str, Any]]],
    predictions: Sequence[Sequence[Mapping[str, Any]]],
    *,
    spacing: Sequence[ArrayLike | None] | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[CaseMatch], dict[str, Any]]:
    """Match every case with the matching parameters in ``params`` (``hit`` is required).

    Returns the matches and the remaining parameters, which belong to the set metric.
    """
    params = dict(params or {})
    if "hit" not in params:
        raise ValueError(f"detection metrics need a 'hit' parameter, one of {HITS}")
    if len(references) != len(predictions):
        raise ValueError("references and predictions cover different numbers of cases")
    options = {key: params.pop(key) for key in MATCH_PARAMS if key in params}
    spacings = list(spacing) if spacing is not None else [None] * len(references)
    if len(spacings) != len(references):
        raise ValueError("spacing needs one entry per case")
    matches = [match_case(ref, pred, spacing=mm, **options)
               for ref, pred, mm in zip(references, predictions, spacings, strict=True)]
    return matches, params
