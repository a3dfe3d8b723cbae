"""Metric specifications: validated, versioned, audited.

A challenge stores its spec as JSON; an empty spec means the default for its task (version 1).
Every change is a new version recorded in MetricSpecVersion; results name the version they used.
"""

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record
from challenges.models import Challenge, MetricSpecVersion
from config.errors import DomainError
from evaluation.metrics.spec import Spec, SpecError, default_binary_spec, parse_spec
from evaluation.selectors import leaderboard_changed


class SpecRejected(DomainError):
    """A metric specification with problems; the message lists them all."""


def spec_dict_of(challenge: Challenge) -> dict[str, Any]:
    return challenge.metric_spec or default_binary_spec(challenge.labels, challenge.positive_label)


def spec_of(challenge: Challenge) -> Spec:
    return parse_spec(spec_dict_of(challenge))


def validate_spec(spec: Any) -> Spec:
    try:
        return parse_spec(spec)
    except SpecError as exc:
        raise SpecRejected("bad_spec", "; ".join(exc.problems)) from exc


@transaction.atomic
def challenge_spec_update(*, challenge: Challenge, spec: dict[str, Any],
                          actor: User | None = None) -> Challenge:
    """Adopt `spec` as the challenge's next version (a no-op when nothing changed)."""
    parsed = validate_spec(spec)
    if parsed.task != challenge.task_type:
        raise SpecRejected("bad_spec", _("The spec is for another task type."))
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if spec == spec_dict_of(challenge):
        return challenge
    if not MetricSpecVersion.objects.filter(challenge=challenge).exists():
        MetricSpecVersion.objects.create(challenge=challenge, version=challenge.metric_version,
                                         spec=spec_dict_of(challenge))
    challenge.metric_version += 1
    challenge.metric_spec = spec
    challenge.save(update_fields=["metric_version", "metric_spec"])
    MetricSpecVersion.objects.create(challenge=challenge, version=challenge.metric_version,
                                     spec=spec)
    leaderboard_changed(phase_ids=challenge.phases.values_list("pk", flat=True))
    audit_record(actor=actor, action="challenge.spec", target_type="challenge",
                 target_id=challenge.pk, detail={"version": challenge.metric_version})
    return challenge
