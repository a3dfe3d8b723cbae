"""Role questions every other app asks. Each answer comes from one place.

`society_roles` and `team_of_user` are the only ways to learn a person's roles; views and services
call these (or the `access_*` helpers built on them in each app) and never query memberships directly.
"""

from django.contrib.auth.models import AnonymousUser

from accounts.models import (
    Society,
    SocietyMembership,
    SocietyRole,
    Team,
    TeamMembership,
    TeamRole,
    User,
)

AnyUser = User | AnonymousUser
HIDDEN_DATA_ROLES = frozenset({SocietyRole.ADMIN, SocietyRole.STEWARD, SocietyRole.PHYSICIAN})


def is_operator(user: AnyUser) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def society_roles(user: AnyUser, society: Society) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(
        SocietyMembership.objects.filter(user=user, society=society).values_list("role", flat=True)
    )


def can_see_hidden_data(user: AnyUser, society: Society) -> bool:
    """Hidden cases, ground truth, hidden predictions, per-case scores and hidden-phase logs."""
    return is_operator(user) or bool(society_roles(user, society) & HIDDEN_DATA_ROLES)


def can_manage_society(user: AnyUser, society: Society) -> bool:
    return is_operator(user) or SocietyRole.ADMIN in society_roles(user, society)


def can_upload_cases(user: AnyUser, society: Society) -> bool:
    return is_operator(user) or bool(
        society_roles(user, society) & {SocietyRole.ADMIN, SocietyRole.STEWARD}
    )


def is_team_member(user: AnyUser, team: Team) -> bool:
    if not user.is_authenticated:
        return False
    return TeamMembership.objects.filter(user=user, team=team).exists()


def is_team_lead(user: AnyUser, team: Team) -> bool:
    """Leads manage their team's members; operators use the admin site instead."""
    if not user.is_authenticated:
        return False
    return TeamMembership.objects.filter(user=user, team=team, role=TeamRole.LEAD).exists()


def teams_of_user(user: AnyUser) -> list[Team]:
    if not user.is_authenticated:
        return []
    return list(Team.objects.filter(memberships__user=user).order_by("slug"))


def needs_two_factor(user: AnyUser) -> bool:
    """Operators and holders of any society role must sign in with a second factor."""
    if not user.is_authenticated:
        return False
    return is_operator(user) or SocietyMembership.objects.filter(
        user=user, role__in=HIDDEN_DATA_ROLES).exists()


def can_reset_two_factor(actor: AnyUser, user: User) -> bool:
    """Operators reset anyone's device; a society admin, the devices of their society's members."""
    if is_operator(actor):
        return True
    if not actor.is_authenticated or is_operator(user) or actor.pk == user.pk:
        return False
    administered = SocietyMembership.objects.filter(user=actor, role=SocietyRole.ADMIN)
    return SocietyMembership.objects.filter(
        user=user, society__in=administered.values("society")).exists()


def may_reset_two_factor(actor: AnyUser) -> bool:
    """Whether the reset page is open to `actor` at all (operators and society admins)."""
    return is_operator(actor) or (actor.is_authenticated and SocietyMembership.objects.filter(
        user=actor, role=SocietyRole.ADMIN).exists())
