"""Errors raised by challenge services and selectors."""

from config.errors import Conflict, DomainError, NotFound


class ChallengeNotFound(NotFound):
    pass


class ImportRejected(DomainError):
    """A case import that was refused as a whole; nothing of it was stored."""


class PhaseNotReady(Conflict):
    pass


class RegistrationNotFound(NotFound):
    pass



class ChallengeRejected(DomainError):
    """A challenge or phase change that was refused as a whole; nothing of it was stored."""
