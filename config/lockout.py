"""The answer to a login that django-axes has locked out (settings.AXES_LOCKOUT_CALLABLE).

Status 429 and a translated message saying how long the lockout lasts: a page for the web login,
`{"code": "login_locked_out", "detail": ...}` for the REST API (the token endpoint). Never the login
form again, so a guesser learns nothing more from a locked-out pair.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext


def lockout_message() -> str:
    minutes = settings.ENCLAVE_LOGIN_LOCKOUT_MINUTES
    return ngettext(
        "Logging in with this user name from your address is locked for %(minutes)d minute "
        "after too many failed attempts.",
        "Logging in with this user name from your address is locked for %(minutes)d minutes "
        "after too many failed attempts.", minutes) % {"minutes": minutes}


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    match = getattr(request, "resolver_match", None)
    if match is not None and "api" in match.namespaces:
        return JsonResponse({"code": "login_locked_out", "detail": lockout_message()}, status=429)
    return render(request, "registration/lockout.html", {"message": lockout_message()},
                  status=429)
