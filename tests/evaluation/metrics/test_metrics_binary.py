"""AUROC, confusion counts and rates against scikit-learn and the edge rules of E.1."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.metrics.binary import (
    auroc,
)

SIZES = [2, 3, 4, 5, 7, 10, 16, 31, 50, 97, 200, 513, 1000]


def random_case_set(rng, n, *, ties, positive_rate=0.5):
    """Labels with both classes present, scores shifted up for positives."""
    labels = (rng.random(n) < positive_rate).astype(int)
    labels[:2] = [0, 1]
    rng.shuffle(labels)
    scores = rng.normal(size=n) + labels
    if ties == "rounded":
        scores = np.round(scores, 1)
    elif ties == "coarse":
        scores = rng.integers(0, 4, size=n).astype(float)
    return labels, scores


@pytest.mark.parametrize("ties", ["none", "rounded", "coarse"])
@pytest.mark.parametrize("positive_rate", [0.5, 0.1])
def test_auroc_matches_sklearn(ties, positive_rate):
    rng = np.random.default_rng([len(ties), int(positive_rate * 10)])
    for n in SIZES:
        for _ in range(8):
            labels, scores = random_case_set(rng, n, ties=ties, positive_rate=positive_rate)
            assert set(labels) == {0, 1}
            assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auroc_known_values():
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert auroc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    # one positive tied with one of two negatives, above the other: (1 + 0.5) / 2
    assert auroc([0, 0, 1], [0.1, 0.7, 0.7]) == 0.75


def test_auroc_accepts_bools_and_lists():
    assert auroc([False, True, True], [0.2, 0.1, 0.9]) == 0.5


@pytest.mark.parametrize(
    ("labels", "scores"),
    [([0, 0, 0], [0.1, 0.5, 0.9]), ([1, 1], [0.3, 0.4]), ([1], [0.3]), ([], [])],
)
def test_auroc_single_class_is_nan(labels, scores):
    assert math.isnan(auroc(labels, scores))


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1], [0.1], "cases"),
        ([0, 2], [0.1, 0.2], "labels 0 and 1"),
        ([0, 1], [0.1, float("nan")], "finite"),
        ([0, 1], [0.1, float("inf")], "finite"),
        ([[0, 1]], [[0.1, 0.2]], "one-dimensional"),
    ],
)
def test_invalid_input_raises(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        auroc(labels, scores)
