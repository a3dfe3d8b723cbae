"""What physicians record while reviewing a phase's cases, and the society's review settings.

Verdicts and flags are about hidden data: only the owning society's hidden-data roles (and
operators) read them, through `review.selectors`. A flag is resolved, never deleted; a correction
of the ground truth it led to names the truth version it created.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from challenges.models import Case, Phase
from evaluation.models import Submission


class ReviewSettings(models.Model):
    """A phase's review settings; a phase without a row has the defaults."""

    phase = models.OneToOneField(Phase, on_delete=models.CASCADE, related_name="review_settings")
    blinded = models.BooleanField(
        _("blinded"), default=True,
        help_text=_("Show submissions as Algorithm A, B, … instead of by team."))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"review settings of {self.phase}"


class Verdict(models.TextChoices):
    CORRECT = "correct", _("correct")
    INCORRECT = "incorrect", _("incorrect")
    UNCERTAIN = "uncertain", _("uncertain")


class CaseVerdict(models.Model):
    """A physician's judgement of one submission's prediction on one case (changeable)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="+")
    verdict = models.CharField(_("verdict"), max_length=16, choices=Verdict.choices)
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "submission", "created"]
        constraints = [
            models.UniqueConstraint(fields=["case", "submission", "reviewer"],
                                    name="uniq_case_verdict"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id}: case {self.case_id} × submission {self.submission_id}"


class FlagStatus(models.TextChoices):
    OPEN = "open", _("open")
    RESOLVED = "resolved", _("resolved: the ground truth was corrected")
    DISMISSED = "dismissed", _("dismissed: the ground truth stands")


class CaseFlag(models.Model):
    """"Ground truth questionable": raised by a physician, resolved by the society's admins."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    reason = models.TextField(_("reason"), max_length=2000)
    truth_version = models.PositiveIntegerField(
        help_text=_("The ground-truth version that was questioned."))
    status = models.CharField(_("status"), max_length=16, choices=FlagStatus.choices,
                              default=FlagStatus.OPEN, db_index=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    resolution_note = models.TextField(_("resolution note"), blank=True, max_length=2000)
    truth_version_created = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"flag on case {self.case_id} ({self.status})"


class ConflictOfInterest(models.Model):
    """A team whose submissions a person must not review. Membership of a team is a conflict
    without a row (`review.selectors.conflicted_team_ids`); a row records a declared one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    note = models.CharField(_("note"), max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "team"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="uniq_conflict_of_interest"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ≠ {self.team_id}"
