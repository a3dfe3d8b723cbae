"""What physicians record while reviewing a phase's cases, and the society's review settings.

Verdicts and flags are about hidden data: only the owning society's hidden-data roles (and
operators) read them, through `review.selectors`. A flag is resolved, never deleted; a correction
of the ground truth it led to names the truth version it created.

Reader studies: a reading list of a phase's cases, its readers (Reader 1..n), their reads (never
edited: a re-read is the next version), the merges of reads into ground truth and the human
reference rows scored from them (review/services_reading.py, review/services_reference.py).
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


# --- reader studies: reading lists, reads, merges, reference rows -----------------------------

class MergeRule(models.TextChoices):
    MAJORITY = "majority", _("majority vote (ties stay unresolved)")
    ADJUDICATOR = "adjudicator", _("the adjudicator's read wins")
    MASK_FUSION = "mask-fusion", _("mask fusion (majority voxel vote)")


class ReadingList(models.Model):
    """A set of a phase's cases that the society's admins give physicians to read, with the rule
    by which their reads merge into ground truth. Cases and readers are kept in their own rows."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="reading_lists")
    title = models.CharField(_("title"), max_length=200)
    merge_rule = models.CharField(_("merge rule"), max_length=16, choices=MergeRule.choices,
                                  default=MergeRule.MAJORITY)
    adjudicator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    grades = models.JSONField(default=list, blank=True,
                              help_text=_("Optional ordinal grades, lowest first."))
    sample_seed = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return self.title


class ReadingListCase(models.Model):
    reading_list = models.ForeignKey(ReadingList, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["reading_list", "position"]
        constraints = [models.UniqueConstraint(fields=["reading_list", "case"],
                                               name="uniq_reading_list_case")]

    def __str__(self) -> str:
        return f"{self.reading_list_id}#{self.position}: case {self.case_id}"


class ReadingAssignment(models.Model):
    """A reader of a list. Readers are "Reader 1..n" in the order they were assigned."""

    reading_list = models.ForeignKey(ReadingList, on_delete=models.CASCADE,
                                     related_name="assignments")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="+")
    number = models.PositiveIntegerField()
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reading_list", "number"]
        constraints = [
            models.UniqueConstraint(fields=["reading_list", "reader"], name="uniq_reader"),
            models.UniqueConstraint(fields=["reading_list", "number"], name="uniq_reader_number"),
        ]

    def __str__(self) -> str:
        return f"reader {self.number} of list {self.reading_list_id}"


class Read(models.Model):
    """One answer of a reader for a case of a list. Rows are never edited: a re-read adds the
    next version and only the newest (`is_current`) counts."""

    reading_list = models.ForeignKey(ReadingList, on_delete=models.CASCADE, related_name="reads")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="+")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    answer = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reading_list", "case", "reader", "version"]
        constraints = [
            models.UniqueConstraint(fields=["reading_list", "case", "reader", "version"],
                                    name="uniq_read_version"),
            models.UniqueConstraint(fields=["reading_list", "case", "reader"],
                                    condition=models.Q(is_current=True),
                                    name="uniq_current_read"),
        ]

    def __str__(self) -> str:
        return f"read v{self.version} of case {self.case_id} by {self.reader_id}"


class ReadingMerge(models.Model):
    """A merge of a list's reads into ground truth: the truth version it made (or the current
    one when nothing changed) and the cases it left unresolved."""

    reading_list = models.ForeignKey(ReadingList, on_delete=models.CASCADE, related_name="merges")
    rule = models.CharField(max_length=16, choices=MergeRule.choices)
    from_version = models.PositiveIntegerField()
    to_version = models.PositiveIntegerField()
    changed = models.JSONField(default=list)
    unresolved = models.JSONField(default=list)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"merge of list {self.reading_list_id}: v{self.from_version}→v{self.to_version}"


class ReferenceKind(models.TextChoices):
    READER = "reader", _("reader")
    CONSENSUS = "consensus", _("reader consensus")


class ReferenceRow(models.Model):
    """A human reference for the leaderboard: one reader's (or the consensus') reads scored by
    the metrics engine against the truth version named, on `n_cases` cases common to every row
    of the list. Shown on the board only once `published`, never ranked against teams."""

    reading_list = models.ForeignKey(ReadingList, on_delete=models.CASCADE,
                                     related_name="reference_rows")
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ReferenceKind.choices)
    reader_number = models.PositiveIntegerField(null=True, blank=True)
    public_name = models.CharField(_("name on the leaderboard"), max_length=100, blank=True)
    metrics = models.JSONField()
    primary_value = models.FloatField(null=True)
    primary_ci_low = models.FloatField(null=True)
    primary_ci_high = models.FloatField(null=True)
    n_cases = models.PositiveIntegerField()
    spec_version = models.PositiveIntegerField()
    truth_version = models.PositiveIntegerField()
    published = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)  # in the leaderboard's fingerprint

    class Meta:
        ordering = ["reading_list", "kind", "reader_number"]
        constraints = [
            models.UniqueConstraint(fields=["reading_list", "kind", "reader_number"],
                                    name="uniq_reference_row"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reader_number or ''} of list {self.reading_list_id}"
