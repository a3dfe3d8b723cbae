"""A challenge is a task spec owned by a society; its phases hold cases with ground truth.

Case files are stored content-addressed (`storage_key` derives from the SHA-256 of the
de-identified bytes); the original upload is never stored.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Society


class TaskType(models.TextChoices):
    BINARY_CLASSIFICATION = "binary-classification", _("binary classification")


class Challenge(models.Model):
    society = models.ForeignKey(Society, on_delete=models.PROTECT, related_name="challenges")
    slug = models.SlugField(unique=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    modality = models.CharField(_("modality"), max_length=32, blank=True)
    task_type = models.CharField(max_length=32, choices=TaskType.choices,
                                 default=TaskType.BINARY_CLASSIFICATION)
    labels = models.JSONField(default=list, help_text=_("The label set, negative label first."))
    positive_label = models.CharField(max_length=64)
    primary_metric = models.CharField(max_length=32, default="auroc")
    is_published = models.BooleanField(_("published"), default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.slug


class LeaderboardVisibility(models.TextChoices):
    LIVE = "live", _("live: scores are public as they come")
    ON_PUBLISH = "on-publish", _("hidden until the society publishes results")


class Phase(models.Model):
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="phases")
    slug = models.SlugField()
    title = models.CharField(_("title"), max_length=200)
    is_hidden = models.BooleanField(
        _("hidden cases"), default=True,
        help_text=_("Hidden phases show teams aggregate scores and failure reasons only."),
    )
    opens_at = models.DateTimeField(_("opens"), null=True, blank=True)
    closes_at = models.DateTimeField(_("closes"), null=True, blank=True)
    submission_limit = models.PositiveIntegerField(_("submissions per team per window"), default=5)
    limit_window_hours = models.PositiveIntegerField(_("quota window (hours)"), default=24)
    wall_seconds = models.PositiveIntegerField(_("time limit (s)"), default=600)
    memory_mb = models.PositiveIntegerField(_("memory limit (MiB)"), default=2048)
    cpus = models.FloatField(_("CPUs"), default=1.0)
    gpus = models.PositiveIntegerField(_("GPUs"), default=0)
    output_mb = models.PositiveIntegerField(_("output limit (MiB)"), default=64)
    leaderboard_visibility = models.CharField(
        max_length=16, choices=LeaderboardVisibility.choices, default=LeaderboardVisibility.LIVE
    )
    results_published = models.BooleanField(default=False)

    class Meta:
        ordering = ["challenge", "id"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "slug"], name="uniq_phase_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.challenge.slug}/{self.slug}"

    @property
    def queue(self) -> str:
        return "sandbox-gpu" if self.gpus else "sandbox-cpu"


class Case(models.Model):
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="cases")
    case_id = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case_id"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "case_id"], name="uniq_case_in_phase"),
        ]

    def __str__(self) -> str:
        return self.case_id


class CaseFile(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=128)
    kind = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    storage_key = models.CharField(max_length=255)

    class Meta:
        ordering = ["case", "name"]

    def __str__(self) -> str:
        return f"{self.case}/{self.name}"


class GroundTruth(models.Model):
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="ground_truth")
    label = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.case}: {self.label}"
