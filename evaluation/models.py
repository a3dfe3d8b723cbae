"""Algorithm images, submissions and what their runs produced.

Submission.status moves queued -> running -> scoring -> succeeded, or to failed with a
categorical `failure_reason`. What a team may see of a submission is decided in
`evaluation.selectors`, never here.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from challenges.models import Case, Phase


class AlgorithmImage(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="images")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    image_id = models.CharField(max_length=80, help_text=_("sha256 of the image config"))
    user = models.CharField(max_length=64)
    repo_tags = models.JSONField(default=list)
    size_bytes = models.BigIntegerField()
    tarball_sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["team", "image_id"], name="uniq_team_image"),
        ]

    def __str__(self) -> str:
        return f"{self.team}:{self.image_id[:19]}"


class UploadSession(models.Model):
    """A resumable image upload: chunks append at `received` until the client completes it."""

    class State(models.TextChoices):
        OPEN = "open", _("open")
        COMPLETED = "completed", _("completed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expected_size = models.BigIntegerField(null=True, blank=True)
    received = models.BigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    image = models.ForeignKey(AlgorithmImage, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"upload {self.id} ({self.received} bytes)"


class Status(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SCORING = "scoring", _("scoring")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})


class FailureReason(models.TextChoices):
    TIMEOUT = "timeout", _("time limit exceeded")
    OUT_OF_MEMORY = "out_of_memory", _("out of memory")
    EXIT_CODE = "exit_code", _("the container exited with an error")
    OUTPUT_MISSING = "output_missing", _("an output the contract requires is missing")
    OUTPUT_INVALID = "output_invalid", _("the outputs broke a rule of the contract")
    IMAGE_INVALID = "image_invalid", _("the image could not be started")
    PLATFORM_ERROR = "platform_error", _("platform error (not counted against your quota)")


class Submission(models.Model):
    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="submissions")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="submissions")
    image = models.ForeignKey(AlgorithmImage, on_delete=models.PROTECT, related_name="submissions")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED,
                              db_index=True)
    failure_reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    failure_detail = models.CharField(
        max_length=200, blank=True,
        help_text=_("Categorical and safe for the team: never values from inputs or logs."),
    )
    exit_code = models.IntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text=_("Runs started; only platform failures are retried.")
    )
    node = models.CharField(max_length=128, blank=True, help_text=_("The worker running it."))
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["phase", "team", "created"])]

    def __str__(self) -> str:
        return f"submission {self.pk} ({self.status})"


class RunRecord(models.Model):
    """The sandbox's account of a run. Logs of hidden phases are for the society and operators."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="run")
    verdict = models.CharField(max_length=32)
    exit_code = models.IntegerField(null=True, blank=True)
    duration_s = models.FloatField()
    logs = models.TextField(blank=True)
    output_error = models.CharField(max_length=200, blank=True)
    node = models.CharField(max_length=128, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    output_bytes = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"run of submission {self.submission_id}: {self.verdict}"


class RunShard(models.Model):
    """One disjoint part of a sharded run, executed as its own task by whichever worker of the
    phase's queue is free. Internal: logs and predictions here follow RunRecord's visibility."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped (another part failed or the run was cancelled)")

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveSmallIntegerField()
    count = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    node = models.CharField(max_length=128, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    verdict = models.CharField(max_length=32, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    duration_s = models.FloatField(default=0.0)
    logs = models.TextField(blank=True)
    output_error = models.CharField(max_length=200, blank=True)
    failure_reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    failure_detail = models.CharField(max_length=200, blank=True)
    predictions = models.JSONField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    output_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["submission", "index"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "index"], name="uniq_shard_index"),
        ]

    def __str__(self) -> str:
        return f"shard {self.index + 1}/{self.count} of submission {self.submission_id}"


class CaseResult(models.Model):
    """A prediction and its per-case scores. Hidden-phase rows never reach a team."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE,
                                   related_name="case_results")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    prediction = models.JSONField()
    values = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["submission", "case"], name="uniq_case_result"),
        ]

    def __str__(self) -> str:
        return f"submission {self.submission_id} case {self.case_id}"


class Result(models.Model):
    """Aggregate scores of a submission under one metric spec and one ground-truth version.

    Re-evaluation adds rows; exactly one row per submission is `is_current` (the latest versions).
    `primary_*` are denormalised for ranking.
    """

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="results")
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="results")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    spec_version = models.PositiveIntegerField()
    truth_version = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True, db_index=True)
    metrics = models.JSONField()
    primary_value = models.FloatField(null=True)
    primary_ci_low = models.FloatField(null=True)
    primary_ci_high = models.FloatField(null=True)
    n_cases = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["phase", "is_current", "team"])]
        constraints = [
            models.UniqueConstraint(fields=["submission", "spec_version", "truth_version"],
                                    name="uniq_result_versions"),
        ]

    def __str__(self) -> str:
        return f"result of submission {self.submission_id}: {self.primary_value}"


class PhaseRanking(models.Model):
    """Ranking and rank stability of a phase's leaderboard entries under one pair of versions."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="rankings")
    spec_version = models.PositiveIntegerField()
    truth_version = models.PositiveIntegerField()
    computed = models.DateTimeField(auto_now=True)
    data = models.JSONField()
    blob_svg = models.TextField(blank=True)
    significance_svg = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["phase", "spec_version", "truth_version"],
                                    name="uniq_phase_ranking"),
        ]

    def __str__(self) -> str:
        return f"ranking of {self.phase} (spec v{self.spec_version}, truth v{self.truth_version})"


class LeaderboardSnapshot(models.Model):
    """A published leaderboard, frozen: never updated, only added to."""

    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="snapshots")
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT,
                                   related_name="+")
    spec_version = models.PositiveIntegerField()
    truth_version = models.PositiveIntegerField()
    entries = models.JSONField()
    ranking = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"snapshot {self.pk} of {self.phase}"
