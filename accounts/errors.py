"""Errors of the accounts app: sign-in, two-factor codes and API tokens."""

from config.errors import DomainError, NotFound


class InvalidCredentials(DomainError):
    """Wrong user name, password or one-time code; never says which."""

    status = 401


class TwoFactorSetupRequired(DomainError):
    status = 403


class TwoFactorCodeRejected(DomainError):
    """A wrong, replayed or throttled one-time code."""


class ApiTokenNotFound(NotFound):
    pass


class TeamNotFound(NotFound):
    """A team the caller is not a member of reads as one that does not exist."""


class InvitationNotFound(NotFound):
    """An invitation that is not the caller's to answer (or their team's to revoke)."""
