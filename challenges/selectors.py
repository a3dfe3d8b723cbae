"""Reads for challenges, filtered by who asks.

`access_challenge_by_user` and `access_phase_by_user` are the only way views and APIs get a
challenge or phase: an unpublished challenge is invisible (404) to everyone outside its society.
"""

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Society, SocietyMembership, SocietyRole, Team
from accounts.permissions import (
    AnyUser,
    can_see_hidden_data,
    is_operator,
    is_team_member,
    society_roles,
)
from challenges.contract import output_contract
from challenges.errors import ChallengeNotFound, RegistrationNotFound
from challenges.models import (
    Case,
    CaseFile,
    Challenge,
    GroundTruth,
    Phase,
    Registration,
    RegistrationStatus,
)
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
                 "positive_label": challenge.positive_label or None,
                 "output": output_contract(challenge)},
        "cases": [
            {"id": case.case_id, "files": [f"{case.case_id}/{f.name}" for f in case.files.all()],
             "modality": case.modality or None, "pixel_spacing": case.pixel_spacing,
             "shape": case.shape}
            for case in cases
        ],
    }


# --- team registrations ----------------------------------------------------------------------

def can_view_registrations(user: AnyUser, society: Society) -> bool:
    """Operators and every role of the society see its registrations (read-only unless they
    manage it: see `challenges.services.registration_decide`)."""
    return is_operator(user) or bool(society_roles(user, society))


def _registrations() -> QuerySet[Registration]:
    return Registration.objects.select_related(
        "challenge__society", "team", "requested_by", "decided_by")


def team_is_registered(team: Team, challenge: Challenge) -> bool:
    """Whether the team's registration for the challenge is approved (platform-internal)."""
    return Registration.objects.filter(challenge=challenge, team=team,
                                       status=RegistrationStatus.APPROVED).exists()


def registrations_of_team(user: AnyUser, team: Team) -> QuerySet[Registration]:
    """A team's registrations, newest first, for its members; nothing for anyone else. Draft
    challenges the user may not see are left out."""
    if not is_team_member(user, team):
        return Registration.objects.none()
    return _registrations().filter(
        team=team, challenge__in=challenges_visible_to(user)).order_by("-created", "-id")


def registrations_of_society(user: AnyUser, society: Society, *,
                             status: str = "") -> QuerySet[Registration]:
    """Every registration for the society's challenges (optionally of one status, e.g. the
    pending requests), oldest first; nothing for people outside the society."""
    if not can_view_registrations(user, society):
        return Registration.objects.none()
    qs = _registrations().filter(challenge__society=society)
    return (qs.filter(status=status) if status else qs).order_by("created", "id")


def registrations_for_challenge(user: AnyUser, challenge: Challenge, *,
                                status: str = "") -> QuerySet[Registration]:
    """The society side (and operators) see every registration for the challenge; anyone else
    only those of their own teams."""
    qs = _registrations().filter(challenge=challenge)
    if not can_view_registrations(user, challenge.society):
        qs = qs.filter(team__memberships__user=user) if user.is_authenticated else qs.none()
    return (qs.filter(status=status) if status else qs).order_by("created", "id")


def access_registration_by_user(user: AnyUser, pk: int) -> Registration:
    """A registration of one of the user's teams, or of a challenge of a society where the user
    has a role (operators: any); anything else reads as not found."""
    registration = _registrations().filter(pk=pk).first()
    if registration is None or not (
            is_team_member(user, registration.team)
            or can_view_registrations(user, registration.challenge.society)) or not (
            challenges_visible_to(user).filter(pk=registration.challenge_id).exists()):
        raise RegistrationNotFound("registration_not_found", _("No such registration."))
    return registration


# --- the guided set-up: what a society admin manages ------------------------------------------

def societies_managed_by(user: AnyUser) -> QuerySet[Society]:
    """Societies whose challenges the user creates and edits: every one for operators, those
    where the user is an admin for everyone else."""
    if is_operator(user):
        return Society.objects.order_by("slug")
    if not user.is_authenticated:
        return Society.objects.none()
    return Society.objects.filter(memberships__user=user,
                                  memberships__role=SocietyRole.ADMIN).distinct().order_by("slug")


def challenges_managed_by(user: AnyUser) -> QuerySet[Challenge]:
    """Drafts and published challenges of the societies the user manages, newest first."""
    return Challenge.objects.select_related("society").filter(
        society__in=societies_managed_by(user)).order_by("-created", "-id")


def access_challenge_for_manager(user: AnyUser, slug: str) -> Challenge:
    """A challenge the user may edit; anyone else is told it does not exist."""
    challenge = challenges_managed_by(user).filter(slug=slug).first()
    if challenge is None:
        raise ChallengeNotFound("challenge_not_found",
                                _("No challenge named “%(slug)s”.") % {"slug": slug[:80]})
    return challenge
