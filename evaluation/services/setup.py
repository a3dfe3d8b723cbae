"""The evaluation side of the guided challenge set-up: is the challenge's metric spec ready,
what would a sample predictions.json score, and publishing once everything is in place.

`predictions_preview` is the scoring of a run without the run: the same contract check
(`predictions_from_json`), the same truth (`ground_truth_for_scoring`) and the same engine
(`evaluate`), and nothing stored but an audit event (it reads the phase's ground truth).
"""

from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.models import Challenge, Phase
from challenges.selectors import ground_truth_for_scoring
from challenges.services_setup import challenge_publish
from config.errors import Conflict, DomainError, Forbidden
from evaluation.metrics.engine import Evaluation, evaluate
from evaluation.metrics.formats import FormatError, predictions_from_json, truth_from_values
from evaluation.metrics.spec import SpecError, parse_spec
from evaluation.services.specs import spec_dict_of, spec_of
from sandbox.errors import OutputInvalid
from sandbox.outputs import read_json_output

MAX_PREDICTIONS_BYTES = 16 * 1024 * 1024


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


def _case_ids(phase: Phase) -> tuple[str, ...]:
    return tuple(phase.cases.order_by("case_id").values_list("case_id", flat=True))


def predictions_preview(*, phase: Phase, path: Path, actor: User) -> Evaluation:
    """Score the predictions.json at `path` on every case of `phase`, against its current ground
    truth and the challenge's current spec, as a run's outputs would be; store nothing."""
    if not can_manage_society(actor, phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))
    challenge = phase.challenge
    if spec_problems(challenge):
        raise PreviewRejected("bad_spec", _("Fix the metric specification first."))
    spec = spec_of(challenge)
    if spec.task == "segmentation":
        raise PreviewRejected("no_json", _("Segmentation outputs are mask files: the preview "
                                           "takes a predictions.json (label-like tasks and "
                                           "detection)."))
    case_ids = _case_ids(phase)
    if not case_ids:
        raise PreviewRejected("no_cases", _("This phase has no cases yet."))
    try:
        data: Any = read_json_output(path, max_bytes=MAX_PREDICTIONS_BYTES)
    except OutputInvalid as exc:
        raise PreviewRejected("bad_json", _("predictions.json: %(rule)s") % {
            "rule": exc.rule}) from exc
    with transaction.atomic():
        truth_values = ground_truth_for_scoring(phase)
        try:
            predictions = predictions_from_json(spec, data, case_ids)
            truth = truth_from_values(spec, truth_values, case_ids)
            evaluation = evaluate(spec, truth, predictions)
        except FormatError as exc:
            raise PreviewRejected("bad_predictions", exc.rule) from exc
        except (ValueError, TypeError, KeyError) as exc:  # a parameter the spec lacks
            raise PreviewRejected("engine_error", _(
                "The metrics could not be computed with this specification (%(error)s).") % {
                    "error": f"{type(exc).__name__}: {str(exc)[:200]}"}) from exc
        audit_record(actor=actor, action="phase.preview", target_type="phase", target_id=phase.pk,
                     detail={"cases": len(case_ids), "spec_version": challenge.metric_version,
                             "truth_version": phase.truth_version})
    return evaluation
