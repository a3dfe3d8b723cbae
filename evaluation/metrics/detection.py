"""Detection and localisation set metrics (metrics.md E.4) over weighted case resamples.

Contracts:
- Matching happens once per case (``detection_matching``: hit criteria, greedy assignment,
  duplicates); every metric here takes those matches (a list of ``CaseMatch``, or their
  ``DetectionPool``) and ``weights`` (B, n) of case multiplicities and returns (B,) (``froc``:
  (B, R)); row b equals the metric on the expanded case list ``np.repeat(cases, w_b)``.
- A detection is kept when ``score >= threshold``; the thresholds are the distinct scores, so
  tied detections enter together. Images N = total weight (lesion-free images included),
  lesions L = weighted lesion count, TP and FP = weighted counts of kept detections.
- FROC: the curve has a point (FP/N, TP/L) per threshold plus (0, 0). At a rate r,
  ``interpolation="step"`` (default) gives the sensitivity of the lowest threshold whose
  FP/N <= r (the best operating point that keeps the rate); ``"linear"`` interpolates the curve
  as ``np.interp`` does (CAMELYON16, LUNA16, MONAI ``compute_froc_score``), constant past its
  last point. Unlike MONAI's ``compute_froc_curve_data`` the lowest threshold stays on the curve.
- ``ap_detection``: sum over thresholds of (R_t - R_t-1)·P_t (scikit-learn's non-interpolated
  form) with recall over all lesions (missed ones included) and P = TP/(TP+FP). ``ap_coco``:
  mean over k = 0..100 of max{P_t : R_t >= k/100} (0 when none), the COCO 101-point form, except
  that tied scores form one threshold (COCO orders tied detections by input order).
- Operating point at ``threshold``: sensitivity TP/L, precision TP/(TP+FP),
  F1 = 2TP/(2TP+FP+FN) with FN = L - TP, FPPI = FP/N.
- Undefined: FROC, AP and sensitivity are ``nan`` without lesions (L = 0); any other ratio is
  ``nan`` where its denominator is zero. Never inf.
- Registered metrics take ``fn(matches, weights, **params)``; the engine first calls
  ``match_cases``, which consumes the matching parameters (hit, radius_mm, iou_threshold,
  duplicates) and hands the rest on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike

from evaluation.metrics.detection_matching import (
    DUPLICATES,
    HITS,
    MATCH_PARAMS,
    CaseMatch,
    Floats,
    Indices,
    box_iou,
    hit_matrix,
    match_case,
    match_cases,
)
from evaluation.metrics.registry import register
from evaluation.metrics.weighted import as_weights, ratio

__all__ = [
    "DUPLICATES", "FP_RATES_CAMELYON16", "FP_RATES_LUNA16", "HITS", "MATCH_PARAMS", "CaseMatch",
    "DetectionPool", "ap_coco", "ap_detection", "box_iou", "detection_f1", "detection_precision",
    "detection_sensitivity", "fppi", "froc", "froc_score", "hit_matrix", "match_case",
    "match_cases", "operating_point", "pool_matches", "sensitivity_at_fppi",
]

FP_RATES_LUNA16 = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FP_RATES_CAMELYON16 = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
CHUNK_BYTES = 16 * 2**20
TASKS = frozenset({"detection"})
RATE = (1.0, 0.0)  # (best, worst) of a rate in [0, 1]
MATCH_PARAM_TYPES = {"hit": str, "radius_mm": float, "iou_threshold": float, "duplicates": str}
THRESHOLD_PARAMS = {**MATCH_PARAM_TYPES, "threshold": float}


# --- pooling and weighted cumulative counts -------------------------------------------------


@dataclass(frozen=True)
class DetectionPool:
    """The TP and FP detections of n cases by descending score (ignored duplicates dropped).

    Group g is the g-th distinct score; ``tp_upto[g]`` / ``fp_upto[g]`` count the TPs / FPs in
    groups <= g, ``tp_before[g]`` / ``fp_before[g]`` those in groups < g.
    """

    n_lesions: Floats
    tp_case: Indices
    fp_case: Indices
    tp_scores: Floats
    fp_scores: Floats
    fp_group: Indices
    tp_groups: Indices
    tp_upto: Indices
    fp_upto: Indices
    tp_before: Indices
    fp_before: Indices

    @property
    def n_cases(self) -> int:
        return self.n_lesions.size


Matches = Sequence[CaseMatch] | DetectionPool


def _upto(group: Indices, n_groups: int) -> tuple[Indices, Indices]:
    counts = np.bincount(group, minlength=n_groups)
    upto = np.cumsum(counts).astype(np.intp)
    return upto, upto - counts


def pool_matches(cases: Matches) -> DetectionPool:
    """Pool the matches of a case set (a pool is returned unchanged)."""
    if isinstance(cases, DetectionPool):
        return cases
    kept = [c.is_tp | c.is_fp for c in cases]
    scores = np.concatenate([np.zeros(0), *(c.scores[k] for c, k in zip(cases, kept, strict=True))])
    case = np.repeat(np.arange(len(cases), dtype=np.intp),
                     [np.count_nonzero(k) for k in kept]).astype(np.intp)
    is_tp = np.concatenate([np.zeros(0, bool),
                            *(c.is_tp[k] for c, k in zip(cases, kept, strict=True))])
    order = np.argsort(-scores, kind="stable")
    scores, case, is_tp = scores[order], case[order], is_tp[order]
    starts = np.ones(scores.size, dtype=bool)
    starts[1:] = scores[1:] != scores[:-1]
    group = (np.cumsum(starts) - 1).astype(np.intp)
    n_groups = int(group[-1]) + 1 if group.size else 0
    tp_upto, tp_before = _upto(group[is_tp], n_groups)
    fp_upto, fp_before = _upto(group[~is_tp], n_groups)
    return DetectionPool(
        n_lesions=np.array([c.n_lesions for c in cases], dtype=np.float64),
        tp_case=case[is_tp], fp_case=case[~is_tp], tp_scores=scores[is_tp],
        fp_scores=scores[~is_tp], fp_group=group[~is_tp], tp_groups=np.unique(group[is_tp]),
        tp_upto=tp_upto, fp_upto=fp_upto, tp_before=tp_before, fp_before=fp_before,
    )


def _cumulative(weights: Floats, cases: Indices) -> Floats:
    """(b, len(cases) + 1): per row, the weight of the first j detections, j = 0..len(cases)."""
    out = np.empty((weights.shape[0], cases.size + 1))
    out[:, 0] = 0.0
    np.take(weights, cases, axis=1, out=out[:, 1:])
    np.cumsum(out[:, 1:], axis=1, out=out[:, 1:])
    return out


def _blocks(cases: Matches, weights: ArrayLike) -> Iterator[tuple[DetectionPool, Floats]]:
    """The pool and the validated weights in row blocks of about ``CHUNK_BYTES`` of work space."""
    pool = pool_matches(cases)
    w = as_weights(weights, pool.n_cases)
    rows = max(1, CHUNK_BYTES // (8 * (pool.tp_case.size + pool.fp_case.size + 2)))
    for start in range(0, max(w.shape[0], 1), rows):
        yield pool, w[start:start + rows]


# --- FROC -----------------------------------------------------------------------------------


def _count_within(cumulative: Floats, budget: Floats) -> Indices:
    """(b, R): per row, how many leading entries of a non-decreasing row are <= each budget."""
    return np.array([np.searchsorted(row, limits, side="right")
                     for row, limits in zip(cumulative, budget, strict=True)],
                    dtype=np.intp).reshape(budget.shape)


def _froc_block(pool: DetectionPool, w: Floats, rates: Floats, linear: bool) -> Floats:
    """Per row and rate: ``within`` FPs (score order) fit the budget rate·N; ``over`` is the
    group of the first FP that does not, so the groups before it are kept (step), and the
    segment to the end of ``over`` is interpolated (linear). All FPs fitting keeps everything."""
    ctp, cfp = _cumulative(w, pool.tp_case), _cumulative(w, pool.fp_case)
    hits = np.repeat(ctp[:, -1:], rates.size, axis=1)
    n_fp = pool.fp_case.size
    if n_fp:
        rows = np.arange(w.shape[0])[:, None]
        budget = w.sum(axis=1)[:, None] * rates[None, :]
        within = _count_within(cfp[:, 1:], budget)
        over = pool.fp_group[np.minimum(within, n_fp - 1)]
        kept = ctp[rows, pool.tp_before[over]]
        if linear:
            fp0, fp1 = cfp[rows, pool.fp_before[over]], cfp[rows, pool.fp_upto[over]]
            with np.errstate(invalid="ignore", divide="ignore"):
                kept = kept + (ctp[rows, pool.tp_upto[over]] - kept) * (budget - fp0) / (fp1 - fp0)
        hits = np.where(within < n_fp, kept, hits)
    return ratio(hits, (w @ pool.n_lesions)[:, None])


def _fp_rates(fp_rates: Sequence[float]) -> Floats:
    rates = np.asarray(fp_rates, dtype=np.float64).reshape(-1)
    if rates.size == 0 or not np.isfinite(rates).all() or (rates < 0).any():
        raise ValueError("fp_rates must be non-negative numbers")
    return rates


def froc(
    cases: Matches,
    weights: ArrayLike,
    *,
    fp_rates: Sequence[float] = FP_RATES_LUNA16,
    interpolation: str = "step",
) -> Floats:
    """(B, R): lesion sensitivity at each false-positive-per-image rate (nan without lesions)."""
    if interpolation not in ("step", "linear"):
        raise ValueError("interpolation must be 'step' or 'linear'")
    rates = _fp_rates(fp_rates)
    return np.concatenate([_froc_block(pool, w, rates, interpolation == "linear")
                           for pool, w in _blocks(cases, weights)])


@register("froc_score", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("FROC score (mean sensitivity at fixed false positives per image)"),
          params={**MATCH_PARAM_TYPES, "fp_rates": list, "interpolation": str})
def froc_score(
    cases: Matches,
    weights: ArrayLike,
    *,
    fp_rates: Sequence[float] = FP_RATES_LUNA16,
    interpolation: str = "step",
) -> Floats:
    """(B,): mean of ``froc`` over the rates (LUNA16 CPM, CAMELYON16 FROC score)."""
    return froc(cases, weights, fp_rates=fp_rates, interpolation=interpolation).mean(axis=1)


@register("sensitivity_at_fppi", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("Lesion sensitivity at a fixed false positives per image"),
          params={**MATCH_PARAM_TYPES, "fp_rate": float, "interpolation": str})
def sensitivity_at_fppi(
    cases: Matches, weights: ArrayLike, *, fp_rate: float = 1.0, interpolation: str = "step"
) -> Floats:
    """(B,): the FROC curve at one rate."""
    return froc(cases, weights, fp_rates=(fp_rate,), interpolation=interpolation)[:, 0]


# --- average precision ----------------------------------------------------------------------


def _pr_points(pool: DetectionPool, w: Floats) -> tuple[Floats, Floats, Floats, Floats]:
    """Weighted lesions (b,), and at each threshold adding a TP: cumulative TP, TP added, P."""
    ctp, cfp = _cumulative(w, pool.tp_case), _cumulative(w, pool.fp_case)
    groups = pool.tp_groups
    tp = ctp[:, pool.tp_upto[groups]]
    added = tp - ctp[:, pool.tp_before[groups]]
    precision = np.nan_to_num(ratio(tp, tp + cfp[:, pool.fp_upto[groups]]), nan=0.0)
    return w @ pool.n_lesions, tp, added, precision


def _ap_block(pool: DetectionPool, w: Floats) -> Floats:
    lesions, _tp, added, precision = _pr_points(pool, w)
    return ratio((added * precision).sum(axis=1), lesions)


def _ap_coco_block(pool: DetectionPool, w: Floats) -> Floats:
    lesions, tp, _added, precision = _pr_points(pool, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        reached = np.minimum(np.floor(100 * tp / lesions[:, None]), 100) + 1
    steps = np.diff(reached, axis=1, prepend=0.0)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    return np.where(lesions > 0, (envelope * steps).sum(axis=1) / 101, np.nan)


@register("ap_detection", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("Average precision of detections"), params=MATCH_PARAM_TYPES)
def ap_detection(cases: Matches, weights: ArrayLike) -> Floats:
    """(B,): non-interpolated AP of the pooled detections, recall over all lesions."""
    return np.concatenate([_ap_block(pool, w) for pool, w in _blocks(cases, weights)])


@register("ap_coco", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("Average precision, COCO 101-point interpolation"), params=MATCH_PARAM_TYPES)
def ap_coco(cases: Matches, weights: ArrayLike) -> Floats:
    """(B,): COCO 101-point interpolated AP of the pooled detections."""
    return np.concatenate([_ap_coco_block(pool, w) for pool, w in _blocks(cases, weights)])


# --- operating point ------------------------------------------------------------------------


def operating_point(cases: Matches, weights: ArrayLike, *, threshold: float) -> dict[str, Floats]:
    """(B,) sensitivity, precision, f1 and fppi, keeping detections with score >= threshold."""
    pool = pool_matches(cases)
    w = as_weights(weights, pool.n_cases)
    n = pool.n_cases
    tp = w @ np.bincount(pool.tp_case[pool.tp_scores >= threshold], minlength=n).astype(float)
    fp = w @ np.bincount(pool.fp_case[pool.fp_scores >= threshold], minlength=n).astype(float)
    lesions = w @ pool.n_lesions
    return {
        "sensitivity": ratio(tp, lesions),
        "precision": ratio(tp, tp + fp),
        "f1": ratio(2 * tp, tp + fp + lesions),
        "fppi": ratio(fp, w.sum(axis=1)),
    }


@register("detection_sensitivity", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("Lesion sensitivity at the declared threshold"), params=THRESHOLD_PARAMS)
def detection_sensitivity(cases: Matches, weights: ArrayLike, *, threshold: float = 0.5) -> Floats:
    """(B,): lesions hit / lesions."""
    return operating_point(cases, weights, threshold=threshold)["sensitivity"]


@register("detection_precision", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("Detection precision at the declared threshold"), params=THRESHOLD_PARAMS)
def detection_precision(cases: Matches, weights: ArrayLike, *, threshold: float = 0.5) -> Floats:
    """(B,): TP / (TP + FP)."""
    return operating_point(cases, weights, threshold=threshold)["precision"]


@register("detection_f1", kind="set", tasks=TASKS, direction="higher", bounds=RATE,
          label=_("Detection F1 score at the declared threshold"), params=THRESHOLD_PARAMS)
def detection_f1(cases: Matches, weights: ArrayLike, *, threshold: float = 0.5) -> Floats:
    """(B,): 2TP / (2TP + FP + FN)."""
    return operating_point(cases, weights, threshold=threshold)["f1"]


@register("fppi", kind="set", tasks=TASKS, direction="lower", bounds=None,
          label=_("False positives per image at the declared threshold"), params=THRESHOLD_PARAMS)
def fppi(cases: Matches, weights: ArrayLike, *, threshold: float = 0.5) -> Floats:
    """(B,): FP / images."""
    return operating_point(cases, weights, threshold=threshold)["fppi"]
