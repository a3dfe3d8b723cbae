"""Detection matching and metrics on hand-worked cases, edge rules, validation, registration."""

import math

import numpy as np
import pytest

from evaluation.metrics import detection as det
from evaluation.metrics.registry import REGISTRY

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database

ONES = np.ones((1, 3))
RADIUS = {"hit": "point_in_radius", "spacing": (1.0, 1.0), "radius_mm": 2.0}


def point(r, c, score=None):
    item = {"point": [float(r), float(c)]}
    return item if score is None else {**item, "score": score}


@pytest.fixture
def worked_cases():
    """Case A: 2 lesions hit at 0.9 and 0.7, a FP at 0.8, a duplicate at 0.6.
    Case B: no lesion, FPs at 0.85 and 0.5.  Case C: one lesion, no prediction.

    Thresholds: 0.9 (TP1) 0.85 (FP1) 0.8 (FP2) 0.7 (TP2) 0.6 (duplicate) 0.5 (FP3); N=3, L=3.
    """
    a = det.match_case([point(0, 0), point(10, 10)],
                       [point(0, 1, 0.9), point(50, 50, 0.8), point(10, 9, 0.7), point(1, 0, 0.6)],
                       **RADIUS)
    b = det.match_case([], [point(3, 3, 0.85), point(4, 4, 0.5)], **RADIUS)
    c = det.match_case([point(5, 5)], [], **RADIUS)
    return [a, b, c]


def test_worked_matching(worked_cases):
    a = worked_cases[0]
    assert a.is_tp.tolist() == [True, False, True, False]
    assert a.is_fp.tolist() == [False, True, False, False]
    assert a.lesion.tolist() == [0, -1, 1, 0]
    assert [c.n_lesions for c in worked_cases] == [2, 0, 1]


def test_worked_froc(worked_cases):
    # Curve: (0, 1/3) (1/3, 1/3) (2/3, 1/3) (2/3, 2/3) (1, 2/3).
    third, two_thirds = 1 / 3, 2 / 3
    want = [third, third, third, two_thirds, two_thirds, two_thirds, two_thirds]
    for interpolation in ("step", "linear"):
        np.testing.assert_allclose(det.froc(worked_cases, ONES, interpolation=interpolation),
                                   [want], rtol=1e-15)
    np.testing.assert_allclose(det.froc_score(worked_cases, ONES), [11 / 21], rtol=1e-15)


def test_worked_ap(worked_cases):
    # TP thresholds: 0.9 (R=1/3, P=1) and 0.7 (R=2/3, P=2/4).
    np.testing.assert_allclose(det.ap_detection(worked_cases, ONES), [1 / 3 + 1 / 6], rtol=1e-15)
    # COCO: k = 0..33 reach P=1, k = 34..66 reach P=1/2, k = 67..100 nothing.
    np.testing.assert_allclose(det.ap_coco(worked_cases, ONES), [(34 + 33 / 2) / 101], rtol=1e-15)


def test_worked_operating_point(worked_cases):
    got = det.operating_point(worked_cases, ONES, threshold=0.75)
    assert {k: float(v[0]) for k, v in got.items()} == pytest.approx(
        {"sensitivity": 1 / 3, "precision": 1 / 3, "f1": 1 / 3, "fppi": 2 / 3})
    assert det.detection_sensitivity(worked_cases, ONES, threshold=0.75) == pytest.approx([1 / 3])
    assert det.fppi(worked_cases, ONES, threshold=0.5) == pytest.approx([1.0])
    assert det.detection_precision(worked_cases, ONES, threshold=0.5) == pytest.approx([2 / 5])
    assert det.detection_f1(worked_cases, ONES, threshold=0.5) == pytest.approx([4 / 8])


def test_worked_weights(worked_cases):
    # Row [2, 0, 1]: A twice and C: N=3, L=5; curve (0, 2/5) (2/3, 2/5) (2/3, 4/5).
    # Row [0, 1, 0]: B alone, no lesion -> nan.  Row [0, 0, 1]: C alone -> 0.
    weights = np.array([[2, 0, 1], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    got = det.froc(worked_cases, weights)
    np.testing.assert_allclose(got[0], [0.4, 0.4, 0.4, 0.8, 0.8, 0.8, 0.8], rtol=1e-15)
    assert np.isnan(got[1]).all() and np.isnan(got[3]).all()
    np.testing.assert_array_equal(got[2], np.zeros(7))
    np.testing.assert_allclose(det.ap_detection(worked_cases, weights)[[0, 2]],
                               [2 / 5 + 2 / 5 * 4 / 6, 0.0], rtol=1e-15)


def test_step_and_linear_differ_inside_a_tie():
    # One image, 2 lesions; 0.9: a TP and a FP tied; 0.5: a TP and two FPs.
    # Curve: (0, 0) (1, 1/2) (3, 1).
    lesions = [point(0, 0), point(20, 20)]
    preds = [point(0, 0, 0.9), point(40, 40, 0.9), point(20, 20, 0.5), point(40, 0, 0.5),
             point(0, 40, 0.5)]
    cases = [det.match_case(lesions, preds, **RADIUS)]
    rates = det.FP_RATES_CAMELYON16
    np.testing.assert_allclose(det.froc(cases, np.ones((1, 1)), fp_rates=rates),
                               [[0, 0, 0.5, 0.5, 1, 1]])
    np.testing.assert_allclose(
        det.froc(cases, np.ones((1, 1)), fp_rates=rates, interpolation="linear"),
        [[0.125, 0.25, 0.5, 0.75, 1, 1]], rtol=1e-15)
    np.testing.assert_allclose(det.ap_detection(cases, np.ones((1, 1))), [0.45], rtol=1e-15)
    np.testing.assert_allclose(det.ap_coco(cases, np.ones((1, 1))), [(51 / 2 + 50 * 2 / 5) / 101],
                               rtol=1e-15)


def test_no_lesions_is_undefined():
    cases = [det.match_case([], [point(1, 1, 0.5)], **RADIUS), det.match_case([], [], **RADIUS)]
    w = np.ones((1, 2))
    for fn in (det.froc_score, det.ap_detection, det.ap_coco, det.detection_sensitivity):
        assert np.isnan(fn(cases, w)).all()
    assert det.fppi(cases, w, threshold=0.5) == pytest.approx([0.5])
    assert det.detection_precision(cases, w, threshold=0.5) == pytest.approx([0.0])


def test_no_detections_scores_zero():
    cases = [det.match_case([point(1, 1)], [], **RADIUS), det.match_case([], [], **RADIUS)]
    w = np.ones((1, 2))
    for fn in (det.froc_score, det.ap_detection, det.ap_coco, det.detection_sensitivity,
               det.detection_f1, det.fppi):
        assert fn(cases, w).tolist() == [0.0]
    assert np.isnan(det.detection_precision(cases, w))
    assert det.froc(cases, w).shape == (1, 7)


def test_all_false_positives():
    cases = [det.match_case([point(0, 0)], [point(9, 9, s) for s in (0.2, 0.4, 0.6)], **RADIUS)]
    w = np.ones((1, 1))
    assert det.froc(cases, w).tolist() == [[0.0] * 7]
    assert det.ap_detection(cases, w).tolist() == [0.0]
    assert det.ap_coco(cases, w).tolist() == [0.0]
    assert det.fppi(cases, w, threshold=0.0).tolist() == [3.0]


def test_duplicates_policy():
    lesion = [point(0, 0)]
    preds = [point(0, 0, 0.9), point(0, 1, 0.8), point(9, 9, 0.7)]
    ignored = det.match_case(lesion, preds, **RADIUS)
    counted = det.match_case(lesion, preds, **RADIUS, duplicates="false_positive")
    assert ignored.is_fp.tolist() == [False, False, True]
    assert counted.is_fp.tolist() == [False, True, True]
    assert ignored.lesion.tolist() == counted.lesion.tolist() == [0, 0, -1]
    w = np.ones((1, 1))
    assert det.fppi([ignored], w, threshold=0.0).tolist() == [1.0]
    assert det.fppi([counted], w, threshold=0.0).tolist() == [2.0]


def test_greedy_takes_the_best_free_lesion_in_score_order():
    lesions = [point(0, 0), point(0, 3)]
    # The top detection hits both and takes the nearer (lesion 1); the next one hits only
    # lesion 1 (taken) -> duplicate, although an optimal assignment would score two TPs.
    preds = [point(0, 2, 0.9), point(0, 4, 0.8)]
    match = det.match_case(lesions, preds, **{**RADIUS, "radius_mm": 2.5})
    assert match.is_tp.tolist() == [True, False]
    assert match.lesion.tolist() == [1, 1]
    # A detection whose best lesion is taken falls back to the other lesion it hits.
    preds = [point(0, 3, 0.9), point(0, 2, 0.8)]
    match = det.match_case(lesions, preds, **{**RADIUS, "radius_mm": 2.5})
    assert match.is_tp.tolist() == [True, True]
    assert match.lesion.tolist() == [1, 0]


def test_tied_scores_match_in_input_order():
    # 30 tied hits among 30 lower-scored misses, shuffled: the first hit in input order is the TP.
    scores = np.r_[np.full(30, 0.5), np.full(30, 0.7)]
    np.random.default_rng(0).shuffle(scores)
    preds = [point(0, 0, s) if s == 0.7 else point(50, 50, s) for s in scores]
    match = det.match_case([point(0, 0)], preds, **RADIUS)
    first = int(np.argmax(scores == 0.7))
    assert np.flatnonzero(match.is_tp).tolist() == [first]


def test_point_in_radius_uses_mm_spacing_3d():
    lesion = [{"point": [10.0, 10.0, 10.0], "radius_mm": 4.0}]
    spacing = (2.5, 0.7, 0.7)
    radius = {"hit": "point_in_radius", "spacing": spacing}
    near_in_plane = det.match_case(lesion, [{"point": [10, 15, 10], "score": 1}], **radius)
    far_in_z = det.match_case(lesion, [{"point": [12, 10, 10], "score": 1}], **radius)
    on_boundary = det.match_case([{"point": [0.0, 0.0], "radius_mm": 5.0}],
                                 [{"point": [3.0, 4.0], "score": 1}], hit="point_in_radius",
                                 spacing=(1.0, 1.0))
    assert near_in_plane.is_tp.tolist() == [True]  # 3.5 mm
    assert far_in_z.is_tp.tolist() == [False]  # 5 mm
    assert on_boundary.is_tp.tolist() == [True]


def test_point_in_box_includes_faces():
    box = [{"box": [2.0, 2.0, 4.0, 6.0]}]
    preds = [point(2, 6, 0.9), point(4.0001, 3, 0.8), point(3, 3, 0.7)]
    match = det.match_case(box, preds, hit="point_in_box")
    assert match.is_tp.tolist() == [True, False, False]
    assert match.is_fp.tolist() == [False, True, False]


def test_iou_threshold_and_box_iou():
    ref = [{"box": [0.0, 0.0, 2.0, 2.0]}]
    half = {"box": [0.0, 0.0, 2.0, 1.0], "score": 0.9}  # IoU 0.5 exactly
    third = {"box": [1.0, 0.0, 3.0, 2.0], "score": 0.8}  # IoU 1/3
    assert det.match_case(ref, [half], hit="iou").is_tp.tolist() == [True]
    assert det.match_case(ref, [third], hit="iou").is_tp.tolist() == [False]
    assert det.match_case(ref, [third], hit="iou", iou_threshold=0.3).is_tp.tolist() == [True]
    cube = np.array([[0.0, 0, 0, 2, 2, 2]])
    shifted = np.array([[1.0, 1, 1, 3, 3, 3], [5.0, 5, 5, 5, 5, 5]])
    np.testing.assert_allclose(det.box_iou(cube, shifted), [[1 / 15, 0.0]])


def test_match_cases_splits_parameters():
    matches, rest = det.match_cases(
        [[point(0, 0)], []], [[point(0, 0, 0.3)], [point(1, 1, 0.2)]],
        spacing=[(1.0, 1.0), None],
        params={"hit": "point_in_radius", "radius_mm": 1.0, "fp_rates": [1, 2], "threshold": 0.5})
    assert rest == {"fp_rates": [1, 2], "threshold": 0.5}
    assert [m.is_tp.tolist() for m in matches] == [[True], [False]]


@pytest.mark.parametrize(("reference", "predictions", "kwargs", "message"), [
    ([point(0, 0)], [point(0, 0, 0.5)], {"hit": "point_in_radius", "radius_mm": 1.0}, "spacing"),
    ([point(0, 0)], [point(0, 0, 0.5)], {"hit": "point_in_radius", "spacing": (1, 1)}, "radius_mm"),
    ([point(0, 0)], [point(0, 0, 0.5)], {"hit": "nearest"}, "hit must be"),
    ([point(0, 0)], [point(0, 0, 0.5)], {"hit": "point_in_box"}, "needs a 'box'"),
    ([point(0, 0)], [point(0, 0)], {"hit": "point_in_box"}, "score"),
    ([point(0, 0)], [point(0, 0, math.nan)], {**RADIUS}, "finite"),
    ([{"point": [0.0, 0.0, 0.0]}], [point(0, 0, 0.5)], {**RADIUS}, "2-D or all 3-D"),
    ([{"box": [2.0, 0.0, 1.0, 1.0]}], [point(0, 0, 0.5)], {"hit": "point_in_box"}, "lo <= hi"),
    ([{"box": [0.0, 0.0, 1.0, 1.0]}], [{"box": [0.0, 0.0, 1.0, 1.0], "score": 1}],
     {"hit": "iou", "iou_threshold": 0.0}, "iou_threshold"),
    ([point(0, 0)], [point(0, 0, 0.5)], {**RADIUS, "duplicates": "count"}, "duplicates"),
    ([point(0, 0)], [point(0, 0, 0.5)], {**RADIUS, "spacing": (1.0, -1.0)}, "positive"),
])
def test_invalid_inputs_raise(reference, predictions, kwargs, message):
    with pytest.raises(ValueError, match=message):
        det.match_case(reference, predictions, **kwargs)


def test_invalid_set_metric_arguments(worked_cases):
    with pytest.raises(ValueError, match="shape"):
        det.froc(worked_cases, np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        det.ap_detection(worked_cases, -np.ones((1, 3)))
    with pytest.raises(ValueError, match="interpolation"):
        det.froc(worked_cases, ONES, interpolation="cubic")
    with pytest.raises(ValueError, match="fp_rates"):
        det.froc(worked_cases, ONES, fp_rates=[])
    with pytest.raises(ValueError, match="'hit'"):
        det.match_cases([[]], [[]], params={})


def test_registered_as_detection_set_metrics(worked_cases):
    names = {"froc_score", "sensitivity_at_fppi", "ap_detection", "ap_coco",
             "detection_sensitivity", "detection_precision", "detection_f1", "fppi"}
    for name in names:
        definition = REGISTRY[name]
        assert definition.kind == "set" and definition.tasks == frozenset({"detection"})
        assert {"hit", "radius_mm", "iou_threshold", "duplicates"} <= set(definition.params)
        assert definition.fn(worked_cases, ONES).shape == (1,)
    assert REGISTRY["fppi"].direction == "lower"
    assert REGISTRY["sensitivity_at_fppi"].fn(worked_cases, ONES, fp_rate=1.0) == pytest.approx(
        [2 / 3])
