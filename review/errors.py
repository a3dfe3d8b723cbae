"""Errors raised by review services and selectors; messages are safe to show to the requester."""

from config.errors import NotFound


class ReviewNotFound(NotFound):
    """Not there, or not for this user: both answer 404, so nobody learns which."""
