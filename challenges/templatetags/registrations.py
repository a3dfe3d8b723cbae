"""`{% team_registrations team %}`: a team's registrations, for pages outside this app (the
team's page in accounts, which knows nothing of challenges)."""

from typing import Any

from django import template

from accounts.models import Team
from challenges.selectors import registrations_of_team

register = template.Library()


@register.inclusion_tag("challenges/_team_registrations.html", takes_context=True)
def team_registrations(context: dict[str, Any], team: Team) -> dict[str, Any]:
    """The registrations of `team` the signed-in user may see (none unless they are in it)."""
    return {"team": team, "registrations": registrations_of_team(context["user"], team),
            "csrf_token": context.get("csrf_token")}
