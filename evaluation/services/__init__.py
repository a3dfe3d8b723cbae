"""Writes for evaluation: image intake, submitting, running and scoring.

Split by lifecycle stage: `images` (intake), `submissions` (the team's request, quotas),
`runs` (staging and the sandbox, on a worker) and `scoring` (metrics and results).
"""

from evaluation.services.images import image_upload
from evaluation.services.runs import submission_execute
from evaluation.services.scoring import submission_score
from evaluation.services.submissions import submission_cancel, submission_create

__all__ = [
    "image_upload",
    "submission_cancel",
    "submission_create",
    "submission_execute",
    "submission_score",
]
