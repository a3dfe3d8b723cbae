"""Detection metrics against a loop-based oracle written from the definitions (metrics.md E.4).

The oracle matches each case with plain Python loops, expands every resample row into its case
list (``np.repeat`` by multiplicity) and recomputes each metric from scratch with exact fractions.
Hypothesis generates small case sets: tied scores, lesion-free cases, cases without predictions,
2-D and 3-D geometry, zero-weight and all-zero resample rows.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.metrics import detection as det
from evaluation.metrics.detection_matching import GEOMETRY

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database

RTOL = ATOL = 1e-12
SCORES = [0.1, 0.25, 0.5, 0.75, 0.9]
FP_RATES = (*det.FP_RATES_LUNA16, 0.0, 0.75, 3.0)


# --- the oracle -----------------------------------------------------------------------------


def _distance_mm(a, b, spacing):
    return math.sqrt(sum(((x - y) * s) ** 2 for x, y, s in zip(a, b, spacing, strict=True)))


def _iou(a, b):
    ndim = len(a) // 2
    inter = 1.0
    for axis in range(ndim):
        inter *= max(min(a[ndim + axis], b[ndim + axis]) - max(a[axis], b[axis]), 0.0)
    vol_a = vol_b = 1.0
    for axis in range(ndim):
        vol_a *= a[ndim + axis] - a[axis]
        vol_b *= b[ndim + axis] - b[axis]
    union = vol_a + vol_b - inter
    return inter / union if union > 0 else 0.0


def _quality(pred, lesion, hit, spacing, radius_mm, iou_threshold):
    """(hits, preference) for one prediction and one lesion."""
    if hit == "iou":
        value = _iou(pred["box"], lesion["box"])
        return value >= iou_threshold, value
    if hit == "point_in_radius":
        distance = _distance_mm(pred["point"], lesion["point"], spacing)
        return distance <= lesion.get("radius_mm", radius_mm), -distance
    box = lesion["box"]
    ndim = len(box) // 2
    inside = all(box[i] <= pred["point"][i] <= box[ndim + i] for i in range(ndim))
    centre = [(box[i] + box[ndim + i]) / 2 for i in range(ndim)]
    return inside, -_distance_mm(pred["point"], centre, spacing or [1.0] * ndim)


def oracle_match(reference, predictions, *, hit, spacing=None, radius_mm=None, iou_threshold=0.5,
                 duplicates="ignore"):
    """Per prediction (input order): (score, outcome, lesion), outcome in tp/fp/ignored."""
    order = sorted(range(len(predictions)), key=lambda i: -predictions[i]["score"])
    free = set(range(len(reference)))
    out: list[tuple[float, str, int] | None] = [None] * len(predictions)
    for i in order:
        pred = predictions[i]
        found = {j: _quality(pred, lesion, hit, spacing, radius_mm, iou_threshold)
                 for j, lesion in enumerate(reference)}
        hits = [j for j, (is_hit, _) in found.items() if is_hit]
        candidates = [j for j in hits if j in free]
        pool = candidates or hits
        best = max(pool, key=lambda j: (found[j][1], -j)) if pool else -1
        if candidates:
            free.discard(best)
            outcome = "tp"
        elif hits:
            outcome = "ignored" if duplicates == "ignore" else "fp"
        else:
            outcome = "fp"
        out[i] = (pred["score"], outcome, best)
    return out, len(reference)


def expand(oracle_cases, row):
    return [case for case, times in zip(oracle_cases, row, strict=True) for _ in range(int(times))]


def curve(cases):
    """[(threshold, TP, FP)] for every distinct score, descending; N images; L lesions."""
    detections = [d for outcomes, _ in cases for d in outcomes]
    thresholds = sorted({score for score, _, _ in detections}, reverse=True)
    points = []
    for t in thresholds:
        tp = sum(1 for s, o, _ in detections if s >= t and o == "tp")
        fp = sum(1 for s, o, _ in detections if s >= t and o == "fp")
        points.append((t, tp, fp))
    return points, len(cases), sum(n for _, n in cases)


def oracle_froc(cases, rates, interpolation):
    points, images, lesions = curve(cases)
    if lesions == 0:
        return [math.nan] * len(rates)
    fppi = [Fraction(0)] + [Fraction(fp, images) for _, _, fp in points]
    sens = [Fraction(0)] + [Fraction(tp, lesions) for _, tp, _ in points]
    if interpolation == "linear":
        return list(np.interp(rates, [float(x) for x in fppi], [float(y) for y in sens]))
    return [float(max(s for f, s in zip(fppi, sens, strict=True) if f <= Fraction(rate)))
            for rate in rates]


def _precision_recall(cases):
    points, _, lesions = curve(cases)
    return [(Fraction(tp, lesions), Fraction(tp, tp + fp) if tp + fp else Fraction(0))
            for _, tp, fp in points]


def oracle_ap(cases):
    if sum(n for _, n in cases) == 0:
        return math.nan
    total, previous = Fraction(0), Fraction(0)
    for recall, precision in _precision_recall(cases):
        total += (recall - previous) * precision
        previous = recall
    return float(total)


def oracle_ap_coco(cases):
    if sum(n for _, n in cases) == 0:
        return math.nan
    pr = _precision_recall(cases)
    kept = [max((p for r, p in pr if r >= Fraction(k, 100)), default=Fraction(0))
            for k in range(101)]
    return float(sum(kept) / 101)


def oracle_operating_point(cases, threshold):
    detections = [d for outcomes, _ in cases for d in outcomes if d[0] >= threshold]
    tp = sum(1 for _, o, _ in detections if o == "tp")
    fp = sum(1 for _, o, _ in detections if o == "fp")
    lesions, images = sum(n for _, n in cases), len(cases)

    def ratio(a, b):
        return a / b if b else math.nan

    return {"sensitivity": ratio(tp, lesions), "precision": ratio(tp, tp + fp),
            "f1": ratio(2 * tp, 2 * tp + fp + (lesions - tp)), "fppi": ratio(fp, images)}


# --- generated case sets --------------------------------------------------------------------

coordinate = st.integers(0, 5).map(float)


@st.composite
def geometry(draw, kind, ndim):
    if kind == "point":
        return [draw(coordinate) for _ in range(ndim)]
    lo = [draw(coordinate) for _ in range(ndim)]
    return lo + [x + draw(st.sampled_from([0.0, 1.0, 2.0, 3.5])) for x in lo]


@st.composite
def case_sets(draw, hit):
    ndim = draw(st.sampled_from([2, 3]))
    pred_kind, lesion_kind = GEOMETRY[hit]
    n_cases = draw(st.integers(1, 6))
    references, predictions, spacings = [], [], []
    for _ in range(n_cases):
        lesions = []
        for _ in range(draw(st.integers(0, 3))):
            lesion = {lesion_kind: draw(geometry(lesion_kind, ndim))}
            if hit == "point_in_radius" and draw(st.booleans()):
                lesion["radius_mm"] = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]))
            lesions.append(lesion)
        preds = [{pred_kind: draw(geometry(pred_kind, ndim)),
                  "score": draw(st.sampled_from(SCORES))} for _ in range(draw(st.integers(0, 5)))]
        references.append(lesions)
        predictions.append(preds)
        spacings.append([draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in range(ndim)])
    rows = draw(st.integers(1, 4))
    weights = np.array(draw(st.lists(st.lists(st.integers(0, 3), min_size=n_cases,
                                              max_size=n_cases), min_size=rows, max_size=rows)),
                       dtype=float)
    weights = np.vstack([np.ones(n_cases), weights])
    params = {"hit": hit, "duplicates": draw(st.sampled_from(det.DUPLICATES))}
    if hit == "point_in_radius":
        params["radius_mm"] = draw(st.sampled_from([1.0, 1.5, 2.5]))
    if hit == "iou":
        params["iou_threshold"] = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0]))
    return references, predictions, spacings, weights, params


def _check_against_oracle(references, predictions, spacings, weights, params):
    matches, rest = det.match_cases(references, predictions, spacing=spacings, params=params)
    assert rest == {}
    oracle = [oracle_match(ref, pred, spacing=mm, **params)
              for ref, pred, mm in zip(references, predictions, spacings, strict=True)]
    for match, (outcomes, n_lesions) in zip(matches, oracle, strict=True):
        assert match.n_lesions == n_lesions
        assert [o for _, o, _ in outcomes] == [
            "tp" if tp else "fp" if fp else "ignored"
            for tp, fp in zip(match.is_tp, match.is_fp, strict=True)]
        assert [j for _, _, j in outcomes] == match.lesion.tolist()

    expanded = [expand(oracle, row) for row in weights]
    for interpolation in ("step", "linear"):
        got = det.froc(matches, weights, fp_rates=FP_RATES, interpolation=interpolation)
        want = [oracle_froc(cases, FP_RATES, interpolation) for cases in expanded]
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(
            det.froc_score(matches, weights, fp_rates=FP_RATES, interpolation=interpolation),
            np.mean(want, axis=1), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(det.ap_detection(matches, weights),
                               [oracle_ap(cases) for cases in expanded], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(det.ap_coco(matches, weights),
                               [oracle_ap_coco(cases) for cases in expanded], rtol=RTOL, atol=ATOL)
    for threshold in (*SCORES, 0.0, 0.6, 1.0):
        got_op = det.operating_point(matches, weights, threshold=threshold)
        want_op = [oracle_operating_point(cases, threshold) for cases in expanded]
        for key, values in got_op.items():
            np.testing.assert_allclose(values, [w[key] for w in want_op], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("hit", det.HITS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_metrics_match_the_oracle(hit, data):
    _check_against_oracle(*data.draw(case_sets(hit)))


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_row_blocks_do_not_change_results(data):
    references, predictions, spacings, weights, params = data.draw(case_sets("point_in_box"))
    matches, _ = det.match_cases(references, predictions, spacing=spacings, params=params)
    whole = [det.froc(matches, weights), det.ap_detection(matches, weights),
             det.ap_coco(matches, weights)]
    original = det.CHUNK_BYTES
    det.CHUNK_BYTES = 1
    try:
        blocks = [det.froc(matches, weights), det.ap_detection(matches, weights),
                  det.ap_coco(matches, weights)]
    finally:
        det.CHUNK_BYTES = original
    for a, b in zip(whole, blocks, strict=True):
        np.testing.assert_array_equal(a, b)


def test_pool_is_accepted_in_place_of_the_matches():
    rng = np.random.default_rng(7)
    references = [[{"point": list(rng.integers(0, 9, 2).astype(float))} for _ in range(k)]
                  for k in rng.integers(0, 4, 40)]
    predictions = [[{"point": list(rng.integers(0, 9, 2).astype(float)),
                     "score": float(rng.integers(0, 6)) / 5} for _ in range(k)]
                   for k in rng.integers(0, 6, 40)]
    matches, _ = det.match_cases(references, predictions, spacing=[(1.0, 1.0)] * 40,
                                 params={"hit": "point_in_radius", "radius_mm": 2.0})
    pool = det.pool_matches(matches)
    weights = rng.multinomial(40, np.full(40, 1 / 40), size=50).astype(float)
    for fn in (det.froc_score, det.ap_detection, det.ap_coco):
        np.testing.assert_array_equal(fn(matches, weights), fn(pool, weights))
    _check_against_oracle(references, predictions, [(1.0, 1.0)] * 40, weights[:8],
                          {"hit": "point_in_radius", "radius_mm": 2.0})
