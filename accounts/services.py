"""Writes for people, societies and teams."""

from django.db import transaction

from accounts.models import (
    Society,
    SocietyMembership,
    Team,
    TeamMembership,
    User,
)


@transaction.atomic
def user_ensure(*, username: str, password: str, email: str = "", is_staff: bool = False) -> User:
    """Create the user, or reset the password and staff flag of an existing one."""
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_staff = is_staff
    user.is_superuser = is_staff
    user.save()
    return user


@transaction.atomic
def society_ensure(*, slug: str, name: str) -> Society:
    society, _ = Society.objects.update_or_create(slug=slug, defaults={"name": name})
    return society


@transaction.atomic
def team_ensure(*, slug: str, name: str, affiliation: str = "") -> Team:
    team, _ = Team.objects.update_or_create(
        slug=slug, defaults={"name": name, "affiliation": affiliation}
    )
    return team


@transaction.atomic
def society_member_add(*, society: Society, user: User, role: str) -> SocietyMembership:
    membership, _ = SocietyMembership.objects.get_or_create(society=society, user=user, role=role)
    return membership


@transaction.atomic
def team_member_add(*, team: Team, user: User, role: str = "member") -> TeamMembership:
    membership, _ = TeamMembership.objects.update_or_create(
        team=team, user=user, defaults={"role": role}
    )
    return membership
