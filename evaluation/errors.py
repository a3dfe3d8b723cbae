"""Errors raised by evaluation services; messages are safe to show to the requester."""

from config.errors import Conflict, DomainError, Forbidden, NotFound


class ImageInvalid(DomainError):
    pass


class NotATeamMember(Forbidden):
    pass


class SubmissionRefused(DomainError):
    pass


class QuotaExceeded(Conflict):
    pass


class SubmissionNotFound(NotFound):
    pass
