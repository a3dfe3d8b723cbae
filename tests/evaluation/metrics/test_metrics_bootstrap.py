"""The vectorised AUROC bootstrap against a scikit-learn loop over the same resamples."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.metrics import bootstrap
from evaluation.metrics.bootstrap import (
    auroc_bootstrap,
    auroc_resample_values,
    resample_indices,
)

B = 200


def index_matrix(n, n_resamples, seed):
    return np.vstack(list(resample_indices(n, n_resamples, seed, chunk=n_resamples)))


def sklearn_resample_values(labels, scores, n_resamples, seed):
    """The slow oracle: one roc_auc_score per resample, nan where a class is missing."""
    values = []
    for rows in index_matrix(len(labels), n_resamples, seed):
        y = labels[rows]
        values.append(roc_auc_score(y, scores[rows]) if 0 < y.sum() < len(y) else np.nan)
    return np.array(values)


def case_set(n, seed, *, ties, positive_rate=0.4):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < positive_rate).astype(int)
    labels[:2] = [0, 1]
    scores = rng.normal(size=n) + labels
    return labels, (np.round(scores, 1) if ties else scores)


def test_resample_indices_do_not_depend_on_chunk():
    whole = index_matrix(37, 50, seed=3)
    for chunk in (1, 7, 49, 50, 1000):
        blocks = list(resample_indices(37, 50, 3, chunk))
        assert all(len(block) <= chunk for block in blocks)
        assert np.array_equal(np.vstack(blocks), whole)
    assert whole.shape == (50, 37)
    assert whole.min() >= 0 and whole.max() < 37


def test_resample_indices_depend_on_seed():
    assert np.array_equal(index_matrix(20, 5, seed=1), index_matrix(20, 5, seed=1))
    assert not np.array_equal(index_matrix(20, 5, seed=1), index_matrix(20, 5, seed=2))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n", [5, 40, 300])
def test_values_and_interval_equal_sklearn_loop(n, ties):
    labels, scores = case_set(n, seed=n, ties=ties)
    expected = sklearn_resample_values(labels, scores, B, seed=11)
    ours = auroc_resample_values(labels, scores, n_resamples=B, seed=11)
    assert np.array_equal(np.isnan(ours), np.isnan(expected))
    assert np.nanmax(np.abs(ours - expected)) <= 1e-12

    result = auroc_bootstrap(labels, scores, n_resamples=B, seed=11)
    low, high = np.quantile(expected[~np.isnan(expected)], [0.025, 0.975])
    assert abs(result.low - low) <= 1e-12
    assert abs(result.high - high) <= 1e-12
    assert abs(result.estimate - roc_auc_score(labels, scores)) <= 1e-12
    assert result.n_defined == np.count_nonzero(~np.isnan(expected))
    assert (result.n_resamples, result.seed) == (B, 11)
    assert result.method == "case-bootstrap-percentile"


def test_chunking_does_not_change_values(monkeypatch):
    labels, scores = case_set(60, seed=5, ties=True)
    whole = auroc_resample_values(labels, scores, n_resamples=B, seed=2)
    monkeypatch.setattr(bootstrap, "chunk_rows", lambda n, n_groups: 3)
    assert np.array_equal(auroc_resample_values(labels, scores, n_resamples=B, seed=2), whole)


def test_chunk_rows_respects_budget():
    rows = bootstrap.chunk_rows(1000, 1000)
    assert rows >= 1 and rows * (12 * 1000 + 64 * 1000) <= bootstrap.CHUNK_BYTES
    assert bootstrap.chunk_rows(10**9, 10**9) == 1


def test_rare_positives_exclude_single_class_resamples():
    labels = np.zeros(30, dtype=int)
    labels[4] = 1
    scores = np.linspace(0, 1, 30)
    indices = index_matrix(30, B, seed=0)
    with_positive = np.count_nonzero((labels[indices] == 1).any(axis=1))
    result = auroc_bootstrap(labels, scores, n_resamples=B, seed=0)
    assert result.n_defined == with_positive
    assert 0 < result.n_defined < B  # (29/30)**30 ≈ 36 % of resamples lack the positive
    expected = sklearn_resample_values(labels, scores, B, seed=0)
    low, high = np.quantile(expected[~np.isnan(expected)], [0.025, 0.975])
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 1, 1], [1]])
def test_single_class_input_is_undefined(labels):
    result = auroc_bootstrap(labels, np.arange(len(labels)) / 10, n_resamples=50)
    assert math.isnan(result.estimate)
    assert math.isnan(result.low) and math.isnan(result.high)
    assert result.n_defined == 0 and result.n_resamples == 50


def test_deterministic_by_seed():
    labels, scores = case_set(80, seed=9, ties=False)
    first = auroc_bootstrap(labels, scores, n_resamples=B, seed=4)
    assert auroc_bootstrap(labels, scores, n_resamples=B, seed=4) == first
    other = auroc_bootstrap(labels, scores, n_resamples=B, seed=5)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.estimate == first.estimate


def test_confidence_widens_interval():
    labels, scores = case_set(100, seed=1, ties=False)
    narrow = auroc_bootstrap(labels, scores, n_resamples=B, confidence=0.5)
    wide = auroc_bootstrap(labels, scores, n_resamples=B, confidence=0.99)
    assert wide.low < narrow.low <= narrow.estimate <= narrow.high < wide.high


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_resamples": 0}, "n_resamples"), ({"confidence": 1.0}, "confidence")],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        auroc_bootstrap([0, 1], [0.1, 0.9], **kwargs)
