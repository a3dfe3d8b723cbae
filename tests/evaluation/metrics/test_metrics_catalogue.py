"""Per-case rows of binary classification."""

import json

import numpy as np
import pytest

from evaluation.metrics.catalogue import per_case_binary


def test_per_case():
    assert per_case_binary(1, 0.5) == {"score": 0.5, "label": 1, "predicted": 1, "correct": True}
    assert per_case_binary(1, 0.49) == {"score": 0.49, "label": 1, "predicted": 0, "correct": False}
    row = per_case_binary(np.int64(0), np.float64(0.8), threshold=0.9)
    assert row == {"score": 0.8, "label": 0, "predicted": 0, "correct": True}
    assert json.loads(json.dumps(row)) == row
    with pytest.raises(ValueError):
        per_case_binary(2, 0.5)
    with pytest.raises(ValueError):
        per_case_binary(1, float("nan"))


def test_a_spec_with_unknown_keys_or_malformed_sections_is_refused():
    from evaluation.metrics.spec import SpecError, default_binary_spec, parse_spec

    good = default_binary_spec(["absent", "present"], "present")
    parse_spec(good)
    with pytest.raises(SpecError, match="unknown keys: junk"):
        parse_spec({**good, "junk": "x" * 100})
    for section in ("bootstrap", "ranking"):
        with pytest.raises(SpecError, match=f"{section} must be a JSON object"):
            parse_spec({**good, section: [1, 2]})
