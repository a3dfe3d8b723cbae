"""Judge a run's outputs as the platform does, and name the rule they break.

Mirrors the server's `evaluation.metrics.formats.predictions_from_json` (the contract of each task
type), `evaluation.services.outputs` (segmentation masks; detections checked against the
challenge's geometry and each case's dimensions) and how `evaluation.services.runs` turns a run
into a failure (reason, detail). `outputs_failure(manifest, labels, output_dir)` judges a run's
collected /output for the task its /input manifest states. The rule texts are the server's;
tests/client/test_policy_parity.py on the server runs both on the same good and bad files and
fails on any divergence.

| task | predictions.json entry |
|---|---|
| binary-classification | {"score": p in [0, 1]} |
| multiclass-classification | {"probabilities": {label: p, ...}} (sum 1) |
| multilabel-classification | {"scores": {label: p in [0, 1], ...}} |
| ordinal-grading | {"grade": integer 0..K-1} |
| regression | {"value": number} |
| detection | {"detections": [{"point"|"box": [...], "score": s}]} |
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enclave_client.masks import MaskRejected, check_mask, mask_names
from enclave_client.outputs import (
    OutputInvalid,
    OutputMissing,
    _read_regular_file,
    read_json_output,
)

MAX_DETECTIONS = 10_000
MAX_MASK_BYTES = 2048 * 1024 * 1024
# numpy.allclose(sum, 1.0, atol=1e-6) as the server checks it (its default rtol is 1e-5)
_SUM_TOLERANCE = 1e-6 + 1e-5


class FormatError(ValueError):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def _number(value: Any, rule: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(rule)
    try:
        number = float(value)
    except OverflowError as exc:  # an integer beyond any float
        raise FormatError(rule) from exc
    if not math.isfinite(number):
        raise FormatError(rule)
    if (low is not None and number < low) or (high is not None and number > high):
        raise FormatError(rule)
    return number


def _entries(data: Any, case_ids: Sequence[str]) -> list[Any]:
    if not isinstance(data, dict):
        raise FormatError("predictions.json must be an object keyed by case id")
    missing = len(set(case_ids) - data.keys())
    if missing:
        raise FormatError(f"predictions.json lacks {missing} of {len(case_ids)} cases")
    if data.keys() - set(case_ids):
        raise FormatError("predictions.json has entries for case ids not in the manifest")
    return [data[c] for c in case_ids]


def _field(entry: Any, name: str) -> Any:
    if not isinstance(entry, dict) or name not in entry:
        raise FormatError(f"each case needs a \"{name}\"")
    return entry[name]


def _label_map(entry: Any, name: str, labels: Sequence[str]) -> list[float]:
    mapping = _field(entry, name)
    if not isinstance(mapping, dict) or set(mapping) != set(labels):
        raise FormatError(f"\"{name}\" must give a number for every label and no other key")
    rule = f"\"{name}\" values must be numbers in [0, 1]"
    return [_number(mapping[label], rule, low=0, high=1) for label in labels]


def _geometry(item: Any, rule: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise FormatError(rule)
    kinds = [k for k in ("point", "box") if k in item]
    if len(kinds) != 1 or not isinstance(item[kinds[0]], list) or not item[kinds[0]]:
        raise FormatError(rule)
    coords = [_number(v, rule) for v in item[kinds[0]]]
    expected = (2, 3) if kinds[0] == "point" else (4, 6)
    if len(coords) not in expected:
        raise FormatError(rule)
    out: dict[str, Any] = {kinds[0]: coords}
    if "score" in item:
        out["score"] = _number(item["score"], "detection scores must be finite numbers")
    if "radius_mm" in item:
        out["radius_mm"] = _number(item["radius_mm"], "radius_mm must be a positive number", low=0)
    return out


def check_predictions(task: str, labels: Sequence[str], data: Any,
                      case_ids: Sequence[str]) -> None:
    """Raise FormatError(rule) unless `data` is a valid predictions.json for the task."""
    entries = _entries(data, case_ids)
    if task == "binary-classification":
        rule = "each case needs a \"score\" that is a number in [0, 1]"
        for entry in entries:
            _number(_field(entry, "score"), rule, low=0, high=1)
    elif task == "multiclass-classification":
        rows = [_label_map(e, "probabilities", labels) for e in entries]
        if any(abs(_row_sum(row) - 1.0) > _SUM_TOLERANCE for row in rows):
            raise FormatError("\"probabilities\" of a case must sum to 1")
    elif task == "multilabel-classification":
        for entry in entries:
            _label_map(entry, "scores", labels)
    elif task == "ordinal-grading":
        n_grades = len(labels)
        grades = [_field(e, "grade") for e in entries]
        if not all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < n_grades
                   for g in grades):
            raise FormatError(f"\"grade\" must be an integer from 0 to {n_grades - 1}")
    elif task == "regression":
        for entry in entries:
            _number(_field(entry, "value"), "\"value\" must be a finite number")
    elif task == "detection":
        for entry in entries:
            detections = _field(entry, "detections")
            if not isinstance(detections, list) or len(detections) > MAX_DETECTIONS:
                raise FormatError(f"\"detections\" must be a list of at most {MAX_DETECTIONS}")
            parsed = [_geometry(d, "each detection needs a point or box and a score")
                      for d in detections]
            if any("score" not in d for d in parsed):
                raise FormatError("each detection needs a point or box and a score")
    else:
        raise FormatError(f"task {task} has no predictions.json; it writes mask files")


def _row_sum(row: list[float]) -> float:
    """numpy's pairwise summation, so that a sum at the tolerance's edge is judged alike."""
    n = len(row)
    if n < 8:
        total = -0.0
        for value in row:
            total += value
        return total
    if n <= 128:
        partial = row[:8]
        whole = n - n % 8
        for i in range(8, whole, 8):
            for j in range(8):
                partial[j] += row[i + j]
        total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
            (partial[4] + partial[5]) + (partial[6] + partial[7]))
        for i in range(whole, n):
            total += row[i]
        return total
    half = n // 2
    half -= half % 8
    return _row_sum(row[:half]) + _row_sum(row[half:])


def predictions_failure(task: str, labels: Sequence[str], output_dir: Path,
                        case_ids: Sequence[str]) -> tuple[str, str] | None:
    """(failure reason, detail) for a completed run's collected /output, or None when valid."""
    try:
        data = read_json_output(output_dir / "predictions.json")
    except OutputMissing:
        return ("output_missing", "")
    except OutputInvalid as exc:
        return ("output_invalid", f"predictions.json: {exc.rule}")
    try:
        check_predictions(task, labels, data, case_ids)
    except FormatError as exc:
        return ("output_invalid", exc.rule)
    return None


def detection_rule(geometry: str, data: dict[str, Any], cases: Sequence[dict[str, Any]]) -> str | None:
    """The rule valid predictions.json detections break for the challenge, or None."""
    other = "box" if geometry == "point" else "point"
    for case in cases:
        for detection in data[case["id"]]["detections"]:
            if other in detection:
                return ("detections must be points for this challenge" if geometry == "point"
                        else "detections must be boxes for this challenge")
            shape = case.get("shape")
            width = len(shape) * (1 if geometry == "point" else 2) if shape else None
            if width is not None and len(detection[geometry]) != width:
                return "a detection's coordinates do not match its case image's dimensions"
    return None


def masks_failure(cases: Sequence[dict[str, Any]], n_labels: int,
                  output_dir: Path) -> tuple[str, str] | None:
    """(failure reason, detail) for a segmentation run's collected /output, or None."""
    found = {case["id"]: [output_dir / name for name in mask_names(case["id"])
                          if os.path.lexists(output_dir / name)] for case in cases}
    if not any(found.values()):
        return ("output_missing", "no mask files in /output")
    missing = sum(1 for paths in found.values() if not paths)
    if missing:
        return ("output_invalid", f"masks missing for {missing} of {len(cases)} cases")
    if any(len(paths) > 1 for paths in found.values()):
        return ("output_invalid", "two mask files for one case")
    for case in cases:
        path = found[case["id"]][0]
        if not case.get("shape"):
            raise ValueError(f"the manifest gives no shape for case {case['id']}")
        try:
            raw = _read_regular_file(path, MAX_MASK_BYTES)
            check_mask(raw, path.name, expected_shape=case["shape"], n_labels=n_labels)
        except OutputMissing:
            return ("output_missing", "")
        except OutputInvalid as exc:
            return ("output_invalid", f"mask file: {exc.rule}")
        except MaskRejected as exc:
            return ("output_invalid", exc.rule)
    return None


def outputs_failure(manifest: dict[str, Any], labels: Sequence[str],
                    output_dir: Path) -> tuple[str, str] | None:
    """(failure reason, detail) for a completed run's collected /output, judged for the task the
    manifest states (`labels`: the metric spec's, as the platform checks predictions.json)."""
    task, cases = manifest["task"], manifest["cases"]
    if task["type"] == "segmentation":
        return masks_failure(cases, len(task["labels"]), output_dir)
    failure = predictions_failure(task["type"], labels, output_dir, [c["id"] for c in cases])
    if failure is None and task["type"] == "detection":
        rule = detection_rule(task["output"]["geometry"],
                              read_json_output(output_dir / "predictions.json"), cases)
        return ("output_invalid", rule) if rule else None
    return failure


def run_failure(verdict: str, exit_code: int | None, output_error: str | None,
                predictions: tuple[str, str] | None) -> tuple[str, str] | None:
    """The run's failure as a team sees it: the sandbox's verdict first, then the predictions."""
    if verdict == "completed":
        return predictions
    if verdict == "exit_code":
        return ("exit_code", f"exit code {exit_code}")
    if verdict == "output_invalid":
        return ("output_invalid", output_error or "")
    return (verdict, "")
