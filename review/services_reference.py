"""Human reference rows: a reading list's reads scored like a submission, for the leaderboard.

`reference_rows_compute` turns each reader's current reads (and the reader consensus: the
list's merge rule) into prediction entries and scores them with the metrics engine
(`evaluation.services.scoring.case_data` and `evaluation.metrics.engine.evaluate`, the code that
scores submissions, CIs included) against the phase's current ground truth, all rows on the
same cases: those every reader has read, the consensus resolves and the truth covers. A row
says how many cases it covers. Rows are published on the leaderboard by a society admin
(`reference_row_publish`), as "Reader n" unless the society names them; they are never ranked.

An answer as a prediction: a label with confidence c (1 when not given) gives the chosen label
1/K + c(1 − 1/K) and the K − 1 others an equal share of the rest (binary: the positive label's
probability is the score); lesions are detections with score c (a box is its centre where the
challenge's detections are points).
"""

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.contract import detection_geometry
from challenges.models import Challenge, TaskType
from challenges.selectors import ground_truth_for_scoring
from config.errors import Conflict, DomainError, Forbidden
from evaluation.metrics.engine import evaluate
from evaluation.selectors import leaderboard_changed
from evaluation.services.scoring import SCORING_ERRORS, case_data
from evaluation.services.specs import spec_of
from review.models import ReadingList, ReferenceKind, ReferenceRow
from review.selectors.reading import current_reads, list_cases, merge_outcome
from review.services_reading import materialized

MAX_NAME = 100


def _probabilities(challenge: Challenge, label: str, confidence: float) -> dict[str, float]:
    k = len(challenge.labels)
    chosen = 1 / k + confidence * (1 - 1 / k)
    rest = (1 - chosen) / (k - 1) if k > 1 else 0.0
    return {name: chosen if name == label else rest for name in challenge.labels}


def _detection(lesion: dict[str, Any], wanted: str, score: float) -> dict[str, Any]:
    if wanted == "point" and "box" in lesion:
        box = lesion["box"]
        half = len(box) // 2
        return {"point": [(box[i] + box[i + half]) / 2 for i in range(half)], "score": score}
    return {**{k: v for k, v in lesion.items() if k in ("point", "box")}, "score": score}


def prediction_entry(challenge: Challenge, answer: dict[str, Any]) -> dict[str, Any]:
    """A read as the prediction entry the metrics engine takes (see the module docstring)."""
    confidence = float(answer.get("confidence", 1.0))
    if challenge.task_type == TaskType.BINARY_CLASSIFICATION:
        return {"score": _probabilities(challenge, answer["label"], confidence)[
            challenge.positive_label]}
    if challenge.task_type == TaskType.MULTICLASS_CLASSIFICATION:
        return {"probabilities": _probabilities(challenge, answer["label"], confidence)}
    if challenge.task_type == TaskType.SEGMENTATION:
        return {"mask": answer["mask"]}
    wanted = detection_geometry(challenge)[0]
    return {"detections": [_detection(lesion, wanted, confidence)
                           for lesion in answer.get("lesions", [])]}


def _consensus_answer(value: Any, written: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {"label": value}
    value = materialized(value, "reads", written)
    return {"mask": value["mask"]} if "mask" in value else {"lesions": value["lesions"]}


@transaction.atomic
def reference_rows_compute(*, actor: User, reading_list: ReadingList) -> list[ReferenceRow]:
    """Score every reader of the list and the reader consensus on their common cases against
    the current truth; a row computed before is replaced (its publication and name kept)."""
    phase = reading_list.phase
    challenge = phase.challenge
    if not can_manage_society(actor, challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))
    numbers = sorted(reading_list.assignments.values_list("number", flat=True))
    reads = current_reads(reading_list)
    consensus = merge_outcome(reading_list).resolved
    truth = ground_truth_for_scoring(phase)
    sources: dict[tuple[str, int | None], dict[str, dict[str, Any]]] = {
        (ReferenceKind.READER, n): {c: answers[n] for c, answers in reads.items() if n in answers}
        for n in numbers}
    if consensus and len(numbers) > 1:
        sources[(ReferenceKind.CONSENSUS, None)] = {
            c: _consensus_answer(v, []) for c, v in consensus.items()}
    cases = [case for case in list_cases(reading_list) if case.case_id in truth
             and all(case.case_id in answers for answers in sources.values())]
    if not sources or not cases:
        raise Conflict("no_common_cases", _(
            "No case has a read from every reader and a ground truth yet."))
    spec = spec_of(challenge)
    rows = []
    for (kind, number), answers in sources.items():
        entries = {c.case_id: prediction_entry(challenge, answers[c.case_id]) for c in cases}
        try:
            truth_data, predictions = case_data(spec, cases, truth, entries)
            evaluation = evaluate(spec, truth_data, predictions)
        except SCORING_ERRORS as exc:
            raise DomainError("reads_not_scorable", _(
                "The reads cannot be scored with this challenge's metrics.")) from exc
        primary = evaluation.metrics[evaluation.primary]
        row, _created = ReferenceRow.objects.update_or_create(
            reading_list=reading_list, kind=kind, reader_number=number, defaults={
                "phase": phase, "metrics": evaluation.as_dict(), "primary_value": primary.value,
                "primary_ci_low": primary.ci_low, "primary_ci_high": primary.ci_high,
                "n_cases": len(cases), "spec_version": challenge.metric_version,
                "truth_version": phase.truth_version})
        rows.append(row)
    audit_record(actor=actor, action="review.reference_scored", target_type="phase",
                 target_id=phase.pk, detail={"list": reading_list.pk, "rows": len(rows),
                                             "cases": len(cases),
                                             "truth_version": phase.truth_version})
    if any(row.published for row in rows):
        leaderboard_changed(phase_ids=[phase.pk])
    return rows


@transaction.atomic
def reference_row_publish(*, actor: User, row: ReferenceRow, published: bool,
                          public_name: str = "") -> ReferenceRow:
    """Show (or withdraw) a reference row on the phase's leaderboard. Readers are "Reader n"
    there unless the society gives a name (`public_name`)."""
    if not can_manage_society(actor, row.phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))
    public_name = (public_name or "").strip()
    if len(public_name) > MAX_NAME or not public_name.isprintable():
        raise DomainError("bad_name", _("A name has at most %(n)d printable characters.") % {
            "n": MAX_NAME})
    row.published, row.public_name = published, public_name
    row.save(update_fields=["published", "public_name", "updated"])
    audit_record(actor=actor, action="review.reference_published" if published
                 else "review.reference_withdrawn", target_type="phase", target_id=row.phase_id,
                 detail={"row": row.pk, "named": bool(public_name)})
    leaderboard_changed(phase_ids=[row.phase_id])
    return row
