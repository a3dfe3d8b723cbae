"""Reads for challenges, filtered by who asks.

`access_challenge_by_user` and `access_phase_by_user` are the only way views and APIs get a
challenge or phase: an unpublished challenge is invisible (404) to everyone outside its society.
"""

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import SocietyMembership
from accounts.permissions import AnyUser, can_see_hidden_data, is_operator
from challenges.errors import ChallengeNotFound
from challenges.models import Case, CaseFile, Challenge, GroundTruth, Phase
from config.errors import Forbidden


def challenges_visible_to(user: AnyUser) -> QuerySet[Challenge]:
    qs = Challenge.objects.select_related("society")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.filter(is_published=True)
    societies = SocietyMembership.objects.filter(user=user).values("society")
    return qs.filter(Q(is_published=True) | Q(society__in=societies))


def access_challenge_by_user(user: AnyUser, slug: str) -> Challenge:
    challenge = challenges_visible_to(user).filter(slug=slug).first()
    if challenge is None:
        raise ChallengeNotFound("challenge_not_found",
                                _("No challenge named “%(slug)s”.") % {"slug": slug[:80]})
    return challenge


def access_phase_by_user(user: AnyUser, challenge_slug: str, phase_slug: str) -> Phase:
    """The phase with its challenge and society, in one query when its challenge is published
    (every user sees published challenges; see `challenges_visible_to`); otherwise a second one
    asks `challenges_visible_to`. A missing phase costs a query more, to tell a challenge the
    user may not see (or that does not exist) from a missing phase."""
    phase = Phase.objects.select_related("challenge__society").filter(
        challenge__slug=challenge_slug, slug=phase_slug
    ).order_by().first()
    if phase is not None and not phase.challenge.is_published and not (
            challenges_visible_to(user).filter(pk=phase.challenge_id).exists()):
        phase = None
    if phase is None:
        access_challenge_by_user(user, challenge_slug)  # ChallengeNotFound when not visible
        raise ChallengeNotFound(
            "phase_not_found", _("Challenge “%(challenge)s” has no phase “%(phase)s”.") % {
                "challenge": challenge_slug[:80], "phase": phase_slug[:80]}
        )
    return phase


def phases_of(challenge: Challenge) -> QuerySet[Phase]:
    return challenge.phases.annotate(n_cases=Count("cases")).order_by("id")


def phase_is_open(phase: Phase) -> bool:
    now = timezone.now()
    return (phase.opens_at is None or phase.opens_at <= now) and (
        phase.closes_at is None or now < phase.closes_at
    )


def phase_case_count(phase: Phase) -> tuple[int, int]:
    """(cases, cases with ground truth)."""
    n = phase.cases.count()
    with_truth = GroundTruth.objects.filter(case__phase=phase, version=phase.truth_version).count()
    return n, with_truth


def cases_for_run(phase: Phase) -> Sequence[Case]:
    """Every case of the phase with its files, for staging a run (platform-internal)."""
    return list(phase.cases.prefetch_related("files").order_by("case_id"))


def ground_truth_for_scoring(phase: Phase) -> dict[str, Any]:
    """case_id -> truth value of the current version (platform-internal: scoring only)."""
    return dict(GroundTruth.objects.filter(case__phase=phase, version=phase.truth_version)
                .values_list("case__case_id", "value"))


def cases_visible_to(user: AnyUser, phase: Phase) -> QuerySet[Case]:
    """A phase's cases: public sanity cases for everyone; hidden ones for the society only."""
    if phase.is_hidden and not can_see_hidden_data(user, phase.challenge.society):
        return Case.objects.none()
    return phase.cases.all()


# The /input manifest's contract version; evaluation.services.staging writes the same manifest
# for runs (tests/challenges/test_sanity_download.py holds the two together).
INPUT_CONTRACT = "enclave/v1"


def public_cases_of(phase: Phase) -> Sequence[Case]:
    """The cases of a phase that is not hidden, with their files, in manifest order, so that
    teams can run their image locally on them (`enclave validate`). A hidden phase's cases are
    never handed out through this, to anyone: Forbidden (403)."""
    if phase.is_hidden:
        raise Forbidden("phase_hidden", _("The cases of a hidden phase are never handed out."))
    return list(phase.cases.prefetch_related("files").order_by("case_id"))


def public_case_file(phase: Phase, case_id: str, name: str) -> CaseFile:
    """One stored file of a case of a phase that is not hidden (Forbidden for a hidden phase,
    NotFound when there is no such file)."""
    if phase.is_hidden:
        raise Forbidden("phase_hidden", _("The cases of a hidden phase are never handed out."))
    case_file = CaseFile.objects.filter(case__phase=phase, case__case_id=case_id, name=name).first()
    if case_file is None:
        raise ChallengeNotFound("case_file_not_found", _("No such case file."))
    return case_file


def input_manifest(phase: Phase, cases: Sequence[Case]) -> dict[str, Any]:
    """The manifest.json a run of `cases` finds at /input (docs/container-contract.md)."""
    challenge = phase.challenge
    return {
        "contract": INPUT_CONTRACT,
        "task": {"type": challenge.task_type, "labels": challenge.labels,
                 "positive_label": challenge.positive_label},
        "cases": [
            {"id": case.case_id, "files": [f"{case.case_id}/{f.name}" for f in case.files.all()],
             "modality": case.modality or None, "pixel_spacing": case.pixel_spacing}
            for case in cases
        ],
    }
