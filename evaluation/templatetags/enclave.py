"""Template helpers for leaderboards and scores."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key, {}) if isinstance(mapping, dict) else {}


@register.filter
def metric_label(name: str) -> str:
    """A metric's translated name from the engine's catalogue (the name itself if unknown)."""
    from evaluation.metrics import registry

    try:
        return str(registry.get(name).label)
    except KeyError:
        return name
