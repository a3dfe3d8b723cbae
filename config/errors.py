"""The one error type that services raise for bad input, and its REST mapping.

A DomainError carries a stable `code`, a human `message` (safe to show to whoever made the request)
and the HTTP status an API should answer with. Views show the message; APIs return
`{"code": ..., "detail": ...}`.
"""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = str(message)
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "detail": exc.message}, status=exc.status)
    return exception_handler(exc, context)
