"""Errors raised by evaluation services; messages are safe to show to the requester.

`StoredFileCorrupt` is the exception: a platform failure (never the team's fault, never counted
against a quota), reported to operators and never shown to a team.
"""

from config.errors import Conflict, DomainError, Forbidden, NotFound
from sandbox.errors import SandboxError


class ImageInvalid(DomainError):
    pass


class NotATeamMember(Forbidden):
    pass


class NotRegistered(Forbidden):
    """The team has no approved registration for the phase's challenge."""


class SubmissionRefused(DomainError):
    pass


class QuotaExceeded(Conflict):
    pass


class SubmissionNotFound(NotFound):
    pass


class StoredFileCorrupt(SandboxError):
    """A stored file no longer matches the SHA-256 recorded when it was stored: it is reported,
    never served, loaded or scored. `storage_key` names the file for the operator log."""

    def __init__(self, storage_key: str, expected: str, actual: str) -> None:
        super().__init__(f"stored file {storage_key} does not match its sha256 "
                         f"(expected {expected}, read {actual})")
        self.storage_key = storage_key
        self.expected = expected
        self.actual = actual
