"""Request bodies and effect probes of the review pages' matrix entries (kept apart from
test_permission_matrix.py, which other features extend too)."""

from collections.abc import Callable
from typing import Any

from review.models import CaseFlag, CaseVerdict, ConflictOfInterest, ReviewSettings
from tests.security.matrix_world import MatrixWorld

# team-a's hidden submission was the phase's first: Algorithm A.
REVIEW_BODIES: dict[str, Callable[[MatrixWorld], dict[str, Any]]] = {
    "conflict_form": lambda w: {"data": {"team": "team-b", "note": "co-author"}},
    "unblind_form": lambda w: {"data": {}},
    "dismiss_form": lambda w: {"data": {"action": "dismiss", "note": "the truth stands"}},
    "verdict_form": lambda w: {"data": {"prediction": "A", "verdict": "incorrect",
                                        "comment": "missed"}},
    "flag_form": lambda w: {"data": {"reason": "the label looks wrong"}},
}

REVIEW_EFFECTS: dict[str, Callable[[MatrixWorld], Any]] = {
    "conflicts": lambda w: ConflictOfInterest.objects.count(),
    "review_blinded": lambda w: list(ReviewSettings.objects.values_list("blinded", flat=True)),
    "flag_status": lambda w: CaseFlag.objects.get(pk=w.url_values["review_flag"]).status,
    "verdicts": lambda w: CaseVerdict.objects.count(),
    "flags_raised": lambda w: CaseFlag.objects.count(),
}

# --- reader studies ------------------------------------------------------------------------------
from audit.models import AuditEvent  # noqa: E402
from challenges.models import Phase  # noqa: E402
from review.models import Read, ReadingAssignment, ReadingList, ReferenceRow  # noqa: E402

REVIEW_BODIES |= {
    "reading_list_form": lambda w: {"data": {"title": "Matrix list", "selection": "all",
                                             "merge_rule": "majority"}},
    "assign_form": lambda w: {"data": {"readers": "dr-second"}},
    "read_form": lambda w: {"data": {"label": "present", "confidence": "0.7"}},
    "publish_form": lambda w: {"data": {"published": "on", "public_name": ""}},
}

REVIEW_EFFECTS |= {
    "reading_lists": lambda w: ReadingList.objects.count(),
    "reading_readers": lambda w: ReadingAssignment.objects.count(),
    "reads": lambda w: Read.objects.count(),
    "truth_version": lambda w: Phase.objects.get(pk=w.hidden.pk).truth_version,
    # Scoring again replaces the rows in place: the audit log shows it happened.
    "reference_rows": lambda w: AuditEvent.objects.filter(action="review.reference_scored").count(),
    "reference_published": lambda w: ReferenceRow.objects.get(
        pk=w.url_values["reference_row"]).published,
}

REVIEW_BODIES |= {
    "read_json": lambda w: {"content_type": "application/json", "data": {
        "case_id": w.url_values["hidden_case_id"], "label": "present", "confidence": 0.7}},
}

# The reader-study API's writes (review/apis_reading_admin.py): the same effects as the pages'.
REVIEW_BODIES |= {
    "reading_list_json": lambda w: {"content_type": "application/json", "data": {
        "title": "Matrix list", "merge_rule": "majority"}},
    "assign_json": lambda w: {"content_type": "application/json",
                              "data": {"usernames": ["dr-second"]}},
    "merge_json": lambda w: {"content_type": "application/json", "data": {"note": "matrix"}},
    "publish_json": lambda w: {"content_type": "application/json",
                               "data": {"published": True, "public_name": ""}},
}

# The review API (review/apis.py, review/apis_cases.py): the pages' effects, JSON bodies.
REVIEW_BODIES |= {
    "conflict_json": lambda w: {"content_type": "application/json",
                                "data": {"team": "team-b", "note": "co-author"}},
    "unblind_json": lambda w: {"content_type": "application/json", "data": {"blinded": False}},
    "dismiss_json": lambda w: {"content_type": "application/json",
                               "data": {"action": "dismiss", "note": "the truth stands"}},
    "verdict_json": lambda w: {"content_type": "application/json", "data": {
        "prediction": "A", "verdict": "incorrect", "comment": "missed"}},
    "flag_json": lambda w: {"content_type": "application/json",
                            "data": {"reason": "the label looks wrong"}},
}
