"""What an API error looks like, in the OpenAPI schema and where DRF does not answer.

Every 4xx of /api/ is `{"code": ..., "detail": ...}` (plus `fields` for invalid input): DRF's
errors through config.errors.api_exception_handler, and Django's own 400/404 (a URL that matches
no route, an oversized or malformed request body) through the handlers below, which
config/urls.py installs. Operations declare their own refusals with `error_responses(...)`;
`document_common_errors`, a drf-spectacular postprocessing hook, adds the ones the framework
gives every operation: 401 for a bad token, 404 for a path that matches nothing, 400, 413 and 415
for a body that cannot be parsed, is too large to parse or is of a type nobody parses.
"""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

API_PREFIX = "/api/"

_DESCRIPTIONS = {
    400: gettext_lazy("The request is malformed or its data is not valid."),
    401: gettext_lazy("The API token is missing, unknown, expired or revoked."),
    403: gettext_lazy("The caller may not do this."),
    404: gettext_lazy("Nothing of this name is visible to the caller."),
    409: gettext_lazy("The request conflicts with the current state."),
    413: gettext_lazy("The request body is larger than allowed."),
    415: gettext_lazy("The request body has an unsupported content type."),
    503: gettext_lazy("A stored file failed its integrity check and is withheld."),
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}


ErrorOutput = inline_serializer("Error", fields={
    "code": serializers.CharField(help_text="A stable, machine-readable reason."),
    "detail": serializers.CharField(help_text="A message for people, safe to show."),
    "fields": serializers.DictField(required=False,
                                    help_text="For invalid input: the problems by field."),
})


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`@extend_schema(responses={200: ..., **error_responses(403, 404)})`."""
    return {status: OpenApiResponse(ErrorOutput, description=str(_DESCRIPTIONS[status]))
            for status in statuses}


def document_common_errors(result: dict[str, Any], generator: Any, request: Any,
                           public: bool) -> dict[str, Any]:
    for path, item in result.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            common = []
            if any(scheme for scheme in operation.get("security", [])):
                common.append(401)
            if "{" in path:
                common.append(404)
            content = operation.get("requestBody", {}).get("content", {})
            if content:
                common.append(400)
            if set(content) - {"application/octet-stream"}:
                common += [413, 415]  # config.parsers and Django cap parsed bodies
            for status in common:
                responses.setdefault(str(status), {
                    "description": str(_DESCRIPTIONS[status]),
                    "content": {"application/json": {"schema": _ERROR_REF}},
                })
    return result


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    """Django's 400 (a request body too large or malformed to parse, a bad host header)."""
    if not request.path.startswith(API_PREFIX):
        return defaults.bad_request(request, exception, **kwargs)
    if isinstance(exception, RequestDataTooBig):
        return _error("too_large", _("The request body is larger than allowed."), 413)
    return _error("bad_request", _("The request could not be read."), 400)


def page_not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    """Django's 404: a URL that matches no route."""
    if not request.path.startswith(API_PREFIX):
        return defaults.page_not_found(request, exception, **kwargs)
    return _error("not_found", _("There is nothing at this address."), 404)
