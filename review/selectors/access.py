"""Who may review a phase, and which algorithms a reviewer sees there.

Review pages are for the owning society's physicians, data stewards and admins, and operators
(`accounts.permissions.can_see_hidden_data`); everyone else gets ReviewNotFound (404). A reviewer
never sees the submissions of a team they are in or declared a conflict of interest with
(`conflicted_team_slugs`): `algorithms_for` leaves them out, and everything else in review reads
submissions through it.

Algorithms are named "Algorithm A, B, …" by the order of the phase's submissions (all of them,
whatever their status), so a letter never changes; with blinding off, by team and submission.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import Society, SocietyMembership, Team
from accounts.permissions import (
    HIDDEN_DATA_ROLES,
    AnyUser,
    can_manage_society,
    can_see_hidden_data,
    is_operator,
)
from challenges.errors import ChallengeNotFound
from challenges.models import Challenge, Phase
from challenges.selectors import access_phase_by_user
from evaluation.models import Submission
from evaluation.selectors import leaderboard_for
from review.errors import ReviewNotFound
from review.models import ConflictOfInterest, ReviewSettings


def _not_found() -> ReviewNotFound:
    return ReviewNotFound("review_not_found", _("There is nothing to review here."))


def can_review(user: AnyUser, society: Society) -> bool:
    return can_see_hidden_data(user, society)


def access_review_phase(user: AnyUser, challenge_slug: str, phase_slug: str) -> Phase:
    """The phase, for a user who may review it; ReviewNotFound for everyone else."""
    try:
        phase = access_phase_by_user(user, challenge_slug, phase_slug)
    except ChallengeNotFound as exc:
        raise _not_found() from exc
    if not can_review(user, phase.challenge.society):
        raise _not_found()
    return phase


def is_reviewer(user: AnyUser) -> bool:
    """Whether the user may review in some society (the review pages' index is theirs)."""
    return is_operator(user) or (user.is_authenticated and SocietyMembership.objects.filter(
        user=user, role__in=HIDDEN_DATA_ROLES).exists())


def can_correct_truth(user: AnyUser, phase: Phase) -> bool:
    return can_manage_society(user, phase.challenge.society)


def reviewable_challenges(user: AnyUser) -> QuerySet[Challenge]:
    """Challenges (with their phases) of the societies in which the user may see hidden data."""
    if not user.is_authenticated:
        return Challenge.objects.none()
    challenges = Challenge.objects.select_related("society").prefetch_related("phases")
    if is_operator(user):
        return challenges.order_by("society__slug", "slug")
    return challenges.filter(
        society__memberships__user=user, society__memberships__role__in=HIDDEN_DATA_ROLES,
    ).distinct().order_by("society__slug", "slug")


def conflicted_team_slugs(user: AnyUser) -> frozenset[str]:
    """Teams the user is a member of or declared a conflict of interest with (one query)."""
    if not user.is_authenticated:
        return frozenset()
    declared = ConflictOfInterest.objects.filter(user=user).values("team")
    return frozenset(Team.objects.filter(Q(memberships__user=user) | Q(pk__in=declared))
                     .values_list("slug", flat=True))


def declared_conflicts(user: AnyUser) -> QuerySet[ConflictOfInterest]:
    if not user.is_authenticated:
        return ConflictOfInterest.objects.none()
    return ConflictOfInterest.objects.filter(user=user).select_related("team")


def is_blinded(phase: Phase) -> bool:
    settings = ReviewSettings.objects.filter(phase=phase).first()
    return True if settings is None else settings.blinded


def letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, 27 -> AB, …"""
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name


@dataclass(frozen=True)
class Algorithm:
    """A leaderboard entry as a reviewer sees it."""

    submission_id: int
    code: str  # the stable letter: A, B, …
    name: str  # "Algorithm A", or the team and submission when not blinded
    rank: int
    team: str  # the team's slug: for filtering only, never shown while blinded


def algorithms_for(user: AnyUser, phase: Phase) -> list[Algorithm]:
    """The phase's leaderboard entries (each team's best current result), best rank first,
    without the teams the user has a conflict of interest with."""
    excluded = conflicted_team_slugs(user)
    board = leaderboard_for(user, phase)
    order = list(Submission.objects.filter(phase=phase).order_by("pk")
                 .values_list("pk", flat=True))
    position = {pk: index for index, pk in enumerate(order)}
    blinded = is_blinded(phase)
    algorithms = []
    for entry in board.entries:
        if entry.team in excluded or entry.submission_id not in position:
            continue
        code = letter(position[entry.submission_id])
        name = (_("Algorithm %(code)s") % {"code": code} if blinded else
                _("%(team)s (submission %(id)d)") % {"team": entry.team_name,
                                                      "id": entry.submission_id})
        algorithms.append(Algorithm(submission_id=entry.submission_id, code=code, name=name,
                                    rank=entry.rank, team=entry.team))
    return algorithms
