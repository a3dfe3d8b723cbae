"""The torch variant (run on the CPU here) against the SciPy path, and its ImportError.

torch is a required test dependency for this file (torch==2.13.0, CPU build): a missing torch is a
collection error, not a skip. Its geometry (shifted-AND erosion, brute-force ``torch.cdist``) shares
no code with the SciPy path (erosion + EDT), so each is an oracle for the other.
"""

import math
import sys

import numpy as np
import pytest
import torch
from scipy import ndimage

from evaluation.metrics import segmentation_torch
from evaluation.metrics.segmentation import METRIC_NAMES, segmentation_case_metrics
from evaluation.metrics.segmentation_torch import (
    erode_faces,
    nearest_distances,
    segmentation_case_metrics_torch,
)

pytestmark: list[pytest.MarkDecorator] = []

ALL = list(METRIC_NAMES)


def organ_like(rng, shape, n_classes):
    labels = np.zeros(shape, dtype=np.uint8)
    for label in range(1, n_classes + 1):
        field = ndimage.uniform_filter(rng.random(shape), size=3)
        labels[field > np.quantile(field, 0.8)] = label
    return labels


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((19, 23), (0.7, 1.9)), ((14, 12, 10), (0.8, 0.8, 2.5)), ((9, 17, 13), (2.2, 0.35, 1.0))],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_torch_cpu_matches_scipy(shape, spacing, seed):
    rng = np.random.default_rng([seed, len(shape)])
    reference, prediction = organ_like(rng, shape, 2), organ_like(rng, shape, 2)
    prediction[prediction == 2] = 0  # class 2: prediction empty; class 3: both empty
    options = {"spacing": spacing, "classes": [1, 2, 3], "metrics": ALL, "nsd_tolerance_mm": 1.111}
    ours = segmentation_case_metrics_torch(reference, prediction, device="cpu", **options)
    expected = segmentation_case_metrics(reference, prediction, **options)
    for label in (1, 2, 3):
        for name in ALL:
            a, b = ours[label][name], expected[label][name]
            assert isinstance(a, float)
            assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-6, (label, name, a, b)


def test_erosion_matches_scipy_including_the_border():
    rng = np.random.default_rng(5)
    mask = rng.random((8, 9, 7)) < 0.7
    expected = ndimage.binary_erosion(mask, ndimage.generate_binary_structure(3, 1), border_value=0)
    np.testing.assert_array_equal(erode_faces(torch.from_numpy(mask)).numpy(), expected)


def test_chunked_nearest_distances_are_exact(monkeypatch):
    monkeypatch.setitem(segmentation_torch.PAIRS_PER_CHUNK, "cpu", 7)  # many tiny chunks
    rng = np.random.default_rng(1)
    queries = torch.from_numpy(rng.integers(0, 50, size=(40, 3)) * np.array([0.8, 0.8, 2.5]))
    targets = torch.cat([queries[:5], torch.from_numpy(rng.random((30, 3)) * 40)])
    expected = np.sqrt(((queries.numpy()[:, None] - targets.numpy()[None]) ** 2).sum(-1)).min(1)
    nearest = nearest_distances(queries, targets).numpy()
    np.testing.assert_allclose(nearest, expected, rtol=0, atol=1e-12)
    assert (nearest[:5] == 0.0).all()  # no matmul shortcut: identical points are exactly 0 apart


def test_unsigned_wide_labels_and_validation():
    labels = np.zeros((5, 5), dtype=np.uint32)
    labels[1:3, 1:4] = 70000
    values = segmentation_case_metrics_torch(labels, labels, spacing=(1, 1), classes=[70000],
                                             metrics=["dice", "hd"], device="cpu")
    assert values == {70000: {"dice": 1.0, "hd": 0.0}}
    with pytest.raises(ValueError, match="shape mismatch"):
        segmentation_case_metrics_torch(labels, labels[:4], spacing=(1, 1), classes=[1],
                                        metrics=["dice"], device="cpu")


def test_missing_torch_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    labels = np.zeros((3, 3), dtype=np.uint8)
    with pytest.raises(ImportError, match=r"torch==2\.13\.0"):
        segmentation_case_metrics_torch(labels, labels, spacing=(1, 1), classes=[1], metrics=["dice"],
                                        device="cpu")
