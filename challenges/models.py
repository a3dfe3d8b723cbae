"""A challenge is a task spec owned by a society; its phases hold cases with ground truth.

Case files are stored content-addressed (`storage_key` derives from the SHA-256 of the
de-identified bytes); the original upload is never stored.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Society


class TaskType(models.TextChoices):
    """The task types a challenge can run end to end (docs/container-contract.md)."""

    BINARY_CLASSIFICATION = "binary-classification", _("binary classification")
    MULTICLASS_CLASSIFICATION = "multiclass-classification", _("multi-class classification")
    SEGMENTATION = "segmentation", _("segmentation")
    DETECTION = "detection", _("detection")


class RegistrationMode(models.TextChoices):
    APPROVAL = "approval", _("the society approves each team")
    OPEN = "open", _("any team is approved on request")


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
    metric_spec = models.JSONField(
        default=dict, blank=True,
        help_text=_("Metrics, bootstrap and ranking (docs/metrics-spec.md); empty: the default."),
    )
    metric_version = models.PositiveIntegerField(default=1)
    is_published = models.BooleanField(_("published"), default=False)
    registration_mode = models.CharField(
        _("team registration"), max_length=16, choices=RegistrationMode.choices,
        default=RegistrationMode.APPROVAL,
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.slug


class MetricSpecVersion(models.Model):
    """Every metric specification a challenge ever had; results name the version they used."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="spec_versions")
    version = models.PositiveIntegerField()
    spec = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["challenge", "version"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "version"], name="uniq_spec_version"),
        ]

    def __str__(self) -> str:
        return f"{self.challenge} spec v{self.version}"


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
    pids = models.PositiveIntegerField(_("process limit"), default=256)
    output_files = models.PositiveIntegerField(_("output file limit"), default=10_000)
    shards = models.PositiveSmallIntegerField(
        _("parallel runs"), default=1,
        help_text=_("Split the cases over this many containers run side by side."),
    )
    leaderboard_visibility = models.CharField(
        max_length=16, choices=LeaderboardVisibility.choices, default=LeaderboardVisibility.LIVE
    )
    results_published = models.BooleanField(default=False)
    truth_version = models.PositiveIntegerField(
        default=1, help_text=_("Ground truth rows of this version are the current truth.")
    )

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
    shape = models.JSONField(
        null=True, blank=True,
        help_text=_("The image's shape: [rows, columns], or [frames, rows, columns]."),
    )
    vendor = models.CharField(_("vendor"), max_length=64, blank=True,
                              help_text=_("The device manufacturer, kept by de-identification."))
    site = models.CharField(_("site"), max_length=64, blank=True,
                            help_text=_("A label the data steward gives the sending site."))
    deid_summary = models.JSONField(
        default=dict, blank=True,
        help_text=_("What de-identification did to the case's files: action counts, no values."),
    )
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
    """A case's truth in one version. Rows are never edited: a change makes a new version."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="truths")
    version = models.PositiveIntegerField(default=1)
    value = models.JSONField(help_text=_("A label, grade, number, or a reference to a mask file."))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "version"], name="uniq_truth_version"),
        ]

    def __str__(self) -> str:
        return f"{self.case} v{self.version}"


class RegistrationStatus(models.TextChoices):
    PENDING = "pending", _("waiting for the society")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn by the team")


class Registration(models.Model):
    """A team's registration for a challenge; only an approved team may submit."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE,
                                  related_name="registrations")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE,
                             related_name="registrations")
    status = models.CharField(_("status"), max_length=16, choices=RegistrationStatus.choices,
                              default=RegistrationStatus.PENDING)
    message = models.TextField(_("message to the society"), blank=True, max_length=2000)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    decision_reason = models.TextField(_("reason"), blank=True, max_length=2000)
    created = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["challenge", "created"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "team"], name="uniq_registration"),
        ]

    def __str__(self) -> str:
        return f"{self.team} @ {self.challenge} ({self.status})"


class HeldStatus(models.TextChoices):
    PENDING = "pending", _("waiting for review")
    APPROVED = "approved", _("approved: added to the cases")
    REJECTED = "rejected", _("rejected: deleted")


class HeldImage(models.Model):
    """A de-identified image at risk of burned-in text (de-identification step 7), held out of the
    case set until a society data steward has looked at its pixels. Only the de-identified bytes
    are stored (under `held/`); approval moves them into the case set, rejection deletes them.
    The row stays as the record of the decision."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="held_images")
    case_id = models.CharField(max_length=64)
    file_name = models.CharField(max_length=128)
    kind = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    storage_key = models.CharField(max_length=255, blank=True,
                                   help_text=_("Empty once the bytes were moved or deleted."))
    reason = models.CharField(_("reason"), max_length=32)
    pixels_masked = models.BooleanField(
        _("pixels masked"), default=False,
        help_text=_("Everything outside the ultrasound regions was blacked out automatically."))
    modality = models.CharField(max_length=16, blank=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    shape = models.JSONField(null=True, blank=True)
    vendor = models.CharField(max_length=64, blank=True)
    site = models.CharField(max_length=64, blank=True)
    deid_summary = models.JSONField(default=dict, blank=True)
    label = models.JSONField(null=True, blank=True,
                             help_text=_("The ground truth sent with it, applied on approval."))
    source = models.CharField(max_length=16, default="import",
                              help_text=_("import, dicom (the C-STORE receiver) or api."))
    status = models.CharField(_("status"), max_length=16, choices=HeldStatus.choices,
                              default=HeldStatus.PENDING, db_index=True)
    held_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decision_reason = models.TextField(_("reason for the decision"), blank=True, max_length=2000)
    created = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "case_id", "file_name"],
                                    condition=models.Q(status="pending"),
                                    name="uniq_pending_held_file"),
        ]

    def __str__(self) -> str:
        return f"held {self.case_id}/{self.file_name} ({self.status})"


class ImportBatch(models.Model):
    """What one imaging task did for a case import (`challenges.services_import`): the per-file
    metadata of the de-identified files it stored content-addressed (never values from the
    original headers: remapped UIDs, sizes, counts), the keys it wrote and the problems it met.

    Rows are written by the worker when its batch is done (so the importer, which has no result
    backend to ask, polls for them) and deleted by the import that used them; a row left over by
    an import that gave up is removed, with the files only it wrote, by `import_batches_sweep`."""

    job = models.UUIDField(db_index=True)
    index = models.PositiveIntegerField()
    phase_pk = models.PositiveBigIntegerField(
        help_text=_("The phase imported into; not a foreign key, so that a worker's insert never "
                    "waits on a lock the importing transaction holds on the phase."))
    files = models.JSONField(default=list)
    stored = models.JSONField(default=list)
    problems = models.JSONField(default=list)
    worker = models.CharField(max_length=255, blank=True,
                              help_text=_("host:pid of the process that de-identified the batch."))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="uniq_import_batch"),
        ]

    def __str__(self) -> str:
        return f"import {self.job} batch {self.index}"
