"""Second factor before anything else, for the people who can see hidden data.

Installed after django_otp's OTPMiddleware (which sets `request.user.is_verified()`). A signed-in
user who must use two-factor authentication (operators, society roles) or who has opted in, and
whose session is not verified yet, reaches only sign-in/out, the two-factor pages, static files
and the language switch: pages redirect to setup (no device yet) or verify, session-authenticated
API calls get a JSON 403. API calls that carry `Authorization: Token` do not use the session and
are left to accounts.authentication (a token is only issued after the second factor).
"""

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.permissions import needs_two_factor
from accounts.selectors import confirmed_device_of

API_PREFIX = "/api/"


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.gate(request) or self.get_response(request)

    def gate(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or _uses_api_token(request) or _is_open(request.path_info):
            return None
        if getattr(user, "is_verified", lambda: False)():
            return None
        has_device = confirmed_device_of(user) is not None
        if not has_device and not needs_two_factor(user):
            return None
        if request.path_info.startswith(API_PREFIX):
            return JsonResponse({
                "code": "two_factor_required",
                "detail": _("Finish two-factor sign-in on the web site first, or use an API "
                            "token."),
            }, status=403)
        target = "accounts:otp-verify" if has_device else "accounts:otp-setup"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


def _uses_api_token(request: HttpRequest) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return request.path_info.startswith(API_PREFIX) and header[:6].lower() == "token "


def _is_open(path: str) -> bool:
    """Paths an unverified user may reach."""
    open_paths = (
        reverse("login"), reverse("logout"), reverse("set_language"),
        reverse("accounts:otp-setup"), reverse("accounts:otp-verify"),
        reverse("api:auth-token"),
    )
    return path in open_paths or path.startswith("/" + settings.STATIC_URL.lstrip("/"))
