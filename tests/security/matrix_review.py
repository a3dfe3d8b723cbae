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
