"""`{% manages_a_society user as flag %}`: whether the nav shows the challenge set-up link."""

from django import template

from accounts.permissions import AnyUser
from challenges.selectors import societies_managed_by

register = template.Library()


@register.simple_tag
def manages_a_society(user: AnyUser) -> bool:
    """Operators and society admins (no query for anonymous visitors)."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff) or societies_managed_by(user).exists()
