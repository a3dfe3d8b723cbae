"""The society's view of a challenge's data (`challenge_data_report`): per phase, how many
cases, files and bytes; how many cases have ground truth in the current version and, for
classification tasks, how its labels are spread; the cases by modality, vendor and site; what
de-identification did (action counts summed over the cases, leak scans included); how many
cases arrived per day; and how many images wait in the pixel-review queue (`selectors_held`).

For the owning society's admins, data stewards and physicians, and operators; everyone else reads
"not found". Every read is audited ("data.page_viewed"). Everything is counted in the database: the
number of queries does not grow with the number of cases.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import transaction
from django.db.models import Count, F, IntegerField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.permissions import AnyUser, can_see_hidden_data
from audit.services import audit_record
from challenges.errors import ChallengeNotFound
from challenges.models import (
    Case,
    CaseFile,
    Challenge,
    GroundTruth,
    HeldImage,
    HeldStatus,
    Phase,
    TaskType,
)
from imaging.deid import ACTION_COUNT_KEYS

LABEL_TASKS = frozenset({TaskType.BINARY_CLASSIFICATION, TaskType.MULTICLASS_CLASSIFICATION})
DEID_ACTION_LABELS = {
    "files": gettext_lazy("files de-identified"),
    "attributes_kept": gettext_lazy("DICOM attributes kept"),
    "attributes_removed": gettext_lazy("DICOM attributes removed"),
    "private_removed": gettext_lazy("private attributes removed"),
    "overlays_curves_removed": gettext_lazy("overlays and curves removed"),
    "dates_shifted": gettext_lazy("dates shifted"),
    "dates_emptied": gettext_lazy("unparsable dates emptied"),
    "uids_remapped": gettext_lazy("UIDs remapped"),
    "patients_pseudonymised": gettext_lazy("files with a pseudonymised patient"),
    "ages_capped": gettext_lazy("ages capped at 90"),
    "ages_removed": gettext_lazy("unparsable ages removed"),
    "rasters_reencoded": gettext_lazy("PNG/JPEG files re-encoded from pixels"),
    "metadata_entries_removed": gettext_lazy("PNG/JPEG metadata entries removed"),
    "exif_removed": gettext_lazy("files with EXIF removed"),
    "icc_profiles_removed": gettext_lazy("ICC profiles removed"),
    "leak_scans": gettext_lazy("files leak-scanned after writing"),
    "leak_scan_hits": gettext_lazy("leaks found by the scan"),
    "pixel_reviews": gettext_lazy("files admitted after a steward's pixel review"),
    "pixels_masked": gettext_lazy("files with pixels outside the ultrasound regions blacked out"),
}


@dataclass
class PhaseData:
    phase: Phase
    cases: int = 0
    files: int = 0
    size_bytes: int = 0
    with_truth: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    modalities: dict[str, int] = field(default_factory=dict)
    vendors: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    deid: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)  # ISO date -> cases imported
    held_pending: int = 0  # images waiting for a data steward's pixel review

    @property
    def without_truth(self) -> int:
        return self.cases - self.with_truth

    @property
    def deid_rows(self) -> list[tuple[str, str, int]]:
        """(action, label, count) in a fixed order, every action listed (zeros too)."""
        return [(key, str(DEID_ACTION_LABELS[key]), self.deid.get(key, 0))
                for key in ACTION_COUNT_KEYS]

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.phase.slug, "title": self.phase.title, "is_hidden": self.phase.is_hidden,
            "truth_version": self.phase.truth_version, "cases": self.cases, "files": self.files,
            "bytes": self.size_bytes, "cases_with_truth": self.with_truth,
            "labels": self.labels, "modalities": self.modalities, "vendors": self.vendors,
            "sites": self.sites, "deid_actions": {key: count for key, _, count in self.deid_rows},
            "imported_per_day": self.per_day, "held_pending": self.held_pending,
        }


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _label(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def challenge_data_report(user: AnyUser, challenge: Challenge, *, via: str) -> list[PhaseData]:
    """The data report of every phase of `challenge` (see the module), for the owning society's
    hidden-data roles and operators; ChallengeNotFound for everyone else. `via` ("web", "api")
    goes into the audit record. Eight queries, whatever the number of cases."""
    if not can_see_hidden_data(user, challenge.society):
        raise ChallengeNotFound("data_not_found", _("No such page."))
    with transaction.atomic():
        report = {p.pk: PhaseData(phase=p) for p in challenge.phases.order_by("id")}
        cases = Case.objects.filter(phase__challenge=challenge).order_by()
        for row in cases.values("phase", "modality", "vendor", "site").annotate(n=Count("pk")):
            data, n = report[row["phase"]], row["n"]
            data.cases += n
            _add(data.modalities, row["modality"], n)
            _add(data.vendors, row["vendor"], n)
            _add(data.sites, row["site"], n)
        for stored in (CaseFile.objects.filter(case__phase__challenge=challenge).order_by()
                       .values("case__phase").annotate(n=Count("pk"), size=Sum("size_bytes"))):
            report[stored["case__phase"]].files = stored["n"]
            report[stored["case__phase"]].size_bytes = stored["size"] or 0
        truths = GroundTruth.objects.filter(case__phase__challenge=challenge,
                                            version=F("case__phase__truth_version")).order_by()
        # Labels are counted for label tasks; masks and lesion lists differ case by case.
        by_label = challenge.task_type in LABEL_TASKS
        grouped = cast(Iterable[dict[str, Any]], truths.values(
            "case__phase", *(["value"] if by_label else [])).annotate(n=Count("pk")))
        for truth in grouped:
            data = report[truth["case__phase"]]
            data.with_truth += truth["n"]
            if by_label:
                _add(data.labels, _label(truth["value"]), truth["n"])
        sums = {f"deid_{key}": Sum(Cast(KT(f"deid_summary__{key}"), IntegerField()))
                for key in ACTION_COUNT_KEYS}
        summed_rows = cast(Iterable[dict[str, Any]], cases.values("phase").annotate(**sums))
        for summed in summed_rows:
            report[summed["phase"]].deid = {
                key: summed[f"deid_{key}"] or 0 for key in ACTION_COUNT_KEYS}
        for daily in (cases.annotate(day=TruncDate("created")).values("phase", "day")
                      .annotate(n=Count("pk")).order_by("phase", "day")):
            report[daily["phase"]].per_day[daily["day"].isoformat()] = daily["n"]
        for held in (HeldImage.objects.filter(phase__challenge=challenge,
                                              status=HeldStatus.PENDING).order_by()
                     .values("phase").annotate(n=Count("pk"))):
            report[held["phase"]].held_pending = held["n"]
        for data in report.values():
            for name in ("labels", "modalities", "vendors", "sites"):
                counts = getattr(data, name)
                setattr(data, name, dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
        audit_record(actor=user if isinstance(user, User) else None, action="data.page_viewed",
                     target_type="challenge", target_id=challenge.pk,
                     detail={"challenge": challenge.slug, "via": via})
    return list(report.values())
