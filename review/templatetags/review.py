"""Template helpers of the review pages: the nav link, dictionary lookups, SVG overlay marks."""

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.permissions import AnyUser
from review.selectors.access import is_reviewer
from review.selectors.cases import CaseReview, Mark

register = template.Library()
POINT_RADIUS_SHARE = 1 / 60  # a point's circle: this share of the image's longer side


@register.simple_tag
def reviews_cases(user: AnyUser) -> bool:
    """Whether the nav shows the review link (no query for anonymous visitors)."""
    return bool(user.is_authenticated) and is_reviewer(user)


@register.filter
def get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def colour_of(colours: dict[str, str], code: str) -> str:
    return colours.get(code, "#ffffff")


@register.simple_tag
def mark(item: Mark, review: CaseReview) -> SafeString:
    """A point as a circle, a box as a rectangle, in the image's pixel coordinates."""
    if item.kind == "point":
        radius = max(review.rows or 0, review.columns or 0) * POINT_RADIUS_SHARE or 3
        return format_html(
            '<circle cx="{}" cy="{}" r="{}" stroke-width="2" vector-effect="non-scaling-stroke">'
            "<title>{}</title></circle>", item.x, item.y, round(radius, 2),
            "" if item.score is None else f"{item.score:.3f}")
    return format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" stroke-width="2" '
        'vector-effect="non-scaling-stroke"><title>{}</title></rect>', item.x, item.y,
        item.width, item.height, "" if item.score is None else f"{item.score:.3f}")
