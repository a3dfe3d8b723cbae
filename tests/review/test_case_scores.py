"""review.case_scores: losses and disagreement from stored per-case rows (pure functions)."""

import pytest

from evaluation.metrics.spec import parse_spec
from evaluation.services.specs import default_spec
from review.case_scores import case_loss, disagreement, loss_metric, predicted_label

pytestmark: list[pytest.MarkDecorator] = []


def spec(task: str, labels: list[str], positive: str = "", **extra):
    return parse_spec({**default_spec(task, labels, positive), **extra})


def test_binary_loss_is_the_distance_of_the_score_from_the_truth():
    binary = spec("binary-classification", ["absent", "present"], "present")
    assert loss_metric(binary) is None
    assert case_loss(binary, {"score": 0.9, "label": 1}) == pytest.approx(0.1)
    assert case_loss(binary, {"score": 0.9, "label": 0}) == pytest.approx(0.9)
    assert case_loss(binary, {}) is None
    assert predicted_label(binary, {"predicted": 1}) == "present"
    assert predicted_label(binary, {"predicted": 0}) == "absent"


def test_multiclass_loss_is_one_minus_the_probability_of_the_true_label():
    multi = spec("multiclass-classification", ["a", "b", "c"])
    values = {"label": "b", "predicted": "a", "correct": False}
    prediction = {"probabilities": {"a": 0.5, "b": 0.3, "c": 0.2}}
    assert case_loss(multi, values, prediction) == pytest.approx(0.7)
    assert case_loss(multi, values) == 1.0  # without probabilities: right or wrong
    assert predicted_label(multi, values) == "a"


def test_a_bounded_case_metric_is_the_loss_and_undefined_counts_as_worst():
    segmentation = spec("segmentation", ["background", "organ"])
    metric = loss_metric(segmentation)
    assert metric is not None and metric.key == "dice"
    assert case_loss(segmentation, {"dice": 0.75}) == pytest.approx(0.25)
    assert case_loss(segmentation, {"dice": None}) == 1.0
    assert predicted_label(segmentation, {"dice": 0.5}) is None


def test_detection_loss_from_lesions_detections_and_hits():
    detection = spec("detection", ["lesion"])
    assert case_loss(detection, {"lesions": 2, "detections": 3, "hits": 2}) == pytest.approx(1 / 3)
    assert case_loss(detection, {"lesions": 0, "detections": 0, "hits": 0}) == 0.0
    assert case_loss(detection, {"lesions": 1, "detections": 0, "hits": 0}) == 1.0


def test_disagreement_by_labels_or_by_spread():
    assert disagreement(["a", "a", "a"], [0, 0, 0]) == 0.0
    assert disagreement(["a", "b"], [0, 1]) == 1.0  # an even split
    assert disagreement(["a", "a", "b"], [0, 0, 1]) == pytest.approx(2 / 3)
    assert disagreement([None, None], [0.1, 0.7]) == pytest.approx(0.6)
    assert disagreement([None], [0.5]) == 0.0
