"""Ground truth beyond labels: segmentation masks and detection lesions, imported all or nothing.

- `masks_import(phase=, path=)`: a folder, zip or single file of masks named `<case-id>.png`,
  `.npy`, `.nii` or `.nii.gz` (`imaging.masks` reads them), or `<case-id>.dcm` holding a
  DICOM-SEG (`imaging.seg` reads it into a label map, segments matched to the labels). Each
  must have its case image's shape and hold only label values of the challenge's label set
  (0..K-1). Masks are stored re-encoded in the canonical form (`imaging.masks.encode_mask`:
  labels only, no metadata of the uploaded file) and content-addressed
  (`truths/<sha[:2]>/<sha>`); the truth value references the stored file:
  `{"mask": {"sha256", "storage_key", "kind": "npy.gz", "shape"}}`.
- `lesions_import(phase=, path=)`: a JSON file `{case_id: [lesion, ...]}` (or
  `{case_id: {"lesions": [...]}}`), a lesion being `{"x", "y"[, "z"]}` or
  `{"x0", "y0", "x1", "y1"[, "z0", "z1"]}` in pixels (x = column, y = row, z = frame), or the
  engine's own `{"point": [row, column]}` / `{"box": [row0, column0, row1, column1]}`, with an
  optional `radius_mm`. Stored as `{"lesions": [{"point"|"box": [...], "radius_mm"?}]}` in the
  engine's (row, column) order.

Either import refuses the whole file set when anything is wrong, naming every problem (up to
20), and stores nothing; a change to an existing truth makes a new truth version. Ground truth is
hidden data: it is never staged into /input nor handed to a team.
"""

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record
from challenges.case_store import stored_atomically, truth_update
from challenges.contract import case_shape, detection_geometry
from challenges.errors import ImportRejected
from challenges.models import Case, Phase, TaskType
from challenges.services import _iter_sources
from imaging.masks import (
    STORED_KIND,
    MaskRejected,
    check_labels,
    decode_mask,
    encode_mask,
    mask_stem,
    read_mask,
)
from imaging.seg import read_seg, seg_stem

MAX_PROBLEMS = 20
MAX_LESIONS_FILE_BYTES = 64 * 1024 * 1024
MAX_LESIONS_PER_CASE = 10_000
MAX_JSON_DEPTH = 8
_POINT_KEYS = ({"x", "y"}, {"x", "y", "z"})
_BOX_KEYS = ({"x0", "y0", "x1", "y1"}, {"x0", "y0", "z0", "x1", "y1", "z1"})


@dataclass(frozen=True)
class TruthReport:
    cases: int
    truth_version: int
    without_spacing: int = 0  # cases that only the spec's spacing_mm could give a spacing


def _without_spacing(phase: Phase, shapes: dict[str, tuple[int, ...]]) -> int:
    """How many of the cases have no pixel spacing of their own for their dimensions and find
    none in the challenge's spec either: distance metrics cannot score them."""
    spec_spacing = (phase.challenge.metric_spec or {}).get("spacing_mm") or []
    spacings = dict(phase.cases.filter(case_id__in=list(shapes)).values_list("case_id",
                                                                            "pixel_spacing"))
    return sum(1 for case_id, shape in shapes.items()
               if len(spacings.get(case_id) or []) != len(shape) and len(spec_spacing) != len(shape))


def _refuse(code: str, problems: list[str]) -> ImportRejected:
    shown = "; ".join(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown += "; " + _("and %(n)d more problems") % {"n": len(problems) - MAX_PROBLEMS}
    return ImportRejected(code, shown)


def _require_task(phase: Phase, task_type: str, what: str) -> None:
    if phase.challenge.task_type != task_type:
        raise ImportRejected("wrong_task", _(
            "%(what)s are ground truth only for %(task)s challenges; this one is a %(this)s "
            "task.") % {"what": what, "task": TaskType(task_type).label,
                        "this": phase.challenge.get_task_type_display()})


def _locked_phase(phase: Phase) -> Phase:
    return Phase.objects.select_for_update().select_related("challenge").get(pk=phase.pk)


def _save_truths(phase: Phase, values: dict[str, Any], *, actor: User | None, kind: str,
                 inputs: list[str], shapes: dict[str, tuple[int, ...]]) -> int:
    """Within a transaction: record `values` as the new truth; backfill missing case shapes."""
    phase = _locked_phase(phase)
    for case in phase.cases.filter(case_id__in=list(shapes), shape__isnull=True):
        Case.objects.filter(pk=case.pk).update(shape=list(shapes[case.case_id]))
    version = truth_update(phase, values)
    audit_record(actor=actor, action="truths.import", target_type="phase", target_id=phase.pk,
                 detail={"kind": kind, "cases": len(values), "truth_version": version,
                         "inputs": sorted(inputs)})
    return version


# --- segmentation masks -----------------------------------------------------------------------


def _read_masks(phase: Phase, path: Path) -> tuple[dict[str, np.ndarray], list[str],
                                                   dict[str, tuple[int, ...]]]:
    cases = {c.case_id: c for c in phase.cases.prefetch_related("files")}
    n_labels = len(phase.challenge.labels)
    masks: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    inputs: list[str] = []
    problems: list[str] = []
    for name, data in _iter_sources(path):
        shown = name[:80]
        stem = mask_stem(name) or seg_stem(name)
        if stem is None:
            problems.append(_("%(name)s: not a mask file (.png, .npy, .nii, .nii.gz or a "
                              "DICOM-SEG .dcm)") % {"name": shown})
            continue
        case = cases.get(stem)
        if case is None:
            problems.append(_("%(name)s: %(case)s is not a case of this phase") % {
                "name": shown, "case": stem[:64]})
            continue
        if stem in masks or stem in shapes:
            problems.append(_("%(case)s: two mask files for one case") % {"case": stem})
            continue
        shape = case_shape(case)
        if shape is None:
            problems.append(_("%(case)s: the case's image cannot be read for its shape") % {
                "case": stem})
            continue
        shapes[stem] = shape
        try:
            if mask_stem(name) is None:  # a .dcm: DICOM-SEG, segments matched to the labels
                mask = read_seg(data, expected_shape=shape, labels=phase.challenge.labels)
            else:
                mask = read_mask(data, name, expected_shape=shape)
            check_labels(mask, n_labels)
        except MaskRejected as exc:
            detail = exc.rule
            if exc.name == "shape":
                detail = _("its shape differs from the case image (%(shape)s)") % {
                    "shape": " x ".join(map(str, shape))}
            elif exc.name == "labels":
                detail = _("it holds a value outside the label set (0 to %(last)d)") % {
                    "last": n_labels - 1}
            problems.append(f"{shown}: {detail}")
            continue
        masks[stem] = mask
        inputs.append(hashlib.sha256(data).hexdigest())
    if problems:
        raise _refuse("masks_rejected", problems)
    if not masks:
        raise ImportRejected("empty", _("No mask files were found."))
    return masks, inputs, shapes


def store_mask(mask: np.ndarray, prefix: str, written: list[str]) -> dict[str, Any]:
    """Store a mask in the canonical form, content-addressed under `prefix`; its reference."""
    data = encode_mask(mask)
    sha = hashlib.sha256(data).hexdigest()
    key = f"{prefix}/{sha[:2]}/{sha}"
    if not default_storage.exists(key):
        written.append(default_storage.save(key, ContentFile(data)))
    return {"sha256": sha, "storage_key": key, "kind": STORED_KIND, "shape": list(mask.shape)}


def load_mask(reference: dict[str, Any]) -> np.ndarray:
    """A stored mask (`store_mask`'s reference), checked against its SHA-256 (ValueError)."""
    with default_storage.open(reference["storage_key"], "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != reference["sha256"]:
        raise ValueError(f"stored mask {reference['storage_key']} does not match its sha256")
    return decode_mask(data)


def masks_import(*, phase: Phase, path: Path, actor: User | None = None) -> TruthReport:
    """Import segmentation masks as the phase's ground truth (see the module docstring)."""
    _require_task(phase, TaskType.SEGMENTATION, _("Masks"))
    masks, inputs, shapes = _read_masks(phase, path)
    with stored_atomically() as written:
        values = {case_id: {"mask": store_mask(mask, "truths", written)}
                  for case_id, mask in masks.items()}
        version = _save_truths(phase, values, actor=actor, kind="masks", inputs=inputs,
                               shapes=shapes)
    return TruthReport(cases=len(values), truth_version=version,
                       without_spacing=_without_spacing(phase, shapes))


# --- detection lesions ------------------------------------------------------------------------


class _NonFinite(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NonFinite(name)


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else None
        deepest = max(deepest, level + (children is not None))
        if children is not None:
            stack.extend((child, level + 1) for child in children)
    return deepest


def _load_json(path: Path) -> Any:
    if not path.is_file() or path.is_symlink():
        raise ImportRejected("not_found", _("No lesions file at %(path)s.") % {"path": path.name})
    if path.stat().st_size > MAX_LESIONS_FILE_BYTES:
        raise ImportRejected("too_large", _("The lesions file is too large."))
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"), parse_constant=_no_constant)
    except _NonFinite as exc:
        raise ImportRejected("bad_lesions", _("The lesions file holds NaN or Infinity.")) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ImportRejected("bad_lesions", _("The lesions file is not valid JSON.")) from exc
    if _depth(data) > MAX_JSON_DEPTH:
        raise ImportRejected("bad_lesions", _("The lesions file is nested too deeply."))
    if not isinstance(data, dict):
        raise ImportRejected("bad_lesions", _(
            "The lesions file must be a JSON object keyed by case id."))
    return data


def _coordinates(values: list[Any]) -> list[float]:
    """Finite numbers, or ValueError."""
    numbers = [_finite(v) for v in values]
    if any(n is None for n in numbers):
        raise ValueError(_("coordinates must be finite numbers"))
    return numbers  # type: ignore[return-value]


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def _geometry(item: dict[str, Any]) -> tuple[str, list[float]]:
    """("point" | "box", coordinates in (frame,) row, column order) of one lesion."""
    keys = set(item) - {"radius_mm"}
    if keys in _POINT_KEYS:
        return "point", _coordinates([item[k] for k in ("z", "y", "x") if k in item])
    if keys in _BOX_KEYS:
        order = ("z0", "y0", "x0", "z1", "y1", "x1")
        return "box", _coordinates([item[k] for k in order if k in item])
    if len(keys) == 1 and keys <= {"point", "box"} and isinstance(item[min(keys)], list):
        kind = min(keys)
        return kind, _coordinates(item[kind])
    raise ValueError(_("a lesion needs x and y (a point) or x0, y0, x1 and y1 (a box), or "
                       "\"point\" or \"box\""))


def _lesion(item: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """One lesion in the engine's form, or ValueError with a message for the steward."""
    if not isinstance(item, dict):
        raise ValueError(_("a lesion must be a JSON object"))
    geometry, coords = _geometry(item)
    ndim = len(shape)
    if len(coords) != (ndim if geometry == "point" else 2 * ndim):
        raise ValueError(_("its coordinates do not match the case image's %(n)d dimensions") % {
            "n": ndim})
    extent = list(shape) * (1 if geometry == "point" else 2)
    if any(not 0 <= c <= size for c, size in zip(coords, extent, strict=True)):
        raise ValueError(_("it lies outside the case image"))
    if geometry == "box" and any(coords[i] > coords[i + ndim] for i in range(ndim)):
        raise ValueError(_("a box needs its low corner before its high corner"))
    lesion: dict[str, Any] = {geometry: coords}
    if "radius_mm" in item:
        radius = _finite(item["radius_mm"])
        if radius is None or radius <= 0:
            raise ValueError(_("radius_mm must be a positive number"))
        lesion["radius_mm"] = radius
    return lesion


def _case_lesions(entry: Any, shape: tuple[int, ...], wanted: str) -> list[dict[str, Any]]:
    items = entry.get("lesions") if isinstance(entry, dict) and set(entry) == {"lesions"} else entry
    if not isinstance(items, list):
        raise ValueError(_("give a list of lesions (or {\"lesions\": [...]})"))
    if len(items) > MAX_LESIONS_PER_CASE:
        raise ValueError(_("more than %(n)d lesions") % {"n": MAX_LESIONS_PER_CASE})
    lesions = []
    for index, item in enumerate(items, start=1):
        try:
            lesion = _lesion(item, shape)
        except ValueError as exc:
            raise ValueError(_("lesion %(i)d: %(problem)s") % {"i": index, "problem": exc}) \
                from exc
        if wanted not in lesion:
            problem = (_("this challenge's lesions are points (its hit criterion)")
                       if wanted == "point" else
                       _("this challenge's lesions are boxes (its hit criterion)"))
            raise ValueError(_("lesion %(i)d: %(problem)s") % {"i": index, "problem": problem})
        lesions.append(lesion)
    return lesions


def _read_lesions(phase: Phase, data: dict[str, Any]) -> tuple[dict[str, Any],
                                                               dict[str, tuple[int, ...]]]:
    cases = {c.case_id: c for c in phase.cases.prefetch_related("files")}
    wanted = detection_geometry(phase.challenge)[1]
    values: dict[str, Any] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    problems: list[str] = []
    for case_id, entry in data.items():
        case = cases.get(case_id)
        if case is None:
            problems.append(_("%(case)s is not a case of this phase") % {"case": case_id[:64]})
            continue
        shape = case_shape(case)
        if shape is None:
            problems.append(_("%(case)s: the case's image cannot be read for its shape") % {
                "case": case_id})
            continue
        shapes[case_id] = shape
        try:
            values[case_id] = {"lesions": _case_lesions(entry, shape, wanted)}
        except ValueError as exc:
            problems.append(f"{case_id}: {exc}")
    if problems:
        raise _refuse("lesions_rejected", problems)
    if not values:
        raise ImportRejected("empty", _("The lesions file names no case."))
    return values, shapes


def lesions_import(*, phase: Phase, path: Path, actor: User | None = None) -> TruthReport:
    """Import detection lesions (points or boxes) as the phase's ground truth. The geometry must
    be the one the challenge's hit criterion (`challenges.contract.detection_hit`) matches."""
    _require_task(phase, TaskType.DETECTION, _("Lesion points and boxes"))
    raw = path.read_bytes() if path.is_file() else b""
    values, shapes = _read_lesions(phase, _load_json(path))
    with transaction.atomic():
        version = _save_truths(phase, values, actor=actor, kind="lesions",
                               inputs=[hashlib.sha256(raw).hexdigest()], shapes=shapes)
    return TruthReport(cases=len(values), truth_version=version,
                       without_spacing=_without_spacing(phase, shapes))

