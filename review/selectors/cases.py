"""One case as a reviewer sees it: its image file, ground truth, the predictions of the algorithms
the reviewer may see (conflicts of interest left out), verdicts and flags. A few queries per case
page, however many algorithms there are.

Overlays: detection points and boxes become `Mark`s in pixel coordinates (x = column, y = row)
for the frame shown (3-D ones only on the frames they cover); a segmentation mask is drawn by the
overlay rendering (`has_mask`). Classification shows labels and scores in a table.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from django.utils.translation import gettext as _

from accounts.permissions import AnyUser
from challenges.models import Case, CaseFile, GroundTruth, Phase
from evaluation.metrics.spec import Spec
from evaluation.models import CaseResult
from evaluation.services.specs import spec_of
from review.case_scores import case_loss, loss_metric, predicted_label
from review.errors import ReviewNotFound
from review.models import CaseFlag, CaseVerdict, FlagStatus
from review.selectors.access import Algorithm, algorithms_for


@dataclass(frozen=True)
class Mark:
    kind: str  # "point" or "box"
    x: float
    y: float
    width: float = 0.0
    height: float = 0.0
    score: float | None = None


@dataclass
class PredictionView:
    algorithm: Algorithm
    values: dict[str, Any]
    loss: float | None
    label: str | None
    scores: list[tuple[str, float]]
    metrics: list[tuple[str, Any]]
    marks: list[Mark]
    has_mask: bool
    shown: bool
    my_verdict: CaseVerdict | None = None
    verdict_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class CaseReview:
    phase: Phase
    case: Case
    file: CaseFile | None
    spec: Spec
    frames: int
    frame: int  # the one shown, 0-based
    rows: int | None
    columns: int | None
    truth_version: int
    truth: Any
    truth_label: str | None
    truth_marks: list[Mark]
    truth_has_mask: bool
    predictions: list[PredictionView]
    flags: list[CaseFlag]
    my_open_flag: CaseFlag | None


def _not_found(case_id: str) -> ReviewNotFound:
    return ReviewNotFound("case_not_found", _("This phase has no case “%(case)s”.") % {
        "case": case_id[:64]})


def access_review_case(phase: Phase, case_id: str) -> Case:
    case = Case.objects.filter(phase=phase, case_id=case_id).first()
    if case is None:
        raise _not_found(case_id)
    return case


def case_geometry(case: Case) -> tuple[int, int | None, int | None]:
    """(frames, rows, columns) from the case's recorded shape (1, None, None when unknown)."""
    shape = case.shape if isinstance(case.shape, list) else []
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    if len(shape) == 2:
        return 1, int(shape[0]), int(shape[1])
    return 1, None, None


def marks_on_frame(items: Any, frame: int) -> list[Mark]:
    """The points and boxes of a lesion or detection list that show on `frame`."""
    marks = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        score = item.get("score")
        score = float(score) if isinstance(score, int | float) else None
        point, box = item.get("point"), item.get("box")
        if isinstance(point, list) and len(point) in (2, 3):
            if len(point) == 3 and round(point[0]) != frame:
                continue
            row, column = point[-2:]
            marks.append(Mark("point", float(column), float(row), score=score))
        elif isinstance(box, list) and len(box) in (4, 6):
            half = len(box) // 2
            start, end = box[:half], box[half:]
            if half == 3 and not start[0] <= frame <= end[0]:
                continue
            (r0, c0), (r1, c1) = start[-2:], end[-2:]
            marks.append(Mark("box", float(c0), float(r0), float(c1 - c0), float(r1 - r0), score))
    return marks


def _lesions(value: Any) -> Any:
    return value.get("lesions") if isinstance(value, dict) else None


def _has_mask(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("mask"), dict)


def _scores(spec: Spec, prediction: Any) -> list[tuple[str, float]]:
    if not isinstance(prediction, dict):
        return []
    if spec.task == "binary-classification" and isinstance(prediction.get("score"), int | float):
        return [(spec.positive_label or "", float(prediction["score"]))]
    mapping = prediction.get("probabilities")
    if isinstance(mapping, dict):
        return [(label, float(mapping[label])) for label in spec.labels
                if isinstance(mapping.get(label), int | float)]
    return []


def _metrics(spec: Spec, values: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = [m.key for m in spec.metrics if m.kind == "case"]
    if spec.task == "detection":
        keys += ["lesions", "detections", "hits"]
    return [(key, values[key]) for key in keys if key in values]


def truth_value(phase: Phase, case: Case) -> Any:
    return (GroundTruth.objects.filter(case=case, version=phase.truth_version)
            .values_list("value", flat=True).first())


def current_truths(phase: Phase, case_pks: list[int]) -> dict[str, Any]:
    """case id -> the current ground truth, for some cases of the phase (one query)."""
    return dict(GroundTruth.objects.filter(case__phase=phase, case_id__in=case_pks,
                                           version=phase.truth_version)
                .values_list("case__case_id", "value"))


def _truth_label(spec: Spec, value: Any) -> str | None:
    if spec.task in ("binary-classification", "multiclass-classification"):
        return value if isinstance(value, str) else None
    return None


def case_review(user: AnyUser, phase: Phase, case: Case, *, frame: int | None = None,
                shown: set[str] | None = None) -> CaseReview:
    """Everything the case page shows to `user` (a reviewer of `phase`, checked by the caller).
    `shown` names the algorithms (by code) whose predictions are selected; None: all."""
    spec = spec_of(phase.challenge)
    metric = loss_metric(spec)
    frames, rows, columns = case_geometry(case)
    index = frames // 2 if frame is None else min(max(frame, 0), frames - 1)
    algorithms = algorithms_for(user, phase)
    results = {r.submission_id: r for r in CaseResult.objects.filter(
        case=case, submission_id__in=[a.submission_id for a in algorithms])}
    verdicts = CaseVerdict.objects.filter(case=case, submission_id__in=list(results))
    mine = {v.submission_id: v for v in verdicts if v.reviewer_id == user.pk}
    counts: dict[int, Counter[str]] = {}
    for row in verdicts.values("submission_id", "verdict").annotate(n=Count("pk")):
        counts.setdefault(row["submission_id"], Counter())[row["verdict"]] = row["n"]
    predictions = []
    for algorithm in algorithms:
        result = results.get(algorithm.submission_id)
        if result is None:
            continue
        values = result.values if isinstance(result.values, dict) else {}
        predictions.append(PredictionView(
            algorithm=algorithm, values=values,
            loss=case_loss(spec, values, result.prediction, metric=metric),
            label=predicted_label(spec, values), scores=_scores(spec, result.prediction),
            metrics=_metrics(spec, values),
            marks=marks_on_frame(result.prediction.get("detections")
                                 if isinstance(result.prediction, dict) else None, index),
            has_mask=_has_mask(result.prediction),
            shown=shown is None or algorithm.code in shown,
            my_verdict=mine.get(algorithm.submission_id),
            verdict_counts=dict(counts.get(algorithm.submission_id, {}))))
    truth = truth_value(phase, case)
    flags = list(CaseFlag.objects.filter(case=case).select_related("raised_by", "resolved_by"))
    return CaseReview(
        phase=phase, case=case, file=case.files.order_by("name").first(), spec=spec,
        frames=frames, frame=index, rows=rows, columns=columns, truth_version=phase.truth_version,
        truth=truth, truth_label=_truth_label(spec, truth),
        truth_marks=marks_on_frame(_lesions(truth), index), truth_has_mask=_has_mask(truth),
        predictions=predictions, flags=flags,
        my_open_flag=next((f for f in flags if f.raised_by_id == user.pk
                           and f.status == FlagStatus.OPEN), None))


def open_flags(phase: Phase) -> list[CaseFlag]:
    """The phase's open flags, oldest first, for the society's admins."""
    return list(CaseFlag.objects.filter(case__phase=phase, status=FlagStatus.OPEN)
                .select_related("case", "raised_by").order_by("created"))


def recent_flags(phase: Phase, limit: int = 20) -> list[CaseFlag]:
    return list(CaseFlag.objects.filter(case__phase=phase).exclude(status=FlagStatus.OPEN)
                .select_related("case", "raised_by", "resolved_by")
                .order_by("-resolved_at")[:limit])


def mask_reference(user: AnyUser, phase: Phase, case: Case, source: str) -> dict[str, Any] | None:
    """The stored mask behind an overlay: "truth", or an algorithm's code the user may see."""
    if source == "truth":
        value = truth_value(phase, case)
    else:
        algorithm = next((a for a in algorithms_for(user, phase) if a.code == source), None)
        if algorithm is None:
            return None
        value = (CaseResult.objects.filter(case=case, submission_id=algorithm.submission_id)
                 .values_list("prediction", flat=True).first())
    return value["mask"] if _has_mask(value) else None
