"""The evaluation side of the guided challenge set-up: is the challenge's metric spec ready,
what would sample predictions score, and publishing once everything is in place.

`predictions_preview` is the scoring of a run without the run: the same output checks
(`evaluation.services.outputs`), the same truth (`ground_truth_for_scoring`), the same engine
inputs (`scoring.case_data`) and engine (`evaluate`), and nothing stored but an audit event (it
reads the phase's ground truth). Segmentation masks are checked and scored in memory.
"""

import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.models import Case, Challenge, Phase
from challenges.selectors import ground_truth_for_scoring
from challenges.services_setup import challenge_publish
from config.errors import Conflict, DomainError, Forbidden
from evaluation.metrics.engine import Evaluation, evaluate
from evaluation.metrics.formats import FormatError
from evaluation.metrics.spec import SpecError, parse_spec
from evaluation.models import FailureReason
from evaluation.services.outputs import ShapeUnknown, read_outputs, validated_masks
from evaluation.services.runs import Failure
from evaluation.services.scoring import MaskLoader, case_data
from evaluation.services.specs import spec_dict_of, spec_of

MiB = 1024 * 1024
MAX_PREDICTIONS_BYTES = 16 * MiB  # a sample predictions.json
MAX_PREVIEW_ZIP_BYTES = 256 * MiB  # a sample zip of masks, as uploaded
MAX_PREVIEW_UNPACKED_BYTES = 1024 * MiB  # ... and unpacked (the phase's output limit if lower)
_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


class PreviewRejected(DomainError):
    """Sample predictions that could not be scored; the message says which rule they broke."""


def spec_problems(challenge: Challenge) -> list[str]:
    """Why the challenge's current spec cannot score it (empty when it can): the validator's
    problems, or a spec written for another task type or label set."""
    try:
        spec = parse_spec(spec_dict_of(challenge))
    except SpecError as exc:
        return list(exc.problems)
    problems = []
    if spec.task != challenge.task_type:
        problems.append(_("The metric specification is for another task type: save the metrics "
                          "step again."))
    elif list(spec.labels) != list(challenge.labels) or (
            spec.task == "binary-classification" and spec.positive_label != challenge.positive_label):
        problems.append(_("The metric specification names other labels than the challenge: "
                          "save the metrics step again."))
    return problems


def setup_problems(challenge: Challenge) -> tuple[list[str], list[str]]:
    """(what stops publishing, what is worth a look) for the review step."""
    blocking = spec_problems(challenge)
    warnings = []
    phases = list(challenge.phases.order_by("id"))
    if not phases:
        blocking.append(_("The challenge has no phase yet."))
    for phase in phases:
        n_cases = phase.cases.count()
        n_truth = len(ground_truth_for_scoring(phase))
        if not n_cases:
            warnings.append(_("Phase “%(phase)s” has no cases yet.") % {"phase": phase.slug})
        elif n_truth < n_cases:
            warnings.append(_("Phase “%(phase)s”: %(missing)d of %(n)d cases have no ground truth; "
                              "its submissions cannot be scored.") % {
                "phase": phase.slug, "missing": n_cases - n_truth, "n": n_cases})
    return blocking, warnings


def challenge_publish_checked(*, challenge: Challenge, actor: User) -> Challenge:
    """Publish the challenge when nothing blocks it (see `setup_problems`)."""
    if not can_manage_society(actor, challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))
    blocking, _warnings = setup_problems(challenge)
    if blocking:
        raise Conflict("not_ready", " ".join(blocking))
    return challenge_publish(challenge=challenge, actor=actor)


def preview_row(evaluation: Evaluation) -> list[dict[str, object]]:
    """The leaderboard's columns for a previewed evaluation, primary first (the wizard's
    preview and the API show the same)."""
    rows = [{**m.as_dict(), "primary": key == evaluation.primary}
            for key, m in evaluation.metrics.items()]
    return sorted(rows, key=lambda row: not row["primary"])


def _unpack_masks(path: Path, folder: Path, phase: Phase) -> None:
    """Unpack the zip at `path` flat into `folder`, as a run's /output would hold the masks:
    plain files under their own names, at most the phase's output file count and size (and
    MAX_PREVIEW_UNPACKED_BYTES), counted as they inflate (the zip's headers are not trusted)."""
    if not zipfile.is_zipfile(path):
        raise PreviewRejected("bad_zip", _(
            "The sample predictions of a segmentation challenge are a zip file of masks, one "
            "per case: <case id>.png, .npy, .nii or .nii.gz."))
    max_bytes = min(phase.output_mb * MiB, MAX_PREVIEW_UNPACKED_BYTES)
    too_large = PreviewRejected("too_large", _(
        "The unpacked masks exceed %(mb)d MiB, the output limit of a run of this phase.")
        % {"mb": max_bytes // MiB})
    total, count = 0, 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = PurePosixPath(info.filename).name
                if (info.is_dir() or not name or name.startswith(".")
                        or info.filename.startswith("__MACOSX/")):
                    continue
                if "\\" in name or "\x00" in name:
                    raise PreviewRejected("bad_zip", _("A file name in the zip is not allowed."))
                if info.flag_bits & 0x1:
                    raise PreviewRejected("bad_zip", _("%(name)s is encrypted; send it without "
                                                       "a password.") % {"name": name[:80]})
                count += 1
                if count > phase.output_files:
                    raise PreviewRejected("too_many_files", _(
                        "The zip holds more than %(n)d files, the output file limit of a run of "
                        "this phase.") % {"n": phase.output_files})
                if info.file_size > max_bytes - total:
                    raise too_large
                try:
                    sink = (folder / name).open("xb")
                except FileExistsError as exc:
                    raise PreviewRejected("bad_zip", _("%(name)s appears twice in the zip.")
                                          % {"name": name[:80]}) from exc
                with archive.open(info) as source, sink:
                    while chunk := source.read(MiB):
                        total += len(chunk)
                        if total > max_bytes:
                            raise too_large
                        sink.write(chunk)
    except _DAMAGED_ZIP as exc:
        raise PreviewRejected("bad_zip", _("The zip file is damaged: one of its files cannot be "
                                           "read.")) from exc


def _masks_in_memory(masks: dict[str, np.ndarray]) -> tuple[dict[str, Any], MaskLoader]:
    """Predictions referring to checked masks held in memory (nothing stored), and a loader
    that hands them to the scoring code as if it had read them from storage."""
    loader = MaskLoader()
    entries: dict[str, Any] = {}
    for case_id, mask in masks.items():
        key = f"preview/{case_id}"
        loader.loaded[key] = mask
        entries[case_id] = {"mask": {"storage_key": key}}
    return entries, loader


def _checked_outputs(phase: Phase, path: Path, cases: list[Case],
                     task: str) -> tuple[dict[str, Any], MaskLoader | None]:
    """The sample's predictions, through the output checks of a real run
    (`evaluation.services.outputs`) on a temporary folder laid out as a run's /output."""
    with tempfile.TemporaryDirectory(prefix="enclave-preview-") as tmp:
        folder = Path(tmp)
        try:
            if task == "segmentation":
                _unpack_masks(path, folder, phase)
                found: Any = validated_masks(phase, folder, cases)
            else:
                if path.stat().st_size > MAX_PREDICTIONS_BYTES:
                    raise PreviewRejected("too_large", _("predictions.json is larger than 16 "
                                                         "MiB."))
                shutil.copyfile(path, folder / "predictions.json")
                found = read_outputs(phase, folder, cases)
        except ShapeUnknown as exc:
            raise PreviewRejected("no_shape", _(
                "The image of a case cannot be read for its shape: import the case again."),
            ) from exc
    if isinstance(found, Failure):
        if found.reason == FailureReason.OUTPUT_MISSING:
            raise PreviewRejected("bad_predictions", _(
                "No mask named after a case of this phase (<case id>.png, .npy, .nii or "
                ".nii.gz) is in the zip."))
        raise PreviewRejected("bad_predictions", found.detail)
    if task == "segmentation":
        return _masks_in_memory(found)
    return found, None


def predictions_preview(*, phase: Phase, path: Path, actor: User) -> Evaluation:
    """Score the sample predictions at `path` on every case of `phase`, against its current
    ground truth and the challenge's current spec, as a run's outputs would be; store nothing.

    A predictions.json for label-like tasks and detection; a zip of masks (one per case, named
    <case id>.png, .npy, .nii or .nii.gz) for segmentation. Both pass the same output checks as a
    run (`evaluation.services.outputs`) and the same scoring (`scoring.case_data`, `evaluate`)."""
    if not can_manage_society(actor, phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))
    challenge = phase.challenge
    if spec_problems(challenge):
        raise PreviewRejected("bad_spec", _("Fix the metric specification first."))
    spec = spec_of(challenge)
    cases = list(phase.cases.prefetch_related("files").order_by("case_id"))
    if not cases:
        raise PreviewRejected("no_cases", _("This phase has no cases yet."))
    truth_values = ground_truth_for_scoring(phase)
    missing = sum(1 for case in cases if case.case_id not in truth_values)
    if missing:
        raise PreviewRejected("no_truth", _(
            "%(missing)d of %(n)d cases have no ground truth yet: import it in the data step "
            "first.") % {"missing": missing, "n": len(cases)})
    entries, masks = _checked_outputs(phase, path, cases, spec.task)
    with transaction.atomic():
        try:
            truth, predictions = case_data(spec, cases, truth_values, entries, masks)
            evaluation = evaluate(spec, truth, predictions)
        except FormatError as exc:
            raise PreviewRejected("bad_predictions", exc.rule) from exc
        except (ValueError, TypeError, KeyError, OSError) as exc:  # e.g. no spacing, a parameter
            raise PreviewRejected("engine_error", _(
                "The metrics could not be computed with this specification (%(error)s).") % {
                    "error": f"{type(exc).__name__}: {str(exc)[:200]}"}) from exc
        audit_record(actor=actor, action="phase.preview", target_type="phase", target_id=phase.pk,
                     detail={"cases": len(cases), "spec_version": challenge.metric_version,
                             "truth_version": phase.truth_version})
    return evaluation
