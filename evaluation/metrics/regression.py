"""Regression set metrics for continuous targets, weighted by case multiplicities (pure numpy).

Contracts (see docs/metrics-engine.md):
- ``metric(y_true, y_pred, weights) -> (B,)``: ``y_true``, ``y_pred`` (n,) finite floats,
  ``weights`` (B, n). Each row's value is the metric on its expanded resample
  ``np.repeat(y, w)``.
- Every metric is ``nan`` on a resample of fewer than 3 cases (total weight < 3).
- Pearson and Spearman are ``nan`` when either variable is constant over the resample
  (scipy: nan). Spearman is Pearson on average ranks (ties averaged) of the expanded resample,
  computed exactly from cumulative weights of tied values (``weighted.average_ranks``).
- Bland-Altman uses differences ``y_pred - y_true``: bias is their mean, the limits of agreement
  are bias ± 1.96·SD with the sample SD (ddof = 1).
"""

from __future__ import annotations

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike

from evaluation.metrics.registry import register
from evaluation.metrics.weighted import (
    Floats,
    as_weights,
    average_ranks,
    ratio,
    varies,
    weighted_mean,
)

TASK = {"regression"}
MIN_CASES = 3
LOA_Z = 1.96


def regression_inputs(
    y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
) -> tuple[Floats, Floats, Floats]:
    """Validated (truth, prediction, weights), or ``ValueError``."""
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    if truth.ndim != 1 or truth.shape != predicted.shape:
        raise ValueError("y_true and y_pred must be one-dimensional and of the same length")
    if not (np.isfinite(truth).all() and np.isfinite(predicted).all()):
        raise ValueError("y_true and y_pred must be finite")
    return truth, predicted, as_weights(weights, truth.size)


def _enough(weights: Floats, values: Floats) -> Floats:
    """``values`` where the resample holds at least ``MIN_CASES`` cases, else ``nan``."""
    return np.where(weights.sum(axis=1) >= MIN_CASES, values, np.nan)


def weighted_pearson(weights: Floats, x: Floats, y: Floats) -> Floats:
    """Pearson r per row of x, y ((n,) or (B, n)); ``nan`` if one is constant.

    Deviations from the weighted means are scaled to a largest magnitude of 1 before squaring
    (r is scale-free), so tiny or huge values neither underflow nor overflow.
    """
    x_dev = _unit_deviations(weights, x)
    y_dev = _unit_deviations(weights, y)
    covariance = (weights * x_dev * y_dev).sum(axis=1)
    spread = np.sqrt((weights * x_dev**2).sum(axis=1) * (weights * y_dev**2).sum(axis=1))
    return np.clip(ratio(covariance, spread), -1.0, 1.0)


def _unit_deviations(weights: Floats, values: Floats) -> Floats:
    """Deviations from each row's weighted mean over drawn cases (0 elsewhere), scaled to <= 1."""
    deviations = np.where(weights > 0, values - weighted_mean(weights, values)[:, None], 0.0)
    scale = np.abs(deviations).max(axis=1, initial=0.0)
    return deviations / np.where(scale > 0, scale, 1.0)[:, None]


@register("mae", kind="set", tasks=TASK, direction="lower", bounds=None,
          label=_("Mean absolute error"))
def mae(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean |y_pred - y_true|."""
    truth, predicted, w = regression_inputs(y_true, y_pred, weights)
    return _enough(w, weighted_mean(w, np.abs(predicted - truth)))


@register("rmse", kind="set", tasks=TASK, direction="lower", bounds=None,
          label=_("Root mean squared error"))
def rmse(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """√ mean (y_pred - y_true)²."""
    truth, predicted, w = regression_inputs(y_true, y_pred, weights)
    return _enough(w, np.sqrt(weighted_mean(w, (predicted - truth) ** 2)))


@register("pearson", kind="set", tasks=TASK, direction="higher", bounds=(1.0, -1.0),
          label=_("Pearson correlation"))
def pearson(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Pearson's r of truth and prediction."""
    truth, predicted, w = regression_inputs(y_true, y_pred, weights)
    defined = varies(w, truth) & varies(w, predicted)
    return _enough(w, np.where(defined, weighted_pearson(w, truth, predicted), np.nan))


@register("spearman", kind="set", tasks=TASK, direction="higher", bounds=(1.0, -1.0),
          label=_("Spearman rank correlation"))
def spearman(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Spearman's rho: Pearson's r of the expanded resample's average ranks."""
    truth, predicted, w = regression_inputs(y_true, y_pred, weights)
    defined = varies(w, truth) & varies(w, predicted)
    rho = weighted_pearson(w, average_ranks(w, truth), average_ranks(w, predicted))
    return _enough(w, np.where(defined, rho, np.nan))


def _differences(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
                 ) -> tuple[Floats, Floats, Floats]:
    """(bias, sample SD, weights) of the differences y_pred - y_true, ``nan`` below 3 cases."""
    truth, predicted, w = regression_inputs(y_true, y_pred, weights)
    difference = predicted - truth
    bias = weighted_mean(w, difference)
    squares = (w * (difference - bias[:, None]) ** 2).sum(axis=1)
    sd = np.sqrt(ratio(squares, w.sum(axis=1) - 1.0))
    return _enough(w, bias), _enough(w, sd), w


@register("bland_altman_bias", kind="set", tasks=TASK, direction="none", bounds=None,
          label=_("Bland-Altman bias"))
def bland_altman_bias(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean of y_pred - y_true."""
    return _differences(y_true, y_pred, weights)[0]


@register("bland_altman_loa_low", kind="set", tasks=TASK, direction="none", bounds=None,
          label=_("Bland-Altman lower limit of agreement"))
def bland_altman_loa_low(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """bias - 1.96·SD of y_pred - y_true (sample SD)."""
    bias, sd, _w = _differences(y_true, y_pred, weights)
    return bias - LOA_Z * sd


@register("bland_altman_loa_high", kind="set", tasks=TASK, direction="none", bounds=None,
          label=_("Bland-Altman upper limit of agreement"))
def bland_altman_loa_high(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """bias + 1.96·SD of y_pred - y_true (sample SD)."""
    bias, sd, _w = _differences(y_true, y_pred, weights)
    return bias + LOA_Z * sd
