"""Writes of the guided challenge set-up: a draft challenge edited step by step, its phases, and
publishing it. (A sibling of `challenges.services`, which holds creation for scripts, imports and
registrations.)

Every function here is one transaction: it checks everything first and stores all of its change
or none of it, audited. Only the society's admins and operators may call them; each checks.
Which label sets a task type takes: `challenges.contract.label_set_check`.
"""

import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Society, User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.contract import label_set_check
from challenges.errors import ChallengeRejected, ImportRejected
from challenges.models import Challenge, GroundTruth, Phase
from challenges.services import ImportReport, cases_import
from challenges.truths import TruthReport, lesions_import, masks_import
from config.errors import Conflict, DomainError, Forbidden

BINARY = "binary-classification"
CHALLENGE_FIELDS = frozenset({"title", "description", "modality", "task_type", "labels",
                              "positive_label", "registration_mode"})
_TASK_FIELDS = frozenset({"task_type", "labels", "positive_label"})
PHASE_FIELDS = frozenset({"title", "is_hidden", "opens_at", "closes_at", "submission_limit",
                          "limit_window_hours", "wall_seconds", "memory_mb", "cpus", "gpus",
                          "output_mb", "pids", "output_files", "shards",
                          "leaderboard_visibility"})


def labels_problem(*, task_type: str, labels: list[str], positive_label: str) -> str | None:
    """What is wrong with `labels` for `task_type` (a translated sentence), or None: the rule of
    `challenges.contract.label_set_check`."""
    try:
        label_set_check(task_type=task_type, labels=labels, positive_label=positive_label)
    except DomainError as exc:
        return exc.message
    return None


def _require_manager(actor: User, society: Society) -> None:
    if not can_manage_society(actor, society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))


def _check_challenge_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - CHALLENGE_FIELDS
    if unknown:
        raise ChallengeRejected("bad_field", _("Unknown fields: %(names)s") % {
            "names": ", ".join(sorted(unknown))})
    problem = labels_problem(task_type=fields.get("task_type", BINARY),
                             labels=list(fields.get("labels", [])),
                             positive_label=fields.get("positive_label", ""))
    if problem:
        raise ChallengeRejected("bad_labels", problem)


@transaction.atomic
def challenge_draft_create(*, actor: User, society: Society, slug: str,
                           **fields: Any) -> Challenge:
    """A new, unpublished challenge of `society` with the given CHALLENGE_FIELDS. Its metric
    spec is empty (the default for binary tasks) until the metrics step saves one."""
    _require_manager(actor, society)
    _check_challenge_fields(fields)
    taken = ChallengeRejected("slug_taken", _("A challenge with this short name exists already."))
    if Challenge.objects.filter(slug=slug).exists():
        raise taken
    try:
        with transaction.atomic():
            challenge = Challenge.objects.create(society=society, slug=slug, is_published=False,
                                                 **fields)
    except IntegrityError as exc:  # taken meanwhile
        raise taken from exc
    audit_record(actor=actor, action="challenge.create", target_type="challenge",
                 target_id=challenge.pk, detail={"slug": slug, "society": society.slug})
    return challenge


def challenge_has_truth(challenge: Challenge) -> bool:
    return GroundTruth.objects.filter(case__phase__challenge=challenge).exists()


@transaction.atomic
def challenge_update(*, challenge: Challenge, actor: User, **fields: Any) -> Challenge:
    """Change some of CHALLENGE_FIELDS. The task type and label set are fixed once the challenge
    is published or holds ground truth (truth rows were checked against them)."""
    _require_manager(actor, challenge.society)
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    merged = {name: getattr(challenge, name) for name in CHALLENGE_FIELDS} | fields
    _check_challenge_fields(merged)
    changed = sorted(name for name, value in fields.items() if getattr(challenge, name) != value)
    if not changed:
        return challenge
    if set(changed) & _TASK_FIELDS and (challenge.is_published or challenge_has_truth(challenge)):
        raise Conflict("task_fixed", _("The task type and labels cannot change once the "
                                       "challenge is published or has ground truth."))
    for name in changed:
        setattr(challenge, name, fields[name])
    challenge.save(update_fields=changed)
    audit_record(actor=actor, action="challenge.update", target_type="challenge",
                 target_id=challenge.pk, detail={"fields": changed})
    return challenge


# The operators' caps on a phase's run limits: field -> setting (config/settings.py).
RUN_LIMIT_CAPS = {
    "wall_seconds": "ENCLAVE_MAX_RUN_SECONDS", "memory_mb": "ENCLAVE_MAX_RUN_MEMORY_MB",
    "cpus": "ENCLAVE_MAX_RUN_CPUS", "gpus": "ENCLAVE_MAX_RUN_GPUS",
    "output_mb": "ENCLAVE_MAX_RUN_OUTPUT_MB", "pids": "ENCLAVE_MAX_RUN_PIDS",
    "output_files": "ENCLAVE_MAX_RUN_OUTPUT_FILES", "shards": "ENCLAVE_MAX_RUN_SHARDS",
}


def run_limit_cap(field: str) -> float:
    """The platform's cap on the phase's `field` (a key of RUN_LIMIT_CAPS), read at call time."""
    cap: float = getattr(settings, RUN_LIMIT_CAPS[field])
    return cap


def run_limit_problem(field: str, value: Any) -> str | None:
    """Why `value` may not be the phase's `field` on this platform (a sentence), or None."""
    if field not in RUN_LIMIT_CAPS or value is None:
        return None
    cap = run_limit_cap(field)
    if value <= cap:
        return None
    return _("At most %(cap)s on this platform (a limit its operators set).") % {
        "cap": f"{cap:g}"}


def _check_phase_fields(fields: dict[str, Any], *, current: Phase | None = None) -> None:
    unknown = set(fields) - PHASE_FIELDS
    if unknown:
        raise ChallengeRejected("bad_field", _("Unknown fields: %(names)s") % {
            "names": ", ".join(sorted(unknown))})
    for name, value in fields.items():
        unchanged = current is not None and getattr(current, name) == value
        problem = None if unchanged else run_limit_problem(name, value)
        if problem:
            raise ChallengeRejected("limit_above_cap", f"{name}: {problem}")
    opens: datetime | None = fields.get("opens_at")
    closes: datetime | None = fields.get("closes_at")
    if opens is not None and closes is not None and closes <= opens:
        raise ChallengeRejected("bad_dates", _("The phase must close after it opens."))


@transaction.atomic
def phase_add(*, challenge: Challenge, actor: User, slug: str, **fields: Any) -> Phase:
    """A new phase of `challenge` with the given PHASE_FIELDS (the rest take their defaults)."""
    _require_manager(actor, challenge.society)
    _check_phase_fields(fields)
    Challenge.objects.select_for_update().filter(pk=challenge.pk).first()
    taken = ChallengeRejected("slug_taken", _("This challenge has a phase “%(slug)s” "
                                              "already.") % {"slug": slug})
    if challenge.phases.filter(slug=slug).exists():
        raise taken
    try:
        with transaction.atomic():
            phase = Phase.objects.create(challenge=challenge, slug=slug, **fields)
    except IntegrityError as exc:  # taken meanwhile
        raise taken from exc
    audit_record(actor=actor, action="phase.create", target_type="phase", target_id=phase.pk,
                 detail={"challenge": challenge.slug, "slug": slug})
    return phase


@transaction.atomic
def phase_update(*, phase: Phase, actor: User, **fields: Any) -> Phase:
    """Change some of PHASE_FIELDS; the dates are checked together with the stored ones. A
    hidden phase that has cases stays hidden: making it public would hand its cases to teams."""
    _require_manager(actor, phase.challenge.society)
    phase = Phase.objects.select_for_update().select_related("challenge__society").get(pk=phase.pk)
    merged = {"opens_at": phase.opens_at, "closes_at": phase.closes_at} | fields
    _check_phase_fields(merged, current=phase)
    changed = sorted(name for name, value in fields.items() if getattr(phase, name) != value)
    if not changed:
        return phase
    if phase.is_hidden and fields.get("is_hidden") is False and phase.cases.exists():
        raise Conflict("hidden_cases", _("This phase has hidden cases: it cannot become public, "
                                         "as teams would then download them."))
    for name in changed:
        setattr(phase, name, fields[name])
    phase.save(update_fields=changed)
    audit_record(actor=actor, action="phase.update", target_type="phase", target_id=phase.pk,
                 detail={"fields": changed})
    return phase


@transaction.atomic
def challenge_publish(*, challenge: Challenge, actor: User) -> Challenge:
    """Make the challenge visible to everyone. It needs a phase; the caller checks its metric
    spec first (`evaluation.services.setup.challenge_publish_checked`). Idempotent."""
    _require_manager(actor, challenge.society)
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if challenge.is_published:
        return challenge
    if not challenge.phases.exists():
        raise Conflict("no_phases", _("Add a phase before publishing the challenge."))
    challenge.is_published = True
    challenge.save(update_fields=["is_published"])
    audit_record(actor=actor, action="challenge.publish", target_type="challenge",
                 target_id=challenge.pk, detail={"phases": challenge.phases.count()})
    return challenge


@dataclass(frozen=True)
class DataImportReport:
    cases: ImportReport
    truths: TruthReport | None = None
    truth_kind: str = ""  # "masks" or "lesions" when `truths` is set


_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


def phase_data_import(*, phase: Phase, actor: User, cases_path: Path,
                      labels_path: Path | None = None, masks_path: Path | None = None,
                      lesions_path: Path | None = None) -> DataImportReport:
    """The wizard's data step: the cases (and labels) of `cases_path` (`cases_import`), then the
    segmentation masks (a zip, `masks_import`) or detection lesions (a JSON file,
    `lesions_import`) of those cases and of cases imported earlier. One transaction: when any
    part is refused (ImportRejected), no row and no stored file of the import remains."""
    _require_manager(actor, phase.challenge.society)
    stored: list[str] = []
    try:
        with transaction.atomic():
            cases = cases_import(phase=phase, path=cases_path, labels_path=labels_path,
                                 actor=actor, stored=stored)
            truths, kind = None, ""
            if masks_path is not None:
                truths, kind = masks_import(phase=phase, path=masks_path, actor=actor), "masks"
            if lesions_path is not None:
                truths, kind = lesions_import(phase=phase, path=lesions_path,
                                              actor=actor), "lesions"
    except _DAMAGED_ZIP as exc:
        _delete(stored)
        raise ImportRejected("bad_zip", _("A zip file is damaged: one of its files cannot be "
                                          "read.")) from exc
    except BaseException:
        _delete(stored)
        raise
    return DataImportReport(cases=cases, truths=truths, truth_kind=kind)


def _delete(keys: list[str]) -> None:
    for key in keys:
        default_storage.delete(key)
