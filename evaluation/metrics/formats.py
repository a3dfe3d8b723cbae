"""Truth and predictions in the container-contract formats, turned into the engine's arrays.

`predictions_from_json` and `truth_from_values` return a `CaseData` aligned on the given case ids.
Problems raise `FormatError(rule)`: the rule names what is wrong, never a value from the data,
so the same code can judge a hidden run's outputs.

| task | truth value | predictions.json entry |
|---|---|---|
| binary-classification | label | {"score": p in [0, 1]} |
| multiclass-classification | label | {"probabilities": {label: p, ...}} (sum 1 ± 1e-6) |
| multilabel-classification | [labels present] | {"scores": {label: p in [0, 1], ...}} |
| ordinal-grading | grade 0..K-1 | {"grade": integer} |
| regression | number | {"value": number} |
| detection | {"lesions": [...]} | {"detections": [{"point"|"box": [...], "score": s}]} |
| segmentation | mask file | /output/<case-id>.npy or .png (integer labels) |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics.spec import Spec

MAX_MASK_VOXELS = 1024 * 1024 * 1024
MAX_DETECTIONS = 10_000


class FormatError(ValueError):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


@dataclass(frozen=True)
class CaseData:
    """One side (truth or predictions) of a task, aligned on `case_ids`."""

    case_ids: tuple[str, ...]
    values: Any
    spacing: tuple[tuple[float, ...] | None, ...] = ()


def _number(value: Any, rule: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(rule)
    try:
        number = float(value)  # an int beyond any float (10**400) overflows here
    except OverflowError:
        raise FormatError(rule) from None
    if not math.isfinite(number):
        raise FormatError(rule)
    if (low is not None and number < low) or (high is not None and number > high):
        raise FormatError(rule)
    return number


def _entries(data: Any, case_ids: tuple[str, ...]) -> list[Any]:
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


def _label_map(entry: Any, name: str, labels: tuple[str, ...]) -> list[float]:
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


def predictions_from_json(spec: Spec, data: Any, case_ids: tuple[str, ...]) -> CaseData:
    """Validate predictions.json for the spec's task and return the engine's arrays."""
    entries = _entries(data, case_ids)
    task = spec.task
    if task == "binary-classification":
        rule = "each case needs a \"score\" that is a number in [0, 1]"
        values: Any = np.array([_number(_field(e, "score"), rule, low=0, high=1) for e in entries])
    elif task == "multiclass-classification":
        matrix = np.array([_label_map(e, "probabilities", spec.labels) for e in entries])
        if len(matrix) and not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-6):
            raise FormatError("\"probabilities\" of a case must sum to 1")
        values = matrix.reshape(len(entries), len(spec.labels))
    elif task == "multilabel-classification":
        values = np.array([_label_map(e, "scores", spec.labels) for e in entries]).reshape(
            len(entries), len(spec.labels))
    elif task == "ordinal-grading":
        n_grades = len(spec.labels)
        grades = [_field(e, "grade") for e in entries]
        if not all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < n_grades
                   for g in grades):
            raise FormatError(f"\"grade\" must be an integer from 0 to {n_grades - 1}")
        values = np.array(grades, dtype=np.int64)
    elif task == "regression":
        values = np.array([_number(_field(e, "value"), "\"value\" must be a finite number")
                           for e in entries])
    elif task == "detection":
        values = []
        for entry in entries:
            detections = _field(entry, "detections")
            if not isinstance(detections, list) or len(detections) > MAX_DETECTIONS:
                raise FormatError(f"\"detections\" must be a list of at most {MAX_DETECTIONS}")
            parsed = [_geometry(d, "each detection needs a point or box and a score")
                      for d in detections]
            if any("score" not in d for d in parsed):
                raise FormatError("each detection needs a point or box and a score")
            values.append(parsed)
    else:
        raise FormatError(f"task {task} has no predictions.json; it writes mask files")
    return CaseData(case_ids=case_ids, values=values)


def entries_of(spec: Spec, predictions: CaseData) -> dict[str, Any]:
    """The declared fields of each case's prediction, rebuilt from the parsed values: anything
    else a container wrote (extra keys, copied input bytes) is dropped, never stored."""
    labels = list(spec.labels)
    out: dict[str, Any] = {}
    for i, case_id in enumerate(predictions.case_ids):
        value = predictions.values[i]
        if spec.task == "binary-classification":
            out[case_id] = {"score": float(value)}
        elif spec.task == "multiclass-classification":
            out[case_id] = {"probabilities": dict(zip(labels, map(float, value), strict=True))}
        elif spec.task == "multilabel-classification":
            out[case_id] = {"scores": dict(zip(labels, map(float, value), strict=True))}
        elif spec.task == "ordinal-grading":
            out[case_id] = {"grade": int(value)}
        elif spec.task == "regression":
            out[case_id] = {"value": float(value)}
        else:
            out[case_id] = {"detections": list(value)}
    return out


def truth_from_values(spec: Spec, truth: dict[str, Any], case_ids: tuple[str, ...]) -> CaseData:
    """Turn stored truth values (labels, grades, numbers, lesion lists) into the engine's arrays."""
    missing = [c for c in case_ids if c not in truth]
    if missing:
        raise FormatError(f"the ground truth lacks {len(missing)} cases")
    raw = [truth[c] for c in case_ids]
    task = spec.task
    labels = list(spec.labels)
    if task == "binary-classification":
        if any(v not in labels for v in raw):
            raise FormatError("a truth label is not in the label set")
        values: Any = np.array([int(v == spec.positive_label) for v in raw], dtype=np.int8)
    elif task == "multiclass-classification":
        if any(v not in labels for v in raw):
            raise FormatError("a truth label is not in the label set")
        values = np.array([labels.index(v) for v in raw], dtype=np.int64)
    elif task == "multilabel-classification":
        if any(not isinstance(v, list) or set(v) - set(labels) for v in raw):
            raise FormatError("a multi-label truth must be a list of labels from the label set")
        values = np.array([[int(label in v) for label in labels] for v in raw], dtype=np.int8)
        values = values.reshape(len(raw), len(labels))
    elif task == "ordinal-grading":
        if any(not isinstance(v, int) or not 0 <= v < len(labels) for v in raw):
            raise FormatError("a truth grade is outside 0..K-1")
        values = np.array(raw, dtype=np.int64)
    elif task == "regression":
        values = np.array([_number(v, "a truth value is not a finite number") for v in raw])
    elif task == "detection":
        values = []
        for v in raw:
            lesions = v.get("lesions") if isinstance(v, dict) else None
            if not isinstance(lesions, list):
                raise FormatError("a detection truth needs a \"lesions\" list")
            values.append([_geometry(lesion, "each lesion needs a point or box") for lesion in lesions])
    else:
        raise FormatError("segmentation truth comes as mask files")
    return CaseData(case_ids=case_ids, values=values)


def load_mask(path: Path) -> np.ndarray:
    """An integer label mask from .npy or .png (no pickles, bounded size)."""
    suffix = path.suffix.lower()
    if path.is_symlink() or not path.is_file():
        raise FormatError("a mask file is missing")
    if suffix == ".npy":
        try:
            mask = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise FormatError("a .npy mask could not be read") from exc
    elif suffix == ".png":
        from PIL import Image

        try:
            with Image.open(path) as image:
                mask = np.asarray(image)
        except (OSError, Image.DecompressionBombError) as exc:
            raise FormatError("a .png mask could not be read") from exc
    else:
        raise FormatError("masks must be .npy or .png")
    if mask.size > MAX_MASK_VOXELS or mask.ndim not in (2, 3):
        raise FormatError("a mask must be a 2D or 3D array of bounded size")
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_):
        raise FormatError("a mask must hold integer labels")
    return np.asarray(mask)


def masks_from_folder(folder: Path, case_ids: tuple[str, ...],
                      spacing: dict[str, tuple[float, ...]]) -> CaseData:
    """Masks named <case-id>.npy or <case-id>.png in `folder`."""
    masks = []
    for case_id in case_ids:
        candidates = [folder / f"{case_id}{ext}" for ext in (".npy", ".png")]
        found = [p for p in candidates if p.exists() or p.is_symlink()]
        if len(found) != 1:
            raise FormatError("each case needs exactly one mask file <case-id>.npy or .png")
        masks.append(load_mask(found[0]))
    return CaseData(case_ids=case_ids, values=masks,
                    spacing=tuple(spacing.get(c) for c in case_ids))


def _truth_cell(spec: Spec, text: str) -> Any:
    if spec.task == "multilabel-classification":
        return [t for t in text.split(";") if t]
    if spec.task == "ordinal-grading":
        try:
            return int(text)
        except ValueError as exc:
            raise FormatError("a grade in the truth file is not an integer") from exc
    if spec.task == "regression":
        try:
            return float(text)
        except ValueError as exc:
            raise FormatError("a value in the truth file is not a number") from exc
    return text


def truth_file(spec: Spec, path: Path) -> dict[str, Any]:
    """Truth values from a CSV (`case_id,` then label, grade, value, or `;`-joined labels) or JSON
    (`{case_id: value}`, the only form for detection)."""
    import csv
    import json

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormatError("the truth file is not valid JSON") from exc
        if not isinstance(data, dict):
            raise FormatError("the truth JSON must be an object keyed by case id")
        return data
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows or len(rows[0]) < 2 or rows[0][0] != "case_id":
        raise FormatError("the truth CSV needs a header starting with case_id")
    truth = {}
    for row in rows[1:]:
        if len(row) < 2:
            raise FormatError("every truth row needs a case id and a value")
        if row[0] in truth:
            raise FormatError("a case id appears twice in the truth file")
        truth[row[0]] = _truth_cell(spec, row[1].strip())
    return truth


def spacing_from_manifest(folder: Path) -> dict[str, tuple[float, ...]]:
    """Per-case pixel spacing from a contract manifest.json in `folder`, where there is one."""
    import json

    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return {}
    cases = json.loads(manifest.read_text()).get("cases", [])
    return {c["id"]: tuple(c["pixel_spacing"]) for c in cases if c.get("pixel_spacing")}
