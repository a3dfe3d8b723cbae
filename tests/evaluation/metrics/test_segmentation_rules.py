"""Segmentation case metrics: hand-computed values, every E.3 empty rule, input validation."""

import math

import numpy as np
import pytest

from evaluation.metrics import registry
from evaluation.metrics.segmentation import (
    METRIC_NAMES,
    SEGMENTATION_METRICS,
    segmentation_case_metrics,
)
from evaluation.metrics.segmentation_surface import image_diagonal_mm

pytestmark: list[pytest.MarkDecorator] = []

ALL = list(METRIC_NAMES)


def metrics_of(reference, prediction, spacing, **options):
    classes = options.pop("classes", [1])
    return segmentation_case_metrics(reference, prediction, spacing=spacing, classes=classes,
                                     metrics=options.pop("metrics", ALL), **options)


@pytest.mark.parametrize("offset", [1, 2, 3, 5])
@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.8, 2.5), (3.0, 0.4)])
def test_squares_offset_by_k_voxels(offset, spacing):
    """Two 10x10 squares offset by k rows: HD (and the 100th percentile) = k·spacing[0] exactly."""
    reference = np.zeros((32, 20), dtype=np.uint8)
    prediction = np.zeros_like(reference)
    reference[5:15, 5:15] = 1
    prediction[5 + offset:15 + offset, 5:15] = 1
    values = metrics_of(reference, prediction, spacing, hd_percentile=100.0)[1]
    assert values["hd"] == pytest.approx(offset * spacing[0], abs=1e-12)
    assert values["hd95"] == pytest.approx(offset * spacing[0], abs=1e-12)
    overlap = 10 * (10 - offset)
    assert values["dice"] == pytest.approx(2 * overlap / 200, abs=1e-15)
    assert values["iou"] == pytest.approx(overlap / (200 - overlap), abs=1e-15)
    assert values["volume_error"] == 0.0


def test_cubes_offset_along_the_coarse_axis():
    reference = np.zeros((12, 12, 12), dtype=np.int32)
    prediction = np.zeros_like(reference)
    reference[2:8, 2:8, 2:8] = 4
    prediction[2:8, 2:8, 4:10] = 4
    values = metrics_of(reference, prediction, (0.8, 0.8, 2.5), classes=[4])[4]
    assert values["hd"] == pytest.approx(5.0, abs=1e-12)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 1.1, 2.9)])
def test_single_voxel_masks(spacing):
    reference = np.zeros((8, 9, 10), dtype=np.uint8)
    prediction = np.zeros_like(reference)
    reference[1, 2, 3] = 1
    prediction[4, 6, 3] = 1
    distance = math.hypot(3 * spacing[0], 4 * spacing[1])
    values = metrics_of(reference, prediction, spacing, nsd_tolerance_mm=distance + 1e-9)[1]
    for name in ("hd", "hd95", "assd"):
        assert values[name] == pytest.approx(distance, abs=1e-12)
    assert values["dice"] == 0.0
    assert values["iou"] == 0.0
    assert values["nsd"] == 1.0
    assert metrics_of(reference, prediction, spacing, nsd_tolerance_mm=distance - 1e-9)[1]["nsd"] == 0.0


def test_identical_masks_are_perfect():
    labels = np.zeros((10, 11, 12), dtype=np.uint8)
    labels[2:7, 3:9, 1:12] = 1
    values = metrics_of(labels, labels.copy(), (0.5, 0.5, 3.0), nsd_tolerance_mm=0.0)[1]
    assert values == {"dice": 1.0, "iou": 1.0, "hd95": 0.0, "hd": 0.0, "assd": 0.0, "nsd": 1.0,
                      "volume_error": 0.0}


def test_assd_and_nsd_are_count_weighted():
    """A 3-voxel bar against one of its end voxels: surfaces of 3 and 1 voxels."""
    reference = np.zeros((1, 7), dtype=np.uint8)
    prediction = np.zeros_like(reference)
    reference[0, 1:4] = 1
    prediction[0, 1] = 1
    values = metrics_of(reference, prediction, (1.0, 2.0), nsd_tolerance_mm=2.0)[1]
    # reference → prediction: 0, 2, 4 mm; prediction → reference: 0 mm.
    assert values["assd"] == pytest.approx((0 + 2 + 4 + 0) / 4)
    assert values["nsd"] == pytest.approx(3 / 4)
    assert values["hd"] == pytest.approx(4.0)
    assert values["hd95"] == pytest.approx(np.percentile([0.0, 2.0, 4.0], 95))
    assert values["volume_error"] == pytest.approx(2 / 3)


def test_both_empty_rules():
    empty = np.zeros((5, 6, 7), dtype=np.uint8)
    values = metrics_of(empty, empty.copy(), (1.0, 1.0, 1.0))[1]
    assert {k: v for k, v in values.items() if k != "volume_error"} == {
        "dice": 1.0, "iou": 1.0, "nsd": 1.0, "hd95": 0.0, "hd": 0.0, "assd": 0.0}
    assert math.isnan(values["volume_error"])


@pytest.mark.parametrize("empty_side", ["reference", "prediction"])
def test_exactly_one_empty_rules(empty_side):
    shape, spacing = (20, 30, 10), (0.8, 0.8, 2.5)
    present = np.zeros(shape, dtype=np.uint8)
    present[3:9, 4:10, 2:5] = 2
    empty = np.zeros(shape, dtype=np.uint8)
    reference, prediction = (empty, present) if empty_side == "reference" else (present, empty)
    values = metrics_of(reference, prediction, spacing, classes=[2])[2]
    diagonal = math.sqrt(16**2 + 24**2 + 25**2)
    assert values["dice"] == 0.0
    assert values["iou"] == 0.0
    assert values["nsd"] == 0.0
    for name in ("hd", "hd95", "assd"):
        assert values[name] == pytest.approx(diagonal, abs=1e-12)
    if empty_side == "reference":
        assert math.isnan(values["volume_error"])
    else:
        assert values["volume_error"] == 1.0
    assert all(math.isfinite(v) for k, v in values.items() if k != "volume_error")


def test_brats_penalty_is_the_image_diagonal():
    assert image_diagonal_mm((240, 240, 155), (1.0, 1.0, 1.0)) == pytest.approx(373.13, abs=0.005)


def test_multiclass_per_class_values_match_single_class_calls():
    """Many classes take the find_objects path; each must equal its own single-class call."""
    rng = np.random.default_rng(11)
    reference = rng.integers(0, 7, size=(14, 15, 9)).astype(np.uint16)
    prediction = rng.integers(0, 7, size=(14, 15, 9)).astype(np.uint16)
    prediction[prediction == 5] = 0  # class 5 absent from the prediction
    reference[reference == 6] = 0  # class 6 absent from the reference
    spacing = (1.2, 0.6, 2.0)
    classes = [1, 2, 3, 4, 5, 6, 9]  # 9 is absent from both
    together = metrics_of(reference, prediction, spacing, classes=classes)
    assert list(together) == classes
    for label in classes:
        single = metrics_of(reference, prediction, spacing, classes=[label])[label]
        np.testing.assert_equal(together[label], single)
    assert together[9]["dice"] == 1.0
    assert together[5]["nsd"] == 0.0


def test_background_class_and_bool_masks():
    reference = np.zeros((6, 6), dtype=bool)
    reference[1:4, 1:4] = True
    prediction = reference.copy()
    values = metrics_of(reference, prediction, (1.0, 1.0), classes=[0, 1])
    assert values[0]["dice"] == 1.0
    assert values[1]["hd"] == 0.0


def test_per_class_tolerances():
    reference = np.zeros((1, 12), dtype=np.uint8)
    prediction = np.zeros_like(reference)
    reference[0, 1], prediction[0, 4] = 1, 1  # 3 mm apart
    reference[0, 7], prediction[0, 8] = 2, 2  # 1 mm apart
    values = metrics_of(reference, prediction, (1.0, 1.0), classes=[1, 2], metrics=["nsd"],
                        nsd_tolerance_mm={1: 3.0, 2: 0.5})
    assert values == {1: {"nsd": 1.0}, 2: {"nsd": 0.0}}


def test_only_requested_metrics_are_returned():
    labels = np.ones((3, 3), dtype=np.uint8)
    assert metrics_of(labels, labels, (1.0, 1.0), metrics=["dice"]) == {1: {"dice": 1.0}}


@pytest.mark.parametrize(
    ("reference", "prediction", "spacing", "options", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 4)), (1, 1), {}, "integer labels"),
        (np.zeros((4, 4), int), np.zeros((4, 5), int), (1, 1), {}, "shape mismatch"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, 1, 1), {}, "spacing has 3 values"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, 0), {}, "finite and > 0"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, -2), {}, "finite and > 0"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, math.nan), {}, "finite and > 0"),
        (np.zeros((0, 4), int), np.zeros((0, 4), int), (1, 1), {}, "one voxel"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, 1), {"metrics": ["hd99"]}, "unknown"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, 1), {"hd_percentile": 101}, "hd_percentile"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, 1), {"nsd_tolerance_mm": -1.0}, "tolerance"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), (1, 1), {"nsd_tolerance_mm": {2: 1.0}},
         "no NSD tolerance"),
        ([[0, 1]], [[0, 1]], (1, 1), {}, "numpy arrays"),
    ],
)
def test_invalid_inputs_raise_value_error(reference, prediction, spacing, options, message):
    with pytest.raises(ValueError, match=message):
        metrics_of(reference, prediction, spacing, **options)


def test_every_metric_is_registered_as_a_segmentation_case_metric():
    assert set(SEGMENTATION_METRICS) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        definition = registry.REGISTRY[name]
        assert definition.kind == "case"
        assert definition.tasks == frozenset({"segmentation"})
        assert definition.direction == SEGMENTATION_METRICS[name]["direction"]
        assert str(definition.label)
    assert registry.REGISTRY["dice"].bounds == (1.0, 0.0)
    assert registry.REGISTRY["hd95"].bounds is None  # the penalty depends on the image
    assert dict(registry.REGISTRY["nsd"].params) == {"tolerance_mm": float}
    assert dict(registry.REGISTRY["hd95"].params) == {"percentile": float}


def test_registered_functions_take_spec_parameters():
    reference = np.zeros((1, 12), dtype=np.uint8)
    prediction = np.zeros_like(reference)
    reference[0, 1:6], prediction[0, 3:9] = 1, 1
    common = {"spacing": (1.0, 1.5), "label": 1}
    direct = metrics_of(reference, prediction, (1.0, 1.5), nsd_tolerance_mm=2.0, hd_percentile=50.0)[1]
    assert registry.REGISTRY["nsd"].fn(reference, prediction, tolerance_mm=2.0, **common) == direct["nsd"]
    assert registry.REGISTRY["hd95"].fn(reference, prediction, percentile=50.0, **common) == direct["hd95"]
    assert registry.REGISTRY["dice"].fn(reference, prediction, **common) == direct["dice"]
