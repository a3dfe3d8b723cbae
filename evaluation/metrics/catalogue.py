"""Per-case rows for binary classification (what review pages show beside each case).

``per_case_binary`` returns plain JSON types: the score, the label, the prediction at the
threshold (positive when ``score >= threshold``) and whether it was right.
"""

from __future__ import annotations

from typing import Any

from evaluation.metrics.binary import validate_binary


def per_case_binary(y_true_i: int, score_i: float, threshold: float = 0.5) -> dict[str, Any]:
    """One case's row: its score, label, thresholded prediction and whether that was right."""
    labels, values = validate_binary([y_true_i], [score_i])
    label = int(labels[0])
    predicted = int(values[0] >= threshold)
    return {
        "score": float(values[0]),
        "label": label,
        "predicted": predicted,
        "correct": predicted == label,
    }
