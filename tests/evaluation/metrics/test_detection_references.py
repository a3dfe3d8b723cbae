"""Detection metrics against code no one here wrote: MONAI's FROC (CAMELYON16 evaluation code) and
COCO metric, and scikit-learn's average precision.

MONAI (1.6.1, with the CPU torch 2.13.0) is a test-only dependency. Known differences, handled
here rather than hidden: MONAI's ``compute_froc_curve_data`` drops the lowest score from the
curve, so every FP list gets a sentinel score 0 below all real scores; MONAI keeps TP scores in
float32, so scores are multiples of 1/64; COCO orders tied detections by input order, so the
COCO comparison uses distinct scores; MONAI's IoU is float32, so IoUs within 1e-4 of the
threshold are avoided.
"""

import importlib
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from evaluation.metrics import detection as det

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database


def monai(module):
    """A MONAI module (a pinned test dependency: a missing MONAI fails, never skips)."""
    return importlib.import_module(f"monai.{module}")


SIZE = 24


def labelled_images(rng, n_images):
    """Per image: a label mask of disjoint rectangles 1..k, their inclusive boxes, detections."""
    images = []
    for _ in range(n_images):
        mask = np.zeros((SIZE, SIZE), dtype=np.int64)
        boxes = []
        for _ in range(rng.integers(0, 4)):
            r0, c0 = rng.integers(0, SIZE - 4, 2)
            r1, c1 = r0 + rng.integers(0, 4), c0 + rng.integers(0, 4)
            if mask[r0:r1 + 1, c0:c1 + 1].any():
                continue
            boxes.append([float(r0), float(c0), float(r1), float(c1)])
            mask[r0:r1 + 1, c0:c1 + 1] = len(boxes)
        detections = []
        for _ in range(rng.integers(0, 7)):
            if boxes and rng.random() < 0.5:
                r0, c0, r1, c1 = (int(v) for v in boxes[rng.integers(len(boxes))])
                at = [int(rng.integers(r0, r1 + 1)), int(rng.integers(c0, c1 + 1))]
            else:
                at = [int(v) for v in rng.integers(0, SIZE, 2)]
            detections.append({"point": [float(v) for v in at],
                               "score": float(rng.integers(1, 65)) / 64})
        images.append((mask, boxes, detections))
    return images


def monai_froc_curve(images):
    froc = monai("metrics.froc")
    fp, tp, targets = [np.zeros(1)], [np.zeros(0, dtype=np.float32)], 0  # sentinel FP score 0
    for mask, _, detections in images:
        probs = np.array([d["score"] for d in detections])
        coords = np.array([d["point"] for d in detections], dtype=np.int64).reshape(-1, 2)
        fp_i, tp_i, n_i = froc.compute_fp_tp_probs_nd(probs, coords, mask)
        fp.append(np.asarray(fp_i, dtype=np.float64))
        tp.append(tp_i)
        targets += n_i
    return froc.compute_froc_curve_data(
        np.concatenate(fp), np.concatenate(tp).astype(np.float64), targets, len(images))


@pytest.mark.parametrize("seed", range(12))
def test_froc_linear_matches_monai(seed):
    rng = np.random.default_rng(seed)
    images = labelled_images(rng, int(rng.integers(3, 25)))
    matches = [det.match_case([{"box": b} for b in boxes], dets, hit="point_in_box")
               for _, boxes, dets in images]
    weights = np.vstack([np.ones(len(images)),
                         rng.multinomial(len(images), np.full(len(images), 1 / len(images)), 4)])
    rates_list = (det.FP_RATES_CAMELYON16, det.FP_RATES_LUNA16)
    for rates in rates_list:
        got = det.froc(matches, weights, fp_rates=rates, interpolation="linear")
        got_score = det.froc_score(matches, weights, fp_rates=rates, interpolation="linear")
        for row, got_row, got_mean in zip(weights, got, got_score, strict=True):
            expanded = [image for image, times in zip(images, row, strict=True)
                        for _ in range(int(times))]
            if not any(boxes for _, boxes, _ in expanded):
                assert np.isnan(got_row).all()
                continue
            fps, sens = monai_froc_curve(expanded)
            np.testing.assert_allclose(got_row, np.interp(rates, fps[::-1], sens[::-1]),
                                       rtol=1e-12, atol=1e-12)
            assert got_mean == pytest.approx(
                monai("metrics.froc").compute_froc_score(fps, sens, eval_thresholds=rates),
                abs=1e-12)


def random_box(rng, near=None):
    if near is not None:
        lo = near[:2] + rng.normal(0, 1.0, 2)
        size = (near[2:] - near[:2]) * rng.uniform(0.6, 1.5, 2)
    else:
        lo = rng.uniform(0, 40, 2)
        size = rng.uniform(2, 10, 2)
    return np.r_[lo, lo + size]


def coco_images(rng, n_images, iou_threshold):
    """Images of lesion boxes and scored predicted boxes; no IoU within 1e-4 of the threshold."""
    images: list[tuple[np.ndarray, np.ndarray]] = []
    while len(images) < n_images:
        gt = np.array([random_box(rng) for _ in range(rng.integers(0, 4))]).reshape(-1, 4)
        preds = [random_box(rng, gt[rng.integers(len(gt))] if len(gt) and rng.random() < 0.7
                            else None) for _ in range(rng.integers(0, 8))]
        pred = np.array(preds).reshape(-1, 4)
        iou = det.box_iou(pred, gt)
        if (np.abs(iou - iou_threshold) < 1e-4).any():
            continue
        images.append((gt, pred))
    scores = rng.permutation(sum(len(p) for _, p in images)) / 1000 + 0.001
    out, start = [], 0
    for gt, pred in images:
        out.append((gt, pred, scores[start:start + len(pred)]))
        start += len(pred)
    return out


def monai_coco_ap(images, iou_threshold):
    matching = monai("apps.detection.metrics.matching")
    metric = monai("apps.detection.metrics.coco").COCOMetric(
        classes=["lesion"], iou_list=[iou_threshold], max_detection=[100], verbose=False,
        iou_range=(iou_threshold, iou_threshold, 0.05))
    results = matching.matching_batch(
        iou_fn=monai("data.box_utils").box_iou, iou_thresholds=metric.iou_thresholds,
        pred_boxes=[p for _, p, _ in images], pred_scores=[s for _, _, s in images],
        pred_classes=[np.zeros(len(p), int) for _, p, _ in images],
        gt_boxes=[g for g, _, _ in images],
        gt_classes=[np.zeros(len(g), int) for g, _, _ in images])
    values, _ = metric(results)
    return values[f"AP_IoU_{iou_threshold:.2f}_MaxDet_100"]


@pytest.mark.parametrize("iou_threshold", [0.5, 0.3])
@pytest.mark.parametrize("seed", range(8))
def test_ap_coco_matches_monai(seed, iou_threshold):
    rng = np.random.default_rng([seed, int(iou_threshold * 10)])
    images = coco_images(rng, int(rng.integers(4, 30)), iou_threshold)
    # Missed lesions until L is coprime to 100: then no recall k/L equals a COCO recall
    # threshold j/100, where MONAI's float32 recall could fall on either side.
    while math.gcd(sum(len(g) for g, _, _ in images), 100) != 1:
        images.append((np.array([[0.0, 0.0, 1.0, 1.0]]), np.zeros((0, 4)), np.zeros(0)))
    matches = [det.match_case([{"box": list(b)} for b in gt],
                              [{"box": list(b), "score": float(s)}
                               for b, s in zip(pred, scores, strict=True)],
                              hit="iou", iou_threshold=iou_threshold, duplicates="false_positive")
               for gt, pred, scores in images]
    got = det.ap_coco(matches, np.ones((1, len(images))))[0]
    assert got == pytest.approx(monai_coco_ap(images, iou_threshold), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_box_iou_matches_monai(seed):
    rng = np.random.default_rng(seed)
    for ndim in (2, 3):
        lo_a, lo_b = rng.uniform(0, 5, (7, ndim)), rng.uniform(0, 5, (5, ndim))
        a = np.hstack([lo_a, lo_a + rng.uniform(0, 4, (7, ndim))])
        b = np.hstack([lo_b, lo_b + rng.uniform(0.5, 4, (5, ndim))])
        np.testing.assert_allclose(det.box_iou(a, b), monai("data.box_utils").box_iou(a, b),
                                   atol=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_ap_detection_is_sklearn_ap_scaled_by_the_lesions_found(seed):
    # With recall over all lesions, AP = sklearn's AP on the kept detections x (TP found / L).
    rng = np.random.default_rng(seed)
    images = labelled_images(rng, int(rng.integers(3, 30)))
    matches = [det.match_case([{"box": b} for b in boxes], dets, hit="point_in_box")
               for _, boxes, dets in images]
    kept = [(m.scores[m.is_tp | m.is_fp], m.is_tp[m.is_tp | m.is_fp]) for m in matches]
    scores = np.concatenate([s for s, _ in kept])
    labels = np.concatenate([t for _, t in kept])
    lesions = sum(m.n_lesions for m in matches)
    got = det.ap_detection(matches, np.ones((1, len(matches))))[0]
    if lesions == 0:
        assert math.isnan(got)
    elif labels.sum() == 0:
        assert got == 0.0
    else:
        want = average_precision_score(labels, scores) * labels.sum() / lesions
        assert got == pytest.approx(want, rel=1e-12)
