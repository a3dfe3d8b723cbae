"""Segmentation case metrics against an independent oracle, and cropped against uncropped EDTs.

The oracle shares no code with ``evaluation.metrics.segmentation*``: surfaces come from shifted
ANDs over a zero-padded copy (face neighbours, outside = background), distances from
``scipy.spatial.cKDTree`` between the two surface point sets in mm, every metric straight from its
definition. Random and hypothesis-generated 2-D/3-D masks with anisotropic spacing, touching the
image border; distances must agree to 1e-6 mm, ratios to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.spatial import cKDTree

from evaluation.metrics.segmentation import segmentation_case_metrics
from evaluation.metrics.segmentation_surface import class_geometry, surface

pytestmark: list[pytest.MarkDecorator] = []

ALL_METRICS = ["dice", "iou", "hd95", "hd", "assd", "nsd", "volume_error"]
DISTANCE_METRICS = {"hd95", "hd", "assd"}


def oracle_surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with at least one face neighbour outside the mask (or the image)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    interior = mask.copy()
    for axis in range(mask.ndim):
        for shift in (-1, 1):
            interior &= np.roll(padded, shift, axis=axis)[inner]
    return mask & ~interior


def surface_points_mm(mask: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    return np.argwhere(oracle_surface(mask)) * np.asarray(spacing)


def directed_distances(reference: np.ndarray, prediction: np.ndarray,
                       spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force nearest-surface distances in both directions (both masks non-empty)."""
    points_a = surface_points_mm(reference, spacing)
    points_b = surface_points_mm(prediction, spacing)
    forward = cKDTree(points_b).query(points_a)[0]
    backward = cKDTree(points_a).query(points_b)[0]
    return forward, backward


def oracle_metrics(reference: np.ndarray, prediction: np.ndarray, label: int, spacing: tuple[float, ...], *,
                   tolerance: float = 2.0, percentile: float = 95.0) -> dict[str, float]:
    """Every metric of one class from its definition and the E.3 empty rules."""
    a, b = reference == label, prediction == label
    n_a, n_b, n_ab = int(a.sum()), int(b.sum()), int((a & b).sum())
    diagonal = math.sqrt(sum((n * s) ** 2 for n, s in zip(a.shape, spacing, strict=True)))
    values = {"volume_error": abs(n_b - n_a) / n_a if n_a else math.nan}
    if n_a == 0 and n_b == 0:
        return values | {"dice": 1.0, "iou": 1.0, "nsd": 1.0, "hd": 0.0, "hd95": 0.0, "assd": 0.0}
    values |= {"dice": 2 * n_ab / (n_a + n_b), "iou": n_ab / (n_a + n_b - n_ab)}
    if n_a == 0 or n_b == 0:
        return values | {"nsd": 0.0, "hd": diagonal, "hd95": diagonal, "assd": diagonal}
    forward, backward = directed_distances(a, b, spacing)
    both = np.concatenate([forward, backward])
    return values | {
        "hd": float(both.max()),
        "hd95": float(max(np.percentile(forward, percentile), np.percentile(backward, percentile))),
        "assd": float(both.mean()),
        "nsd": float(np.mean(both <= tolerance)),
    }


def assert_metrics_close(actual: dict[str, float], expected: dict[str, float]) -> None:
    """Distances to 1e-6 mm, ratios to 1e-12, nan where the oracle says nan."""
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert isinstance(actual[name], float), (name, type(actual[name]))
        if math.isnan(value):
            assert math.isnan(actual[name]), name
            continue
        assert math.isfinite(actual[name]), name
        tolerance = 1e-6 if name in DISTANCE_METRICS else 1e-12
        assert abs(actual[name] - value) <= tolerance, (name, actual[name], value)


def near_tolerance(reference: np.ndarray, prediction: np.ndarray, label: int, spacing: tuple[float, ...],
                   tolerance: float) -> bool:
    """True when some surface distance lies within 1e-9 mm of the NSD tolerance (a float-rounding tie)."""
    a, b = reference == label, prediction == label
    if not a.any() or not b.any():
        return False
    both = np.concatenate(directed_distances(a, b, spacing))
    return bool(np.any(np.abs(both - tolerance) < 1e-9))


def random_labels(rng: np.random.Generator, shape: tuple[int, ...], n_classes: int, *,
                  blobs: bool) -> np.ndarray:
    """Label map 0..n_classes: smoothed random blobs (organ-like) or salt-and-pepper noise."""
    labels = np.zeros(shape, dtype=np.int16)
    for label in range(1, n_classes + 1):
        field = rng.random(shape)
        if blobs:
            field = ndimage.uniform_filter(field, size=3)
            mask = field > np.quantile(field, 0.8)
        else:
            mask = field < 0.15
        labels[mask] = label
    return labels


CASES = [
    ((17, 23), (0.7, 1.3)),
    ((31, 9), (2.5, 0.45)),
    ((12, 14, 9), (0.8, 0.8, 2.5)),
    ((9, 16, 11), (1.7, 0.3, 1.1)),
    ((20, 20, 20), (1.0, 1.0, 1.0)),
]


@pytest.mark.parametrize(("shape", "spacing"), CASES)
@pytest.mark.parametrize("blobs", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_masks_match_brute_force_oracle(shape, spacing, blobs, seed):
    rng = np.random.default_rng([seed, len(shape), int(blobs)])
    reference = random_labels(rng, shape, 3, blobs=blobs)
    prediction = random_labels(rng, shape, 3, blobs=blobs)
    tolerance = 1.234567
    ours = segmentation_case_metrics(reference, prediction, spacing=spacing, classes=[1, 2, 3],
                                     metrics=ALL_METRICS, nsd_tolerance_mm=tolerance)
    for label in (1, 2, 3):
        assert not near_tolerance(reference, prediction, label, spacing, tolerance)
        expected = oracle_metrics(reference, prediction, label, spacing, tolerance=tolerance)
        assert_metrics_close(ours[label], expected)


@pytest.mark.parametrize("percentile", [0.0, 50.0, 90.0, 99.0, 100.0])
def test_other_percentiles_match_oracle(percentile):
    rng = np.random.default_rng(7)
    reference = random_labels(rng, (15, 18, 10), 1, blobs=True)
    prediction = random_labels(rng, (15, 18, 10), 1, blobs=True)
    spacing = (0.9, 0.6, 1.8)
    ours = segmentation_case_metrics(reference, prediction, spacing=spacing, classes=[1],
                                     metrics=["hd95"], hd_percentile=percentile)[1]
    expected = oracle_metrics(reference, prediction, 1, spacing, percentile=percentile)
    assert abs(ours["hd95"] - expected["hd95"]) <= 1e-6


def test_oracle_surface_equals_erosion_surface():
    rng = np.random.default_rng(3)
    for shape in [(13, 11), (7, 9, 12)]:
        mask = random_labels(rng, shape, 1, blobs=False) == 1
        mask[0] = True  # touch the image border
        np.testing.assert_array_equal(surface(mask), oracle_surface(mask))


@pytest.mark.parametrize("seed", range(4))
def test_cropping_changes_no_distance(seed):
    """Distances inside the union box equal those from EDTs over the whole image, bit for bit."""
    rng = np.random.default_rng(seed)
    shape, spacing = (40, 36, 24), (0.8, 0.75, 2.5)
    reference = np.zeros(shape, dtype=np.uint8)
    prediction = np.zeros(shape, dtype=np.uint8)
    reference[5:30, 0:20, 3:24] = random_labels(rng, (25, 20, 21), 1, blobs=True)  # touches 2 borders
    prediction[10:40, 8:30, 0:15] = random_labels(rng, (30, 22, 15), 1, blobs=True)
    whole = tuple(slice(0, n) for n in shape)
    union = np.nonzero((reference == 1) | (prediction == 1))
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in union)
    assert box != whole
    cropped = class_geometry(reference, prediction, 1, spacing, box=box, with_distances=True)
    uncropped = class_geometry(reference, prediction, 1, spacing, box=whole, with_distances=True)
    np.testing.assert_array_equal(cropped.reference_to_prediction, uncropped.reference_to_prediction)
    np.testing.assert_array_equal(cropped.prediction_to_reference, uncropped.prediction_to_reference)
    surfaces = [ref_mask & ~ndimage.binary_erosion(ref_mask, ndimage.generate_binary_structure(3, 1))
                for ref_mask in (reference == 1, prediction == 1)]
    full_forward = ndimage.distance_transform_edt(~surfaces[1], sampling=spacing)[surfaces[0]]
    np.testing.assert_array_equal(cropped.reference_to_prediction, full_forward)


def test_mask_filling_the_whole_image_has_a_border_surface():
    reference = np.ones((6, 7, 5), dtype=np.uint8)
    prediction = np.zeros_like(reference)
    prediction[1:5, 1:6, 1:4] = 1
    spacing = (1.0, 0.5, 2.0)
    ours = segmentation_case_metrics(reference, prediction, spacing=spacing, classes=[1],
                                     metrics=ALL_METRICS, nsd_tolerance_mm=0.75)
    assert_metrics_close(ours[1], oracle_metrics(reference, prediction, 1, spacing, tolerance=0.75))
    # An image corner is one voxel from the inner box's corner along every axis.
    assert ours[1]["hd"] == pytest.approx(math.sqrt(1.0**2 + 0.5**2 + 2.0**2), abs=1e-12)


spacings = st.floats(min_value=0.2, max_value=3.0, allow_nan=False, allow_infinity=False)


@st.composite
def mask_pairs(draw):
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    labels = st.integers(0, 2)
    reference = draw(arrays(np.uint8, shape, elements=labels))
    prediction = draw(arrays(np.uint8, shape, elements=labels))
    spacing = tuple(draw(st.lists(spacings, min_size=ndim, max_size=ndim)))
    return reference, prediction, spacing


@settings(max_examples=150, deadline=None)
@given(pair=mask_pairs(), tolerance=st.floats(0.0, 6.0), percentile=st.floats(0.0, 100.0))
def test_hypothesis_masks_match_oracle(pair, tolerance, percentile):
    reference, prediction, spacing = pair
    for label in (1, 2):
        assume(not near_tolerance(reference, prediction, label, spacing, tolerance))
    ours = segmentation_case_metrics(reference, prediction, spacing=spacing, classes=[1, 2],
                                     metrics=ALL_METRICS, nsd_tolerance_mm=tolerance,
                                     hd_percentile=percentile)
    for label in (1, 2):
        expected = oracle_metrics(reference, prediction, label, spacing, tolerance=tolerance,
                                  percentile=percentile)
        assert_metrics_close(ours[label], expected)
