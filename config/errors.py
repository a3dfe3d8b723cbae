"""The one error type that services raise for bad input, and its REST mapping.

A DomainError carries a stable `code`, a human `message` (safe to show to whoever made the request)
and the HTTP status an API should answer with. Views show the message; APIs return
`{"code": ..., "detail": ...}`; so does a throttled request (429, code `throttled`, Retry-After),
and so do DRF's own errors (invalid input adds `fields`, the problems by field).
"""

import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.throttling import throttled_message


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
    if isinstance(exc, Throttled):
        return _throttled_response(exc)
    response = exception_handler(exc, context)
    if response is not None:
        response.data = _error_body(exc, response.data)
    return response


def _error_body(exc: Exception, data: Any) -> dict[str, Any]:
    """DRF's own errors in the same shape: a code, a message for people and, for invalid input,
    the problems by field (`fields`)."""
    if isinstance(exc, exceptions.ValidationError):
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        return {"code": "invalid", "fields": fields,
                "detail": _("The data sent is not valid: %(problems)s")
                % {"problems": " ".join(_problems(fields))}}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    assert isinstance(exc, exceptions.APIException)
    codes = exc.get_codes()
    return {"code": codes if isinstance(codes, str) else exc.default_code, "detail": str(exc.detail)}


def _problems(errors: Any, field: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [p for key, value in errors.items()
                for p in _problems(value, f"{field}.{key}" if field else str(key))]
    if isinstance(errors, list):
        return [p for value in errors for p in _problems(value, field)]
    return [f"{field}: {errors}" if field and field != "non_field_errors" else str(errors)]


def _throttled_response(exc: Throttled) -> Response:
    """429 with a message people can act on, and Retry-After when the wait is known."""
    wait = getattr(exc, "wait", None)
    seconds = None if wait is None else max(1, math.ceil(wait))
    headers = {"Retry-After": str(seconds)} if seconds else None
    return Response({"code": "throttled", "detail": throttled_message(seconds)}, status=429,
                    headers=headers)
